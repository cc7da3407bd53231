// The one place where a query's text is chosen by server_version_num. A query whose
// catalog columns differ between majors lists one text per major it changed in.

export interface SqlVariant {
  /** Lowest server_version_num this text works on, e.g. 180000. */
  since: number;
  sql: string;
}

export type VersionedSql = string | readonly SqlVariant[];

export function sqlFor(query: VersionedSql, serverVersionNum: number): string {
  if (typeof query === 'string') return query;
  const chosen = [...query].sort((a, b) => b.since - a.since).find((variant) => serverVersionNum >= variant.since);
  if (!chosen) throw new Error(`no SQL variant for server_version_num ${serverVersionNum}`);
  return chosen.sql;
}

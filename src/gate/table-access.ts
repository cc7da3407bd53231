// Why a table the gate was asked about cannot be resolved, told apart from the catalogs
// (which every role may read): "does not exist" versus "exists, but the role has no USAGE
// on its schema". to_regclass() cannot tell: for a schema-qualified name without USAGE it
// raises "permission denied for schema", and for an unqualified name it skips the schemas
// on the search_path the role may not use and returns NULL, as if the table did not exist.
import { PreflightError, sqlName } from '../core/errors.js';
import { parseQualifiedName } from '../core/identifiers.js';
import { didYouMean } from '../core/text.js';
import type { TableRequest } from '../core/types.js';

/** Schema-qualified requests ($1, canonical names) whose schema exists but is not usable by the current role. */
export const SCHEMA_USAGE_SQL = `
SELECT u.ord::int AS ord, n.nspname AS schema, current_user AS role,
       EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid AND c.relname = p.parts[2]) AS table_exists
  FROM unnest($1::text[]) WITH ORDINALITY AS u(name, ord)
 CROSS JOIN LATERAL (SELECT parse_ident(u.name) AS parts) p
  JOIN pg_namespace n ON n.nspname = p.parts[1]
 WHERE array_length(p.parts, 1) = 2
   AND NOT has_schema_privilege(n.oid, 'USAGE')
 ORDER BY u.ord`;

/**
 * For each request ($1, canonical names) that names no table the role can resolve: the
 * tables of that name in any schema, whether the role may use each one's schema and
 * whether it is on the search_path. Never raises: a qualified name is looked up in the
 * catalogs, an unqualified one with to_regclass (which skips schemas without USAGE).
 * Read in the same batch as the targets, so a missing table costs no extra round trip.
 */
export const TABLE_DIAGNOSIS_SQL = `
WITH input AS (
  SELECT u.ord::int AS ord, u.name, parse_ident(u.name) AS parts
    FROM unnest($1::text[]) WITH ORDINALITY AS u(name, ord)
), missing AS (
  SELECT i.* FROM input i
   WHERE CASE WHEN array_length(i.parts, 1) = 2
              THEN NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                WHERE n.nspname = i.parts[1] AND c.relname = i.parts[2])
              ELSE to_regclass(i.name) IS NULL END
), path AS (
  SELECT CASE WHEN btrim(s, ' "') = '$user' THEN current_user::text ELSE btrim(s, ' "') END AS schema
    FROM unnest(string_to_array(current_setting('search_path'), ',')) AS s
)
SELECT m.ord, current_database() AS db, current_setting('search_path') AS search_path, current_user AS role,
       COALESCE((SELECT json_agg(f ORDER BY f.schema) FROM (
                   SELECT n.nspname AS schema, c.relname AS name, has_schema_privilege(n.oid, 'USAGE') AS usable,
                          n.nspname IN (SELECT schema FROM path) AS on_path
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relname = m.parts[array_length(m.parts, 1)]
                      AND c.relkind IN ('r', 'p', 'm', 'f')) f), '[]') AS tables,
       -- For "did you mean": tables the role can use, named about as long, in the schema
       -- asked for (else on the search_path); closeness is judged by the client.
       COALESCE((SELECT json_agg(s.name) FROM (
                   SELECT DISTINCT c.relname AS name
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.relkind IN ('r', 'p', 'm', 'f')
                      AND has_schema_privilege(n.oid, 'USAGE')
                      AND CASE WHEN array_length(m.parts, 1) = 2 THEN n.nspname = m.parts[1]
                               ELSE n.nspname IN (SELECT schema FROM path) END
                      AND abs(length(c.relname) - length(m.parts[array_length(m.parts, 1)])) <= 3
                    LIMIT 1000) s), '[]') AS similar
  FROM missing m
 ORDER BY m.ord`;

const qualified = (schema: string, name: string): string => `${sqlName(schema)}.${sqlName(name)}`;

/** Whether any request is schema-qualified: only such a name can make to_regclass() raise for want of USAGE. */
export function anyQualified(tables: readonly TableRequest[]): boolean {
  return tables.some((t) => t.canonical.includes('"."'));
}

/**
 * The error for a schema-qualified table in a schema the role may not use (rows of
 * SCHEMA_USAGE_SQL), which to_regclass() would report as a bare "permission denied"; null
 * when every schema is usable.
 */
export function schemaUsageError(rows: readonly Record<string, unknown>[], tables: readonly TableRequest[]): PreflightError | null {
  const row = rows[0] as { ord: number; schema: string; role: string; table_exists: boolean } | undefined;
  if (!row) return null;
  const input = tables[row.ord - 1]?.input ?? '?';
  const what = row.table_exists ? `"${input}" exists, but` : `schema ${sqlName(row.schema)} exists (no table "${input}" in it), and`;
  return new PreflightError(`${what} role ${sqlName(row.role)} has no USAGE on schema ${sqlName(row.schema)}, so the gate cannot look at it. Fix: GRANT USAGE ON SCHEMA ${sqlName(row.schema)} TO ${sqlName(row.role)};`);
}

interface DiagnosisRow {
  ord: number;
  db: string;
  search_path: string;
  role: string;
  tables: { schema: string; name: string; usable: boolean; on_path: boolean }[];
  similar?: string[];
}

/**
 * The one-line error for requests to_regclass() resolved to NULL: not there, or there but
 * out of the role's reach. `rows` are TABLE_DIAGNOSIS_SQL's, read in the same transaction.
 */
export function missingTablesError(missing: readonly TableRequest[], tables: readonly TableRequest[], rows: readonly Record<string, unknown>[]): PreflightError {
  const first = missing[0] as TableRequest;
  const names = missing.map((m) => `"${m.input}"`).join(', ');
  const ord = tables.indexOf(first) + 1;
  const diagnosis = rows as unknown as readonly DiagnosisRow[];
  const here = diagnosis.find((r) => Number(r.ord) === ord) ?? diagnosis[0];
  const where = `database ${here?.db ?? '?'} (search_path: ${here?.search_path ?? '?'})`;
  const role = sqlName(here?.role ?? '?');
  const found = diagnosis.find((r) => Number(r.ord) === ord)?.tables ?? [];
  const unqualified = !first.canonical.includes('"."');
  const hidden = unqualified ? found.find((r) => !r.usable && r.on_path) ?? found.find((r) => !r.usable) : undefined;
  if (hidden) {
    const fix = `GRANT USAGE ON SCHEMA ${sqlName(hidden.schema)} TO ${role};`;
    const pass = hidden.on_path ? '' : ` and pass --table ${qualified(hidden.schema, hidden.name)}`;
    return new PreflightError(`table ${names} not found in ${where}: ${qualified(hidden.schema, hidden.name)} exists, but role ${role} has no USAGE on schema ${sqlName(hidden.schema)}, so it cannot see it. Fix: ${fix}${pass}`);
  }
  const elsewhere = unqualified ? found.filter((r) => r.usable && !r.on_path) : [];
  if (elsewhere.length > 0) {
    return new PreflightError(`table ${names} not found in ${where}; it exists as ${elsewhere.map((r) => qualified(r.schema, r.name)).join(', ')}: pass the schema-qualified name, e.g. --table ${qualified(elsewhere[0]?.schema as string, elsewhere[0]?.name as string)}`);
  }
  const similar = diagnosis.find((r) => Number(r.ord) === ord)?.similar ?? [];
  const asked = parseQualifiedName(first.input);
  const suggestion = typeof asked === 'string' ? '' : didYouMean(asked.name, similar, (name) => `--table ${asked.schema === undefined ? sqlName(name) : qualified(asked.schema, name)}`);
  return new PreflightError(`table ${names} not found in ${where}${suggestion}. Check the name and schema (schema.table), and that --url names the right database`);
}

/**
 * Resolves the configuration file's per-table override names ($1: the names as written,
 * $2: their canonical quoted forms) to tables, inside the snapshot's transaction. A
 * qualified name is looked up in the catalogs (to_regclass would raise on a schema
 * without USAGE); an unqualified one through the search_path, as --table is.
 */
export const TABLE_OVERRIDES_QUERY = {
  name: 'pgpreflight:table-overrides',
  sql: `
SELECT u.key,
       CASE WHEN array_length(p.parts, 1) = 2
            THEN (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = p.parts[1] AND c.relname = p.parts[2])
            ELSE to_regclass(u.name)::oid END::int8 AS oid
  FROM unnest($1::text[], $2::text[]) AS u(key, name)
 CROSS JOIN LATERAL (SELECT parse_ident(u.name) AS parts) p`,
};

/**
 * The overrides keyed by the qualified name of the table each one names, so that
 * `tables: { orders: ... }` applies whether --table said orders or public.orders.
 * An override that names no table is a configuration error, never silently unused.
 */
export function overridesByTable<T>(overrides: Readonly<Record<string, T>>, rows: readonly Record<string, unknown>[], qualifiedNameOf: (oid: number) => string | undefined, where: string): Record<string, T> {
  const out: Record<string, T> = {};
  for (const row of rows) {
    const key = String(row.key);
    const value = overrides[key];
    if (value === undefined) continue;
    if (row.oid === null || row.oid === undefined) {
      throw new PreflightError(`the configuration file's per-table thresholds for "${key}" (tables.${key}) name no table in ${where}: fix the name (schema.table) or remove the entry`);
    }
    out[qualifiedNameOf(Number(row.oid)) ?? key] = value;
  }
  return out;
}

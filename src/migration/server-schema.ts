// What the server knows and the migration file does not, read from the catalogs in the
// gate's read-only transaction: column types and typmods, NOT NULL, indexes, constraints and
// whether they are validated, the TimeZone, the volatility of the functions a DEFAULT calls,
// whether a type is a domain with constraints, and the binary-coercible casts. Catalog rows
// only: no relation is opened, so nothing here can queue behind a lock.
import type { Target } from '../core/types.js';
import { fieldsOf, list, typeRefOf } from './ast.js';
import { parserLoaded } from './parse.js';
import { Schema } from './schema.js';
import type { TypeRef } from './types.js';
import { normalizeTypeName } from './types.js';

export const MIGRATION_SCHEMA_QUERY = 'migration-schema';

export const MIGRATION_SCHEMA_SQL = `
SELECT current_setting('TimeZone') AS timezone,
       (SELECT COALESCE(json_agg(json_build_object(
                 'table', a.attrelid::int8, 'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                 'notNull', a.attnotnull,
                 'indexed', EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = a.attrelid AND a.attnum = ANY (x.indkey::int2[])))
               ORDER BY a.attrelid, a.attnum), '[]')
          FROM pg_attribute a
         WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       -- Not pg_get_constraintdef(): for a CHECK it takes AccessShareLock on the table (observed, 17)
       -- and would queue behind the ALTER the gate is looking for. CHECK (col IS NOT NULL) is read
       -- from conbin's node text instead.
       (SELECT COALESCE(json_agg(json_build_object(
                 'table', c.conrelid::int8, 'name', c.conname, 'type', c.contype, 'validated', c.convalidated,
                 'notNullColumn', CASE WHEN c.contype = 'c' AND c.conbin::text ~ '^\\{NULLTEST :arg \\{VAR :varno 1 :varattno \\d+ .*\\} :nulltesttype 1 '
                                       THEN (SELECT a.attname FROM pg_attribute a
                                              WHERE a.attrelid = c.conrelid
                                                AND a.attnum = substring(c.conbin::text from '^\\{NULLTEST :arg \\{VAR :varno 1 :varattno (\\d+) ')::int2) END)), '[]')
          FROM pg_constraint c WHERE c.conrelid = ANY ($1::oid[])) AS constraints,
       (SELECT COALESCE(json_agg(json_build_object(
                 'table', x.indrelid::int8, 'name', i.relname, 'schema', n.nspname, 'unique', x.indisunique,
                 'columns', (SELECT COALESCE(json_agg(a.attname ORDER BY k.ord), '[]')
                               FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum))), '[]')
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_namespace n ON n.oid = i.relnamespace
         WHERE x.indrelid = ANY ($1::oid[])) AS indexes,
       (SELECT COALESCE(json_agg(json_build_object('name', f.name, 'volatility',
                 (SELECT max(p.provolatile::text) FROM pg_proc p WHERE p.proname = f.name))), '[]')
          FROM unnest($2::text[]) AS f(name)) AS functions,
       (SELECT COALESCE(json_agg(json_build_object('name', t.name, 'domain', ty.typtype = 'd',
                 'constrained', ty.typnotnull OR EXISTS (SELECT 1 FROM pg_constraint c WHERE c.contypid = ty.oid))), '[]')
          FROM unnest($3::text[]) AS t(name) JOIN pg_type ty ON ty.oid = to_regtype(t.name)) AS types,
       (SELECT COALESCE(json_agg(json_build_object('source', format_type(castsource, NULL), 'target', format_type(casttarget, NULL))), '[]')
          FROM pg_cast WHERE castmethod = 'b') AS casts`;

type Row = Record<string, unknown>;

/** format_type() text ("character varying(20)", "timestamp(3) with time zone") as a TypeRef, through the same parser. */
export function typeFromFormat(text: string): TypeRef | null {
  try {
    const tree = parserLoaded()(`SELECT NULL::${text}`) as { stmts?: { stmt?: unknown }[] };
    const select = fieldsOf(tree.stmts?.[0]?.stmt, 'SelectStmt');
    const target = fieldsOf(list(select?.targetList)[0], 'ResTarget');
    return typeRefOf(fieldsOf(target?.val, 'TypeCast')?.typeName) ?? null;
  } catch {
    return null;
  }
}

const FORMAT_OF: Record<string, string> = {
  int2: 'smallint', int4: 'integer', int8: 'bigint', float4: 'real', float8: 'double precision', bool: 'boolean',
  varchar: 'character varying', bpchar: 'character', varbit: 'bit varying', timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone', time: 'time without time zone', timetz: 'time with time zone',
};

/** Builds the analyzer's Schema from the query's row and the snapshot's targets. */
export function schemaFromServer(row: Row | undefined, targets: readonly Target[]): Schema {
  const casts = new Set(((row?.casts as Row[] | undefined) ?? []).map((c) => `${String(c.source)}>${String(c.target)}`));
  const format = (t: TypeRef): string => (t.schema ? `${t.schema}.${t.name}` : FORMAT_OF[t.name] ?? t.name);
  const schema = new Schema({
    fromServer: true,
    serverTimeZone: typeof row?.timezone === 'string' ? row.timezone : null,
    binaryCast: row ? (from, to) => casts.has(`${format(from)}>${format(to)}`) : null,
  });
  if (!row) return schema;
  const byOid = new Map(targets.map((t) => [t.oid, t]));
  // Tables are keyed by every spelling the migration may use: "name" and "schema"."name".
  const keysOf = (oid: number): string[] => {
    const t = byOid.get(oid);
    if (!t) return [];
    const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;
    return [`${quote(t.schema)}.${quote(t.name)}`, quote(t.name), quote(t.input.replace(/^"|"$/g, ''))];
  };
  const infoOf = (oid: number) => {
    const keys = keysOf(oid);
    const first = keys[0];
    if (first === undefined) return undefined;
    let info = schema.tables.get(first);
    if (!info) {
      info = { origin: 'server' as const, complete: true, columns: new Map(), constraints: new Map() };
      for (const key of keys) schema.tables.set(key, info);
    }
    return info;
  };
  for (const t of targets) infoOf(t.oid);
  for (const c of (row.columns as Row[] | undefined) ?? []) {
    const info = infoOf(Number(c.table));
    if (!info) continue;
    const name = String(c.name);
    info.columns.set(name, { name, type: typeFromFormat(String(c.type)), notNull: c.notNull === true, indexed: c.indexed === true });
  }
  for (const c of (row.constraints as Row[] | undefined) ?? []) {
    const info = infoOf(Number(c.table));
    if (!info) continue;
    const name = String(c.name);
    const kinds: Record<string, 'check' | 'foreign-key' | 'primary-key' | 'unique' | 'exclusion' | 'not-null'> = { c: 'check', f: 'foreign-key', p: 'primary-key', u: 'unique', x: 'exclusion', n: 'not-null' };
    info.constraints.set(name, { name, kind: kinds[String(c.type)] ?? 'other', validated: c.validated === true, ...(typeof c.notNullColumn === 'string' ? { notNullColumn: c.notNullColumn } : {}) });
  }
  for (const x of (row.indexes as Row[] | undefined) ?? []) {
    const table = keysOf(Number(x.table))[0];
    if (table === undefined) continue;
    const index = { name: String(x.name), table, columns: (x.columns as string[] | undefined) ?? [], unique: x.unique === true };
    schema.indexes.set(index.name, index);
    schema.indexes.set(`${String(x.schema)}.${index.name}`, index);
  }
  for (const f of (row.functions as Row[] | undefined) ?? []) {
    const volatility = f.volatility;
    if (volatility === 'i' || volatility === 's' || volatility === 'v') schema.functions.set(String(f.name), volatility);
  }
  for (const t of (row.types as Row[] | undefined) ?? []) {
    if (t.domain === true) schema.domains.set(normalizeTypeName(String(t.name)), t.constrained === true);
  }
  return schema;
}

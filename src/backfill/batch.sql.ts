// The statements of one batch, built from the catalog's names (quoted) and the operator's
// --set/--where fragments (run as given, like psql).
//
// Keyset pagination: the next batch's upper key is found by walking the key's unique
// index from the last key done, `ORDER BY key LIMIT 1 OFFSET n-1` — a bounded index scan
// of n entries, never OFFSET from the start and never a sort of the table. The UPDATE
// then covers (last, upper]. Composite keys compare as rows, which a btree index serves
// as one range condition. ONLY: the named table, not inheritance children.
// Keys travel as text (key::text out, an untyped parameter in): the column's own input
// function reads them back exactly, whatever the type (bigint, uuid, timestamptz, text).
// The fragments sit on their own lines, so a `--` comment in them ends at the newline
// instead of swallowing the key range; statements.ts parses the result to prove the
// range is still there.
import { quoteIdentifier } from '../core/identifiers.js';

export interface KeyColumn {
  name: string;
  quoted: string;
}

export interface TableName {
  schema: string;
  name: string;
  /** "schema"."name" */
  quoted: string;
}

export function tableName(schema: string, name: string): TableName {
  return { schema, name, quoted: `${quoteIdentifier(schema)}.${quoteIdentifier(name)}` };
}

export function keyColumns(names: readonly string[]): KeyColumn[] {
  return names.map((name) => ({ name, quoted: quoteIdentifier(name) }));
}

/** `"public"."orders"."id"` or `("public"."orders"."region", "public"."orders"."id")`: qualified, so a FROM in --set cannot make it ambiguous. */
function keyExpression(table: TableName, key: readonly KeyColumn[]): string {
  const columns = key.map((k) => `${table.quoted}.${k.quoted}`);
  return key.length === 1 ? (columns[0] as string) : `(${columns.join(', ')})`;
}

/** `$3` or `($3, $4)`. */
function parameters(key: readonly KeyColumn[], first: number): string {
  const list = key.map((_, i) => `$${first + i}`);
  return key.length === 1 ? (list[0] as string) : `(${list.join(', ')})`;
}

// In the key queries every column is qualified with the alias t: a bare ORDER BY "id" would
// sort by the output column "id", which is id::text (text order, and a sort of the table).
const selectKeyText = (key: readonly KeyColumn[]): string => key.map((k, i) => `t.${k.quoted}::text AS k${i}`).join(', ');
const orderBy = (key: readonly KeyColumn[], direction: '' | ' DESC'): string => key.map((k) => `t.${k.quoted}${direction}`).join(', ');
const qualifiedKey = (key: readonly KeyColumn[]): string => (key.length === 1 ? `t.${(key[0] as KeyColumn).quoted}` : `(${key.map((k) => `t.${k.quoted}`).join(', ')})`);

/**
 * The upper key of the next batch: the n-th key after the lower bound. Parameters: the
 * lower key's columns (when there is one), then n-1.
 */
export function upperKeySql(table: TableName, key: readonly KeyColumn[], hasLower: boolean): string {
  const where = hasLower ? ` WHERE ${qualifiedKey(key)} > ${parameters(key, 1)}` : '';
  const offset = `$${hasLower ? key.length + 1 : 1}`;
  return `SELECT ${selectKeyText(key)} FROM ONLY ${table.quoted} AS t${where} ORDER BY ${orderBy(key, '')} LIMIT 1 OFFSET ${offset}`;
}

/**
 * Fewer than n keys are left: the last batch ends at the largest key there is now (one
 * step of a backward index scan). Rows inserted above it later are the application's to write.
 */
export function lastKeySql(table: TableName, key: readonly KeyColumn[], hasLower: boolean): string {
  const where = hasLower ? ` WHERE ${qualifiedKey(key)} > ${parameters(key, 1)}` : '';
  return `SELECT ${selectKeyText(key)} FROM ONLY ${table.quoted} AS t${where} ORDER BY ${orderBy(key, ' DESC')} LIMIT 1`;
}

/** The batch's UPDATE. Parameters: the lower key (when there is one), then the upper key. */
export function updateSql(table: TableName, key: readonly KeyColumn[], set: string, where: string | null, hasLower: boolean): string {
  const range = [
    ...(hasLower ? [`${keyExpression(table, key)} > ${parameters(key, 1)}`] : []),
    `${keyExpression(table, key)} <= ${parameters(key, hasLower ? key.length + 1 : 1)}`,
  ];
  const filter = where === null ? '' : ` AND (\n${where}\n)`;
  return `UPDATE ONLY ${table.quoted} SET\n${set}\nWHERE ${range.join(' AND ')}${filter}`;
}

/**
 * Each batch's own transaction settings. enable_seqscan = off is the planner hint that
 * keeps a batch on the key's index even when statistics are missing or stale (a table
 * never analyzed looks tiny), so no batch ever reads the whole table; gh-ost and
 * pt-online-schema-change force the index for the same reason. It only adds a cost
 * penalty: a sequential scan the plan cannot avoid still runs, and the first batch's
 * EXPLAIN is checked before any row is touched.
 */
export function batchSettingsSql(lockTimeoutMs: number, statementTimeoutMs: number): string {
  return `SET LOCAL lock_timeout = '${Math.round(lockTimeoutMs)}ms'; SET LOCAL statement_timeout = '${Math.round(statementTimeoutMs)}ms'; SET LOCAL enable_seqscan = off`;
}

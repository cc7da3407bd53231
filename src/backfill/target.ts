// Resolves --table and the key the batches walk: the primary key, or --key naming the
// columns of a unique index that can be walked in order (see UNIQUE_INDEXES_SQL).
import type pg from 'pg';
import { PreflightError } from '../core/errors.js';
import { canonicalName, parseQualifiedName } from '../core/identifiers.js';
import { keyColumns, tableName, type KeyColumn, type TableName } from './batch.sql.js';
import { COLUMNS_SQL, TABLE_SQL, UNIQUE_INDEXES_SQL } from './target.sql.js';

export interface Target {
  oid: number;
  table: TableName;
  /** schema.name, quoted only where needed, for messages. */
  display: string;
  key: KeyColumn[];
  /** `primary key orders_pkey` or `unique index orders_email_key`. */
  keySource: string;
  keyIndex: string;
  /** pg_class.reltuples, or null when the table was never analyzed. */
  estimatedRows: number | null;
  /** Inheritance children exist; the batches update the table itself only (ONLY). */
  hasChildren: boolean;
}

interface IndexRow {
  index_name: string;
  is_primary: boolean;
  ready: boolean;
  whole_table: boolean;
  access_method: string;
  columns: string[];
  plain_columns: boolean;
  not_null: boolean;
  default_opclass: boolean;
  default_collation: boolean;
  one_direction: boolean;
}

/** Why an index cannot be walked in key order, or null when it can. */
function unusable(index: IndexRow): string | null {
  if (!index.ready) return 'it is not valid (a failed CREATE INDEX CONCURRENTLY?)';
  if (index.access_method !== 'btree') return `it is a ${index.access_method} index, not btree`;
  if (!index.whole_table) return 'it is a partial index';
  if (!index.plain_columns) return 'it indexes an expression';
  if (!index.not_null) return 'a column may be NULL';
  if (!index.default_opclass) return 'it uses a non-default operator class';
  if (!index.default_collation) return 'it uses a collation other than the column\'s';
  if (!index.one_direction) return 'it mixes ASC and DESC columns';
  return null;
}

const plainIdentifier = /^[a-z_][a-z0-9_$]*$/;

/** A column name as it would be written in SQL: bare when it can be, quoted otherwise. */
export function displayIdentifier(name: string): string {
  return plainIdentifier.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** Parses --key: column names separated by commas; quoted names keep their case, others fold to lower case. */
export function parseKeyList(input: string): string[] {
  const names: string[] = [];
  let i = 0;
  const text = input.trim();
  const bad = (why: string): never => {
    throw new PreflightError(`--key "${input}": ${why}. Name the key's columns, e.g. --key id or --key region,id`);
  };
  while (i < text.length) {
    while (text[i] === ' ') i += 1;
    let name = '';
    if (text[i] === '"') {
      i += 1;
      for (;;) {
        if (i >= text.length) bad('unterminated quoted name');
        if (text[i] === '"' && text[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (text[i] === '"') {
          i += 1;
          break;
        } else {
          name += text[i];
          i += 1;
        }
      }
      if (name === '') bad('empty quoted name');
    } else {
      const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i));
      if (!match) bad(`unexpected "${text[i] ?? ''}"`);
      name = (match as RegExpExecArray)[0].replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
      i += (match as RegExpExecArray)[0].length;
    }
    names.push(name);
    while (text[i] === ' ') i += 1;
    if (i < text.length) {
      if (text[i] !== ',') bad(`unexpected "${text[i]}"`);
      i += 1;
      if (i >= text.length) bad('ends with a comma');
    }
  }
  if (names.length === 0) bad('no column');
  if (new Set(names).size !== names.length) bad('a column is named twice');
  return names;
}

function describeIndex(index: IndexRow): string {
  return `${index.columns.map(displayIdentifier).join(',')} (${index.is_primary ? 'primary key ' : 'unique index '}${index.index_name})`;
}

/** Finds the table and its walkable key. Throws one-line PreflightErrors that say what to pass. */
export async function resolveTarget(client: pg.Client, tableInput: string, keyInput: string | null): Promise<Target> {
  const parsed = parseQualifiedName(tableInput);
  if (typeof parsed === 'string') throw new PreflightError(`--table: ${parsed}`);
  const { rows } = await client.query<{ oid: string; schema: string; name: string; kind: string; reltuples: number; has_children: boolean }>(TABLE_SQL, [canonicalName(parsed)]);
  const row = rows[0];
  if (!row) throw new PreflightError(`table ${tableInput} does not exist (or is not on the search_path). Check --table`);
  const table = tableName(row.schema, row.name);
  const display = `${displayIdentifier(row.schema)}.${displayIdentifier(row.name)}`;
  if (row.kind === 'p') throw new PreflightError(`${display} is partitioned: backfill each partition on its own (--table <partition>), each walks its own primary key`);
  if (row.kind !== 'r') throw new PreflightError(`${display} is not a table (relkind ${row.kind}): backfill the table behind it`);
  const oid = Number(row.oid);
  const indexes = (await client.query<IndexRow>(UNIQUE_INDEXES_SQL, [oid])).rows;
  const usable = indexes.filter((index) => unusable(index) === null);
  let chosen: IndexRow | undefined;
  if (keyInput === null) {
    const primary = indexes.find((index) => index.is_primary);
    if (primary && unusable(primary) === null) chosen = primary;
    else {
      const why = primary ? `its primary key cannot be walked in order: ${unusable(primary)}` : 'it has no primary key';
      const hint = usable.length > 0 ? `pass --key naming a unique NOT NULL key: ${usable.map(describeIndex).join('; ')}` : 'add a primary key or a unique index on NOT NULL columns, then pass --key';
      throw new PreflightError(`${display} has no usable key: ${why}; ${hint}`);
    }
  } else {
    const wanted = parseKeyList(keyInput);
    const columns = (await client.query<{ name: string }>(COLUMNS_SQL, [oid])).rows.map((c) => c.name);
    const missing = wanted.filter((name) => !columns.includes(name));
    if (missing.length > 0) throw new PreflightError(`--key: ${display} has no column ${missing.map(displayIdentifier).join(', ')}`);
    const same = (index: IndexRow): boolean => index.columns.length === wanted.length && wanted.every((name) => index.columns.includes(name));
    chosen = usable.find(same);
    if (!chosen) {
      const near = indexes.find(same);
      const why = near ? `${describeIndex(near)} cannot be walked in order: ${unusable(near)}` : `no unique index covers exactly ${wanted.map(displayIdentifier).join(',')}`;
      const hint = usable.length > 0 ? `usable keys: ${usable.map(describeIndex).join('; ')}` : 'add a unique index on NOT NULL columns';
      throw new PreflightError(`--key ${keyInput}: ${why}; ${hint}`);
    }
  }
  const index = chosen as IndexRow;
  return {
    oid,
    table,
    display,
    // The index's column order, so the batches' ORDER BY matches the index.
    key: keyColumns(index.columns),
    keySource: `${index.is_primary ? 'primary key' : 'unique index'} ${index.index_name}`,
    keyIndex: index.index_name,
    estimatedRows: row.reltuples >= 0 ? Math.round(row.reltuples) : null,
    hasChildren: row.has_children,
  };
}

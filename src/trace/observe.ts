// What the trace reads around each statement, all from catalogs and views that take no lock
// on a user relation: pg_class (names and relfilenodes: a rewrite gives a relation new
// storage), pg_locks (the traced backend's relation locks) and pg_stat_xact_user_tables
// (the backend's own scan counters, which only it can see: they are read in its session).
import type pg from 'pg';
import { quoteIdentifier } from '../core/identifiers.js';
import { isLockMode, type LockMode } from '../core/lock-modes.js';
import type { TracedRelation, TracedRelationKind } from './types.js';

export interface RelationRow {
  oid: number;
  schema: string;
  name: string;
  relkind: string;
  relfilenode: string;
  /** For an index: its table's oid. */
  tableOid: number | null;
}

export type Catalog = Map<number, RelationRow>;

// User relations only: the catalogs, information_schema and TOAST tables are the server's.
const CATALOG_SQL = `
  SELECT c.oid::int8::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind, c.relfilenode::int8::text AS relfilenode,
         x.indrelid::int8::text AS table_oid
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
   WHERE n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_toast'
     AND c.relkind IN ('r', 'p', 'i', 'I', 'm', 'S', 'v', 'f')`;

export async function readCatalog(client: pg.Client): Promise<Catalog> {
  const { rows } = await client.query<{ oid: string; schema: string; name: string; relkind: string; relfilenode: string; table_oid: string | null }>(CATALOG_SQL);
  return new Map(
    rows.map((r) => [Number(r.oid), { oid: Number(r.oid), schema: r.schema, name: r.name, relkind: r.relkind, relfilenode: r.relfilenode, tableOid: r.table_oid === null ? null : Number(r.table_oid) }]),
  );
}

export interface LockRow {
  oid: number;
  mode: LockMode;
  granted: boolean;
}

// Relation locks in the current database; pg_locks rows are visible to every role.
const LOCKS_SQL = `
  SELECT l.relation::int8::text AS oid, l.mode, l.granted
    FROM pg_catalog.pg_locks l
   WHERE l.pid = $1 AND l.locktype = 'relation'
     AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())`;

export async function readLocks(client: pg.Client, pid: number): Promise<LockRow[]> {
  const { rows } = await client.query<{ oid: string; mode: string; granted: boolean }>(LOCKS_SQL, [pid]);
  return rows.filter((r) => isLockMode(r.mode)).map((r) => ({ oid: Number(r.oid), mode: r.mode as LockMode, granted: r.granted }));
}

export type ScanCounters = Map<number, { seqScans: number; rowsRead: number }>;

// The counters of the backend's own pending statistics: within one transaction they only
// grow (they are flushed when the session is idle outside a transaction), so the difference
// between two reads in the same transaction is what the statement between them did.
const SCANS_SQL = `
  SELECT relid::int8::text AS oid, seq_scan::int8::text AS seq_scans, seq_tup_read::int8::text AS rows_read
    FROM pg_catalog.pg_stat_xact_user_tables WHERE seq_scan > 0`;

export async function readScans(client: pg.Client): Promise<ScanCounters> {
  const { rows } = await client.query<{ oid: string; seq_scans: string; rows_read: string }>(SCANS_SQL);
  return new Map(rows.map((r) => [Number(r.oid), { seqScans: Number(r.seq_scans), rowsRead: Number(r.rows_read) }]));
}

const KINDS: Record<string, TracedRelationKind> = {
  r: 'table',
  p: 'partitioned table',
  i: 'index',
  I: 'index',
  m: 'materialized view',
  S: 'sequence',
  v: 'view',
  f: 'foreign table',
};

const PLAIN = /^[a-z_][a-z0-9_$]*$/;
const part = (name: string): string => (PLAIN.test(name) ? name : quoteIdentifier(name));

const display = (row: RelationRow): string => (row.schema === 'public' ? part(row.name) : `${part(row.schema)}.${part(row.name)}`);

/** `table` finds an index's table among the relations the trace has seen. */
export function describeRelation(row: RelationRow, createdByMigration: boolean, table?: (oid: number) => RelationRow | undefined): TracedRelation {
  const owner = row.tableOid === null ? undefined : table?.(row.tableOid);
  return {
    oid: row.oid,
    schema: row.schema,
    name: row.name,
    relation: display(row),
    kind: KINDS[row.relkind] ?? 'other',
    createdByMigration,
    ...(owner ? { table: display(owner) } : {}),
  };
}

/** Tables whose storage a statement replaced, and indexes it rebuilt: relfilenode before vs after. */
export function storageChanges(before: Catalog, after: Catalog): { tables: RelationRow[]; indexes: RelationRow[] } {
  const tables: RelationRow[] = [];
  const indexes: RelationRow[] = [];
  for (const [oid, row] of after) {
    const old = before.get(oid);
    if (!old || old.relfilenode === row.relfilenode || row.relfilenode === '0') continue;
    if (row.relkind === 'r' || row.relkind === 'm') tables.push(row);
    if (row.relkind === 'i') indexes.push(row);
  }
  return { tables, indexes };
}

// What each kind of migration statement locks, as data. Every row is a claim that
// test/migration-locks.test.ts checks against pg_locks on a real server: it runs an
// example of the kind in a transaction (or watches it from another session when it
// cannot run in one) and compares the relation → mode pairs, relfilenode (rewrite) and
// pg_stat_xact_user_tables.seq_scan (scan).
//
// Columns:
//   lock            the mode on the statement's own table (or index, for index statements)
//   referencedLock  the mode on a second table the statement names (FK target, partition)
//   indexTableLock  for index statements, the mode on the index's (unnamed) table
//   rewrite         rewrites every row while holding `lock`: time grows with the table
//   scan            reads every row of its relation (a validation, an index build) while holding `lock`;
//                   only a danger when `lock` (or one held earlier in the transaction) blocks writes
//   inTransaction   may run inside BEGIN ... COMMIT
//   concurrently    the --concurrently semantics: waits for open writers and older snapshots
//   safe            the sequence to use instead, when the statement is dangerous on a large table
import type { LockMode } from '../core/lock-modes.js';

export interface LockRule {
  statement: string;
  lock: LockMode;
  referencedLock?: LockMode;
  /** For statements naming an index: the mode on the index's table, which the statement does not name. */
  indexTableLock?: LockMode;
  rewrite: boolean;
  scan: boolean;
  inTransaction: boolean;
  concurrently: boolean;
  safe?: string;
  docs: string;
}

const ALTER_TABLE = 'https://www.postgresql.org/docs/current/sql-altertable.html';
const CREATE_INDEX = 'https://www.postgresql.org/docs/current/sql-createindex.html';
const LOCKING = 'https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES';

const SAFE_ADD_COLUMN =
  'add the column without the default (or with a constant default), backfill it in batches (UPDATE ... WHERE id BETWEEN ...), then SET DEFAULT';
const SAFE_NOT_NULL =
  'ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID; then VALIDATE CONSTRAINT c (ShareUpdateExclusiveLock, reads and writes continue); then SET NOT NULL skips its scan; then DROP CONSTRAINT c';
const SAFE_CHECK = 'ADD CONSTRAINT ... CHECK (...) NOT VALID, then in a separate transaction VALIDATE CONSTRAINT (ShareUpdateExclusiveLock)';
const SAFE_FK = 'ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then in a separate transaction VALIDATE CONSTRAINT (ShareUpdateExclusiveLock; RowShareLock on the referenced table)';
const SAFE_TYPE = 'add a new column of the new type, dual-write it from the application (or a trigger), backfill in batches, then swap the columns and drop the old one';
const SAFE_INDEX = 'CREATE INDEX CONCURRENTLY, outside a transaction block (ShareUpdateExclusiveLock; reads and writes continue)';
const SAFE_UNIQUE = 'CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX (or PRIMARY KEY USING INDEX)';

export const LOCK_RULES = {
  // ADD COLUMN without a default, or with a constant default (PG 11+ stores it in the catalog, no rewrite).
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
  'add-column': { statement: 'ALTER TABLE ... ADD COLUMN', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-NOTES` },
  // A volatile default (random(), clock_timestamp(), gen_random_uuid(), serial, identity, stored generated) rewrites the table.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
  'add-column-rewrite': { statement: 'ALTER TABLE ... ADD COLUMN with a volatile default', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: SAFE_ADD_COLUMN, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-NOTES` },
  // ADD COLUMN ... REFERENCES with no default: the new column is all NULL, so PostgreSQL skips the validation scan.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT
  'add-column-references': { statement: 'ALTER TABLE ... ADD COLUMN ... REFERENCES (no default)', lock: 'AccessExclusiveLock', referencedLock: 'ShareRowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DROP-COLUMN
  'drop-column': { statement: 'ALTER TABLE ... DROP COLUMN', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-DROP-COLUMN` },
  // Rewrites unless the change is binary coercible (varchar(n) → text, a longer varchar); assumed to rewrite.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DATA-TYPE
  'alter-column-type': { statement: 'ALTER TABLE ... ALTER COLUMN ... TYPE', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: SAFE_TYPE, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-DATA-TYPE` },
  // Binary coercible (varchar widening, varchar → text, numeric precision increase, cidr → inet,
  // timestamp ↔ timestamptz under TimeZone UTC, a typmod that only widens): the table keeps its storage.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
  'alter-column-type-in-place': { statement: 'ALTER TABLE ... ALTER COLUMN ... TYPE (binary coercible)', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-NOTES` },
  // Binary coercible, but the column's indexes use another operator class (int4 → oid, timestamp → timestamptz,
  // a new collation): the table stays, every index on the column is rebuilt under the ACCESS EXCLUSIVE lock.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
  'alter-column-type-index-rebuild': { statement: 'ALTER TABLE ... ALTER COLUMN ... TYPE (indexes rebuilt)', lock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_TYPE, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-NOTES` },
  // SET EXPRESSION recomputes a stored generated column for every row (17).
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-EXPRESSION
  'set-expression': { statement: 'ALTER TABLE ... ALTER COLUMN ... SET EXPRESSION', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: SAFE_TYPE, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-EXPRESSION` },
  // Scans the whole table to check for NULLs, unless a valid CHECK (col IS NOT NULL) proves it.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL
  'set-not-null': { statement: 'ALTER TABLE ... ALTER COLUMN ... SET NOT NULL', lock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_NOT_NULL, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL` },
  // After VALIDATE CONSTRAINT of a CHECK (col IS NOT NULL) earlier in the migration, the scan is skipped.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL
  'set-not-null-proven': { statement: 'ALTER TABLE ... SET NOT NULL after a validated CHECK (col IS NOT NULL)', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL
  'drop-not-null': { statement: 'ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-DROP-NOT-NULL` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-DROP-DEFAULT
  'set-default': { statement: 'ALTER TABLE ... ALTER COLUMN ... SET/DROP DEFAULT', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-DROP-DEFAULT` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT
  'add-check': { statement: 'ALTER TABLE ... ADD CHECK', lock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_CHECK, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT` },
  // NOT VALID skips the scan; the lock is still AccessExclusive, briefly.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES
  'add-check-not-valid': { statement: 'ALTER TABLE ... ADD CHECK ... NOT VALID', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-NOTES` },
  // "ADD FOREIGN KEY requires only a SHARE ROW EXCLUSIVE lock" — on both tables — and validates every row.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT
  'add-foreign-key': { statement: 'ALTER TABLE ... ADD FOREIGN KEY', lock: 'ShareRowExclusiveLock', referencedLock: 'ShareRowExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_FK, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT
  'add-foreign-key-not-valid': { statement: 'ALTER TABLE ... ADD FOREIGN KEY ... NOT VALID', lock: 'ShareRowExclusiveLock', referencedLock: 'ShareRowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT` },
  // UNIQUE, PRIMARY KEY and EXCLUDE build an index under AccessExclusiveLock.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT
  'add-index-constraint': { statement: 'ALTER TABLE ... ADD UNIQUE / PRIMARY KEY / EXCLUDE', lock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_UNIQUE, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX
  'add-constraint-using-index': { statement: 'ALTER TABLE ... ADD ... USING INDEX', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX` },
  // Scans the table but only under ShareUpdateExclusiveLock: reads and writes continue.
  // PRIMARY KEY USING INDEX on a column that is not NOT NULL: an implicit SET NOT NULL, which reads every row.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX
  'add-primary-key-using-index-nullable': { statement: 'ALTER TABLE ... ADD PRIMARY KEY USING INDEX (a column not yet NOT NULL)', lock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_NOT_NULL, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-ADD-TABLE-CONSTRAINT-USING-INDEX` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-VALIDATE-CONSTRAINT
  'validate-constraint': { statement: 'ALTER TABLE ... VALIDATE CONSTRAINT', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-VALIDATE-CONSTRAINT` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DROP-CONSTRAINT
  'drop-constraint': { statement: 'ALTER TABLE ... DROP CONSTRAINT', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-DROP-CONSTRAINT` },
  // RENAME of a table, column or constraint.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-RENAME
  rename: { statement: 'ALTER TABLE ... RENAME', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-RENAME` },
  // Only the index is locked, not its table.
  // https://www.postgresql.org/docs/current/sql-alterindex.html
  'rename-index': { statement: 'ALTER INDEX ... RENAME', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-alterindex.html' },
  // SET STATISTICS, column SET (n_distinct ...), CLUSTER ON, SET WITHOUT CLUSTER.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-STATISTICS
  'set-statistics': { statement: 'ALTER TABLE ... SET STATISTICS / column SET (...) / CLUSTER ON', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-STATISTICS` },
  // fillfactor, autovacuum_*, toast.*, parallel_workers: ShareUpdateExclusiveLock.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-STORAGE-PARAMETER
  'set-storage-parameters': { statement: 'ALTER TABLE ... SET (storage parameter)', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-STORAGE-PARAMETER` },
  // SET STORAGE, SET COMPRESSION, OWNER TO, REPLICA IDENTITY, ROW LEVEL SECURITY, identity changes:
  // the ALTER TABLE default, AccessExclusiveLock, no rewrite.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-STORAGE
  'alter-table-metadata': { statement: 'ALTER TABLE ... SET STORAGE / OWNER / REPLICA IDENTITY / ROW LEVEL SECURITY / identity', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-STORAGE` },
  // SET LOGGED/UNLOGGED and SET TABLESPACE copy the table.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-TABLESPACE
  'alter-table-rewrite': { statement: 'ALTER TABLE ... SET LOGGED / UNLOGGED / TABLESPACE / ACCESS METHOD', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: 'create the new table alongside and copy in batches; these forms have no online variant', docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-TABLESPACE` },
  // ENABLE/DISABLE TRIGGER.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-DISABLE-ENABLE-TRIGGER
  'enable-disable-trigger': { statement: 'ALTER TABLE ... ENABLE/DISABLE TRIGGER', lock: 'ShareRowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-DISABLE-ENABLE-TRIGGER` },
  // Parent ShareUpdateExclusiveLock; the new partition AccessExclusiveLock and a scan of it unless a CHECK proves the bound.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-ATTACH-PARTITION
  'attach-partition': { statement: 'ALTER TABLE ... ATTACH PARTITION', lock: 'ShareUpdateExclusiveLock', referencedLock: 'AccessExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: 'first ADD a CHECK constraint matching the partition bound to the new partition (NOT VALID, then VALIDATE), so ATTACH skips its scan', docs: `${ALTER_TABLE}#SQL-ALTERTABLE-ATTACH-PARTITION` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
  'detach-partition': { statement: 'ALTER TABLE ... DETACH PARTITION', lock: 'AccessExclusiveLock', referencedLock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, safe: 'DETACH PARTITION ... CONCURRENTLY, outside a transaction block', docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DETACH-PARTITION` },
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
  'detach-partition-concurrently': { statement: 'ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY', lock: 'ShareUpdateExclusiveLock', referencedLock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: false, concurrently: true, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DETACH-PARTITION` },
  // "A normal index build locks out writes (but not reads)": ShareLock for the whole build.
  // https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
  'create-index': { statement: 'CREATE INDEX', lock: 'ShareLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: SAFE_INDEX, docs: `${CREATE_INDEX}#SQL-CREATEINDEX-CONCURRENTLY` },
  // ON ONLY a partitioned table: an invalid index on the parent alone, no partition is read.
  // https://www.postgresql.org/docs/current/sql-createindex.html
  'create-index-on-only': { statement: 'CREATE INDEX ... ON ONLY (a partitioned table)', lock: 'ShareLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: CREATE_INDEX },
  // https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY
  'create-index-concurrently': { statement: 'CREATE INDEX CONCURRENTLY', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: false, concurrently: true, docs: `${CREATE_INDEX}#SQL-CREATEINDEX-CONCURRENTLY` },
  // DROP INDEX takes AccessExclusiveLock on the index and its table (the table is not named in the statement).
  // https://www.postgresql.org/docs/current/sql-dropindex.html
  'drop-index': { statement: 'DROP INDEX', lock: 'AccessExclusiveLock', indexTableLock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, safe: 'DROP INDEX CONCURRENTLY, outside a transaction block', docs: 'https://www.postgresql.org/docs/current/sql-dropindex.html' },
  // https://www.postgresql.org/docs/current/sql-dropindex.html
  'drop-index-concurrently': { statement: 'DROP INDEX CONCURRENTLY', lock: 'ShareUpdateExclusiveLock', indexTableLock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: false, concurrently: true, docs: 'https://www.postgresql.org/docs/current/sql-dropindex.html' },
  // REINDEX TABLE: ShareLock on the table for the rebuild.
  // https://www.postgresql.org/docs/current/sql-reindex.html
  reindex: { statement: 'REINDEX TABLE', lock: 'ShareLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: 'REINDEX ... CONCURRENTLY, outside a transaction block', docs: 'https://www.postgresql.org/docs/current/sql-reindex.html' },
  // https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY
  'reindex-concurrently': { statement: 'REINDEX ... CONCURRENTLY', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: false, concurrently: true, docs: 'https://www.postgresql.org/docs/current/sql-reindex.html#SQL-REINDEX-CONCURRENTLY' },
  // https://www.postgresql.org/docs/current/sql-droptable.html
  'drop-table': { statement: 'DROP TABLE', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-droptable.html' },
  // New storage, not a row-by-row rewrite: quick, but AccessExclusiveLock.
  // https://www.postgresql.org/docs/current/sql-truncate.html
  truncate: { statement: 'TRUNCATE', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-truncate.html' },
  // https://www.postgresql.org/docs/current/sql-vacuum.html
  'vacuum-full': { statement: 'VACUUM FULL', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: false, concurrently: false, safe: 'plain VACUUM (ShareUpdateExclusiveLock), or pg_repack', docs: 'https://www.postgresql.org/docs/current/sql-vacuum.html' },
  // https://www.postgresql.org/docs/current/sql-vacuum.html
  vacuum: { statement: 'VACUUM', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: false, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-vacuum.html' },
  // https://www.postgresql.org/docs/current/sql-analyze.html
  analyze: { statement: 'ANALYZE', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-analyze.html' },
  // https://www.postgresql.org/docs/current/sql-cluster.html
  cluster: { statement: 'CLUSTER', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: 'pg_repack, or leave the physical order alone', docs: 'https://www.postgresql.org/docs/current/sql-cluster.html' },
  // https://www.postgresql.org/docs/current/sql-createtrigger.html
  'create-trigger': { statement: 'CREATE TRIGGER', lock: 'ShareRowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createtrigger.html' },
  // https://www.postgresql.org/docs/current/sql-droptrigger.html
  'drop-trigger': { statement: 'DROP TRIGGER', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-droptrigger.html' },
  // https://www.postgresql.org/docs/current/sql-comment.html
  comment: { statement: 'COMMENT ON TABLE/COLUMN', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-comment.html' },
  // A new table locks nothing existing, except the tables its foreign keys reference.
  // https://www.postgresql.org/docs/current/sql-createtable.html
  'create-table': { statement: 'CREATE TABLE (the lock is on the new table)', lock: 'AccessExclusiveLock', referencedLock: 'ShareRowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createtable.html' },
  // CREATE TABLE ... PARTITION OF locks the parent AccessExclusive (ATTACH PARTITION needs less).
  // https://www.postgresql.org/docs/current/sql-createtable.html#SQL-CREATETABLE-PARTITION
  'create-partition': { statement: 'CREATE TABLE ... PARTITION OF (the lock is on the parent)', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, safe: 'CREATE TABLE ... (LIKE parent), then ALTER TABLE parent ATTACH PARTITION (ShareUpdateExclusiveLock on the parent)', docs: 'https://www.postgresql.org/docs/current/sql-createtable.html#SQL-CREATETABLE-PARTITION' },
  // https://www.postgresql.org/docs/current/sql-lock.html
  'lock-table': { statement: 'LOCK TABLE ... IN <mode> MODE (the mode it names; ACCESS EXCLUSIVE by default)', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-lock.html' },
  // https://www.postgresql.org/docs/current/sql-refreshmaterializedview.html
  'refresh-materialized-view': { statement: 'REFRESH MATERIALIZED VIEW', lock: 'AccessExclusiveLock', rewrite: true, scan: false, inTransaction: true, concurrently: false, safe: 'REFRESH MATERIALIZED VIEW CONCURRENTLY (needs a unique index; ExclusiveLock lets reads continue)', docs: 'https://www.postgresql.org/docs/current/sql-refreshmaterializedview.html' },
  // Reads the view to diff it, under ExclusiveLock: reads continue, and nothing else writes a materialized view.
  // https://www.postgresql.org/docs/current/sql-refreshmaterializedview.html
  'refresh-materialized-view-concurrently': { statement: 'REFRESH MATERIALIZED VIEW CONCURRENTLY', lock: 'ExclusiveLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-refreshmaterializedview.html' },
  // Partition index attach: the parent index ShareUpdateExclusive, the partition's index AccessExclusive; tables only read.
  // https://www.postgresql.org/docs/current/sql-alterindex.html
  'attach-partition-index': { statement: 'ALTER INDEX ... ATTACH PARTITION', lock: 'ShareUpdateExclusiveLock', referencedLock: 'AccessExclusiveLock', indexTableLock: 'AccessShareLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-alterindex.html' },
  // The last step of an interrupted DETACH ... CONCURRENTLY.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DETACH-PARTITION
  'detach-partition-finalize': { statement: 'ALTER TABLE ... DETACH PARTITION ... FINALIZE', lock: 'ShareUpdateExclusiveLock', referencedLock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DETACH-PARTITION` },
  // INHERIT: the child AccessExclusive, the parent ShareUpdateExclusive.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-INHERIT
  inherit: { statement: 'ALTER TABLE ... INHERIT / NO INHERIT', lock: 'AccessExclusiveLock', referencedLock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-INHERIT` },
  // A new table inheriting from existing ones: the parents ShareUpdateExclusive.
  // https://www.postgresql.org/docs/current/sql-createtable.html
  'create-table-inherits': { statement: 'CREATE TABLE ... INHERITS (the lock is on the parents)', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createtable.html' },
  // CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW: the sources are read (AccessShareLock); the new relation is new.
  // https://www.postgresql.org/docs/current/sql-createtableas.html
  'create-table-as': { statement: 'CREATE TABLE AS / CREATE MATERIALIZED VIEW / SELECT INTO (the lock is on the sources)', lock: 'AccessShareLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createtableas.html' },
  // CREATE [OR REPLACE] VIEW: AccessShareLock on what it selects from, AccessExclusiveLock on a view it replaces.
  // https://www.postgresql.org/docs/current/sql-createview.html
  'create-view': { statement: 'CREATE [OR REPLACE] VIEW (the lock is on the view it replaces)', lock: 'AccessExclusiveLock', referencedLock: 'AccessShareLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createview.html' },
  // DROP VIEW, ALTER VIEW, COMMENT on a view: the view only; the tables it reads are not locked.
  // https://www.postgresql.org/docs/current/sql-dropview.html
  'drop-view': { statement: 'DROP VIEW / ALTER VIEW (the lock is on the view)', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-dropview.html' },
  // CREATE/ALTER/DROP POLICY and CREATE RULE: a brief AccessExclusiveLock on the table.
  // https://www.postgresql.org/docs/current/sql-createpolicy.html
  'create-policy': { statement: 'CREATE/ALTER/DROP POLICY, CREATE RULE', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createpolicy.html' },
  // https://www.postgresql.org/docs/current/sql-createstatistics.html
  'create-statistics': { statement: 'CREATE STATISTICS', lock: 'ShareUpdateExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-createstatistics.html' },
  // ALTER SEQUENCE: ShareRowExclusiveLock on the sequence; OWNED BY reads the table.
  // https://www.postgresql.org/docs/current/sql-altersequence.html
  'alter-sequence': { statement: 'ALTER SEQUENCE (the lock is on the sequence)', lock: 'ShareRowExclusiveLock', referencedLock: 'AccessShareLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-altersequence.html' },
  // SET SCHEMA moves the table: a brief AccessExclusiveLock.
  // https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-DESC-SET-SCHEMA
  'set-schema': { statement: 'ALTER TABLE ... SET SCHEMA', lock: 'AccessExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: `${ALTER_TABLE}#SQL-ALTERTABLE-DESC-SET-SCHEMA` },
  // REINDEX INDEX: the index AccessExclusive and its (unnamed) table ShareLock while it is rebuilt.
  // https://www.postgresql.org/docs/current/sql-reindex.html
  'reindex-index': { statement: 'REINDEX INDEX', lock: 'AccessExclusiveLock', indexTableLock: 'ShareLock', rewrite: false, scan: true, inTransaction: true, concurrently: false, safe: 'REINDEX INDEX CONCURRENTLY, outside a transaction block', docs: 'https://www.postgresql.org/docs/current/sql-reindex.html' },
  // COPY ... FROM: RowExclusiveLock, like INSERT.
  // https://www.postgresql.org/docs/current/sql-copy.html
  'copy-from': { statement: 'COPY ... FROM', lock: 'RowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: 'https://www.postgresql.org/docs/current/sql-copy.html' },
  // Ordinary DML: INSERT/UPDATE/DELETE/MERGE take RowExclusiveLock.
  // https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES
  'write-rows': { statement: 'INSERT / UPDATE / DELETE', lock: 'RowExclusiveLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: LOCKING },
  // https://www.postgresql.org/docs/current/explicit-locking.html#LOCKING-TABLES
  'read-rows': { statement: 'SELECT', lock: 'AccessShareLock', rewrite: false, scan: false, inTransaction: true, concurrently: false, docs: LOCKING },
} as const satisfies Record<string, LockRule>;

export type LockRuleKind = keyof typeof LOCK_RULES;

/** Statements that lock no existing table: SET, BEGIN, CREATE FUNCTION/VIEW/SEQUENCE/TYPE/SCHEMA/EXTENSION, ... */
export const NO_TABLE_LOCK = 'no-table-lock';
/** Statements whose effect cannot be known from the text (DO blocks, functions, unknown forms): the gate fails closed. */
export const UNKNOWN = 'unknown';

export type StatementKind = LockRuleKind | typeof NO_TABLE_LOCK | typeof UNKNOWN;

export function ruleFor(kind: LockRuleKind): LockRule {
  return LOCK_RULES[kind];
}

const SHORT = (mode: LockMode): string => mode.replace(/Lock$/, '');

/** The table above as markdown, for docs/migration-analysis.md (`npm run docs` keeps it current). */
export function lockTableMarkdown(): string {
  const rows = (Object.entries(LOCK_RULES) as [LockRuleKind, LockRule][]).map(([kind, r]) => {
    const other = r.referencedLock ? `${SHORT(r.referencedLock)} (${kind.includes('partition') ? 'the partition' : kind.includes('sequence') ? 'the owning table' : kind === 'create-view' ? 'what it selects from' : kind === 'inherit' ? 'the parent' : 'the referenced table'})` : r.indexTableLock ? `${SHORT(r.indexTableLock)} (the index's table)` : '';
    const tx = r.inTransaction ? 'yes' : r.concurrently ? '**no**, concurrently semantics' : '**no**';
    return `| ${r.statement.replace(/</g, '&lt;').replace(/>/g, '&gt;')} | ${SHORT(r.lock)} | ${other} | ${r.rewrite ? 'yes' : ''} | ${r.scan ? 'yes' : ''} | ${tx} | [${kind}](${r.docs}) |`;
  });
  return ['| statement | lock | other relation | rewrite | reads every row | in a transaction block | docs |', '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n';
}

// What `pgpreflight trace` found out by running a migration: per statement, the relation
// locks its backend held (accumulated within its transaction), the relations it rewrote,
// the full scans it did, and whether it ran at all. Facts only: the trace judges nothing;
// `check --trace` (./overlay.ts) turns them into the gate's findings.
import type { LockMode } from '../core/lock-modes.js';

export type TracedRelationKind = 'table' | 'partitioned table' | 'index' | 'materialized view' | 'sequence' | 'view' | 'foreign table' | 'other';

export interface TracedRelation {
  /** pg_class.oid on the traced server (meaningless elsewhere). */
  oid: number;
  schema: string;
  name: string;
  /** `orders` (public) or `billing.invoices`, quoted only where needed. */
  relation: string;
  kind: TracedRelationKind;
  /** Created by a pending statement of this trace (no live traffic on it in production). */
  createdByMigration: boolean;
  /** For an index: its table. */
  table?: string;
}

export interface HeldMode {
  mode: LockMode;
  /** `file:line` of the statement that first took this mode in the trace's transaction; null when unknown. */
  since: string | null;
  /**
   * Taken by a statement of an earlier transaction of the migration. Only on a shadow, where the
   * trace runs everything in one transaction: in production this statement's transaction would
   * not hold it, and whether it asks for the same mode itself cannot be seen.
   */
  carried: boolean;
}

export interface TracedLock extends TracedRelation {
  /** The strongest mode held on the relation. */
  mode: LockMode;
  /** Every mode held on it, strongest first (a backend holds each mode it asked for separately). */
  held: HeldMode[];
  /** false: seen only as a request that waited (behind the trace's own blocker, for statements run outside a transaction). */
  granted: boolean;
  /** `since` of the strongest mode. */
  since: string | null;
  /** `carried` of the strongest mode. */
  carried: boolean;
}

export interface TracedScan extends TracedRelation {
  /** Sequential scans the statement started on the relation (pg_stat_xact_user_tables.seq_scan delta). */
  seqScans: number;
  /** Rows those scans returned (seq_tup_read delta): the rows of the throwaway table, not production's. */
  rowsRead: number;
}

/**
 * - `traced`: ran and was observed
 * - `error`: PostgreSQL refused it (the error is in `error`); later statements ran as if it were absent
 * - `not-run`: the trace could not run it (see `note`)
 * - `transaction-control`: BEGIN, COMMIT, SAVEPOINT, ...: run as written, nothing to observe
 */
export type TraceOutcome = 'traced' | 'error' | 'not-run' | 'transaction-control';

/**
 * How the statement ran:
 * - `own`: on its own (autocommit); the trace wrapped it in a transaction to read its locks before COMMIT
 * - `block`: inside the migration's BEGIN ... COMMIT (or the per-file transaction of --in-transaction)
 * - `none`: outside any transaction because it cannot run in one (CREATE INDEX CONCURRENTLY, VACUUM, ...), for real
 * - `trace-transaction`: on a shadow database, inside the one transaction the trace rolls back at the end
 */
export type TraceTransaction = 'own' | 'block' | 'none' | 'trace-transaction';

export interface TracedStatement {
  file: string;
  line: number;
  column: number;
  /** Its position among its file's statements (0-based): with `file`, the key `check --trace` matches on. */
  index: number;
  excerpt: string;
  outcome: TraceOutcome;
  transaction: TraceTransaction;
  /**
   * Relation locks held after the statement, accumulated within its transaction: what live
   * traffic on those relations would wait behind while it, and the rest of its transaction, runs.
   * For a statement run outside a transaction: what was seen while it ran. null when not observed.
   */
  locks: TracedLock[] | null;
  /** Tables and materialized views given new storage with their rows copied (relfilenode changed). */
  rewritten: TracedRelation[];
  /** Indexes rebuilt (relfilenode changed), by a rewrite, REINDEX or a type change. */
  indexesRebuilt: TracedRelation[];
  /** Tables emptied by TRUNCATE (new storage, no rows copied). */
  truncated: TracedRelation[];
  created: TracedRelation[];
  dropped: TracedRelation[];
  /** Full scans; null when not measured (statements run outside a transaction). */
  scans: TracedScan[] | null;
  /** PostgreSQL's error, one line, for `error`. */
  error: { code: string; message: string } | null;
  note: string | null;
  durationMs: number;
}

export type TraceTargetKind = 'throwaway' | 'shadow';

export interface TraceResult {
  version: 1;
  target: {
    kind: TraceTargetKind;
    /** `throwaway PostgreSQL 17 on 127.0.0.1:port`, or the shadow's user@host:port/database. */
    display: string;
    serverVersion: string;
    major: number;
  };
  /** The files applied before the pending ones (throwaway only). */
  history: { files: string[]; statements: number };
  /** The pending files traced, in order. */
  files: string[];
  statements: TracedStatement[];
  summary: { statements: number; traced: number; errors: number; notRun: number; rewrites: number; scans: number };
  notes: string[];
  durationMs: number;
}

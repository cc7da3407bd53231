// Runs migration statements one by one on a database the trace may change, and reads
// what each one did. Two ways to run them:
//
// - `commit` (a throwaway server): as the migration would run. A statement on its own is
//   wrapped in BEGIN ... COMMIT so that its locks can be read before they are released; a
//   BEGIN ... COMMIT of the migration is kept (each of its statements under a savepoint, so
//   that one failing statement does not hide the rest); a statement that cannot run in a
//   transaction runs on its own, for real, while a second session holds a SHARE lock on the
//   tables it names, so that its first lock request is seen waiting, and then samples its
//   locks until it is done. Everything is committed: the server is thrown away.
// - `rollback` (a shadow database someone else owns): everything in one transaction that is
//   rolled back at the end; statements under savepoints. What cannot run in a transaction is
//   not run. A lock mode an earlier statement already holds is not seen again.
import type pg from 'pg';
import { oneLine, PreflightError } from '../core/errors.js';
import { LOCK_MODES, type LockMode } from '../core/lock-modes.js';
import { describeRelation, readCatalog, readLocks, readScans, storageChanges, type Catalog, type LockRow, type RelationRow } from './observe.js';
import type { TraceStep } from './statements.js';
import type { TracedLock, TracedRelation, TracedScan, TracedStatement, TraceTransaction } from './types.js';

export type TraceMode = 'commit' | 'rollback';

export interface TraceOptions {
  mode: TraceMode;
  /** Each pending file runs in one transaction, as Rails, Flyway, golang-migrate (most drivers), ... run them. */
  inTransaction: boolean;
  /** Session settings for the traced session (TimeZone, search_path, ...), applied before the first statement. */
  settings: readonly (readonly [string, string])[];
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

export interface TraceRun {
  statements: TracedStatement[];
  notes: string[];
}

/** A server error, as the statement's one-line error; anything else (a lost connection) ends the trace. */
function statementError(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown; severity?: unknown };
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && typeof e.severity === 'string') {
    return { code: e.code, message: oneLine(String(e.message)) };
  }
  throw new PreflightError(`the traced session failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

const NOT_IN_TRANSACTION = '25001';
const SAVEPOINT_COMMANDS = { savepoint: 'SAVEPOINT', release: 'RELEASE SAVEPOINT', 'rollback-to': 'ROLLBACK TO SAVEPOINT' } as const;
const SAVEPOINT = 'pgpreflight_trace';
const BLOCK_SAVEPOINT = 'pgpreflight_trace_block';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const where = (step: TraceStep): string => `${step.file}:${step.line}`;

/** Applies history statements as written, in autocommit; stops at the first error. */
export async function applyHistory(client: pg.Client, steps: readonly TraceStep[]): Promise<string[]> {
  const notes: string[] = [];
  let inBlock = false;
  let file: string | undefined;
  for (const step of steps) {
    if (file !== undefined && step.file !== file && inBlock) {
      await client.query('ROLLBACK');
      inBlock = false;
      notes.push(`history ${file} ends inside BEGIN without COMMIT: rolled back, as psql does when the session ends`);
    }
    file = step.file;
    if (step.copyFromStdin) {
      notes.push(`history ${where(step)}: COPY ... FROM STDIN skipped (its rows are for psql; the trace does not send them)`);
      continue;
    }
    try {
      await client.query(step.sql);
    } catch (error) {
      const e = statementError(error);
      throw new PreflightError(`history ${where(step)}: ${e.message} (SQLSTATE ${e.code}): the history must apply cleanly on an empty server; name the files that create the schema with --history`);
    }
    if (step.control === 'begin') inBlock = true;
    if (step.control === 'commit' || step.control === 'rollback' || step.control === 'prepare') inBlock = false;
  }
  if (inBlock) {
    await client.query('ROLLBACK');
    notes.push(`history ${file ?? ''} ends inside BEGIN without COMMIT: rolled back, as psql does when the session ends`);
  }
  return notes;
}

interface Observation {
  before: Catalog;
  after: Catalog;
  locks: TracedLock[];
  scans: TracedScan[] | null;
  error: { code: string; message: string } | null;
  durationMs: number;
}

/** The tables to hold in SHARE mode while a non-transactional statement starts: its named tables, or the tables of its named indexes. */
const BLOCKER_TABLES_SQL = `
  SELECT DISTINCT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(t.relname) AS name
    FROM pg_catalog.unnest($1::text[]) AS given(name)
    JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(given.name)
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
    JOIN pg_catalog.pg_class t ON t.oid = COALESCE(i.indrelid, c.oid)
    JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
   WHERE t.relkind IN ('r', 'p')`;

export class Tracer {
  private readonly names = new Map<number, RelationRow>();
  private readonly created = new Set<number>();
  /** `oid:mode` → the statement that took it, and in which of the migration's transactions (`unit`). */
  private since = new Map<string, { at: string; unit: number }>();
  /** The migration's current transaction: a statement on its own, or a BEGIN ... COMMIT (or file, with --in-transaction). */
  private unit = 0;
  private inBlock = false;
  private fileTransaction = false;
  private readonly notes: string[] = [];
  private readonly lookup = (oid: number): RelationRow | undefined => this.names.get(oid);

  constructor(
    private readonly client: pg.Client,
    private readonly pid: number,
    private readonly connectObserver: () => Promise<pg.Client>,
    private readonly options: TraceOptions,
  ) {}

  async run(steps: readonly TraceStep[]): Promise<TraceRun> {
    const { client, options } = this;
    // Parallel workers would do part of a scan in other backends, whose counters this one cannot read.
    await client.query('SET max_parallel_maintenance_workers = 0; SET max_parallel_workers_per_gather = 0');
    await client.query(`SET statement_timeout = ${Math.round(options.statementTimeoutMs)}; SET lock_timeout = ${Math.round(options.lockTimeoutMs)}`);
    for (const [name, value] of options.settings) {
      await client.query('SELECT pg_catalog.set_config($1, $2, false)', [name, value]).catch((error: unknown) => {
        throw new PreflightError(`--set ${name}=${value}: ${statementError(error).message}`);
      });
    }
    if (options.mode === 'rollback') await client.query('BEGIN');
    const statements: TracedStatement[] = [];
    let file: string | undefined;
    for (const step of steps) {
      if (step.file !== file) {
        if (file !== undefined) await this.endFile(file);
        file = step.file;
        if (options.inTransaction) await this.beginFile();
      }
      statements.push(await this.step(step));
    }
    if (file !== undefined) await this.endFile(file);
    if (options.mode === 'rollback') {
      await client.query('ROLLBACK');
      this.notes.push('every statement ran in one transaction, rolled back at the end: the shadow database is as it was');
    }
    return { statements, notes: this.notes };
  }

  private async beginFile(): Promise<void> {
    if (this.inBlock || this.fileTransaction) return;
    await this.client.query(this.options.mode === 'commit' ? 'BEGIN' : `SAVEPOINT ${BLOCK_SAVEPOINT}`);
    this.fileTransaction = true;
    this.newUnit();
  }

  private async endFile(file: string): Promise<void> {
    if (this.fileTransaction) {
      await this.client.query(this.options.mode === 'commit' ? 'COMMIT' : `RELEASE SAVEPOINT ${BLOCK_SAVEPOINT}`);
      this.fileTransaction = false;
      this.inBlock = false;
    } else if (this.inBlock) {
      await this.client.query(this.options.mode === 'commit' ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${BLOCK_SAVEPOINT}; RELEASE SAVEPOINT ${BLOCK_SAVEPOINT}`);
      this.inBlock = false;
      this.notes.push(`${file} ends inside BEGIN without COMMIT: rolled back, as psql does when the session ends`);
    }
  }

  private get inTransaction(): boolean {
    return this.inBlock || this.fileTransaction;
  }

  /**
   * A new transaction of the migration starts. On a throwaway server the previous one ended and
   * released its locks; on a shadow they are still held by the trace's one transaction, and
   * are reported as `carried`.
   */
  private newUnit(): void {
    this.unit += 1;
    if (this.options.mode === 'commit') this.since = new Map();
  }

  private blank(step: TraceStep, outcome: TracedStatement['outcome'], transaction: TraceTransaction, note: string | null, error: TracedStatement['error'] = null): TracedStatement {
    return {
      file: step.file,
      line: step.line,
      column: step.column,
      index: step.index,
      excerpt: step.excerpt,
      outcome,
      transaction,
      locks: null,
      rewritten: [],
      indexesRebuilt: [],
      truncated: [],
      created: [],
      dropped: [],
      scans: null,
      error,
      note,
      durationMs: 0,
    };
  }

  private async step(step: TraceStep): Promise<TracedStatement> {
    const { mode } = this.options;
    if (step.control !== null) return this.control(step);
    const transaction: TraceTransaction = this.inTransaction ? 'block' : mode === 'rollback' ? 'trace-transaction' : 'own';
    if (step.copyFromStdin) return this.blank(step, 'not-run', transaction, 'COPY ... FROM STDIN: its rows follow in the file for psql; the trace does not send them');
    const cannotRunInTransaction = !step.analysis.mayRunInTransaction;
    if (this.inTransaction || mode === 'rollback') {
      if (mode === 'rollback' && !this.inTransaction && cannotRunInTransaction) return this.notOnShadow(step);
      if (mode === 'rollback' && !this.inTransaction) this.newUnit();
      const observed = await this.observeIn(step, [`SAVEPOINT ${SAVEPOINT}`], [`RELEASE SAVEPOINT ${SAVEPOINT}`], [`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`, `RELEASE SAVEPOINT ${SAVEPOINT}`]);
      if (mode === 'rollback' && !this.inTransaction && observed.error?.code === NOT_IN_TRANSACTION) return this.notOnShadow(step);
      return this.result(step, transaction, observed);
    }
    if (!cannotRunInTransaction) {
      this.newUnit();
      const observed = await this.observeIn(step, ['BEGIN'], ['COMMIT'], ['ROLLBACK']);
      this.since = new Map();
      if (observed.error?.code !== NOT_IN_TRANSACTION) return this.result(step, 'own', observed);
    }
    return this.result(step, 'none', await this.observeOutside(step));
  }

  private notOnShadow(step: TraceStep): TracedStatement {
    return this.blank(step, 'not-run', 'trace-transaction', 'cannot run inside a transaction, and on a shadow database the trace runs everything in one transaction that it rolls back: trace on a throwaway server to see it');
  }

  private async control(step: TraceStep): Promise<TracedStatement> {
    const { client } = this;
    const commitMode = this.options.mode === 'commit';
    const transaction: TraceTransaction = this.inTransaction ? 'block' : commitMode ? 'own' : 'trace-transaction';
    const run = async (sql: string): Promise<TracedStatement> => {
      try {
        await client.query(sql);
        return this.blank(step, 'transaction-control', transaction, null);
      } catch (error) {
        const e = statementError(error);
        // A failed transaction-control statement leaves a block aborted: end it, as the migration would have to.
        if (this.inTransaction) await client.query(commitMode ? 'ROLLBACK' : `ROLLBACK TO SAVEPOINT ${BLOCK_SAVEPOINT}; RELEASE SAVEPOINT ${BLOCK_SAVEPOINT}`).catch(() => undefined);
        if (this.inTransaction) {
          this.inBlock = false;
          this.fileTransaction = false;
        }
        return this.blank(step, 'error', transaction, null, e);
      }
    };
    switch (step.control) {
      case 'begin': {
        if (this.inTransaction) return run(commitMode ? step.sql : 'SELECT 1');
        const result = await run(commitMode ? step.sql : `SAVEPOINT ${BLOCK_SAVEPOINT}`);
        if (result.outcome === 'transaction-control') {
          this.inBlock = true;
          this.newUnit();
        }
        return result;
      }
      case 'commit':
      case 'rollback':
      case 'prepare': {
        // PREPARE TRANSACTION ends the transaction too; the trace commits it instead of keeping a prepared transaction.
        const commit = step.control !== 'rollback';
        const sql = !commitMode ? (!this.inTransaction ? 'SELECT 1' : commit ? `RELEASE SAVEPOINT ${BLOCK_SAVEPOINT}` : `ROLLBACK TO SAVEPOINT ${BLOCK_SAVEPOINT}; RELEASE SAVEPOINT ${BLOCK_SAVEPOINT}`) : step.control === 'prepare' ? 'COMMIT' : step.sql;
        const result = await run(sql);
        this.inBlock = false;
        this.fileTransaction = false;
        if (commitMode) this.since = new Map();
        return step.control === 'prepare' ? { ...result, note: 'run as COMMIT: the trace keeps no prepared transaction' } : result;
      }
      case 'savepoint':
      case 'release':
      case 'rollback-to':
        // Outside a block PostgreSQL refuses these; on a shadow the trace's own transaction must not see them.
        if (!commitMode && !this.inTransaction) return this.blank(step, 'error', transaction, null, { code: '25P01', message: `${SAVEPOINT_COMMANDS[step.control]} can only be used in transaction blocks` });
        return run(step.sql);
      default:
        return this.blank(step, 'not-run', transaction, 'COMMIT/ROLLBACK PREPARED: the trace keeps no prepared transaction to finish');
    }
  }

  /** Runs the statement between `open` and `close` in the traced session and reads what it did. */
  private async observeIn(step: TraceStep, open: string[], close: string[], onError: string[]): Promise<Observation> {
    const { client } = this;
    for (const sql of open) await client.query(sql);
    // Locks released since they were taken (ROLLBACK TO, a rolled-back block) are new when taken again.
    const holding = new Set((await readLocks(client, this.pid)).map((l) => `${l.oid}:${l.mode}`));
    for (const key of [...this.since.keys()]) if (!holding.has(key)) this.since.delete(key);
    const before = await readCatalog(client);
    const scansBefore = await readScans(client);
    const started = performance.now();
    let error: Observation['error'] = null;
    try {
      await client.query(step.sql);
    } catch (caught) {
      error = statementError(caught);
    }
    const durationMs = Math.round(performance.now() - started);
    if (error) {
      for (const sql of onError) await client.query(sql);
      return { before, after: before, locks: [], scans: null, error, durationMs };
    }
    const after = await readCatalog(client);
    const scansAfter = await readScans(client);
    const held = await readLocks(client, this.pid);
    this.remember(before, after);
    const here = where(step);
    const locks = this.describeLocks(held, (key) => {
      if (!this.since.has(key)) this.since.set(key, { at: here, unit: this.unit });
      return this.since.get(key) ?? null;
    });
    const scans: TracedScan[] = [];
    for (const [oid, count] of scansAfter) {
      const seqScans = count.seqScans - (scansBefore.get(oid)?.seqScans ?? 0);
      const row = this.names.get(oid);
      if (seqScans > 0 && row) scans.push({ ...describeRelation(row, this.created.has(oid), this.lookup), seqScans, rowsRead: count.rowsRead - (scansBefore.get(oid)?.rowsRead ?? 0) });
    }
    for (const sql of close) await client.query(sql);
    return { before, after, locks, scans, error: null, durationMs };
  }

  /**
   * Runs a statement that cannot run in a transaction, for real. A second session holds SHARE
   * on the tables it names, which conflicts with every lock such a statement takes on them
   * (ShareUpdateExclusive and stronger) but not with its catalog lookups: the statement's first
   * request is seen waiting. Then the blocker lets go and the locks are sampled until it ends;
   * a third session's ACCESS SHARE on the same tables holds the statement where it waits for
   * older transactions, until that wait is seen. Every step waits for a state, never a time.
   */
  private async observeOutside(step: TraceStep): Promise<Observation> {
    const { client, pid } = this;
    const observer = await this.connectObserver();
    try {
      const before = await readCatalog(client);
      const { rows: savedTimeout } = await client.query<{ value: string }>("SELECT pg_catalog.current_setting('lock_timeout') AS value");
      // The wait behind the blocker is the trace's own doing: it must not hit the migration's lock_timeout.
      await client.query('SET lock_timeout = 0');
      const named = step.analysis.relations.map((r) => r.canonical);
      const { rows: tables } = await observer.query<{ name: string }>(BLOCKER_TABLES_SQL, [named]);
      // The reader (ACCESS SHARE, compatible with every lock these statements take first) is
      // what a concurrent statement later waits for (DROP INDEX CONCURRENTLY, DETACH ... CONCURRENTLY
      // and REINDEX CONCURRENTLY wait for every older holder of the table): while it waits, the
      // locks of its first phase are held and sampled for certain.
      const reader = tables.length > 0 ? await this.connectObserver() : null;
      let blocking = false;
      let reading = false;
      if (reader) {
        const list = tables.map((t) => t.name).join(', ');
        await reader.query("BEGIN; SET LOCAL lock_timeout = '5s'");
        try {
          await reader.query(`LOCK TABLE ${list} IN ACCESS SHARE MODE`);
          reading = true;
        } catch {
          await reader.query('ROLLBACK');
        }
        await observer.query("BEGIN; SET LOCAL lock_timeout = '5s'");
        try {
          await observer.query(`LOCK TABLE ${list} IN SHARE MODE`);
          blocking = true;
        } catch {
          await observer.query('ROLLBACK');
        }
      }
      const seen = new Map<number, { modes: Set<LockMode>; granted: boolean }>();
      const sample = async (): Promise<LockRow[]> => {
        const rows = await readLocks(observer, pid);
        for (const row of rows) {
          const entry = seen.get(row.oid) ?? { modes: new Set<LockMode>(), granted: false };
          entry.modes.add(row.mode);
          entry.granted ||= row.granted;
          seen.set(row.oid, entry);
        }
        return rows;
      };
      /** Whether the statement waits for a lock now (the lock table's state, never a stale wait event). */
      const waiting = async (): Promise<boolean> => {
        const { rows } = await observer.query<{ n: number }>('SELECT pg_catalog.cardinality(pg_catalog.pg_blocking_pids($1)) AS n', [pid]);
        return (rows[0]?.n ?? 0) > 0;
      };
      const outcome: { settled: boolean; error: Observation['error']; failure?: unknown } = { settled: false, error: null };
      const started = performance.now();
      const running = client
        .query(step.sql)
        .then(
          () => undefined,
          (caught: unknown) => {
            try {
              outcome.error = statementError(caught);
            } catch (fatal) {
              outcome.failure = fatal;
            }
          },
        )
        .finally(() => {
          outcome.settled = true;
        });
      try {
        // Until the statement waits (behind the blocker, or anything else) or ends: its first request is seen.
        while (blocking && !outcome.settled) {
          const rows = await sample();
          if (rows.some((r) => !r.granted)) break;
          // It began waiting since that sample: sample the wait itself before letting go.
          if (await waiting()) {
            await sample();
            break;
          }
          await sleep(5);
        }
        if (blocking) await observer.query('ROLLBACK');
        while (!outcome.settled) {
          await sample();
          // Waiting again (for the reader, or anything else): what it holds now has been sampled; the reader lets go.
          if (reading && (await waiting())) {
            await sample();
            await reader?.query('ROLLBACK');
            reading = false;
          }
          await sleep(10);
        }
      } finally {
        if (reading) await reader?.query('ROLLBACK').catch(() => undefined);
        await reader?.end().catch(() => undefined);
      }
      await running;
      const durationMs = Math.round(performance.now() - started);
      if (outcome.failure) throw outcome.failure;
      const { error } = outcome;
      await client.query('SELECT pg_catalog.set_config($1, $2, false)', ['lock_timeout', savedTimeout[0]?.value ?? '0']);
      const after = await readCatalog(client);
      this.remember(before, after);
      const here = where(step);
      const held: LockRow[] = [...seen].flatMap(([oid, entry]) => [...entry.modes].map((mode) => ({ oid, mode, granted: entry.granted })));
      const locks = error ? [] : this.describeLocks(held, () => ({ at: here, unit: this.unit }));
      return { before, after: error ? before : after, locks, scans: null, error, durationMs };
    } finally {
      await observer.end().catch(() => undefined);
    }
  }

  /**
   * Keeps the names of relations that a later lock row may refer to after they are dropped;
   * notes what the migration created. A relation dropped and created again under the same
   * name by one statement (ALTER COLUMN TYPE re-creates the indexes on the column) is the old
   * one rebuilt, not a new one: it stays as new as the one it replaces.
   */
  private remember(before: Catalog, after: Catalog): void {
    for (const [oid, row] of before) this.names.set(oid, row);
    for (const [oid, row] of after) {
      if (!before.has(oid)) {
        const old = replacedBy(before, after, row);
        if (!old || this.created.has(old.oid)) this.created.add(oid);
      }
      this.names.set(oid, row);
    }
  }

  private describeLocks(rows: readonly LockRow[], sinceOf: (key: string) => { at: string; unit: number } | null): TracedLock[] {
    const byOid = new Map<number, LockRow[]>();
    for (const row of rows) {
      if (!this.names.has(row.oid)) continue;
      byOid.set(row.oid, [...(byOid.get(row.oid) ?? []), row]);
    }
    const locks: TracedLock[] = [];
    for (const [oid, rowsOfRelation] of byOid) {
      const held = strongestFirst([...new Set(rowsOfRelation.map((h) => h.mode))]).map((mode) => {
        const origin = sinceOf(`${oid}:${mode}`);
        return { mode, since: origin?.at ?? null, carried: origin !== null && origin.unit !== this.unit };
      });
      const top = held[0] as TracedLock['held'][number];
      locks.push({
        ...describeRelation(this.names.get(oid) as RelationRow, this.created.has(oid), this.lookup),
        mode: top.mode,
        held,
        granted: rowsOfRelation.some((h) => h.granted),
        since: top.since,
        carried: top.carried,
      });
    }
    return locks.sort((a, b) => a.relation.localeCompare(b.relation));
  }

  private result(step: TraceStep, transaction: TraceTransaction, observed: Observation): TracedStatement {
    const base = this.blank(step, observed.error ? 'error' : 'traced', transaction, null, observed.error);
    if (observed.error) return { ...base, durationMs: observed.durationMs };
    const describe = (row: RelationRow): TracedRelation => describeRelation(row, this.created.has(row.oid), this.lookup);
    const storage = storageChanges(observed.before, observed.after);
    const truncating = step.nodeType === 'TruncateStmt';
    const note =
      transaction === 'none'
        ? 'cannot run in a transaction: ran for real; its first lock was seen waiting behind the trace, the rest sampled from pg_locks while it ran; scans are not measured outside a transaction'
        : null;
    const { before, after } = observed;
    const rebuilt = [...after.values()].filter((r) => !before.has(r.oid) && replacedBy(before, after, r) !== undefined);
    const created = [...after.values()].filter((r) => !before.has(r.oid) && !rebuilt.includes(r));
    const dropped = [...before.values()].filter((r) => !after.has(r.oid) && !rebuilt.some((n) => replacedBy(before, after, n)?.oid === r.oid));
    return {
      ...base,
      note,
      locks: observed.locks,
      rewritten: truncating ? [] : [...storage.tables, ...rebuilt.filter((r) => r.relkind === 'r' || r.relkind === 'm')].map(describe),
      truncated: truncating ? storage.tables.map(describe) : [],
      indexesRebuilt: [...storage.indexes, ...rebuilt.filter((r) => r.relkind === 'i')].map(describe),
      created: created.map(describe),
      dropped: dropped.map(describe),
      // TRUNCATE opens each table with a scan that reads nothing before it gives it new storage.
      scans: truncating && observed.scans ? observed.scans.filter((scan) => !storage.tables.some((t) => t.oid === scan.oid)) : observed.scans,
      durationMs: observed.durationMs,
    };
  }
}

/** The relation of `before` that `row` (new in `after`) replaces: same schema, name and kind, gone from `after`. */
function replacedBy(before: Catalog, after: Catalog, row: RelationRow): RelationRow | undefined {
  for (const old of before.values()) {
    if (!after.has(old.oid) && old.schema === row.schema && old.name === row.name && old.relkind === row.relkind) return old;
  }
  return undefined;
}

function strongestFirst(modes: LockMode[]): LockMode[] {
  return [...modes].sort((a, b) => LOCK_MODES.indexOf(b) - LOCK_MODES.indexOf(a));
}

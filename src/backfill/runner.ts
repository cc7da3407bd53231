// The backfill loop: batched keyset UPDATEs, each its own short transaction, that yield
// to replica lag, to the lock queue and to each other (docs/backfill.md).
//
// Two connections: `main` runs the batches and holds the advisory lock; `watch` reads
// pg_stat_replication and pg_locks between and during batches and cancels a batch that
// someone queues behind. Nothing is left half-done without saying where it stopped: every
// way out returns or throws the last key whose batch committed.
import type pg from 'pg';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { describeConnectionError, oneLine, PreflightError } from '../core/errors.js';
import { formatDuration } from '../core/units.js';
import { backoffDelay } from '../gate/wait.js';
import { advisoryLockHolders, advisoryLockKey, describeHolder, releaseAdvisoryLock, tryAdvisoryLock, type LockHolder } from './advisory.js';
import { batchSettingsSql, lastKeySql, updateSql, upperKeySql } from './batch.sql.js';
import { conflictingHolders, describeWaiter, queuedOnTable, stillInTheWay, watchBatch, type Waiter } from './lock-queue.js';
import { detectTransactionPooling, type PoolingLook } from './pooling.js';
import { describeLagging, pause, ReplicaWatch, type LagVerdict, type Replica, type ReplicaLimits } from './replicas.js';
import { formatStartAfter, parseStartAfter } from './resume.js';
import { checkUpdateShape } from './shape.js';
import { SERVER_SQL } from './target.sql.js';
import { resolveTarget, type Target } from './target.js';

export const BACKFILL_APPLICATION_NAME = 'pgpreflight-backfill';
export const WATCH_APPLICATION_NAME = 'pgpreflight-backfill-watch';
/** Where --batch-time starts when no --batch-size is given. */
export const DEFAULT_INITIAL_BATCH = 1000;
/** --batch-time never grows a batch beyond this many keys. */
export const MAX_BATCH_SIZE = 100_000;
/** Longest pause between lock-timeout retries. */
const MAX_RETRY_DELAY_MS = 30_000;

export interface BackfillRequest {
  connection: ConnectionSpec;
  table: string;
  set: string;
  where: string | null;
  /** --key as given, or null for the primary key. */
  key: string | null;
  /** Keys per batch: fixed, or the first size when batchTimeMs adapts it. */
  batchSize: number;
  /** Target duration of one batch; null keeps batchSize (a statement timeout still halves it). */
  batchTimeMs: number | null;
  limits: ReplicaLimits;
  /** Pause after each batch. */
  pauseMs: number;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  /** Lock-timeout (or deadlock) retries of one batch before giving up. */
  retries: number;
  /** --start-after as given. */
  startAfter: string | null;
  /** Wait this long for another backfill's advisory lock; null: refuse at once. */
  waitForLockMs: number | null;
  /** Connect timeout and the statement_timeout of every look. */
  timeoutMs: number;
  dryRun: boolean;
  /** Pause between replica looks while lag is over the limits. */
  lagPollMs?: number;
  /** Pause between lock-queue looks during a batch. */
  watchPollMs?: number;
  /** A `waiting` event this often while paused. */
  heartbeatMs?: number;
}

export type PauseReason = 'replica-lag' | 'lock-queue' | 'advisory-lock';

export type BackfillEvent =
  | { event: 'start'; table: string; key: string[]; keySource: string; estimatedRows: number | null; batchSize: number; batchTimeMs: number | null; startAfter: string | null; replicas: Replica[]; lockKey: [number, number] }
  | { event: 'note'; message: string }
  | { event: 'batch'; batch: number; from: string | null; to: string; keys: number | null; updated: number; ms: number; rowsUpdated: number; rowsWalked: number; nextBatchSize: number; lagBytes: number | null }
  | { event: 'pause'; reason: PauseReason; detail: string; waiters?: Waiter[]; lagging?: LagVerdict['lagging'] }
  | { event: 'waiting'; reason: PauseReason; pausedMs: number; detail: string }
  | { event: 'resume'; reason: PauseReason; pausedMs: number }
  | { event: 'yield'; after: string | null; waiters: Waiter[]; detail: string }
  | { event: 'retry'; after: string | null; reason: 'lock-timeout' | 'deadlock'; attempt: number; delayMs: number; blockers: Waiter[]; detail: string }
  | { event: 'shrink'; after: string | null; from: number; to: number }
  | { event: 'stopping'; rollback: boolean };

export type BackfillStatus = 'done' | 'interrupted' | 'blocked' | 'error';

export interface BackfillSummary {
  status: BackfillStatus;
  table: string;
  key: string[];
  rowsUpdated: number;
  rowsWalked: number;
  batches: number;
  elapsedMs: number;
  pausedMs: Record<PauseReason, number>;
  pauses: Record<PauseReason, number>;
  yields: number;
  retries: number;
  /** The last key whose batch committed in this run (else the --start-after it began from), formatted as --start-after takes it. */
  lastKey: string | null;
  /** Why it stopped short, for blocked and error. */
  reason: string | null;
}

export interface ScanCheck {
  ok: boolean;
  /** `Index Scan using orders_pkey`, `Seq Scan`, ... */
  scan: string;
  problem: string | null;
}

export interface BackfillPlan {
  table: string;
  key: string[];
  keySource: string;
  estimatedRows: number | null;
  estimatedBatches: number | null;
  batchSize: number;
  batchTimeMs: number | null;
  startAfter: string | null;
  /** The first batch, or null when no key lies after the start. */
  firstBatch: { sql: string; params: string[]; from: string | null; to: string; last: boolean } | null;
  explain: string[];
  /** How the first batch's UPDATE reads the table. */
  scan: ScanCheck | null;
  /** How the query that finds the batch's upper key reads the table. */
  keyScan: ScanCheck | null;
  replicas: Replica[];
  replicasOk: boolean;
  lagging: LagVerdict['lagging'];
  lockKey: [number, number];
  lockHolders: LockHolder[];
  pooling: PoolingLook;
  /** Sessions queued for the table when the dry run looked: then no plan was made. */
  queued: Waiter[];
  /** Why a real run would not start now (it would refuse or wait), empty when it would. */
  blockers: string[];
  notes: string[];
}

export type BackfillOutcome = { kind: 'plan'; plan: BackfillPlan } | { kind: 'run'; summary: BackfillSummary };

/** A failure after the backfill started: a one-line PreflightError that says where it stopped. */
export class BackfillStopped extends PreflightError {
  constructor(
    message: string,
    readonly summary: BackfillSummary,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BackfillStopped';
  }
}

/** Ctrl-C handling from the outside: stop() after the current batch, abort() rolls it back. */
export class BackfillControl {
  stopRequested = false;
  abortRequested = false;
  private readonly controller = new AbortController();
  private onAbort: (() => Promise<void>) | null = null;

  /** Aborted on the first stop: pauses and waits end at once. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(): void {
    this.stopRequested = true;
    this.controller.abort();
  }

  abort(): void {
    this.stop();
    this.abortRequested = true;
    void this.onAbort?.();
  }

  /** The in-flight batch registers how to cancel itself. */
  setAbortHandler(handler: (() => Promise<void>) | null): void {
    this.onAbort = handler;
  }
}

interface Hooks {
  onEvent?: (event: BackfillEvent) => void;
  control?: BackfillControl;
}

type BatchResult =
  | { kind: 'committed'; to: string[]; keys: number | null; updated: number; ms: number; last: boolean }
  | { kind: 'empty' }
  | { kind: 'yielded'; waiters: Waiter[] }
  | { kind: 'lock-timeout' | 'deadlock'; blockers: Waiter[]; message: string }
  | { kind: 'statement-timeout' }
  | { kind: 'rolled-back' }
  | { kind: 'error'; error: unknown; commitUnknown: boolean };

interface PlanNode {
  'Node Type'?: string;
  'Relation Name'?: string;
  Schema?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Finds how the target table is read in the UPDATE's plan (EXPLAIN VERBOSE, FORMAT JSON). */
export function checkScan(plan: PlanNode, target: Pick<Target, 'table' | 'keyIndex'>, requireIndexCond = true): ScanCheck {
  const scans: PlanNode[] = [];
  const walk = (node: PlanNode, top: boolean): void => {
    if (!top && node['Relation Name'] === target.table.name && (node.Schema === undefined || node.Schema === target.table.schema)) scans.push(node);
    for (const child of node.Plans ?? []) walk(child, false);
  };
  walk(plan, true);
  const usesKeyIndex = (node: PlanNode): boolean =>
    (node['Index Name'] === target.keyIndex && (node['Index Cond'] !== undefined || !requireIndexCond)) || (node.Plans ?? []).some((child) => usesKeyIndex(child));
  const first = scans[0];
  if (!first) return { ok: false, scan: 'none', problem: `the plan does not read ${target.table.name} where expected` };
  const sorts = (node: PlanNode): boolean => node['Node Type'] === 'Sort' || (node.Plans ?? []).some(sorts);
  const describe = (node: PlanNode): string => `${node['Node Type'] ?? '?'}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`;
  const bitmapIndex = (first.Plans ?? []).find((child) => child['Index Name'] !== undefined);
  const scan = first['Node Type'] === 'Bitmap Heap Scan' && bitmapIndex ? `${describe(first)} on ${describe(bitmapIndex)}` : describe(first);
  if (first['Node Type'] === 'Seq Scan') return { ok: false, scan, problem: 'it reads the whole table (Seq Scan) instead of the key\'s index' };
  if (!usesKeyIndex(first)) return { ok: false, scan, problem: `it does not read the key range through ${target.keyIndex}` };
  if (sorts(plan)) return { ok: false, scan, problem: 'it sorts the rows instead of reading them in the index\'s order' };
  return { ok: true, scan, problem: null };
}

const errorCode = (error: unknown): string => (error as { code?: string } | null)?.code ?? '';
const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export async function runBackfill(request: BackfillRequest, hooks: Hooks = {}): Promise<BackfillOutcome> {
  const emit = (event: BackfillEvent): void => hooks.onEvent?.(event);
  const control = hooks.control ?? new BackfillControl();
  const display = request.connection.display;
  const lagPollMs = request.lagPollMs ?? 1000;
  const watchPollMs = request.watchPollMs ?? 100;
  const heartbeatMs = request.heartbeatMs ?? 5000;
  const deadline = Date.now() + request.timeoutMs;
  let main: pg.Client | undefined;
  let watch: pg.Client | undefined;
  let locked: number | null = null;
  try {
    main = await connect(request.connection, { applicationName: BACKFILL_APPLICATION_NAME, timeoutMs: request.timeoutMs, deadline });
    watch = await connect(request.connection, { applicationName: WATCH_APPLICATION_NAME, timeoutMs: request.timeoutMs, deadline });
    // First, before any setting or lock could land on a pooled server connection.
    const pooling = await detectTransactionPooling(main, watch);
    // Every look on `watch` is bounded; the batches set their own timeouts per transaction.
    if (!pooling.pooled) await watch.query(`SET statement_timeout = '${Math.round(request.timeoutMs)}ms'`);
    const server = (await main.query<{ in_recovery: boolean; version_num: number; backend_pid: number }>(SERVER_SQL)).rows[0];
    if (!server) throw new PreflightError(`cannot read the server's state on ${display}`);
    if (server.in_recovery) throw new PreflightError(`${display} is a standby (in recovery): a backfill writes, so run it against the primary`);
    if (server.version_num < 140000) throw new PreflightError(`${display} runs PostgreSQL ${Math.floor(server.version_num / 10000)}: backfill needs 14 or newer`);
    const target = await resolveTarget(main, request.table, request.key);
    const keyNames = target.key.map((k) => k.name);
    const startAfter = request.startAfter === null ? null : parseStartAfter(request.startAfter, keyNames);
    const statements = {
      upper: (hasLower: boolean) => upperKeySql(target.table, target.key, hasLower),
      last: (hasLower: boolean) => lastKeySql(target.table, target.key, hasLower),
      update: (hasLower: boolean) => updateSql(target.table, target.key, request.set, request.where, hasLower),
    };
    for (const hasLower of [false, true]) {
      await checkUpdateShape({ sql: statements.update(hasLower), table: target.table, rangeConditions: hasLower ? 2 : 1, hasWhere: request.where !== null });
    }
    const notes: string[] = [];
    if (target.hasChildren) notes.push(`${target.display} has inheritance children: only the table itself is updated (ONLY)`);
    if (request.where === null) notes.push('no --where: every row is updated, and a rerun without --start-after updates every row again');
    const replicaWatch = new ReplicaWatch(request.limits);
    const firstLook = await replicaWatch.look(watch);
    const settings = batchSettingsSql(request.lockTimeoutMs, request.statementTimeoutMs);

    // The first batch, planned read-only: its bounds, EXPLAIN, and the server's verdict on
    // the --set/--where fragments (columns, types, functions) before any row is touched.
    const explainFirst = async (): Promise<{ firstBatch: BackfillPlan['firstBatch']; explain: string[]; scan: ScanCheck | null; keyScan: ScanCheck | null }> => {
      for (let attempt = 1; ; attempt += 1) {
        const client = main as pg.Client;
        try {
          await client.query(`BEGIN READ ONLY; ${settings}`);
          const lower = startAfter;
          const hasLower = lower !== null;
          let upper: string[] | undefined;
          let last = false;
          try {
            upper = await keyRow(client, statements.upper(hasLower), [...(lower ?? []), request.batchSize - 1]);
            if (!upper) {
              upper = await keyRow(client, statements.last(hasLower), lower ?? []);
              last = true;
            }
          } catch (error) {
            if (hasLower && ['22P02', '22007', '22008', '22003', '22023'].includes(errorCode(error))) {
              throw new PreflightError(`--start-after ${request.startAfter ?? ''}: ${errorMessage(error)} (the key is ${keyNames.join(', ')})`);
            }
            throw error;
          }
          if (!upper) {
            await client.query('COMMIT');
            return { firstBatch: null, explain: [], scan: null, keyScan: null };
          }
          const sql = statements.update(hasLower);
          const params = [...(lower ?? []), ...upper];
          let text: string[];
          let json: PlanNode;
          const keyPlan = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (VERBOSE, FORMAT JSON) ${statements.upper(hasLower)}`, [...(lower ?? []), request.batchSize - 1]);
          // From the first key on, the walk has no lower bound: index order is what matters then.
          const keyScan = checkScan(keyPlan.rows[0]?.['QUERY PLAN'][0]?.Plan ?? {}, target, hasLower);
          try {
            text = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)).rows.map((r) => r['QUERY PLAN']);
            const verbose = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (VERBOSE, FORMAT JSON) ${sql}`, params);
            json = verbose.rows[0]?.['QUERY PLAN'][0]?.Plan ?? {};
            if (hasLower === false) {
              // Every later batch has a lower bound: let the server read that form too.
              await client.query(`EXPLAIN ${statements.update(true)}`, [...upper, ...upper]);
            }
          } catch (error) {
            if (errorCode(error) === '55P03' || errorCode(error) === '57014') throw error;
            throw new PreflightError(`--set/--where: ${errorMessage(error)} (EXPLAIN of the first batch; nothing was changed)`, { cause: error });
          }
          await client.query('COMMIT');
          return { firstBatch: { sql, params, from: lower === null ? null : formatStartAfter(lower), to: formatStartAfter(upper), last }, explain: text, scan: checkScan(json, target), keyScan };
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          if (errorCode(error) !== '55P03') throw error;
          const holders = await conflictingHolders(watch as pg.Client, target.oid);
          const heldBy = holders.length > 0 ? `; held by ${holders.map((w) => describeWaiter(w, 'in a transaction for')).join('; ')}` : '';
          if (attempt > request.retries || control.stopRequested) {
            throw new PreflightError(`cannot plan the first batch: ${target.display} stayed locked (lock_timeout ${formatDuration(request.lockTimeoutMs)}, ${attempt} tr${attempt === 1 ? 'y' : 'ies'})${heldBy}`, { cause: error });
          }
          const delayMs = backoffDelay(attempt, MAX_RETRY_DELAY_MS);
          emit({ event: 'retry', after: null, reason: 'lock-timeout', attempt, delayMs, blockers: holders, detail: `lock_timeout ${formatDuration(request.lockTimeoutMs)} planning the first batch${heldBy}` });
          await pause(delayMs, control.signal);
        }
      }
    };

    if (!request.dryRun && pooling.pooled) {
      throw new PreflightError(
        `${display} pools transactions (${pooling.evidence}): a session-level advisory lock would stay on a pooled server connection. Run the backfill on a direct connection (or a session-mode pool)`,
      );
    }
    // ---- the run (a dry run only plans)
    const started = Date.now();
    const summary: BackfillSummary = {
      status: 'done',
      table: target.display,
      key: keyNames,
      rowsUpdated: 0,
      rowsWalked: 0,
      batches: 0,
      elapsedMs: 0,
      pausedMs: { 'replica-lag': 0, 'lock-queue': 0, 'advisory-lock': 0 },
      pauses: { 'replica-lag': 0, 'lock-queue': 0, 'advisory-lock': 0 },
      yields: 0,
      retries: 0,
      lastKey: startAfter === null ? null : formatStartAfter(startAfter),
      reason: null,
    };
    const finish = (status: BackfillStatus, reason: string | null = null): BackfillOutcome => {
      summary.status = status;
      summary.reason = reason;
      summary.elapsedMs = Date.now() - started;
      return { kind: 'run', summary };
    };
    const stopWith = (message: string, cause?: unknown): BackfillStopped => {
      summary.status = 'error';
      summary.reason = message;
      summary.elapsedMs = Date.now() - started;
      return new BackfillStopped(message, summary, { cause });
    };

    // A pause: emits pause, then `waiting` every heartbeat, then resume. `look` returns null when clear.
    const pauseWhile = async (reason: PauseReason, pollMs: number, look: () => Promise<{ detail: string; waiters?: Waiter[]; lagging?: LagVerdict['lagging'] } | null>): Promise<boolean> => {
      let blocked = await look();
      if (blocked === null) return true;
      const since = Date.now();
      summary.pauses[reason] += 1;
      emit({ event: 'pause', reason, ...blocked });
      let lastBeat = since;
      try {
        while (blocked !== null) {
          await pause(pollMs, control.signal);
          if (control.stopRequested) return false;
          blocked = await look();
          if (blocked !== null && Date.now() - lastBeat >= heartbeatMs) {
            lastBeat = Date.now();
            emit({ event: 'waiting', reason, pausedMs: Date.now() - since, detail: blocked.detail });
          }
        }
      } finally {
        summary.pausedMs[reason] += Date.now() - since;
      }
      emit({ event: 'resume', reason, pausedMs: Date.now() - since });
      return true;
    };

    // Who waits for the table in a mode the batch's UPDATE would queue behind (a deploy's ALTER).
    const queueLook = async (): Promise<{ detail: string; waiters: Waiter[] } | null> => {
      const queued = await queuedOnTable(watch as pg.Client, target.oid);
      if (queued.length === 0) return null;
      return { detail: `${queued.map((w) => describeWaiter(w)).join('; ')} waits for ${target.display}`, waiters: queued };
    };

    // Even the plan (the first batch's EXPLAIN and upper key) takes the UPDATE's locks: with a
    // statement queued for the table, a run waits first and a dry run does not plan.
    let queuedAtPlan: Waiter[] = [];
    if (request.dryRun) queuedAtPlan = (await queueLook())?.waiters ?? [];
    else if (!(await pauseWhile('lock-queue', 250, queueLook))) return finish('interrupted');
    const lockKey = advisoryLockKey(target.oid);
    const planned = queuedAtPlan.length > 0 ? { firstBatch: null, explain: [], scan: null, keyScan: null } : await explainFirst();
    const planProblems = [
      planned.keyScan && !planned.keyScan.ok ? `finding the batch's upper key is ${planned.keyScan.scan}: ${planned.keyScan.problem}` : null,
      planned.scan && !planned.scan.ok ? `the first batch's UPDATE is ${planned.scan.scan}: ${planned.scan.problem}` : null,
    ].filter((p): p is string => p !== null);
    if (planProblems.length > 0 && !request.dryRun) throw new PreflightError(`refusing to start: ${planProblems.join('; ')}. ANALYZE ${target.display}, or check --where`);

    if (request.dryRun) {
      const holders = await advisoryLockHolders(watch, target.oid);
      const blockers: string[] = [];
      blockers.push(...planProblems);
      if (queuedAtPlan.length > 0) blockers.push(`${queuedAtPlan.map((w) => describeWaiter(w)).join('; ')} waits for ${target.display}: no plan was made, it would queue behind; a run waits until the queue is gone`);
      if (holders.length > 0) blockers.push(`another backfill holds the advisory lock: ${holders.map(describeHolder).join(', ')}`);
      if (pooling.pooled) blockers.push(`the connection pools transactions (${pooling.evidence}): a real run refuses`);
      const estimatedBatches = target.estimatedRows === null ? null : Math.max(1, Math.ceil(target.estimatedRows / request.batchSize));
      return {
        kind: 'plan',
        plan: {
          table: target.display,
          key: keyNames,
          keySource: target.keySource,
          estimatedRows: target.estimatedRows,
          estimatedBatches: request.batchTimeMs === null ? estimatedBatches : null,
          batchSize: request.batchSize,
          batchTimeMs: request.batchTimeMs,
          startAfter: startAfter === null ? null : formatStartAfter(startAfter),
          firstBatch: planned.firstBatch,
          explain: planned.explain,
          scan: planned.scan,
          keyScan: planned.keyScan,
          replicas: firstLook.replicas,
          replicasOk: firstLook.ok,
          lagging: firstLook.lagging,
          lockKey,
          lockHolders: holders,
          pooling,
          queued: queuedAtPlan,
          blockers,
          notes,
        },
      };
    }


    if (control.stopRequested) return finish('interrupted');
    // The advisory lock: one backfill per table.
    if (!(await tryAdvisoryLock(main, target.oid))) {
      const holders = await advisoryLockHolders(watch, target.oid);
      const who = holders.length > 0 ? holders.map(describeHolder).join(', ') : 'a session that just let go';
      if (request.waitForLockMs === null) {
        return finish('blocked', `another backfill of ${target.display} holds its advisory lock (${lockKey.join(', ')}): ${who}; nothing was changed. Wait for it, or pass --wait-for-lock <duration>`);
      }
      const lockDeadline = Date.now() + request.waitForLockMs;
      let timedOut = false;
      const gotIt = await pauseWhile('advisory-lock', lagPollMs, async () => {
        if (await tryAdvisoryLock(main as pg.Client, target.oid)) return null;
        if (Date.now() >= lockDeadline) {
          timedOut = true;
          return null;
        }
        const now = await advisoryLockHolders(watch as pg.Client, target.oid);
        return { detail: `another backfill of ${target.display} holds its advisory lock: ${now.map(describeHolder).join(', ') || 'unknown'}` };
      });
      if (!gotIt) return finish('interrupted');
      if (timedOut) return finish('blocked', `another backfill of ${target.display} still held its advisory lock after --wait-for-lock ${formatDuration(request.waitForLockMs)}: ${who}; nothing was changed`);
    }
    locked = target.oid;

    emit({
      event: 'start',
      table: target.display,
      key: keyNames,
      keySource: target.keySource,
      estimatedRows: target.estimatedRows,
      batchSize: request.batchSize,
      batchTimeMs: request.batchTimeMs,
      startAfter: summary.lastKey,
      replicas: firstLook.replicas,
      lockKey,
    });
    for (const message of notes) emit({ event: 'note', message });
    const watched = firstLook.replicas.filter((r) => r.notWatched === null);
    if (watched.length === 0) emit({ event: 'note', message: `no streaming replicas${firstLook.replicas.length > 0 ? ' watched' : ''}: replica lag does not hold the backfill` });

    let lower: string[] | null = startAfter;
    let size = request.batchSize;
    let attempt = 0;
    let lastLag: number | null = firstLook.worstLagBytes;
    const afterText = (): string | null => (lower === null ? null : formatStartAfter(lower));

    // Clear to start a batch: nobody queued for the table, every replica within limits.
    const clearToStart = async (): Promise<boolean> => {
      const queueClear = await pauseWhile('lock-queue', 250, queueLook);
      if (!queueClear) return false;
      return pauseWhile('replica-lag', lagPollMs, async () => {
        const verdict = await replicaWatch.look(watch as pg.Client);
        lastLag = verdict.worstLagBytes;
        return verdict.ok ? null : { detail: describeLagging(verdict), lagging: verdict.lagging };
      });
    };

    const runBatch = async (client: pg.Client): Promise<BatchResult> => {
      const batchWatch = watchBatch(watch as pg.Client, server.backend_pid, watchPollMs);
      control.setAbortHandler(() => batchWatch.cancel());
      const hasLower = lower !== null;
      const t0 = performance.now();
      let phase: 'work' | 'commit' = 'work';
      let result: BatchResult;
      try {
        await client.query(`BEGIN; ${settings}`);
        let upper = await keyRow(client, statements.upper(hasLower), [...(lower ?? []), size - 1]);
        let last = false;
        if (!upper) {
          upper = await keyRow(client, statements.last(hasLower), lower ?? []);
          last = true;
        }
        if (!upper) {
          phase = 'commit';
          await client.query('COMMIT');
          result = { kind: 'empty' };
        } else {
          const updated = await client.query(statements.update(hasLower), [...(lower ?? []), ...upper]);
          phase = 'commit';
          await client.query('COMMIT');
          result = { kind: 'committed', to: upper, keys: last ? null : size, updated: updated.rowCount ?? 0, ms: performance.now() - t0, last };
        }
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        const outcome = await batchWatch.stop();
        control.setAbortHandler(null);
        const code = errorCode(error);
        if (code === '57014' && outcome.yieldedTo !== null) return { kind: 'yielded', waiters: outcome.yieldedTo };
        if (code === '57014' && outcome.cancelledOnRequest) return { kind: 'rolled-back' };
        if (code === '57014' && /statement timeout/i.test(errorMessage(error))) return { kind: 'statement-timeout' };
        if (code === '55P03') return { kind: 'lock-timeout', blockers: outcome.blockers, message: errorMessage(error) };
        if (code === '40P01') return { kind: 'deadlock', blockers: outcome.blockers, message: errorMessage(error) };
        return { kind: 'error', error, commitUnknown: phase === 'commit' && code === '' };
      }
      const outcome = await batchWatch.stop();
      control.setAbortHandler(null);
      if (outcome.error && result.kind !== 'committed') return { kind: 'error', error: outcome.error, commitUnknown: false };
      return result;
    };

    try {
      for (;;) {
        if (control.stopRequested) return finish('interrupted');
        if (!(await clearToStart())) return finish('interrupted');
        const result = await runBatch(main);
        switch (result.kind) {
          case 'committed': {
            summary.batches += 1;
            summary.rowsUpdated += result.updated;
            summary.rowsWalked += result.keys ?? 0;
            const from = afterText();
            lower = result.to;
            summary.lastKey = formatStartAfter(result.to);
            attempt = 0;
            if (request.batchTimeMs !== null && result.keys !== null) {
              const ratio = Math.min(2, Math.max(0.5, request.batchTimeMs / Math.max(1, result.ms)));
              size = Math.min(MAX_BATCH_SIZE, Math.max(1, Math.round(size * ratio)));
            }
            emit({
              event: 'batch',
              batch: summary.batches,
              from,
              to: summary.lastKey,
              keys: result.keys,
              updated: result.updated,
              ms: Math.round(result.ms),
              rowsUpdated: summary.rowsUpdated,
              rowsWalked: summary.rowsWalked,
              nextBatchSize: size,
              lagBytes: lastLag,
            });
            if (result.last) return finish('done');
            if (request.pauseMs > 0) await pause(request.pauseMs, control.signal);
            break;
          }
          case 'empty':
            return finish('done');
          case 'yielded': {
            summary.yields += 1;
            const detail = result.waiters.map((w) => describeWaiter(w)).join('; ');
            emit({ event: 'yield', after: afterText(), waiters: result.waiters, detail });
            const pids = result.waiters.map((w) => w.pid);
            const cleared = await pauseWhile('lock-queue', 250, async () => {
              const still = await stillInTheWay(watch as pg.Client, pids, target.oid);
              return still.length === 0 ? null : { detail: `yielded to ${detail}; pid ${still.join(', ')} still waits or holds ${target.display}`, waiters: result.waiters.filter((w) => still.includes(w.pid)) };
            });
            if (!cleared) return finish('interrupted');
            break;
          }
          case 'lock-timeout':
          case 'deadlock': {
            attempt += 1;
            summary.retries += 1;
            const blockers = result.blockers.map((w) => describeWaiter(w, 'in a transaction for')).join('; ');
            const detail = `${result.kind === 'deadlock' ? 'deadlock' : `lock_timeout ${formatDuration(request.lockTimeoutMs)}`}${blockers ? `; blocked by ${blockers}` : ''}`;
            if (attempt > request.retries) {
              return finish('blocked', `the batch after key ${afterText() ?? '(start)'} failed ${attempt} times: ${detail}`);
            }
            const delayMs = backoffDelay(attempt, MAX_RETRY_DELAY_MS);
            emit({ event: 'retry', after: afterText(), reason: result.kind, attempt, delayMs, blockers: result.blockers, detail });
            await pause(delayMs, control.signal);
            break;
          }
          case 'statement-timeout': {
            if (size <= 1) throw stopWith(`a batch of one key after ${afterText() ?? '(start)'} hit statement_timeout ${formatDuration(request.statementTimeoutMs)}: raise --statement-timeout or check --set`);
            const next = Math.max(1, Math.floor(size / 2));
            emit({ event: 'shrink', after: afterText(), from: size, to: next });
            size = next;
            break;
          }
          case 'rolled-back':
            return finish('interrupted');
          case 'error': {
            const message = oneLine(errorMessage(result.error));
            const code = errorCode(result.error);
            const what = code !== '' && !code.startsWith('08') && !code.startsWith('57P')
              ? `the batch after key ${afterText() ?? '(start)'} failed: ${message}; it was rolled back`
              : `${describeConnectionError(result.error, display).message}${result.commitUnknown ? `; whether the batch after key ${afterText() ?? '(start)'} committed is unknown` : ''}`;
            throw stopWith(what, result.error);
          }
        }
      }
    } catch (error) {
      // A look or a pause failed after the run began: still say where it stopped.
      if (error instanceof BackfillStopped) throw error;
      throw stopWith(error instanceof PreflightError ? error.message : describeConnectionError(error, display).message, error);
    }
  } catch (error) {
    if (error instanceof PreflightError) throw error;
    throw describeConnectionError(error, display);
  } finally {
    if (locked !== null && main) await releaseAdvisoryLock(main, locked).catch(() => undefined);
    await main?.end().catch(() => undefined);
    await watch?.end().catch(() => undefined);
  }
}

/** One row of key text, or undefined. */
async function keyRow(client: pg.Client, sql: string, params: unknown[]): Promise<string[] | undefined> {
  const { rows } = await client.query({ text: sql, values: params, rowMode: 'array' });
  const row = rows[0] as (string | null)[] | undefined;
  return row === undefined ? undefined : row.map((v) => String(v));
}

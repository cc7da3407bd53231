// Yielding to the lock queue. Between batches the backfill holds no lock on the table, so
// a deploy's ALTER TABLE gets through at once; the backfill does not start a batch while
// such a statement waits for the table (it would queue behind it and everything after it
// would queue behind the backfill). During a batch a watcher on a second connection looks
// every pollMs for sessions waiting behind the batch's backend; it cancels the batch (the
// transaction rolls back, its locks go, the waiter proceeds) and says who waited.
import type pg from 'pg';
import { formatDuration } from '../core/units.js';
import { BATCH_WATCH_SQL, CONFLICTING_HOLDERS_SQL, CONFLICTS_WITH_UPDATE, QUEUED_ON_TABLE_SQL, STILL_IN_THE_WAY_SQL } from './lock-queue.sql.js';

export interface Waiter {
  pid: number;
  mode: string | null;
  relation: string | null;
  application: string | null;
  user: string | null;
  query: string | null;
  /** How long it has waited (a waiter), or how old its transaction is (a blocker). */
  waitedSeconds: number | null;
}

interface WaiterRow {
  side?: 'behind' | 'ahead';
  pid: number;
  mode: string | null;
  relation: string | null;
  application: string | null;
  user: string | null;
  query: string | null;
  waited_seconds: number | null;
}

const toWaiter = (r: WaiterRow): Waiter => ({ pid: r.pid, mode: r.mode, relation: r.relation, application: r.application, user: r.user, query: r.query, waitedSeconds: r.waited_seconds });

/** `pid 4242 (app deploy, AccessExclusiveLock on orders, waiting 1.2s, query "ALTER TABLE ...")`. */
export function describeWaiter(w: Waiter, waitedWord = 'waiting'): string {
  const facts = [
    w.application ? `app ${w.application}` : null,
    w.mode ? `${w.mode}${w.relation ? ` on ${w.relation}` : ''}` : null,
    w.waitedSeconds === null ? null : `${waitedWord} ${formatDuration(w.waitedSeconds * 1000)}`,
    w.query ? `query ${JSON.stringify(w.query.replace(/\s+/g, ' ').trim().slice(0, 80))}` : null,
  ].filter((f): f is string => f !== null);
  return `pid ${w.pid}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}`;
}

/** Sessions waiting for the table in a mode the next batch's UPDATE would queue behind. */
export async function queuedOnTable(client: pg.Client, tableOid: number): Promise<Waiter[]> {
  const { rows } = await client.query<WaiterRow>(QUEUED_ON_TABLE_SQL, [tableOid, CONFLICTS_WITH_UPDATE]);
  return rows.map(toWaiter);
}

/** Sessions holding the table in a mode an UPDATE waits for; waitedSeconds is their transaction's age. */
export async function conflictingHolders(client: pg.Client, tableOid: number): Promise<Waiter[]> {
  const { rows } = await client.query<WaiterRow>(CONFLICTING_HOLDERS_SQL, [tableOid, CONFLICTS_WITH_UPDATE]);
  return rows.map(toWaiter);
}

/** Of the sessions a batch yielded to, those still waiting, or holding a lock the next batch would wait for. */
export async function stillInTheWay(client: pg.Client, pids: readonly number[], tableOid: number): Promise<number[]> {
  const { rows } = await client.query<{ pid: number }>(STILL_IN_THE_WAY_SQL, [pids, tableOid, CONFLICTS_WITH_UPDATE]);
  return rows.map((r) => r.pid);
}

export interface WatchOutcome {
  /** The sessions the batch was cancelled for, or null when it was not cancelled for the queue. */
  yieldedTo: Waiter[] | null;
  /** The batch was cancelled on request (a second Ctrl-C). */
  cancelledOnRequest: boolean;
  /** Who the batch's backend last waited for, if it waited. */
  blockers: Waiter[];
  /** The watcher could not look (its connection failed). */
  error: Error | null;
}

export interface BatchWatch {
  /** Cancels the batch now (a second Ctrl-C). */
  cancel(): Promise<void>;
  /** Stops watching; resolves once no look or cancel is in flight. */
  stop(): Promise<WatchOutcome>;
}

/** Watches the lock queue around the batch running on backend mainPid, from another connection. */
export function watchBatch(client: pg.Client, mainPid: number, pollMs: number): BatchWatch {
  const outcome: WatchOutcome = { yieldedTo: null, cancelledOnRequest: false, blockers: [], error: null };
  let stopped = false;
  let wake: () => void = () => undefined;
  const cancelBackend = async (): Promise<void> => {
    await client.query('SELECT pg_catalog.pg_cancel_backend($1::int)', [mainPid]);
  };
  const loop = (async (): Promise<void> => {
    try {
      while (!stopped) {
        const { rows } = await client.query<WaiterRow>(BATCH_WATCH_SQL, [mainPid]);
        if (stopped) break;
        const behind = rows.filter((r) => r.side === 'behind').map(toWaiter);
        const ahead = rows.filter((r) => r.side === 'ahead').map(toWaiter);
        if (ahead.length > 0) outcome.blockers = ahead;
        if (behind.length > 0 && outcome.yieldedTo === null && !outcome.cancelledOnRequest) {
          outcome.yieldedTo = behind;
          await cancelBackend();
          break;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } catch (error) {
      if (!stopped) outcome.error = error as Error;
    }
  })();
  let cancelling: Promise<void> = Promise.resolve();
  return {
    cancel(): Promise<void> {
      if (stopped || outcome.yieldedTo !== null || outcome.cancelledOnRequest) return cancelling;
      outcome.cancelledOnRequest = true;
      cancelling = cancelBackend().catch(() => undefined);
      return cancelling;
    },
    async stop(): Promise<WatchOutcome> {
      stopped = true;
      wake();
      await loop;
      await cancelling;
      return outcome;
    },
  };
}

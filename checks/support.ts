// Blame by lock: what holds or awaits a lock on a target relation, who that is, and
// what to do about it. Shared by the checks that look at the target's locks.
import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, LockRow, PreparedTransaction, Remediation, ServerInfo, Session, Snapshot, Target, TargetRelation } from '../src/core/types.js';
import { formatDuration } from '../src/core/units.js';

export interface TargetLock {
  target: Target;
  lock: LockRow;
  relation: TargetRelation;
  /** The lock conflicts with the mode the migration will request. */
  conflicting: boolean;
  session: Session | undefined;
  prepared: PreparedTransaction | undefined;
}

export function sessionsByPid(snapshot: Snapshot): Map<number, Session> {
  return new Map(snapshot.sessions.map((s) => [s.pid, s]));
}

export function preparedByVirtualTransaction(snapshot: Snapshot): Map<string, PreparedTransaction> {
  const map = new Map<string, PreparedTransaction>();
  for (const p of snapshot.prepared) if (p.virtualTransaction) map.set(p.virtualTransaction, p);
  return map;
}

/**
 * Whether the lock row's session is still in the transaction that took the lock.
 * pg_locks and pg_stat_activity are not one snapshot (../shared/postgres-facts.md, "Under
 * load"): the core query reads pg_locks first, so pg_stat_activity shows each backend at
 * the same moment or later. A session it shows `idle`, or with no transaction start while
 * not running a statement, or not at all, has ended that transaction since, and with it the
 * lock: it blocks nothing. A session the role may not see is `hidden`, which only happens
 * when the role lacks pg_read_all_stats. `active` with no transaction start is a utility
 * command between its internal transactions (CREATE INDEX CONCURRENTLY, VACUUM), still
 * holding its session-level lock: open.
 */
export type HolderState = 'open' | 'ended' | 'hidden';

export function holderState(session: Session | undefined, server: Pick<ServerInfo, 'canReadAllStats'>): HolderState {
  if (!session) return 'ended';
  if (session.hidden && !server.canReadAllStats) return 'hidden';
  if (session.state === 'idle') return 'ended';
  if (session.xactAgeSeconds === null && isIdleInTransaction(session)) return 'ended';
  return 'open';
}

/**
 * How long the lock has been held: the prepared transaction's age, else the session's
 * transaction age, else (a utility command between its internal transactions) its
 * statement's age; null when not visible.
 */
export function holdAgeSeconds(entry: Pick<TargetLock, 'session' | 'prepared'>): number | null {
  if (entry.prepared) return entry.prepared.ageSeconds;
  const s = entry.session;
  if (!s) return null;
  return s.xactAgeSeconds ?? (s.state === 'active' ? s.queryAgeSeconds : null);
}

/**
 * Every relation lock on the target's relations, held or awaited by a transaction that is
 * still open, with its holder or waiter identified. Only `locktype = 'relation'` locks
 * conflict with the migration's lock on the table: a `tuple` lock carries the table's oid
 * in pg_locks.relation but is a wait for one row, and `transactionid` waits are row waits
 * too (../shared/postgres-facts.md, "Under load").
 */
export function locksOnTarget(snapshot: Snapshot, target: Target): TargetLock[] {
  const relations = new Map(target.relations.map((r) => [r.oid, r]));
  const sessions = sessionsByPid(snapshot);
  const prepared = preparedByVirtualTransaction(snapshot);
  const out: TargetLock[] = [];
  for (const lock of snapshot.locks) {
    if (lock.lockType !== 'relation' || lock.relation === null) continue;
    const relation = relations.get(lock.relation);
    if (!relation) continue;
    const session = lock.pid === null ? undefined : sessions.get(lock.pid);
    if (lock.pid !== null && holderState(session, snapshot.server) === 'ended') continue;
    // A parallel worker's locks are its leader's too; blame (and cancel) the leader once.
    if (session?.leaderPid && session.leaderPid !== session.pid && sessions.has(session.leaderPid)) continue;
    out.push({
      target,
      lock,
      relation,
      conflicting: conflicts(lock.mode, target.lockMode),
      session,
      prepared: lock.pid === null ? prepared.get(lock.virtualTransaction) : undefined,
    });
  }
  return out;
}

/**
 * The queue on the target, as waiter pid → the pids it waits for: only sessions waiting
 * for a relation lock on one of the target's relations. This is the queue the migration
 * would join; row-level waits (`tuple`, `transactionid`) are not in it.
 */
export function targetQueue(entries: readonly TargetLock[]): Map<number, number[]> {
  const graph = new Map<number, number[]>();
  for (const entry of entries) {
    if (entry.lock.granted || entry.lock.pid === null) continue;
    graph.set(entry.lock.pid, [...new Set([...(graph.get(entry.lock.pid) ?? []), ...entry.lock.blockingPids])]);
  }
  return graph;
}

/** One entry per holding or waiting backend (or prepared transaction), keeping its most relevant lock. */
export function byHolder(locks: readonly TargetLock[]): TargetLock[] {
  const best = new Map<string, TargetLock>();
  for (const entry of locks) {
    const key = `${entry.target.oid}:${entry.lock.pid ?? `prepared:${entry.lock.virtualTransaction}`}:${entry.lock.granted}`;
    const current = best.get(key);
    if (!current || (entry.conflicting && !current.conflicting) || (entry.relation.kind === 'table' && current.relation.kind !== 'table' && entry.conflicting === current.conflicting)) {
      best.set(key, entry);
    }
  }
  return [...best.values()];
}

export function isIdleInTransaction(session: Session): boolean {
  return session.state === 'idle in transaction' || session.state === 'idle in transaction (aborted)';
}

function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * The fix line for a holder. It must be safe to paste: nothing that loses committed data or
 * a replica's position. So a prepared transaction gets a read-only look (ROLLBACK PREPARED
 * discards work that its transaction manager may have committed elsewhere, so which one is
 * its owner's call), and a replication process is never cancelled or terminated from here.
 */
export function remediationFor(session: Session | undefined, prepared?: PreparedTransaction): Remediation | undefined {
  if (prepared) {
    const gid = sqlLiteral(prepared.gid);
    return {
      sql: `SELECT gid, owner, database, prepared FROM pg_prepared_xacts WHERE gid = ${gid};  -- then, as its owner decides: COMMIT PREPARED ${gid}; or ROLLBACK PREPARED ${gid};`,
      note: 'a prepared transaction outlives its session and belongs to a two-phase commit: COMMIT PREPARED keeps its changes, ROLLBACK PREPARED discards them even if the other participants committed theirs; ask its owner which (connect to its database)',
    };
  }
  if (!session) return undefined;
  if (session.backendType === 'walsender' || session.backendType?.startsWith('logical replication')) {
    return {
      sql: `SELECT pid, backend_type, application_name, state, query FROM pg_stat_activity WHERE pid = ${session.pid};`,
      note: `a replication process (${session.backendType}): ending it does not end replication, which reconnects and takes the lock again, and a table copy for a new subscriber starts over. It holds the lock only while it copies or applies a transaction; to keep a subscriber's apply worker off the table for the migration, run ALTER SUBSCRIPTION <name> DISABLE on that subscriber and ENABLE afterwards (nothing is lost: its slot keeps the changes)`,
    };
  }
  if (session.backendType === 'autovacuum worker') {
    return { sql: `SELECT pg_cancel_backend(${session.pid});`, note: 'cancels this autovacuum run; it will be retried later' };
  }
  if (session.state === 'active' || session.state === 'fastpath function call') {
    return {
      sql: `SELECT pg_cancel_backend(${session.pid});`,
      note: 'cancels the running statement and keeps the connection; use pg_terminate_backend if it does not stop',
    };
  }
  return {
    sql: `SELECT pg_terminate_backend(${session.pid});`,
    note: 'ends the session and rolls back its open transaction; the application sees a dropped connection',
  };
}

/** The shared fields of a finding about a backend. */
export function sessionFields(session: Session | undefined, pid: number | null): Partial<Finding> {
  return {
    pid,
    user: session?.user ?? null,
    application: session?.application ?? null,
    client: session?.client ?? null,
    state: session?.state ?? null,
    query: session?.query ?? null,
  };
}

export function describeHolder(entry: TargetLock): string {
  if (entry.prepared) return `prepared transaction '${entry.prepared.gid}' (owner ${entry.prepared.owner})`;
  if (entry.lock.pid === null) return 'a prepared transaction';
  const s = entry.session;
  if (!s) return `pid ${entry.lock.pid}`;
  if (s.hidden) return `pid ${s.pid} (role ${s.user ?? '?'}, details hidden)`;
  return `pid ${s.pid} (${[s.user, s.application].filter(Boolean).join(', ')}${s.state ? `, ${s.state}` : ''})`;
}

/** What to do when the role lacks pg_read_all_stats (only then is a session hidden). */
export function pgMonitorHint(role: string): string {
  return `the checker cannot see this session: grant its role pg_monitor (GRANT pg_monitor TO ${quoteRole(role)}) so it can read every session`;
}

function quoteRole(role: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(role) ? role : `"${role.replace(/"/g, '""')}"`;
}

export function age(seconds: number | null | undefined): string {
  return seconds === null || seconds === undefined ? 'unknown age' : formatDuration(seconds * 1000);
}

/** Is this session a client backend (or a parallel worker of one)? */
export function isClientWork(session: Session): boolean {
  return session.backendType === 'client backend' || session.backendType === 'parallel worker' || (session.hidden && session.backendType === null);
}

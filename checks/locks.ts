import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, ServerInfo, Severity, Snapshot } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';
import { age, byHolder, describeHolder, holdAgeSeconds, holderState, locksOnTarget, pgMonitorHint, remediationFor, sessionFields, targetQueue, type TargetLock } from './support.js';

type Option = 'warn' | 'fail' | 'writerFail';

/**
 * waiter pid → the pids blocking it (0 = a prepared transaction), from pg_blocking_pids, for
 * every kind of wait (row waits included): who blocks whom anywhere. The locks check counts
 * only the target's queue (targetQueue in support.ts); this graph names chains and roots.
 */
export function blockingGraph(snapshot: Snapshot): Map<number, number[]> {
  const graph = new Map<number, number[]>();
  for (const lock of snapshot.locks) {
    if (lock.granted || lock.pid === null) continue;
    graph.set(lock.pid, [...new Set([...(graph.get(lock.pid) ?? []), ...lock.blockingPids])]);
  }
  return graph;
}

/** Every pid waiting behind `pid`, directly or transitively (it excluded). */
export function waitersBehind(pid: number, graph: Map<number, number[]>): Set<number> {
  const reverse = new Map<number, number[]>();
  for (const [waiter, blockers] of graph) {
    for (const b of blockers) {
      const list = reverse.get(b);
      if (list) list.push(waiter);
      else reverse.set(b, [waiter]);
    }
  }
  const out = new Set<number>();
  const stack = [...(reverse.get(pid) ?? [])];
  while (stack.length > 0) {
    const next = stack.pop() as number;
    if (next === pid || out.has(next)) continue;
    out.add(next);
    stack.push(...(reverse.get(next) ?? []));
  }
  return out;
}

/** The chain from a waiter up to a root blocker, waiter first: [waiter, blocker, ..., root]. */
export function chainOf(pid: number, graph: Map<number, number[]>): number[] {
  const chain = [pid];
  const seen = new Set(chain);
  let current = pid;
  for (;;) {
    const next = (graph.get(current) ?? []).find((p) => !seen.has(p));
    if (next === undefined) return chain;
    chain.push(next);
    seen.add(next);
    current = next;
  }
}

/**
 * With --concurrently: CREATE INDEX CONCURRENTLY first waits for every transaction holding
 * a lock on the table that conflicts with ShareLock (RowExclusiveLock or stronger: any
 * open transaction that has written to it), though none of them conflicts with its own
 * ShareUpdateExclusiveLock (../shared/postgres-facts.md, "What CREATE INDEX CONCURRENTLY waits for").
 */
function blocksConcurrentBuild(entry: TargetLock): boolean {
  return entry.lock.granted && entry.session?.backendType !== 'autovacuum worker' && conflicts(entry.lock.mode, 'ShareLock');
}

interface Judgement {
  severity: Severity;
  note?: string;
  /** A young writer CREATE INDEX CONCURRENTLY merely waits out: no fix to end it. */
  young?: boolean;
}

function holderSeverity(entry: TargetLock, limits: Record<Option, number | null>, concurrently: boolean, server: ServerInfo): Judgement {
  if (!entry.conflicting) return { severity: 'info' };
  // A writer that conflicts only with CREATE INDEX CONCURRENTLY's wait, not with the lock
  // the migration requests (ShareUpdateExclusiveLock queues nothing behind it).
  const waitedForByBuild = concurrently && blocksConcurrentBuild(entry);
  const writer = waitedForByBuild && !conflicts(entry.lock.mode, entry.target.lockMode);
  // A prepared transaction never ends by itself: the build would wait for it, however young.
  if (waitedForByBuild && entry.prepared) {
    return { severity: 'fail', note: 'a prepared transaction that wrote to the table: CREATE INDEX CONCURRENTLY waits for it to end, and it never ends by itself' };
  }
  const s = entry.session;
  if (holderState(s, server) === 'hidden') return { severity: 'error', note: pgMonitorHint(server.currentUser) };
  if (s?.backendType === 'autovacuum worker') {
    // An ordinary autovacuum is cancelled by conflicting DDL after deadlock_timeout; an
    // anti-wraparound one is not and makes the migration wait (../shared/postgres-facts.md).
    return /to prevent wraparound/.test(s.query ?? '')
      ? { severity: 'fail', note: 'an anti-wraparound autovacuum is not cancelled by DDL: the migration would wait for it to finish' }
      : { severity: 'info', note: 'an ordinary autovacuum is cancelled by the migration after deadlock_timeout' };
  }
  const seconds = holdAgeSeconds(entry);
  if (seconds === null) {
    return entry.prepared || entry.lock.pid !== null
      ? { severity: 'warn', note: `its transaction start is not reported (${s?.backendType ?? 'unknown backend type'}${s?.state ? `, state ${s.state}` : ''}), so its age is unknown` }
      : { severity: 'warn', note: 'a prepared transaction not found in pg_prepared_xacts (it may just have finished)' };
  }
  const ms = seconds * 1000;
  if (writer) {
    // CIC waits for a writer's transaction to end: a young one (an OLTP transaction of a few
    // milliseconds) costs it nothing, an old one (idle in transaction, a long batch) keeps it
    // waiting, holding ShareUpdateExclusiveLock against autovacuum and other DDL, as long as it lives.
    return limits.writerFail !== null && ms >= limits.writerFail
      ? { severity: 'fail', note: 'an open transaction that wrote to the table: CREATE INDEX CONCURRENTLY waits for it to end' }
      : { severity: 'info', note: 'a young transaction that wrote to the table: CREATE INDEX CONCURRENTLY waits for it to end, which should be soon', young: true };
  }
  if (limits.fail !== null && ms >= limits.fail) return { severity: 'fail' };
  if (limits.warn !== null && ms >= limits.warn) return { severity: 'warn' };
  return { severity: 'info' };
}

export default defineCheck<Option>({
  id: 'locks',
  title: 'Locks on the table',
  why: 'Every lock on the table, its partitions, indexes and TOAST table counts, whoever holds it. A conflicting lock makes the migration wait; a waiting lock means a queue has already formed, and the migration would join it.',
  privileges: 'none to see the locks (pg_locks is visible to every role); pg_monitor to see who holds them and for how long',
  options: {
    warn: { kind: 'duration', atMost: 'fail', default: '1s', flag: 'lock-warn', description: 'warn when a conflicting lock on the table is held by a transaction this old' },
    fail: { kind: 'duration', default: '5s', flag: 'lock-fail', description: 'fail when a conflicting lock on the table is held by a transaction this old' },
    writerFail: { kind: 'duration', default: '5s', flag: 'lock-writer-fail', description: 'with --concurrently: fail when a transaction that wrote to the table, which CREATE INDEX CONCURRENTLY waits for, has been open this long (younger writers pass)' },
  },
  evaluate(snapshot, { optionsFor, concurrently }) {
    const graph = blockingGraph(snapshot);
    const findings: Finding[] = [];
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      const onTarget = locksOnTarget(snapshot, target);
      const entries = byHolder(onTarget.map((e) => (concurrently && blocksConcurrentBuild(e) ? { ...e, conflicting: true } : e)));
      const waiters = entries.filter((e) => !e.lock.granted);
      // Who waits in the target's queue behind each holder, directly or down the queue (a
      // waiter can be blocked by several holders at once: each of them is a root of the
      // queue), to put roots first. Sessions waiting for a row are not in that queue.
      const queue = targetQueue(onTarget);
      const behind = new Map<number, number>();
      for (const entry of entries) {
        const pid = entry.lock.pid ?? 0;
        if (entry.lock.granted && !behind.has(pid)) behind.set(pid, waitersBehind(pid, queue).size);
      }
      const holders = entries
        .filter((e) => e.lock.granted)
        .sort((a, b) => (behind.get(b.lock.pid ?? 0) ?? 0) - (behind.get(a.lock.pid ?? 0) ?? 0) || holderAge(b) - holderAge(a));
      for (const entry of holders) {
        const blocked = behind.get(entry.lock.pid ?? 0) ?? 0;
        const judged = holderSeverity(entry, limits, concurrently, snapshot.server);
        // A conflicting holder with a queue behind it is the root of the outage, however young.
        const { severity, note } = entry.conflicting && blocked > 0 && judged.severity !== 'error' ? { ...judged, severity: 'fail' as const } : judged;
        const seconds = holdAgeSeconds(entry);
        findings.push({
          kind: 'lock-holder', severity, target: target.qualifiedName,
          message: `${describeHolder(entry)} holds ${entry.lock.mode} on ${entry.relation.name}${conflicts(entry.lock.mode, target.lockMode) ? ` (conflicts with ${target.lockMode})` : ''}, transaction open ${age(seconds)}${blocked > 0 ? `, ${blocked} waiting behind it` : ''}${note ? `: ${note}` : ''}`,
          ...sessionFields(entry.session, entry.lock.pid), ageSeconds: seconds, lockMode: entry.lock.mode, granted: true, relation: entry.relation.name,
          remediation: entry.conflicting && !(judged.young && severity === 'info') ? remediationFor(entry.session, entry.prepared) : undefined,
          details: { conflicting: entry.conflicting, waitingBehind: blocked, ...(entry.prepared ? { gid: entry.prepared.gid } : {}) },
        });
      }
      for (const entry of waiters.sort((a, b) => (b.lock.waitSeconds ?? 0) - (a.lock.waitSeconds ?? 0))) {
        const chain = entry.lock.pid === null ? [] : chainOf(entry.lock.pid, graph);
        findings.push({
          kind: 'lock-waiter', severity: 'fail', target: target.qualifiedName,
          message: `${describeHolder(entry)} has waited ${age(entry.lock.waitSeconds)} for ${entry.lock.mode} on ${entry.relation.name}: a lock queue has formed${chain.length > 1 ? ` (chain ${chain.map((p) => (p === 0 ? 'prepared transaction' : String(p))).join(' ← ')})` : ''}`,
          ...sessionFields(entry.session, entry.lock.pid), ageSeconds: entry.lock.waitSeconds, lockMode: entry.lock.mode, granted: false, relation: entry.relation.name,
          blockedBy: entry.lock.blockingPids,
          ...(chain.length > 1 ? { chain } : {}),
          remediation: remediationFor(entry.session),
          details: { rootBlocker: chain.length > 1 ? (chain[chain.length - 1] ?? null) : null },
        });
      }
    }
    const status = statusOf(findings);
    const waiting = findings.filter((f) => f.kind === 'lock-waiter').length;
    const conflicting = findings.filter((f) => f.kind === 'lock-holder' && f.details?.conflicting === true).length;
    const summary =
      waiting > 0
        ? `${waiting} lock request(s) waiting on the target: a lock queue has formed`
        : status === 'error'
          ? 'a conflicting lock on the target has a holder the checker cannot inspect: grant pg_monitor'
          : conflicting > 0
            ? `${conflicting} conflicting lock holder(s) on the target${status === 'pass' ? ', none past the thresholds' : ''}`
            : findings.length > 0
              ? `${findings.length} lock(s) on the target, none conflicting`
              : 'no locks on the target';
    return { status, summary, findings };
  },
});

function holderAge(entry: TargetLock): number {
  return holdAgeSeconds(entry) ?? 0;
}

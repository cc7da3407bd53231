// Who blocks whom, as a forest: each root blocker (a session that holds what others
// wait for and waits for nothing itself, or a prepared transaction) with everything
// queued behind it. Built from one snapshot (src/gate/snapshot.ts) taken with the
// BLOCKING_TREE_QUERIES; used by `pgpreflight locks` and by the migration guard.
import { blockingGraph, waitersBehind } from '../../checks/locks.js';
import { preparedByVirtualTransaction, remediationFor, sessionsByPid } from '../../checks/support.js';
import { conflicts, LOCK_MODES } from '../core/lock-modes.js';

const LOCK_ORDER: readonly string[] = LOCK_MODES;
import { BLOCKING_TREE_QUERIES, HELD_ON_WAITED_QUERY, PREPARED_RELATION_LOCKS_QUERY, WAITED_RELATIONS_QUERY } from './blocking-tree.sql.js';
import type { HeldLock, LockRow, PreparedTransaction, Remediation, RootCause, Session, Snapshot } from '../core/types.js';
import { rootCausesOf } from './root-causes.js';
import type { TreeNode, WaitedLock } from './tree-node.js';

export { BLOCKING_TREE_QUERIES, waitersBehind };

export const QUERY_EXCERPT_CHARS = 200;

export type { TreeNode, WaitedLock };

export interface BlockingTree {
  takenAt: string;
  database: string;
  /** user@host:port/database looked at, never with a password; set by the caller that connected. */
  server?: string;
  /** Qualified names of the --table filter; empty for the whole database. */
  tables: string[];
  roots: TreeNode[];
  /** The roots with the sessions behind each listed once, alike ones collapsed (src/incident/root-causes.ts). */
  rootCauses: RootCause[];
  /** Distinct waiting sessions in the shown trees. */
  waiting: number;
  oldestWaitSeconds: number | null;
}

type Row = Record<string, unknown>;

const excerpt = (query: string | null): string | null => {
  if (query === null) return null;
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > QUERY_EXCERPT_CHARS ? `${flat.slice(0, QUERY_EXCERPT_CHARS - 1)}…` : flat;
};

const maxOrNull = (values: Iterable<number | null>): number | null => {
  let out: number | null = null;
  for (const v of values) if (v !== null && (out === null || v > out)) out = v;
  return out;
};


/** The waiting lock of each waiting pid (a backend waits for one lock at a time). */
export function waitingLocks(snapshot: Snapshot): Map<number, LockRow> {
  const out = new Map<number, LockRow>();
  for (const lock of snapshot.locks) if (!lock.granted && lock.pid !== null && !out.has(lock.pid)) out.set(lock.pid, lock);
  return out;
}

/** Relation oid → qualified name, from the targets and the blocking-tree query. */
export function relationNames(snapshot: Snapshot): Map<number, string> {
  const names = new Map<number, string>();
  for (const target of snapshot.targets) for (const r of target.relations) names.set(r.oid, r.name);
  for (const row of (snapshot.extra[WAITED_RELATIONS_QUERY] ?? []) as Row[]) names.set(Number(row.oid), String(row.name));
  return names;
}

/**
 * pg_blocking_pids() says 0 for "a prepared transaction" without saying which one.
 * Name it by the object the waiter queues for: its transaction id (row locks) or a
 * conflicting relation lock held by a prepared transaction. When neither matches and
 * there is exactly one prepared transaction, it is that one.
 */
export function preparedBlockersOf(waiting: LockRow, snapshot: Snapshot): PreparedTransaction[] {
  if (waiting.transactionId !== null) {
    const byXid = snapshot.prepared.filter((p) => p.transactionId === waiting.transactionId);
    if (byXid.length > 0) return byXid;
  }
  const byVxid = preparedByVirtualTransaction(snapshot);
  const found = new Map<string, PreparedTransaction>();
  const relationLocks: { vxid: string; relation: number; mode: string }[] = [
    ...((snapshot.extra[PREPARED_RELATION_LOCKS_QUERY] ?? []) as Row[]).map((r) => ({ vxid: String(r.virtual_transaction), relation: Number(r.relation), mode: String(r.mode) })),
    ...snapshot.locks.filter((l) => l.pid === null && l.relation !== null).map((l) => ({ vxid: l.virtualTransaction, relation: l.relation as number, mode: l.mode })),
  ];
  for (const held of relationLocks) {
    if (held.relation !== waiting.relation || !conflicts(held.mode, waiting.mode)) continue;
    const prepared = byVxid.get(held.vxid);
    if (prepared) found.set(prepared.gid, prepared);
  }
  if (found.size > 0) return [...found.values()];
  return snapshot.prepared.length === 1 ? [...snapshot.prepared] : [];
}

interface Vertex {
  key: string;
  pid: number | null;
  session: Session | undefined;
  prepared: PreparedTransaction | undefined;
}

/**
 * The forest of blocking, roots first by how many wait behind them. With `tables`
 * (the snapshot's targets), keeps only the trees in which some member holds or awaits
 * a lock on one of the targets' relations.
 */
export function buildBlockingTree(snapshot: Snapshot): BlockingTree {
  const graph = blockingGraph(snapshot);
  const sessions = sessionsByPid(snapshot);
  const waits = waitingLocks(snapshot);
  const names = relationNames(snapshot);
  const vertices = new Map<string, Vertex>();
  const children = new Map<string, Set<string>>();
  const vertexOfPid = (pid: number): string => {
    const key = `pid:${pid}`;
    if (!vertices.has(key)) vertices.set(key, { key, pid, session: sessions.get(pid), prepared: undefined });
    return key;
  };
  const addEdge = (blocker: string, waiter: string): void => {
    const set = children.get(blocker);
    if (set) set.add(waiter);
    else children.set(blocker, new Set([waiter]));
  };
  for (const [waiter, blockers] of graph) {
    const waiterKey = vertexOfPid(waiter);
    for (const blocker of blockers) {
      if (blocker !== 0) {
        addEdge(vertexOfPid(blocker), waiterKey);
        continue;
      }
      const waiting = waits.get(waiter);
      const prepared = waiting ? preparedBlockersOf(waiting, snapshot) : [];
      if (prepared.length === 0) {
        vertices.set('prepared:?', { key: 'prepared:?', pid: null, session: undefined, prepared: undefined });
        addEdge('prepared:?', waiterKey);
      }
      for (const p of prepared) {
        const key = `prepared:${p.gid}`;
        vertices.set(key, { key, pid: null, session: undefined, prepared: p });
        addEdge(key, waiterKey);
      }
    }
  }
  const isWaiting = (v: Vertex): boolean => v.pid !== null && graph.has(v.pid);
  const descendants = (key: string): Set<string> => {
    const out = new Set<string>();
    const stack = [...(children.get(key) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (next === key || out.has(next)) continue;
      out.add(next);
      stack.push(...(children.get(next) ?? []));
    }
    return out;
  };
  const waitSecondsOf = (key: string): number | null => {
    const pid = vertices.get(key)?.pid;
    return pid === null || pid === undefined ? null : waits.get(pid)?.waitSeconds ?? null;
  };
  const targetOids = new Set(snapshot.targets.flatMap((t) => t.relations.map((r) => r.oid)));
  const nodeOf = (key: string, root: boolean, path: Set<string>): TreeNode => {
    const v = vertices.get(key) as Vertex;
    const below = descendants(key);
    const waiting = v.pid === null ? undefined : waits.get(v.pid);
    const s = v.session;
    const p = v.prepared;
    const nextPath = new Set([...path, key]);
    return {
      kind: v.pid === null ? 'prepared' : 'session',
      pid: v.pid,
      gid: p?.gid ?? null,
      user: p ? p.owner : s?.user ?? null,
      application: s?.application ?? null,
      client: s?.client ?? null,
      backendType: s?.backendType ?? null,
      state: p ? 'prepared' : s?.state ?? null,
      xactAgeSeconds: p ? p.ageSeconds : s?.xactAgeSeconds ?? null,
      query: excerpt(s?.query ?? null),
      hidden: s?.hidden ?? false,
      waitingFor: waiting
        ? { mode: waiting.mode, lockType: waiting.lockType, relation: waiting.relation === null ? null : names.get(waiting.relation) ?? String(waiting.relation), waitSeconds: waiting.waitSeconds }
        : null,
      waitingBehind: below.size,
      oldestWaitSeconds: maxOrNull([...below].map(waitSecondsOf)),
      remediation: root ? remediationFor(s, p) ?? (v.key === 'prepared:?' ? unknownPreparedRemediation(snapshot) : null) : null,
      holds: root ? heldBy(v, [...(children.get(key) ?? [])].map((child) => waits.get(vertices.get(child)?.pid ?? -1)).filter((w): w is LockRow => w !== undefined)) : [],
      blocks: [...(children.get(key) ?? [])]
        .filter((child) => !nextPath.has(child))
        .sort((a, b) => (waitSecondsOf(b) ?? 0) - (waitSecondsOf(a) ?? 0))
        .map((child) => nodeOf(child, false, nextPath)),
    };
  };
  // What a root holds that its direct waiters queue for: its granted lock on that relation
  // when the look read it (the targets' locks), else only that it holds a conflicting one.
  const heldRows: LockRow[] = [
    ...snapshot.locks,
    ...((snapshot.extra[HELD_ON_WAITED_QUERY] ?? []) as Row[]).map((r) => ({
      pid: r.pid === null ? null : Number(r.pid),
      virtualTransaction: String(r.virtual_transaction ?? ''),
      lockType: 'relation',
      relation: Number(r.relation),
      transactionId: null,
      mode: String(r.mode),
      granted: true,
      waitSeconds: null,
      blockingPids: [],
    })),
  ];
  const heldBy = (v: Vertex, waited: readonly LockRow[]): HeldLock[] => {
    const out = new Map<string, HeldLock>();
    for (const w of waited) {
      const relation = w.relation === null ? null : names.get(w.relation) ?? String(w.relation);
      const key = `${w.lockType}:${relation ?? ''}`;
      const granted = heldRows.filter(
        (l) => l.granted && l.lockType === w.lockType && l.relation === w.relation && l.transactionId === w.transactionId && (v.prepared ? l.pid === null && l.virtualTransaction === v.prepared.virtualTransaction : l.pid === v.pid) && conflicts(l.mode, w.mode),
      );
      const strongest = granted.map((l) => l.mode).sort((a, b) => LOCK_ORDER.indexOf(b) - LOCK_ORDER.indexOf(a))[0] ?? null;
      const known = out.get(key);
      if (!known || (known.mode === null && strongest !== null)) out.set(key, { lockType: w.lockType, relation, mode: strongest });
    }
    return [...out.values()];
  };
  // With targets, a root is one of a lock queue ON a target: someone behind it waits for a
  // relation lock on a target relation, the queue a migration's ALTER joins. A session that
  // merely holds a lock on the target while others wait for its row (transactionid/tuple waits,
  // milliseconds long under OLTP load) is not one: the locks and idle checks judge such holders.
  const queuedOnTarget = (key: string): boolean => {
    const waited = waits.get(vertices.get(key)?.pid ?? -1);
    return waited !== undefined && waited.lockType === 'relation' && waited.relation !== null && targetOids.has(waited.relation);
  };
  const rootKeys = [...children.keys()].filter((key) => {
    const v = vertices.get(key) as Vertex;
    if (isWaiting(v)) return false;
    return targetOids.size === 0 || [...descendants(key)].some(queuedOnTarget);
  });
  const roots = rootKeys
    .map((key) => nodeOf(key, true, new Set()))
    .sort((a, b) => b.waitingBehind - a.waitingBehind || (b.oldestWaitSeconds ?? 0) - (a.oldestWaitSeconds ?? 0));
  const waitingKeys = new Set(rootKeys.flatMap((key) => [...descendants(key)]));
  return {
    takenAt: snapshot.server.takenAt,
    database: snapshot.server.database,
    tables: snapshot.targets.map((t) => t.qualifiedName),
    roots,
    rootCauses: rootCausesOf(roots),
    waiting: waitingKeys.size,
    oldestWaitSeconds: maxOrNull([...waitingKeys].map(waitSecondsOf)),
  };
}

function unknownPreparedRemediation(snapshot: Snapshot): Remediation {
  return {
    sql: `SELECT gid, owner, database, prepared FROM pg_prepared_xacts;  -- then ROLLBACK PREPARED '<gid>' (or COMMIT PREPARED)`,
    note: `one of ${snapshot.prepared.length} prepared transaction(s) blocks this queue; ROLLBACK PREPARED discards its changes, COMMIT PREPARED keeps them: ask its owner which`,
  };
}

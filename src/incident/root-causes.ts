// The root causes of a lock queue, computed once from the blocking tree and read as data by
// every format: `check`'s report (rootCauses), `locks` and `locks --watch`. Each root blocker
// comes with who it is, what it holds, how long, how many queue behind it and the one fix;
// the sessions behind it are listed once each, identical ones collapsed into one group
// ("40 × SELECT count(*) FROM orders (app web), oldest 14s"). Waiting sessions get no fix of
// their own: ending a waiter frees nobody ahead of it, the root's fix ends the queue.
import type { CheckResult, RootCause, WaiterGroup } from '../core/types.js';
import { normalizeQuery } from '../core/query-text.js';
import type { TreeNode } from './tree-node.js';


interface Visit {
  node: TreeNode;
  parent: TreeNode;
  depth: number;
  group: string;
}

const idOf = (node: TreeNode): number => node.pid ?? 0;

/** Root blockers with their waiters grouped; `flaggedBy(pid)` names the checks that reported a session. */
export function rootCausesOf(roots: readonly TreeNode[], flaggedBy: (pid: number) => string[] = () => []): RootCause[] {
  const listed = new Set<number>();
  return roots.map((root) => {
    // Breadth first, so a session reachable along two paths is listed at its shallowest place.
    const visits: Visit[] = [];
    const parentGroup = new Map<number, string>();
    const queue: { node: TreeNode; parent: TreeNode; depth: number }[] = root.blocks.map((node) => ({ node, parent: root, depth: 1 }));
    while (queue.length > 0) {
      const { node, parent, depth } = queue.shift() as { node: TreeNode; parent: TreeNode; depth: number };
      const pid = idOf(node);
      if (node.pid === null || listed.has(pid) || pid === root.pid) continue;
      listed.add(pid);
      const w = node.waitingFor;
      // Alike sessions run the same statement with other values: they group by its shape.
      const group = JSON.stringify([depth, node.query === null ? null : normalizeQuery(node.query), node.application, node.user, node.state, node.hidden, w?.mode ?? null, w?.lockType ?? null, w?.relation ?? null]);
      visits.push({ node, parent, depth, group });
      parentGroup.set(pid, group);
      for (const child of node.blocks) queue.push({ node: child, parent: node, depth: depth + 1 });
    }
    const groups = new Map<string, WaiterGroup & { below: Set<number> }>();
    for (const { node, parent, depth, group } of visits) {
      const w = node.waitingFor;
      const known = groups.get(group);
      const waited = w?.waitSeconds ?? null;
      if (known) {
        known.count += 1;
        // Same shape, other values: the group shows the shape.
        if (known.query !== node.query && node.query !== null) known.query = normalizeQuery(node.query);
        known.pids.push(idOf(node));
        if (!known.behind.includes(idOf(parent))) known.behind.push(idOf(parent));
        if (waited !== null && (known.oldestWaitSeconds === null || waited > known.oldestWaitSeconds)) known.oldestWaitSeconds = waited;
        for (const check of node.pid === null ? [] : flaggedBy(node.pid)) if (!known.flaggedBy.includes(check)) known.flaggedBy.push(check);
        continue;
      }
      groups.set(group, {
        count: 1,
        pids: [idOf(node)],
        behind: [idOf(parent)],
        depth,
        user: node.user,
        application: node.application,
        state: node.state,
        query: node.query,
        waitingFor: w ? { mode: w.mode, lockType: w.lockType, relation: w.relation } : null,
        oldestWaitSeconds: waited,
        blocking: 0,
        flaggedBy: node.pid === null ? [] : [...flaggedBy(node.pid)],
        below: new Set<number>(),
      });
    }
    // Who queues behind each group: every listed session whose path to the root passes through it.
    const parentOf = new Map(visits.map((v) => [idOf(v.node), v.parent]));
    for (const { node } of visits) {
      let up = parentOf.get(idOf(node));
      while (up && up !== root) {
        groups.get(parentGroup.get(idOf(up)) ?? '')?.below.add(idOf(node));
        up = parentOf.get(idOf(up));
      }
    }
    const waiters: WaiterGroup[] = [...groups.values()]
      .map(({ below, ...group }) => ({ ...group, blocking: below.size, flaggedBy: group.flaggedBy.sort() }))
      .sort((a, b) => a.depth - b.depth || b.blocking - a.blocking || b.count - a.count || (b.oldestWaitSeconds ?? 0) - (a.oldestWaitSeconds ?? 0));
    return {
      kind: root.kind,
      pid: root.pid,
      gid: root.gid,
      user: root.user,
      application: root.application,
      client: root.client,
      backendType: root.backendType,
      state: root.state,
      hidden: root.hidden,
      xactAgeSeconds: root.xactAgeSeconds,
      query: root.query,
      holds: root.holds,
      waiting: root.waitingBehind,
      oldestWaitSeconds: root.oldestWaitSeconds,
      remediation: root.remediation,
      flaggedBy: root.pid === null ? [] : [...flaggedBy(root.pid)].sort(),
      waiters,
    };
  });
}

/** Check ids by pid, for the findings worse than information. */
export function checksByPid(checks: readonly CheckResult[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const check of checks) {
    for (const finding of check.findings) {
      if (finding.severity === 'info' || typeof finding.pid !== 'number') continue;
      const list = out.get(finding.pid) ?? [];
      if (!list.includes(check.id)) list.push(check.id);
      out.set(finding.pid, list);
    }
  }
  return out;
}

/**
 * The gate's policy for fixes in a queue: a session that is only waiting gets no fix of its
 * own (cancelling an innocent reader frees nobody); the root blocker's fix is the one to run.
 * Returns the checks with the waiters' remediations removed.
 */
export function withoutWaiterFixes(checks: readonly CheckResult[], rootCauses: readonly RootCause[]): CheckResult[] {
  const waiting = new Set(rootCauses.flatMap((r) => r.waiters.flatMap((g) => g.pids)));
  const roots = new Set(rootCauses.map((r) => r.pid));
  if (waiting.size === 0) return [...checks];
  return checks.map((check) => ({
    ...check,
    findings: check.findings.map((finding) => {
      if (typeof finding.pid !== 'number' || !waiting.has(finding.pid) || roots.has(finding.pid) || !finding.remediation) return finding;
      const rest = { ...finding };
      delete rest.remediation;
      return rest;
    }),
  }));
}

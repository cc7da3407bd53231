// `pgpreflight locks --terminate idle|all --older-than <duration>`: ends the root
// blockers that match, and nothing else. Choosing is pure (selectTerminations);
// the kill itself (terminateRootBlockers) re-checks every condition on the server.
import type pg from 'pg';
import type { BlockingTree, TreeNode } from './blocking-tree.js';
import { TERMINATE_ROOT_BLOCKER_SQL } from './terminate.sql.js';

export const TERMINATE_MODES = ['idle', 'all'] as const;
export type TerminateMode = (typeof TERMINATE_MODES)[number];

/** How long pg_terminate_backend waits for each backend to exit. */
export const TERMINATE_WAIT_MS = 5000;

export interface TerminationPlan {
  /** Root blockers that match and will be terminated after confirmation. */
  selected: TreeNode[];
  /** Root blockers left alone, each with the reason. */
  skipped: { node: TreeNode; reason: string }[];
}

export interface TerminationOutcome {
  pid: number;
  terminated: boolean;
  /** Why not, when not terminated. */
  reason: string | null;
}

const isIdleState = (state: string | null): boolean => state !== null && state.startsWith('idle');

/** Which root blockers --terminate would end. Only roots: ending a waiter frees nobody. */
export function selectTerminations(tree: BlockingTree, mode: TerminateMode, olderThanMs: number, ownPid: number): TerminationPlan {
  const plan: TerminationPlan = { selected: [], skipped: [] };
  for (const node of tree.roots) {
    const skip = (reason: string): void => void plan.skipped.push({ node, reason });
    if (node.kind === 'prepared' || node.pid === null) {
      skip('a prepared transaction has no session to terminate: end it with COMMIT PREPARED or ROLLBACK PREPARED');
    } else if (node.pid === ownPid) {
      skip('it is pgpreflight\'s own connection');
    } else if (node.hidden) {
      skip('its state and age are hidden from this role: grant pg_monitor to judge it');
    } else if (node.backendType !== 'client backend') {
      skip(`it is a ${node.backendType ?? 'background process'}, not a client session`);
    } else if (mode === 'idle' && !isIdleState(node.state)) {
      skip(`it is ${node.state ?? 'in an unknown state'}, not idle (use --terminate all to include running statements)`);
    } else if (node.xactAgeSeconds === null || node.xactAgeSeconds * 1000 < olderThanMs) {
      skip(node.xactAgeSeconds === null ? 'it has no open transaction to judge by age' : 'its transaction is younger than --older-than');
    } else {
      plan.selected.push(node);
    }
  }
  return plan;
}

/** Terminates each selected root blocker that still matches at this moment. */
export async function terminateRootBlockers(client: pg.Client, selected: readonly TreeNode[], mode: TerminateMode, olderThanMs: number): Promise<TerminationOutcome[]> {
  const outcomes: TerminationOutcome[] = [];
  for (const node of selected) {
    if (node.pid === null) continue;
    try {
      const { rows } = await client.query<{ pid: number; terminated: boolean }>(TERMINATE_ROOT_BLOCKER_SQL, [node.pid, mode, olderThanMs / 1000, TERMINATE_WAIT_MS]);
      const row = rows[0];
      outcomes.push(
        row === undefined
          ? { pid: node.pid, terminated: false, reason: 'it no longer matches (its transaction ended, it stopped blocking, or the pid was reused)' }
          : { pid: node.pid, terminated: row.terminated, reason: row.terminated ? null : `it did not exit within ${TERMINATE_WAIT_MS} ms` },
      );
    } catch (error) {
      const e = error as { code?: string; message?: string };
      outcomes.push({
        pid: node.pid,
        terminated: false,
        reason: e.code === '42501' ? 'permission denied: only a superuser, the same role or a member of pg_signal_backend may terminate it' : `the server refused: ${e.message ?? String(error)}`,
      });
    }
  }
  return outcomes;
}

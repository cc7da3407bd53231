// The node of a blocking tree, on its own so that the tree (blocking-tree.ts) and the root
// causes computed from it (root-causes.ts, which the tree imports) share one definition.
import type { HeldLock, Remediation } from '../core/types.js';

/** What a waiting node waits for. */
export interface WaitedLock {
  mode: string;
  lockType: string;
  /** Qualified relation name for relation locks, else null. */
  relation: string | null;
  waitSeconds: number | null;
}

export interface TreeNode {
  kind: 'session' | 'prepared';
  /** null for a prepared transaction (its locks have no pid). */
  pid: number | null;
  gid: string | null;
  user: string | null;
  application: string | null;
  client: string | null;
  backendType: string | null;
  state: string | null;
  /** Age of the open transaction (of the prepared transaction for kind prepared). */
  xactAgeSeconds: number | null;
  query: string | null;
  /** true when the checker's role cannot see this session's details. */
  hidden: boolean;
  /** Set on waiting nodes: the lock they are queued for. */
  waitingFor: WaitedLock | null;
  /** Distinct sessions waiting behind this node, directly or down the chain. */
  waitingBehind: number;
  /** Longest wait among them, seconds. */
  oldestWaitSeconds: number | null;
  /** Set on roots only: what ends the blocking, and its cost. */
  remediation: Remediation | null;
  /** Set on roots only: the locks it holds that the sessions right behind it queue for. */
  holds: HeldLock[];
  blocks: TreeNode[];
}

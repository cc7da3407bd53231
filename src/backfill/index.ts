// The backfill feature's public surface, for the CLI commands and the library API.
export { ADVISORY_LOCK_CLASS_ID, advisoryLockKey } from './advisory.js';
export {
  DEFAULT_MAX_LAG,
  describeLagging,
  lagReason,
  limitsOf,
  ReplicaWatch,
  waitForReplicas,
  type LagVerdict,
  type Queryable,
  type Replica,
  type ReplicaLimits,
  type ReplicaWaitResult,
  type WaitForReplicasOptions,
} from './replicas.js';
export {
  BackfillControl,
  BackfillStopped,
  runBackfill,
  type BackfillEvent,
  type BackfillOutcome,
  type BackfillPlan,
  type BackfillRequest,
  type BackfillStatus,
  type BackfillSummary,
} from './runner.js';

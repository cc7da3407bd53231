// The check registry, sorted by id. Adding a check = its module + one line here + its test.
import autovacuum from './autovacuum.js';
import connections from './connections.js';
import ddlInProgress from './ddl-in-progress.js';
import hotStandby from './hot-standby.js';
import idleInTransaction from './idle-in-transaction.js';
import invalidIndexes from './invalid-indexes.js';
import load from './load.js';
import locks from './locks.js';
import logicalReplication from './logical-replication.js';
import longRunningQueries from './long-running-queries.js';
import migrationRisk from './migration-risk.js';
import oldSnapshots from './old-snapshots.js';
import preparedTransactions from './prepared-transactions.js';
import replicationLag from './replication-lag.js';
import tableSize from './table-size.js';
import timeouts from './timeouts.js';
import traffic from './traffic.js';
import type { CheckDefinition } from './types.js';

export const CHECKS: readonly CheckDefinition[] = [
  autovacuum,
  connections,
  ddlInProgress,
  hotStandby,
  idleInTransaction,
  invalidIndexes,
  load,
  locks,
  logicalReplication,
  longRunningQueries,
  migrationRisk,
  oldSnapshots,
  preparedTransactions,
  replicationLag,
  tableSize,
  timeouts,
  traffic,
];

export function checkById(id: string): CheckDefinition | undefined {
  return CHECKS.find((c) => c.id === id);
}

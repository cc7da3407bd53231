// The check registry, sorted by id. Adding a check = its module + one line here + its test.
import idleInTransaction from './idle-in-transaction.js';
import locks from './locks.js';
import longRunningQueries from './long-running-queries.js';
import replicationLag from './replication-lag.js';
import tableSize from './table-size.js';
import type { CheckDefinition } from './types.js';

export const CHECKS: readonly CheckDefinition[] = [
  idleInTransaction,
  locks,
  longRunningQueries,
  replicationLag,
  tableSize,
];

export function checkById(id: string): CheckDefinition | undefined {
  return CHECKS.find((c) => c.id === id);
}

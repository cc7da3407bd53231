// Extra reads for `pgpreflight locks` and the migration guard, run inside the
// snapshot's read-only transaction (src/gate/snapshot.ts) right after the core
// pg_locks + pg_stat_activity statement.
//
// Neither opens a user table: `oid::regclass::text` reads pg_class by oid without
// locking the relation, unlike pg_relation_size() and friends
// (../../shared/postgres-facts.md, "What the checker may read without queueing").
import type { CheckQuery } from '../../checks/types.js';

/**
 * Names of the relations that somebody waits for, or that a prepared transaction
 * holds, so the tree can say "waits for AccessExclusiveLock on public.orders" even
 * without --table. Filtered on the server to this database's relation locks.
 * https://www.postgresql.org/docs/current/view-pg-locks.html
 */
export const WAITED_RELATIONS_SQL = `
SELECT DISTINCT l.relation::int8 AS oid, l.relation::regclass::text AS name
  FROM pg_locks l
 WHERE l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND (NOT l.granted OR l.pid IS NULL)`;

/**
 * Relation locks of prepared transactions (pid IS NULL). pg_blocking_pids() reports a
 * prepared transaction as pid 0, whichever one it is; matching the waiter's relation
 * against these rows (by virtualtransaction, which pg_prepared_xacts joins through
 * its xid lock) names the prepared transaction in the way.
 * https://www.postgresql.org/docs/current/functions-info.html#FUNCTIONS-INFO-SESSION-TABLE
 */
export const PREPARED_RELATION_LOCKS_SQL = `
SELECT l.virtualtransaction AS virtual_transaction, l.relation::int8 AS relation, l.mode
  FROM pg_locks l
 WHERE l.pid IS NULL
   AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`;

/**
 * The granted relation locks on the relations somebody waits for, so the tree can say what a
 * root blocker holds ("AccessShareLock on public.orders") without --table too.
 */
export const HELD_ON_WAITED_SQL = `
SELECT l.pid, l.virtualtransaction AS virtual_transaction, l.relation::int8 AS relation, l.mode
  FROM pg_locks l
 WHERE l.granted
   AND l.locktype = 'relation'
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.relation IN (SELECT w.relation FROM pg_locks w WHERE NOT w.granted AND w.locktype = 'relation')`;

export const WAITED_RELATIONS_QUERY = 'blocking-tree.relations';
export const HELD_ON_WAITED_QUERY = 'blocking-tree.held';
export const PREPARED_RELATION_LOCKS_QUERY = 'blocking-tree.prepared-locks';

export const BLOCKING_TREE_QUERIES: readonly CheckQuery[] = [
  { name: WAITED_RELATIONS_QUERY, sql: WAITED_RELATIONS_SQL },
  { name: PREPARED_RELATION_LOCKS_QUERY, sql: PREPARED_RELATION_LOCKS_SQL },
  { name: HELD_ON_WAITED_QUERY, sql: HELD_ON_WAITED_SQL },
];

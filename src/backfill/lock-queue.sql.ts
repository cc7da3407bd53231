// Who waits behind the backfill, and who the backfill waits for.
//
// Only relation locks count: a deploy's ALTER TABLE or LOCK TABLE queues on the table,
// and everything arriving after it queues behind it (../shared/postgres-facts.md, "the
// lock queue"). Row-level waits (locktype transactionid/tuple) are ordinary write
// contention that lasts at most one batch, which --batch-time bounds. A session waiting
// for the backfill's advisory lock is another backfill, waiting on purpose.
// pg_locks and pg_blocking_pids() show every session to every role.

/** The modes that conflict with the RowExclusiveLock an UPDATE takes. */
export const CONFLICTS_WITH_UPDATE = ['ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'] as const;

const WAITER_COLUMNS = `
       a.application_name AS application,
       a.usename AS "user",
       pg_catalog.left(a.query, 200) AS query,
       EXTRACT(EPOCH FROM pg_catalog.now() - w.waitstart)::float8 AS waited_seconds`;

/**
 * While a batch runs: sessions queued behind the backfill's backend ($1), and the sessions
 * the backfill's backend itself waits for. pg_blocking_pids() is only called on waiting
 * relation locks (MATERIALIZED keeps that filter first); it reads the lock manager and
 * is not free.
 */
export const BATCH_WATCH_SQL = `
WITH waiting AS MATERIALIZED (
  SELECT l.pid, l.mode, l.relation, l.waitstart
    FROM pg_catalog.pg_locks l
   WHERE NOT l.granted AND l.locktype = 'relation' AND l.pid IS NOT NULL AND l.pid <> $1
)
SELECT 'behind' AS side, w.pid, w.mode, w.relation::regclass::text AS relation, ${WAITER_COLUMNS}
  FROM waiting w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE $1 = ANY (pg_catalog.pg_blocking_pids(w.pid))
UNION ALL
SELECT 'ahead', b.pid, NULL, NULL, a.application_name, a.usename, pg_catalog.left(a.query, 200),
       EXTRACT(EPOCH FROM pg_catalog.now() - a.xact_start)::float8
  FROM unnest(pg_catalog.pg_blocking_pids($1)) AS b(pid)
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = b.pid`;

/**
 * Before a batch: sessions queued for the table ($1, oid) in a mode that conflicts with
 * the batch's UPDATE. Starting a batch now would put the backfill in that queue.
 */
export const QUEUED_ON_TABLE_SQL = `
SELECT w.pid, w.mode, NULL::text AS relation, ${WAITER_COLUMNS}
  FROM pg_catalog.pg_locks w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE w.locktype = 'relation' AND w.relation = $1::oid AND NOT w.granted
   AND w.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
   AND w.mode = ANY ($2::text[])
 ORDER BY w.waitstart NULLS LAST, w.pid`;

/**
 * After a batch yielded: the sessions it yielded to ($1, pids) that still wait for a
 * relation lock, or hold one on the table ($2) that the next batch's UPDATE would queue behind.
 */
export const STILL_IN_THE_WAY_SQL = `
SELECT DISTINCT l.pid
  FROM pg_catalog.pg_locks l
 WHERE l.pid = ANY ($1::int[]) AND l.locktype = 'relation'
   AND (NOT l.granted OR (l.relation = $2::oid AND l.mode = ANY ($3::text[])))`;

/**
 * Who holds the table ($1, oid) in a mode the batch's UPDATE conflicts with: named when a
 * statement outside the watched batch (the first batch's EXPLAIN) hits lock_timeout.
 */
export const CONFLICTING_HOLDERS_SQL = `
SELECT w.pid, w.mode, NULL::text AS relation,
       a.application_name AS application,
       a.usename AS "user",
       pg_catalog.left(a.query, 200) AS query,
       EXTRACT(EPOCH FROM pg_catalog.now() - a.xact_start)::float8 AS waited_seconds
  FROM pg_catalog.pg_locks w
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid
 WHERE w.locktype = 'relation' AND w.relation = $1::oid AND w.granted
   AND w.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
   AND w.mode = ANY ($2::text[])
 ORDER BY w.pid`;

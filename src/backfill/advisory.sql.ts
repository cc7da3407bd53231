// The advisory lock that keeps two backfills of one table apart. Two-key form:
// pg_try_advisory_lock(key1 int4, key2 int4) with key1 = ADVISORY_LOCK_CLASS_ID and
// key2 = the table's oid as int4 (oid::int4 wraps oids above 2^31 to negative numbers,
// the same 32 bits). pg_locks shows it as locktype 'advisory', classid = key1,
// objid = the table's oid, objsubid = 2 (https://www.postgresql.org/docs/current/view-pg-locks.html).
// Session-level: it outlives each batch's transaction and ends with the session.

export const TRY_LOCK_SQL = 'SELECT pg_catalog.pg_try_advisory_lock($1::int4, $2::oid::int4) AS locked';

export const UNLOCK_SQL = 'SELECT pg_catalog.pg_advisory_unlock($1::int4, $2::oid::int4) AS unlocked';

/** Who holds it, in this database: advisory locks are per database. */
export const HOLDER_SQL = `
SELECT l.pid, a.application_name AS application, a.usename AS "user",
       pg_catalog.host(a.client_addr) AS client, a.state,
       EXTRACT(EPOCH FROM pg_catalog.now() - a.backend_start)::float8 AS connected_seconds
  FROM pg_catalog.pg_locks l
  LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
   AND l.classid = $1::oid AND l.objid = $2::oid
   AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())
 ORDER BY l.pid`;

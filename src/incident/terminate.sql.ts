// The only write pgpreflight ever does, and only under `pgpreflight locks --terminate`.
//
// The snapshot that listed the sessions is already in the past when the user says
// yes, and a pid can be reused by a new session, so the statement re-checks every
// condition on the server at the moment of the kill: still a client backend (never a
// walsender, an autovacuum worker or another background process), not this backend,
// in the chosen state, with a transaction at least this old, waiting for nothing,
// and still blocking somebody (pg_blocking_pids lists it for some waiter).
// pg_terminate_backend(pid, timeout) (14+) waits up to `timeout` ms for the backend
// to exit, so "terminated" means gone, not merely signalled:
// https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
// Names are schema-qualified: this runs outside the snapshot's pinned search_path, and a
// search_path set on the database must not be able to shadow them.
export const TERMINATE_ROOT_BLOCKER_SQL = `
SELECT a.pid, pg_catalog.pg_terminate_backend(a.pid, $4::int8) AS terminated
  FROM pg_catalog.pg_stat_activity a
 WHERE a.pid = $1::int
   AND a.pid <> pg_catalog.pg_backend_pid()
   AND a.backend_type = 'client backend'
   AND ($2::text = 'all' OR a.state LIKE 'idle%')
   AND pg_catalog.statement_timestamp() - a.xact_start >= pg_catalog.make_interval(secs => $3::float8)
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_locks own WHERE own.pid = a.pid AND NOT own.granted)
   AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks w
                WHERE NOT w.granted AND w.pid IS NOT NULL AND a.pid = ANY (pg_catalog.pg_blocking_pids(w.pid)))`;

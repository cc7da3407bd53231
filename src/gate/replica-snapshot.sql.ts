// The one read a --replica-url standby gets, inside a read-only transaction on it.
//
// The standby's own view of replay (https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-CONTROL):
// pg_get_wal_replay_pause_state() (14+) says whether someone paused replay;
// pg_last_wal_receive_lsn() - pg_last_wal_replay_lsn() is WAL received and not yet
// replayed; pg_last_xact_replay_timestamp() is the commit time of the last replayed
// transaction (NULL after a restart until one is replayed). The settings that decide what
// happens to a query the replayed ACCESS EXCLUSIVE lock conflicts with:
// max_standby_streaming_delay / max_standby_archive_delay (milliseconds, -1 = wait for it)
// and hot_standby_feedback (https://www.postgresql.org/docs/current/hot-standby.html#HOT-STANDBY-CONFLICT).
// Sessions: every lock on a target relation ($1, the primary's oids, which a physical
// standby shares), with the holder's activity. Nothing here opens a user table.
export const REPLICA_SQL = `
WITH db AS (
  SELECT oid FROM pg_database WHERE datname = current_database()
), sessions AS (
  SELECT l.pid, l.relation::int8 AS relation, l.mode, l.granted,
         a.usename AS "user", a.application_name AS application,
         CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) || ':' || a.client_port
              WHEN a.client_port = -1 THEN 'local' END AS client,
         a.backend_type, a.state, left(a.query, 2000) AS query,
         CASE WHEN a.xact_start IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - a.xact_start), 0)::float8 END AS xact_age_seconds,
         CASE WHEN a.query_start IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - a.query_start), 0)::float8 END AS query_age_seconds,
         a.query = '<insufficient privilege>' AS hidden
    FROM pg_locks l
    LEFT JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'relation' AND l.relation = ANY ($1::oid[]) AND l.database = (SELECT oid FROM db)
     AND l.pid IS DISTINCT FROM pg_backend_pid()
)
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       current_database() AS database,
       pg_is_in_recovery() AS in_recovery,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       (r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) AS can_read_all_stats,
       (SELECT setting::int8 FROM pg_settings WHERE name = 'max_standby_streaming_delay') AS streaming_delay_ms,
       (SELECT setting::int8 FROM pg_settings WHERE name = 'max_standby_archive_delay') AS archive_delay_ms,
       current_setting('hot_standby_feedback')::bool AS hot_standby_feedback,
       CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS pause_state,
       (SELECT w.status FROM pg_stat_wal_receiver w LIMIT 1) AS receiver_status,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS unreplayed_bytes,
       EXTRACT(EPOCH FROM statement_timestamp() - pg_last_xact_replay_timestamp())::float8 AS last_replay_age_seconds,
       (SELECT COALESCE(json_agg(sessions), '[]') FROM sessions) AS sessions
  FROM pg_roles r
 WHERE r.rolname = current_user`;

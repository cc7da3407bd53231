// Replica lag as the primary sees it (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-REPLICATION-VIEW).
//
// Byte lag is measured against the primary's current WAL position and is exact; NULL
// means the standby has not reported a replay position (or the role lacks pg_monitor:
// then state is NULL too). replay_lag is NULL when the standby is idle and caught up and
// stays stale for a while after it catches up (../shared/postgres-facts.md), so the
// evaluation in replicas.ts never reads a NULL as zero and never trusts a time lag
// when no bytes are outstanding. A logical walsender always streams from a slot, so the
// slot's type tells it apart from a physical standby; a walsender without a slot is physical.
export const REPLICAS_SQL = `
SELECT r.pid,
       r.application_name AS application,
       pg_catalog.host(r.client_addr) AS client,
       r.state,
       r.sync_state,
       s.slot_name AS slot,
       COALESCE(s.slot_type, 'physical') AS kind,
       pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), r.replay_lsn)::float8 AS replay_lag_bytes,
       EXTRACT(EPOCH FROM r.replay_lag)::float8 AS replay_lag_seconds
  FROM pg_catalog.pg_stat_replication r
  LEFT JOIN pg_catalog.pg_replication_slots s ON s.active_pid = r.pid
 ORDER BY r.application_name, r.pid`;

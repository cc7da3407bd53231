import type { Finding, Remediation } from '../src/core/types.js';
import { formatBytes, formatDuration } from '../src/core/units.js';
import { defineCheck, statusOf, type CheckQuery } from './types.js';

type Option = 'bytesWarn' | 'bytesFail' | 'timeWarn' | 'timeFail';

/**
 * Byte lag is measured against the primary's current WAL position: it is exact, while
 * replay_lag is NULL on an idle caught-up standby and stays stale for a while after it
 * catches up (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-REPLICATION-VIEW).
 * Without pg_monitor the rows are visible but state and every *_lsn/*_lag are NULL.
 */
export const REPLICAS_SQL = `
SELECT pid, usename AS "user", application_name AS application,
       host(client_addr) AS client, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::float8 AS replay_lag_bytes,
       EXTRACT(EPOCH FROM replay_lag)::float8 AS replay_lag_seconds,
       pg_wal_lsn_diff(flush_lsn, replay_lsn)::float8 AS unreplayed_bytes
  FROM pg_stat_replication
 ORDER BY pid`;

/** Slots hold WAL from restart_lsn; an inactive one keeps it forever (https://www.postgresql.org/docs/current/view-pg-replication-slots.html). */
export const SLOTS_SQL = `
SELECT slot_name, slot_type, database, active, wal_status,
       pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained_bytes
  FROM pg_replication_slots
 ORDER BY slot_name`;

export const queries: readonly CheckQuery[] = [
  { name: 'replicas', sql: REPLICAS_SQL },
  { name: 'replicationSlots', sql: SLOTS_SQL },
];

interface ReplicaRow {
  pid: number;
  user: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  sync_state: string | null;
  replay_lag_bytes: number | null;
  replay_lag_seconds: number | null;
  /** WAL the standby has received and flushed but not replayed. */
  unreplayed_bytes: number | null;
}

interface SlotRow {
  slot_name: string;
  slot_type: string;
  database: string | null;
  active: boolean;
  wal_status: string | null;
  retained_bytes: number | null;
}

/**
 * What to do about an inactive slot: find its consumer first. Dropping it is never offered
 * as a fix: a dropped slot cannot be recreated at the same position, so a subscriber
 * loses every change it has not applied and needs a full resync, and a standby must be
 * cloned again. Whether its consumer is gone for good is something only a person can know.
 */
function slotRemediation(slot: SlotRow): Remediation {
  const name = `'${slot.slot_name.replace(/'/g, "''")}'`;
  if (slot.slot_type === 'logical') {
    return {
      sql: `SELECT slot_name, plugin, database, confirmed_flush_lsn, wal_status FROM pg_replication_slots WHERE slot_name = ${name};`,
      note: `read-only. Find its consumer first: a subscription (on the subscriber, SELECT subname, subenabled FROM pg_subscription WHERE subslotname = ${name}) or a change-data-capture connector, and why it stopped (the subscriber's log, pg_stat_subscription_stats). Do not drop the slot while that consumer may come back: it would lose every change it has not applied and need a full resync`,
    };
  }
  return {
    sql: `SELECT slot_name, restart_lsn, wal_status, safe_wal_size FROM pg_replication_slots WHERE slot_name = ${name};`,
    note: `read-only. Find the standby whose primary_slot_name is ${name} and why it is disconnected. Do not drop the slot while it may come back: it would have to be cloned again from a new base backup`,
  };
}

export default defineCheck<Option>({
  id: 'replication-lag',
  title: 'Replication lag',
  why: 'A migration writes WAL that every replica must replay; a replica already behind falls further behind, and reads served from it go stale. Inactive replication slots keep WAL on the primary\'s disk.',
  privileges: 'pg_monitor to see replica state and WAL positions',
  options: {
    bytesWarn: { kind: 'size', atMost: 'bytesFail', default: '10MB', flag: 'lag-bytes-warn', description: 'warn at this much replay lag' },
    bytesFail: { kind: 'size', default: '100MB', flag: 'lag-bytes-fail', description: 'fail at this much replay lag' },
    timeWarn: { kind: 'duration', atMost: 'timeFail', default: '10s', flag: 'lag-time-warn', description: 'warn at this replay lag in time' },
    timeFail: { kind: 'duration', default: '60s', flag: 'lag-time-fail', description: 'fail at this replay lag in time' },
  },
  queries,
  evaluate(snapshot, { options }) {
    const replicas = (snapshot.extra.replicas ?? []) as unknown as ReplicaRow[];
    const slots = (snapshot.extra.replicationSlots ?? []) as unknown as SlotRow[];
    const findings: Finding[] = [];
    for (const r of replicas) {
      const name = r.application || `pid ${r.pid}`;
      const base = { pid: r.pid, user: r.user, application: r.application, client: r.client, state: r.state };
      if (r.state === null) {
        findings.push({ kind: 'replica-hidden', severity: 'error', ...base, message: `replica ${name}: state and lag are hidden from the checker; grant it pg_monitor (GRANT pg_monitor TO <role>)` });
        continue;
      }
      const bytes = r.replay_lag_bytes;
      // replay_lag lingers after a standby catches up; with no bytes outstanding it is stale.
      const seconds = bytes === 0 ? 0 : r.replay_lag_seconds;
      const details = { replayLagBytes: bytes, replayLagSeconds: seconds, syncState: r.sync_state, unreplayedBytes: r.unreplayed_bytes };
      let severity: Finding['severity'] = 'info';
      const reasons: string[] = [];
      const over = (value: number | null, limit: number | null): boolean => value !== null && limit !== null && value >= limit;
      if (over(bytes, options.bytesFail) || over(seconds === null ? null : seconds * 1000, options.timeFail)) severity = 'fail';
      else if (over(bytes, options.bytesWarn) || over(seconds === null ? null : seconds * 1000, options.timeWarn)) severity = 'warn';
      // Replay stuck while WAL still arrives: the standby holds what it has not replayed
      // (paused with pg_wal_replay_pause(), or held back by conflicting standby queries), and
      // every record the migration writes will wait there too. That is known within one look.
      const stalled = r.unreplayed_bytes !== null && options.bytesWarn !== null && r.unreplayed_bytes >= options.bytesWarn && seconds !== null && options.timeWarn !== null && seconds * 1000 >= options.timeWarn;
      if (stalled) {
        severity = 'fail';
        reasons.push(`replay is stalled: it received ${formatBytes(r.unreplayed_bytes ?? 0)} it has not replayed; replay may be paused. On the standby: SELECT pg_is_wal_replay_paused(); if true, SELECT pg_wal_replay_resume(); else look for queries holding replay back (max_standby_streaming_delay)`);
      }
      if (r.state !== 'streaming') {
        reasons.push(`state is ${r.state}, not streaming`);
        if (severity === 'info') severity = 'warn';
      }
      if (bytes === null && r.state === 'streaming') {
        reasons.push('no replay position reported yet');
        if (severity === 'info') severity = 'warn';
      }
      findings.push({
        kind: 'replica', severity, ...base, ageSeconds: seconds,
        message: `replica ${name} (${r.sync_state ?? 'async'}): replay lag ${bytes === null ? 'unknown' : formatBytes(bytes)}${seconds === null ? '' : `, ${formatDuration(seconds * 1000)}`}${reasons.length ? `; ${reasons.join('; ')}` : ''}`,
        remediation: stalled ? { sql: 'SELECT pg_wal_replay_resume();', note: 'run on the standby when SELECT pg_is_wal_replay_paused() there says t; otherwise cancel the standby queries that hold replay back' } : undefined,
        details: { ...details, replayStalled: stalled },
      });
    }
    for (const slot of slots) {
      if (slot.active) continue;
      findings.push({
        kind: 'inactive-slot', severity: 'warn',
        message: `replication slot ${slot.slot_name} (${slot.slot_type}${slot.database ? `, database ${slot.database}` : ''}) is inactive and retains ${slot.retained_bytes === null ? 'an unknown amount of' : formatBytes(slot.retained_bytes)} WAL${slot.wal_status ? ` (wal_status ${slot.wal_status})` : ''}`,
        remediation: slotRemediation(slot),
        details: { slot: slot.slot_name, retainedBytes: slot.retained_bytes, walStatus: slot.wal_status },
      });
    }
    const status = statusOf(findings);
    const replicaFindings = findings.filter((f) => f.kind === 'replica');
    const worstLag = Math.max(0, ...replicaFindings.map((f) => Number(f.details?.replayLagBytes ?? 0)));
    const parts: string[] = [];
    parts.push(replicas.length === 0 ? 'no streaming replicas' : `${replicas.length} replica(s), worst replay lag ${formatBytes(worstLag)}`);
    const inactive = findings.filter((f) => f.kind === 'inactive-slot').length;
    if (inactive > 0) parts.push(`${inactive} inactive slot(s) retaining WAL`);
    if (findings.some((f) => f.kind === 'replica-hidden')) parts.push('replica details hidden: grant pg_monitor');
    return { status, summary: parts.join('; '), findings };
  },
});

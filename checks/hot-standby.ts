// Hot standbys replay the migration's ACCESS EXCLUSIVE lock (the only lock mode written
// to WAL). A query on a standby that reads the table conflicts with it: replay waits for
// the query up to max_standby_streaming_delay (max_standby_archive_delay when the standby
// reads WAL from an archive), then cancels it; with -1 replay waits as long as the query
// runs, and the whole standby falls behind. hot_standby_feedback does not help here: it
// prevents cancellations caused by VACUUM cleanup, not by locks.
// https://www.postgresql.org/docs/current/hot-standby.html#HOT-STANDBY-CONFLICT
//
// The primary cannot see a standby's sessions: this check reads the standbys given with
// --replica-url (each its own read-only look, src/gate/replica-snapshot.ts), and their own
// view of replay, where "replay is paused" is named as such.
import type { Finding, ReplicaInfo, ReplicaSession, ReplicaSnapshot, Severity, Target } from '../src/core/types.js';
import { formatBytes, formatDuration } from '../src/core/units.js';
import { defineCheck, statusOf, type CheckQuery } from './types.js';

type Option = 'queryWarn' | 'queryFail' | 'lagWarn' | 'lagFail';

/** Physical standbys streaming from this server (a logical walsender is an active logical slot's). */
export const PHYSICAL_STANDBYS_SQL = `
SELECT count(*)::int AS standbys
  FROM pg_stat_replication r
 WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')`;

/** The primary's system identifier, which every physical standby of it shares. */
export const SYSTEM_IDENTIFIER_SQL = 'SELECT system_identifier::text AS system_identifier FROM pg_control_system()';

export const queries: readonly CheckQuery[] = [
  { name: 'physical-standbys', sql: PHYSICAL_STANDBYS_SQL },
  { name: 'system-identifier', sql: SYSTEM_IDENTIFIER_SQL },
];

const READER_TYPES = new Set(['client backend', 'parallel worker']);

function delaySetting(info: ReplicaInfo): { name: string; ms: number } {
  return info.streaming === false
    ? { name: 'max_standby_archive_delay', ms: info.maxStandbyArchiveDelayMs }
    : { name: 'max_standby_streaming_delay', ms: info.maxStandbyStreamingDelayMs };
}

function fate(info: ReplicaInfo): string {
  const delay = delaySetting(info);
  const feedback = `hot_standby_feedback = ${info.hotStandbyFeedback ? 'on' : 'off'} does not change that (it prevents cancellations caused by VACUUM cleanup, not by locks)`;
  if (delay.ms < 0) {
    return `with ${delay.name} = -1 the standby waits for it: replay of everything stops until it ends, and the standby falls behind; ${feedback}`;
  }
  return `with ${delay.name} = ${formatDuration(delay.ms)} the standby waits up to that long (counted from when it received the WAL), then cancels it and every other query on the table; ${feedback}`;
}

/** One entry per session, keeping its lock on the table itself over one on an index. */
function readersOf(replica: ReplicaSnapshot, target: Target): { session: ReplicaSession; relation: string }[] {
  const relations = new Map(target.relations.map((r) => [r.oid, r]));
  const byPid = new Map<number, { session: ReplicaSession; relation: string; table: boolean }>();
  for (const session of replica.sessions) {
    const relation = relations.get(session.relation);
    if (!relation) continue;
    if (!session.hidden && !READER_TYPES.has(session.backendType ?? '')) continue;
    const table = relation.kind !== 'index' && relation.kind !== 'toast';
    const current = byPid.get(session.pid);
    if (!current || (table && !current.table)) byPid.set(session.pid, { session, relation: relation.name, table });
  }
  return [...byPid.values()];
}

export default defineCheck<Option>({
  id: 'hot-standby',
  title: 'Hot-standby readers',
  why: 'Standbys replay the migration\'s ACCESS EXCLUSIVE lock: a long query reading the table there is cancelled, or stalls replay for the whole standby, depending on its max_standby_streaming_delay.',
  privileges: 'on each --replica-url standby: pg_monitor to see other roles\' sessions (read-only; nothing is written)',
  options: {
    queryWarn: { kind: 'duration', atMost: 'queryFail', default: '1s', flag: 'standby-query-warn', description: 'warn when a session on a --replica-url standby has been reading the table this long' },
    queryFail: { kind: 'duration', default: '60s', flag: 'standby-query-fail', description: 'fail when it has read the table this long and the standby would hold replay for at least as long' },
    lagWarn: { kind: 'duration', atMost: 'lagFail', default: '10s', flag: 'standby-lag-warn', description: 'warn when a standby\'s own view shows replay this far behind' },
    lagFail: { kind: 'duration', default: '60s', flag: 'standby-lag-fail', description: 'fail when a standby\'s own view shows replay this far behind' },
  },
  queries,
  usesReplicas: true,
  evaluate(snapshot, { options, optionsFor }) {
    const replicas = snapshot.replicas;
    if (!replicas) {
      const streaming = Number((snapshot.extra['physical-standbys'] ?? [])[0]?.standbys ?? 0);
      return {
        status: 'skip',
        summary: streaming > 0 ? `${streaming} standby(s) stream from this server; their readers were not checked: pass --replica-url` : 'no --replica-url given',
        findings: [],
      };
    }
    const primaryId = (snapshot.extra['system-identifier'] ?? [])[0]?.system_identifier;
    const exclusive = snapshot.targets.filter((t) => t.lockMode === 'AccessExclusiveLock');
    const findings: Finding[] = [];
    let readers = 0;
    for (const replica of replicas) {
      const name = replica.display;
      const info = replica.info;
      if (replica.error !== null || info === null) {
        findings.push({ kind: 'standby-unreachable', severity: 'error', message: replica.error ?? `standby ${name} could not be read`, details: { standby: name } });
        continue;
      }
      const refuse = !info.inRecovery
        ? `${name} is not a standby (not in recovery): --replica-url takes a hot standby of the primary being checked`
        : primaryId !== undefined && info.systemIdentifier !== null && String(primaryId) !== info.systemIdentifier
          ? `${name} is a standby of another cluster (system identifier ${info.systemIdentifier}, this primary's is ${String(primaryId)}): --replica-url takes a standby of the primary being checked`
          : info.database !== snapshot.server.database
            ? `${name} is connected to database ${info.database}, but the tables are checked in ${snapshot.server.database}: point --replica-url at database ${snapshot.server.database} on that standby`
            : null;
      if (refuse) {
        findings.push({ kind: 'standby-mismatch', severity: 'error', message: refuse, details: { standby: name } });
        continue;
      }

      // Replay, from the standby's own view.
      const paused = info.pauseState === 'paused' || info.pauseState === 'pause requested';
      const lagSeconds = info.unreplayedBytes === null ? null : info.unreplayedBytes > 0 ? info.lastReplayAgeSeconds : 0;
      const over = (limit: number | null): boolean => limit !== null && lagSeconds !== null && lagSeconds * 1000 >= limit;
      const lagSeverity: Severity = over(options.lagFail) ? 'fail' : over(options.lagWarn) ? 'warn' : 'info';
      const delay = delaySetting(info);
      const replayText = `${info.unreplayedBytes === null ? 'received WAL unknown' : `${formatBytes(info.unreplayedBytes)} received and not yet replayed`}${
        lagSeconds === null || lagSeconds === 0 ? '' : `, last replayed commit ${formatDuration(lagSeconds * 1000)} ago`
      }`;
      const details = {
        standby: name,
        pauseState: info.pauseState,
        unreplayedBytes: info.unreplayedBytes,
        replayLagSeconds: lagSeconds,
        maxStandbyStreamingDelayMs: info.maxStandbyStreamingDelayMs,
        maxStandbyArchiveDelayMs: info.maxStandbyArchiveDelayMs,
        hotStandbyFeedback: info.hotStandbyFeedback,
        streaming: info.streaming,
      };
      if (paused) {
        findings.push({
          kind: 'replay-paused', severity: lagSeverity === 'fail' ? 'fail' : 'warn',
          message: `replay is ${info.pauseState === 'paused' ? 'paused' : 'being paused (pause requested)'} on standby ${name}: it receives the migration but does not apply it, and its reads stay stale (${replayText}) until someone who paused it on purpose runs SELECT pg_wal_replay_resume() there`,
          details,
        });
      } else {
        findings.push({
          kind: 'standby', severity: lagSeverity,
          message: `standby ${name} (PostgreSQL ${info.version}): ${replayText}; ${delay.name} = ${delay.ms < 0 ? '-1' : formatDuration(delay.ms)}, hot_standby_feedback = ${info.hotStandbyFeedback ? 'on' : 'off'}${
            lagSeverity === 'info' ? '' : `; replay is behind by at least --standby-lag-${lagSeverity}`
          }`,
          details,
        });
      }

      // Readers of the targets: only an ACCESS EXCLUSIVE lock is replayed.
      for (const target of exclusive) {
        const limits = optionsFor(target);
        for (const { session: s, relation } of readersOf(replica, target)) {
          readers += 1;
          const base = { target: target.qualifiedName, pid: s.pid, user: s.user, application: s.application, client: s.client, state: s.state, query: s.query, lockMode: s.mode, granted: s.granted, relation };
          if (s.hidden) {
            findings.push({
              ...base, kind: 'standby-reader-hidden', severity: 'error',
              message: `on standby ${name}, pid ${s.pid} (role ${s.user ?? '?'}) ${s.granted ? 'holds' : 'awaits'} ${s.mode} on ${relation}, and the checker cannot see for how long: grant pg_monitor to the role --replica-url connects as`,
              details: { standby: name },
            });
            continue;
          }
          const seconds = s.xactAgeSeconds ?? s.queryAgeSeconds ?? 0;
          const ms = seconds * 1000;
          const stallBound = delay.ms < 0 ? Number.POSITIVE_INFINITY : delay.ms;
          const severity: Severity =
            limits.queryFail !== null && ms >= limits.queryFail && stallBound >= limits.queryFail ? 'fail' : limits.queryWarn !== null && ms >= limits.queryWarn ? 'warn' : 'info';
          findings.push({
            ...base, kind: 'standby-reader', severity, ageSeconds: seconds,
            message: `on standby ${name}, pid ${s.pid} (${[s.user, s.application].filter(Boolean).join(', ')}${s.state ? `, ${s.state}` : ''}) has ${s.granted ? 'held' : 'awaited'} ${s.mode} on ${relation} for ${formatDuration(ms)}: the migration's ACCESS EXCLUSIVE lock on ${target.qualifiedName} conflicts with it when the standby replays it; ${fate(info)}`,
            details: { standby: name, maxStandbyStreamingDelayMs: info.maxStandbyStreamingDelayMs, maxStandbyArchiveDelayMs: info.maxStandbyArchiveDelayMs, hotStandbyFeedback: info.hotStandbyFeedback, delaySetting: delay.name },
          });
        }
      }
    }
    const status = statusOf(findings);
    const parts = [`${replicas.length} standby(s) checked`];
    const paused = findings.filter((f) => f.kind === 'replay-paused').length;
    if (paused > 0) parts.push(`replay paused on ${paused}`);
    if (readers > 0) parts.push(`${readers} session(s) reading the target on standbys`);
    if (exclusive.length === 0 && snapshot.targets.length > 0) parts.push('the migration\'s locks are not replayed on standbys (only ACCESS EXCLUSIVE is)');
    const errors = findings.filter((f) => f.severity === 'error').length;
    if (errors > 0) parts.push(`${errors} could not be checked`);
    return { status, summary: parts.join('; '), findings };
  },
});

import type { Finding, Session } from '../src/core/types.js';
import { formatDuration } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';
import { age, byHolder, holderState, isClientWork, locksOnTarget, pgMonitorHint, remediationFor, sessionFields } from './support.js';

/** One finding for every long statement elsewhere: a busy reporting replica's 50 queries are one fact. */
function elsewhereFinding(sessions: readonly Session[], limitMs: number): Finding {
  const sorted = [...sessions].sort((a, b) => (b.queryAgeSeconds ?? 0) - (a.queryAgeSeconds ?? 0));
  const oldest = sorted[0] as Session;
  const seconds = oldest.queryAgeSeconds ?? 0;
  const shown = sorted.slice(0, 10).map((s) => s.pid);
  return {
    kind: 'long-query-elsewhere', severity: 'warn',
    message:
      sorted.length === 1
        ? `pid ${oldest.pid} has run a statement for ${age(seconds)} (not on the target; it holds a snapshot and may reach the table later)`
        : `${sorted.length} statements elsewhere have run for over ${formatDuration(limitMs)} (not on the target; they hold snapshots and may reach the table later); the oldest: pid ${oldest.pid}, ${age(seconds)}`,
    ...sessionFields(oldest, oldest.pid), ageSeconds: seconds, remediation: remediationFor(oldest),
    details: { sessions: sorted.length, pids: `${shown.join(', ')}${sorted.length > shown.length ? ', ...' : ''}` },
  };
}

type Option = 'warn' | 'fail' | 'elsewhere';

export default defineCheck<Option>({
  id: 'long-running-queries',
  title: 'Long-running queries',
  why: 'A statement that holds or awaits a conflicting lock on the table makes the migration wait, and every query that arrives after the migration queues behind it.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see the state and start time of other roles\' statements',
  options: {
    warn: { kind: 'duration', atMost: 'fail', default: '1s', flag: 'long-query-warn', description: 'warn when a statement holding or awaiting a conflicting lock on the table has run this long' },
    fail: { kind: 'duration', default: '2s', flag: 'long-query-fail', description: 'fail when a statement holding or awaiting a conflicting lock on the table has run this long' },
    elsewhere: { kind: 'duration', default: '30s', flag: 'long-query-elsewhere', description: 'warn (never fail; one finding for all of them) on statements elsewhere in the server running this long' },
  },
  evaluate(snapshot, { optionsFor, options }) {
    const findings: Finding[] = [];
    const onTarget = new Set<number>();
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      for (const entry of byHolder(locksOnTarget(snapshot, target))) {
        const s = entry.session;
        if (!entry.conflicting || !s || !isClientWork(s)) continue;
        if (holderState(s, snapshot.server) === 'hidden') {
          onTarget.add(s.pid);
          findings.push({
            kind: 'hidden-holder', severity: 'error', target: target.qualifiedName,
            message: `pid ${s.pid} (role ${s.user ?? '?'}) ${entry.lock.granted ? 'holds' : 'awaits'} ${entry.lock.mode} on ${entry.relation.name}; ${pgMonitorHint(snapshot.server.currentUser)}`,
            ...sessionFields(s, s.pid), lockMode: entry.lock.mode, granted: entry.lock.granted, relation: entry.relation.name,
          });
          continue;
        }
        if (s.state !== 'active') continue;
        onTarget.add(s.pid);
        const seconds = s.queryAgeSeconds ?? 0;
        const ms = seconds * 1000;
        const severity = limits.fail !== null && ms >= limits.fail ? 'fail' : limits.warn !== null && ms >= limits.warn ? 'warn' : 'info';
        findings.push({
          kind: 'long-query', severity, target: target.qualifiedName,
          message: `pid ${s.pid} has run a statement for ${age(seconds)} while it ${entry.lock.granted ? 'holds' : 'awaits'} ${entry.lock.mode} on ${entry.relation.name}`,
          ...sessionFields(s, s.pid), ageSeconds: seconds, lockMode: entry.lock.mode, granted: entry.lock.granted, relation: entry.relation.name,
          remediation: remediationFor(s),
        });
      }
    }
    if (options.elsewhere !== null) {
      const limit = options.elsewhere;
      const long = snapshot.sessions.filter((s) => !onTarget.has(s.pid) && !s.hidden && s.state === 'active' && s.backendType === 'client backend' && (s.queryAgeSeconds ?? 0) * 1000 >= limit);
      if (long.length > 0) findings.push(elsewhereFinding(long, limit));
    }
    const status = statusOf(findings);
    const worst = findings.filter((f) => f.kind === 'long-query' && f.severity !== 'info').length;
    const summary =
      status === 'pass'
        ? findings.length === 0 ? 'no statement holds or awaits a conflicting lock on the target' : `${findings.length} short statement(s) on the target, under the thresholds`
        : status === 'error'
          ? 'a statement on the target is hidden from the checker: grant pg_monitor'
          : worst > 0
            ? `${worst} statement(s) holding or awaiting a conflicting lock on the target past the threshold`
            : `${Number(findings.find((f) => f.kind === 'long-query-elsewhere')?.details?.sessions ?? 0)} long statement(s) elsewhere; the statements on the target are under the thresholds`;
    return { status, summary, findings };
  },
});

import type { Finding } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';
import { age, byHolder, isClientWork, locksOnTarget, PG_MONITOR_HINT, remediationFor, sessionFields } from './support.js';

type Option = 'warn' | 'fail' | 'elsewhere';

export default defineCheck<Option>({
  id: 'long-running-queries',
  title: 'Long-running queries',
  why: 'A statement that holds or awaits a conflicting lock on the table makes the migration wait, and every query that arrives after the migration queues behind it.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see the state and start time of other roles\' statements',
  options: {
    warn: { kind: 'duration', atMost: 'fail', default: '1s', flag: 'long-query-warn', description: 'warn when a statement holding or awaiting a conflicting lock on the table has run this long' },
    fail: { kind: 'duration', default: '5s', flag: 'long-query-fail', description: 'fail when a statement holding or awaiting a conflicting lock on the table has run this long' },
    elsewhere: { kind: 'duration', default: '30s', flag: 'long-query-elsewhere', description: 'warn (never fail) on statements elsewhere in the server running this long' },
  },
  evaluate(snapshot, { optionsFor, options }) {
    const findings: Finding[] = [];
    const onTarget = new Set<number>();
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      for (const entry of byHolder(locksOnTarget(snapshot, target))) {
        const s = entry.session;
        if (!entry.conflicting || !s || !isClientWork(s)) continue;
        if (s.hidden) {
          onTarget.add(s.pid);
          findings.push({
            kind: 'hidden-holder', severity: 'error', target: target.qualifiedName,
            message: `pid ${s.pid} (role ${s.user ?? '?'}) ${entry.lock.granted ? 'holds' : 'awaits'} ${entry.lock.mode} on ${entry.relation.name}; ${PG_MONITOR_HINT}`,
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
      for (const s of snapshot.sessions) {
        if (onTarget.has(s.pid) || s.hidden || s.state !== 'active' || s.backendType !== 'client backend') continue;
        const seconds = s.queryAgeSeconds ?? 0;
        if (seconds * 1000 < options.elsewhere) continue;
        findings.push({
          kind: 'long-query-elsewhere', severity: 'warn',
          message: `pid ${s.pid} has run a statement for ${age(seconds)} (not on the target; it holds a snapshot and may reach the table later)`,
          ...sessionFields(s, s.pid), ageSeconds: seconds, remediation: remediationFor(s),
        });
      }
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
            : `${findings.filter((f) => f.kind === 'long-query-elsewhere').length} long statement(s) elsewhere`;
    return { status, summary, findings };
  },
});

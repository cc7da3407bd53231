import type { Finding } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';
import { age, byHolder, isIdleInTransaction, locksOnTarget, remediationFor, sessionFields } from './support.js';

type Option = 'warn' | 'fail' | 'elsewhere';

export default defineCheck<Option>({
  id: 'idle-in-transaction',
  title: 'Idle in transaction',
  why: 'A session that ran BEGIN and then went quiet keeps its locks until it commits; a forgotten psql session on the table blocks the migration for as long as it stays open.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see other roles\' session states',
  options: {
    warn: { kind: 'duration', atMost: 'fail', default: '1s', flag: 'idle-warn', description: 'warn when a session idle in transaction holds a conflicting lock on the table and its transaction is this old' },
    fail: { kind: 'duration', default: '5s', flag: 'idle-fail', description: 'fail when a session idle in transaction holds a conflicting lock on the table and its transaction is this old' },
    elsewhere: { kind: 'duration', default: '30s', flag: 'idle-elsewhere', description: 'warn on other sessions idle in transaction this long' },
  },
  evaluate(snapshot, { optionsFor, options }) {
    const findings: Finding[] = [];
    const onTarget = new Set<number>();
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      for (const entry of byHolder(locksOnTarget(snapshot, target))) {
        const s = entry.session;
        if (!entry.conflicting || !entry.lock.granted || !s || !isIdleInTransaction(s)) continue;
        onTarget.add(s.pid);
        const seconds = s.xactAgeSeconds;
        const ms = (seconds ?? Number.POSITIVE_INFINITY) * 1000;
        const severity = limits.fail !== null && ms >= limits.fail ? 'fail' : limits.warn !== null && ms >= limits.warn ? 'warn' : 'info';
        findings.push({
          kind: 'idle-in-transaction', severity, target: target.qualifiedName,
          message: `pid ${s.pid} is ${s.state} for ${age(s.stateAgeSeconds)} (transaction open ${age(seconds)}) holding ${entry.lock.mode} on ${entry.relation.name}`,
          ...sessionFields(s, s.pid), ageSeconds: seconds, lockMode: entry.lock.mode, granted: true, relation: entry.relation.name,
          remediation: remediationFor(s),
        });
      }
    }
    if (options.elsewhere !== null) {
      for (const s of snapshot.sessions) {
        if (onTarget.has(s.pid) || !isIdleInTransaction(s)) continue;
        const seconds = s.xactAgeSeconds ?? s.stateAgeSeconds ?? 0;
        if (seconds * 1000 < options.elsewhere) continue;
        findings.push({
          kind: 'idle-in-transaction-elsewhere', severity: 'warn',
          message: `pid ${s.pid} has been ${s.state} for ${age(s.stateAgeSeconds)} (transaction open ${age(seconds)}), not holding a conflicting lock on the target`,
          ...sessionFields(s, s.pid), ageSeconds: seconds, remediation: remediationFor(s),
        });
      }
    }
    const status = statusOf(findings);
    const blocking = findings.filter((f) => f.kind === 'idle-in-transaction' && f.severity !== 'info').length;
    const summary =
      blocking > 0
        ? `${blocking} session(s) idle in transaction holding a conflicting lock on the target`
        : findings.some((f) => f.kind === 'idle-in-transaction-elsewhere')
          ? `${findings.filter((f) => f.kind === 'idle-in-transaction-elsewhere').length} session(s) idle in transaction elsewhere`
          : 'no session idle in transaction holds a conflicting lock on the target';
    return { status, summary, findings };
  },
});

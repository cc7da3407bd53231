import type { Finding, Session } from '../src/core/types.js';
import { formatDuration } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';
import { age, byHolder, isIdleInTransaction, locksOnTarget, remediationFor, sessionFields } from './support.js';

type Option = 'warn' | 'fail' | 'elsewhere';

/** How long the session has sat idle inside its transaction: since its last statement ended. */
function idleSeconds(s: Session): number | null {
  return s.stateAgeSeconds ?? s.xactAgeSeconds;
}

/** One finding for every session idle in transaction elsewhere: 300 of them are one fact, not 300. */
function elsewhereFinding(sessions: readonly Session[], limitMs: number): Finding {
  const sorted = [...sessions].sort((a, b) => (idleSeconds(b) ?? 0) - (idleSeconds(a) ?? 0));
  const oldest = sorted[0] as Session;
  const seconds = idleSeconds(oldest);
  if (sorted.length === 1) {
    return {
      kind: 'idle-in-transaction-elsewhere', severity: 'warn',
      message: `pid ${oldest.pid} has been ${oldest.state} for ${age(seconds)} (transaction open ${age(oldest.xactAgeSeconds)}), not holding a conflicting lock on the target`,
      ...sessionFields(oldest, oldest.pid), ageSeconds: seconds, remediation: remediationFor(oldest),
      details: { sessions: 1, pids: String(oldest.pid) },
    };
  }
  const shown = sorted.slice(0, 10).map((s) => s.pid);
  return {
    kind: 'idle-in-transaction-elsewhere', severity: 'warn',
    message: `${sorted.length} sessions have been idle in transaction for over ${formatDuration(limitMs)}, none holding a conflicting lock on the target; the oldest: pid ${oldest.pid} (${[oldest.user, oldest.application].filter(Boolean).join(', ')}), idle ${age(seconds)}`,
    ...sessionFields(oldest, oldest.pid), ageSeconds: seconds,
    remediation: {
      sql: "SELECT pid, usename, application_name, now() - state_change AS idle FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' ORDER BY state_change;",
      note: 'lists them, oldest first; an idle_in_transaction_session_timeout on their roles ends such sessions for good',
    },
    details: { sessions: sorted.length, pids: `${shown.join(', ')}${sorted.length > shown.length ? ', ...' : ''}` },
  };
}

export default defineCheck<Option>({
  id: 'idle-in-transaction',
  title: 'Idle in transaction',
  why: 'A session that ran BEGIN and then went quiet keeps its locks until it commits; a forgotten psql session on the table blocks the migration for as long as it stays open. An application between two statements of a transaction is idle for milliseconds; a forgotten one for as long as nobody looks.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see other roles\' session states',
  options: {
    warn: { kind: 'duration', atMost: 'fail', default: '500ms', flag: 'idle-warn', description: 'warn when a session holding a conflicting lock on the table has sat idle in its transaction this long' },
    fail: { kind: 'duration', default: '1s', flag: 'idle-fail', description: 'fail when a session holding a conflicting lock on the table has sat idle in its transaction this long' },
    elsewhere: { kind: 'duration', default: '30s', flag: 'idle-elsewhere', description: 'warn (one finding for all of them) on other sessions idle in transaction this long' },
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
        const seconds = idleSeconds(s);
        const ms = (seconds ?? Number.POSITIVE_INFINITY) * 1000;
        const severity = limits.fail !== null && ms >= limits.fail ? 'fail' : limits.warn !== null && ms >= limits.warn ? 'warn' : 'info';
        findings.push({
          kind: 'idle-in-transaction', severity, target: target.qualifiedName,
          message: `pid ${s.pid} is ${s.state} for ${age(seconds)} (transaction open ${age(s.xactAgeSeconds)}) holding ${entry.lock.mode} on ${entry.relation.name}`,
          ...sessionFields(s, s.pid), ageSeconds: seconds, lockMode: entry.lock.mode, granted: true, relation: entry.relation.name,
          remediation: remediationFor(s),
          details: { idleSeconds: seconds, transactionSeconds: s.xactAgeSeconds },
        });
      }
    }
    if (options.elsewhere !== null) {
      const limit = options.elsewhere;
      const stale = snapshot.sessions.filter((s) => !onTarget.has(s.pid) && isIdleInTransaction(s) && (idleSeconds(s) ?? 0) * 1000 >= limit);
      if (stale.length > 0) findings.push(elsewhereFinding(stale, limit));
    }
    const status = statusOf(findings);
    const held = findings.filter((f) => f.kind === 'idle-in-transaction');
    const blocking = held.filter((f) => f.severity !== 'info');
    const longest = Math.max(0, ...held.map((f) => f.ageSeconds ?? 0));
    const elsewhere = Number(findings.find((f) => f.kind === 'idle-in-transaction-elsewhere')?.details?.sessions ?? 0);
    const onTargetText =
      blocking.length > 0
        ? `${blocking.length} session(s) idle in transaction holding a conflicting lock on the target (idle up to ${age(longest)})`
        : held.length > 0
          ? `${held.length} session(s) idle in transaction holding a conflicting lock on the target, idle under the thresholds (up to ${age(longest)})`
          : 'no session idle in transaction holds a conflicting lock on the target';
    const summary = elsewhere > 0 ? `${onTargetText}; ${elsewhere} session(s) idle in transaction elsewhere` : onTargetText;
    return { status, summary, findings };
  },
});

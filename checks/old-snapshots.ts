// Old snapshots in the database. CREATE INDEX CONCURRENTLY (and REINDEX / DETACH
// PARTITION ... CONCURRENTLY) takes only ShareUpdateExclusiveLock, yet before it
// finishes it waits for every transaction in the same database holding a snapshot
// older than its own (backend_xmin set: a REPEATABLE READ or SERIALIZABLE transaction,
// a running statement), whatever table that transaction reads
// (../shared/postgres-facts.md, "What CREATE INDEX CONCURRENTLY waits for";
// https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY).
// Any migration meets them too as held-back VACUUM cleanup.
import type { Finding, Severity } from '../src/core/types.js';
import { formatCount, formatDuration } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';
import { age, pgMonitorHint, remediationFor, sessionFields } from './support.js';

// Every session holding a snapshot is non-idle, so the core snapshot already lists it,
// with age(backend_xmin): this check needs no query of its own.

type Option = 'concurrentFail' | 'warn';

export default defineCheck<Option>({
  id: 'old-snapshots',
  title: 'Old snapshots',
  why: 'CREATE INDEX CONCURRENTLY waits for every transaction in the database holding a snapshot older than its own, even one reading another table; with --concurrently, such a snapshot fails the gate. Long-held snapshots also stop VACUUM from cleaning up.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see how long other roles\' transactions have been open',
  options: {
    concurrentFail: { kind: 'duration', default: '5s', flag: 'snapshot-fail', description: 'with --concurrently: fail on a snapshot in the database held by a transaction open this long' },
    warn: { kind: 'duration', default: '5min', flag: 'snapshot-warn', description: 'without --concurrently: warn on a snapshot in the database held by a transaction open this long' },
  },
  evaluate(snapshot, { options, concurrently }) {
    const findings: Finding[] = [];
    const limit = concurrently ? options.concurrentFail : options.warn;
    const over: Severity = concurrently ? 'fail' : 'warn';
    for (const s of snapshot.sessions) {
      // A parallel worker shares its leader's snapshot; VACUUM's own xmin is ignored by CIC.
      if (s.backendXmin === null || s.database !== snapshot.server.database) continue;
      if ((s.leaderPid !== null && s.leaderPid !== s.pid) || s.backendType === 'autovacuum worker') continue;
      // The snapshot is at most as old as the transaction holding it. For a hidden session
      // xact_start is NULL, whatever the age column says; that only happens when the role
      // lacks pg_read_all_stats. A visible one with no transaction start holds no snapshot
      // of a transaction any more (it ended between the reads of the view's columns).
      const hidden = s.hidden && !snapshot.server.canReadAllStats;
      if (!hidden && s.xactAgeSeconds === null) continue;
      const seconds = hidden ? null : s.xactAgeSeconds;
      let severity: Severity;
      let note = '';
      if (seconds === null) {
        severity = concurrently ? 'error' : 'info';
        note = `; ${pgMonitorHint(snapshot.server.currentUser)}`;
      } else {
        severity = limit !== null && seconds * 1000 >= limit ? over : 'info';
      }
      const xids = s.xminAge;
      findings.push({
        kind: 'old-snapshot', severity,
        message: `pid ${s.pid} holds a snapshot (xmin ${s.backendXmin}${xids === null ? '' : `, ${formatCount(xids)} transactions old`}) in a transaction open ${age(seconds)}${s.state ? ` (${s.state})` : ''}${concurrently ? ': CREATE INDEX CONCURRENTLY would wait for it to end' : ''}${note}`,
        ...sessionFields(s, s.pid), ageSeconds: seconds,
        remediation: severity === 'info' ? undefined : remediationFor(s),
        details: { backendXmin: s.backendXmin, xminAge: xids, concurrently },
      });
    }
    // Without --concurrently an old snapshot anywhere is one fact about the database: many of
    // them make one finding, not one each.
    const old = findings.filter((f) => f.severity === 'warn');
    if (!concurrently && old.length > 1) {
      const sorted = old.sort((a, b) => (b.ageSeconds ?? 0) - (a.ageSeconds ?? 0));
      const oldest = sorted[0] as Finding;
      const shown = sorted.slice(0, 10).map((f) => f.pid);
      findings.splice(0, findings.length, ...findings.filter((f) => f.severity !== 'warn'), {
        ...oldest,
        message: `${old.length} sessions hold a snapshot in a transaction open over ${formatDuration(limit ?? 0)}; the oldest: ${oldest.message}`,
        details: { ...oldest.details, sessions: old.length, pids: `${shown.join(', ')}${old.length > shown.length ? ', ...' : ''}` },
      });
    }
    const status = statusOf(findings);
    const flagged = findings.filter((f) => f.severity !== 'info').reduce((n, f) => n + Number(f.details?.sessions ?? 1), 0);
    const summary =
      flagged > 0
        ? concurrently
          ? `${flagged} snapshot(s) in the database that CREATE INDEX CONCURRENTLY would wait for`
          : `${flagged} snapshot(s) held for over ${formatDuration(limit ?? 0)}`
        : findings.length > 0
          ? `${findings.length} snapshot(s) in the database, all young`
          : 'no other snapshots in the database';
    return { status, summary, findings };
  },
});

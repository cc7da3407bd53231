// Prepared transactions (two-phase commit) keep their locks after their session is
// gone: pg_locks shows them with pid NULL and pg_stat_activity has no row behind them
// (https://www.postgresql.org/docs/current/view-pg-prepared-xacts.html). They never
// time out, so one holding the table blocks the migration until someone decides.
// Everything needed is in the core snapshot (pg_prepared_xacts and pg_locks).
import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, PreparedTransaction } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';
import { age, locksOnTarget, remediationFor } from './support.js';

type Option = 'warn';

function preparedFields(p: PreparedTransaction): Partial<Finding> {
  return { pid: null, user: p.owner, ageSeconds: p.ageSeconds, remediation: remediationFor(undefined, p) };
}

export default defineCheck<Option>({
  id: 'prepared-transactions',
  title: 'Prepared transactions',
  why: 'A prepared transaction (PREPARE TRANSACTION) keeps its locks with no session behind it and never times out: one holding a conflicting lock on the table blocks the migration until someone runs COMMIT PREPARED or ROLLBACK PREPARED.',
  privileges: 'none (pg_prepared_xacts and pg_locks are visible to every role)',
  options: {
    warn: { kind: 'duration', default: '5min', flag: 'prepared-warn', description: 'warn on any prepared transaction in the server this old, even one not touching the table' },
  },
  evaluate(snapshot, { options, concurrently }) {
    const findings: Finding[] = [];
    const blaming = new Set<string>();
    for (const target of snapshot.targets) {
      const seen = new Set<string>();
      // The table's own lock first, so a transaction holding the table and its index is named by the table.
      for (const entry of locksOnTarget(snapshot, target).sort((a, b) => Number(b.relation.kind === 'table') - Number(a.relation.kind === 'table'))) {
        if (entry.lock.pid !== null || !entry.lock.granted) continue;
        // CREATE INDEX CONCURRENTLY also waits for transactions that wrote to the table
        // (a lock conflicting with ShareLock), prepared ones included.
        const blocks = entry.conflicting || (concurrently && conflicts(entry.lock.mode, 'ShareLock'));
        const key = entry.lock.virtualTransaction;
        if (!blocks || seen.has(key)) continue;
        seen.add(key);
        const p = entry.prepared;
        if (p) blaming.add(p.gid);
        findings.push({
          kind: 'prepared-transaction-lock', severity: 'fail', target: target.qualifiedName,
          message: p
            ? `prepared transaction '${p.gid}' (owner ${p.owner}, database ${p.database}, prepared ${age(p.ageSeconds)} ago) holds ${entry.lock.mode} on ${entry.relation.name}, which blocks the migration until it is committed or rolled back`
            : `a prepared transaction (virtual transaction ${key}) holds ${entry.lock.mode} on ${entry.relation.name}; it was not found in pg_prepared_xacts (it may just have finished)`,
          ...(p ? preparedFields(p) : { pid: null }),
          lockMode: entry.lock.mode, granted: true, relation: entry.relation.name,
          details: { gid: p?.gid ?? null, owner: p?.owner ?? null, database: p?.database ?? null, transactionId: p?.transactionId ?? null },
        });
      }
    }
    for (const p of snapshot.prepared) {
      if (blaming.has(p.gid)) continue;
      const old = options.warn !== null && p.ageSeconds * 1000 >= options.warn;
      findings.push({
        kind: 'prepared-transaction', severity: old ? 'warn' : 'info',
        message: `prepared transaction '${p.gid}' (owner ${p.owner}, database ${p.database}) has been prepared for ${age(p.ageSeconds)}${old ? ': it holds its locks and holds back VACUUM until it is committed or rolled back' : ''}`,
        ...preparedFields(p),
        details: { gid: p.gid, owner: p.owner, database: p.database, transactionId: p.transactionId },
      });
    }
    const status = statusOf(findings);
    const blocking = findings.filter((f) => f.kind === 'prepared-transaction-lock').length;
    const summary =
      blocking > 0
        ? `${blocking} prepared transaction(s) hold a conflicting lock on the target`
        : status === 'warn'
          ? `${findings.filter((f) => f.severity === 'warn').length} old prepared transaction(s) elsewhere`
          : snapshot.prepared.length > 0
            ? `${snapshot.prepared.length} prepared transaction(s), none on the target or old`
            : 'no prepared transactions';
    return { status, summary, findings };
  },
});

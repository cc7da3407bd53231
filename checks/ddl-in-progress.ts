// Another schema change already at work on the table: an index build, a CLUSTER or
// VACUUM FULL, or any session holding or awaiting a lock stronger than
// RowExclusiveLock (only DDL and maintenance commands take those: ordinary reads and
// writes never do, https://www.postgresql.org/docs/current/explicit-locking.html).
// Two migrations on one table serialize at best, and deadlock at worst.
import type { Finding } from '../src/core/types.js';
import { formatCount } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';
import { CLUSTER_PROGRESS_QUERY, tableRewriteFindings, VACUUM_PROGRESS_QUERY } from './autovacuum.js';
import { age, describeHolder, locksOnTarget, remediationFor, sessionFields, sessionsByPid, type TargetLock } from './support.js';

/**
 * CREATE INDEX [CONCURRENTLY] and REINDEX runs on the target's relations ($1).
 * https://www.postgresql.org/docs/current/progress-reporting.html#CREATE-INDEX-PROGRESS-REPORTING
 * index_relid::regclass of an index not yet visible to this snapshot prints its oid.
 */
export const CREATE_INDEX_PROGRESS_SQL = `
SELECT p.pid, p.relid::int8 AS relid, p.relid::regclass::text AS relation,
       CASE WHEN p.index_relid <> 0 THEN p.index_relid::regclass::text END AS index,
       p.command, p.phase, p.blocks_total::int8 AS blocks_total, p.blocks_done::int8 AS blocks_done,
       p.lockers_total::int8 AS lockers_total, p.lockers_done::int8 AS lockers_done, p.current_locker_pid
  FROM pg_stat_progress_create_index p
 WHERE p.relid = ANY($1::oid[]) AND p.datname = current_database()`;

/** Table lock modes that only DDL and maintenance commands take (LOCK TABLE aside). */
const DDL_MODES = new Set(['ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock']);

const num = (v: unknown): number => Number(v);

export default defineCheck<never>({
  id: 'ddl-in-progress',
  title: 'DDL already in progress',
  why: 'An index build, a CLUSTER or VACUUM FULL, or another migration already working on the table holds or awaits a strong lock: the migration would queue behind it (and everything after it behind the migration), or deadlock with it.',
  privileges: 'none to see the locks; pg_monitor (or pg_read_all_stats) to see other roles\' statements and progress',
  options: {},
  queries: [
    { name: 'create-index-progress', sql: CREATE_INDEX_PROGRESS_SQL, params: (context) => [context.relationOids] },
    CLUSTER_PROGRESS_QUERY,
    VACUUM_PROGRESS_QUERY,
  ],
  evaluate(snapshot) {
    const findings: Finding[] = [];
    const sessions = sessionsByPid(snapshot);
    const reported = new Set<number>();
    // A plain VACUUM also takes ShareUpdateExclusiveLock; the autovacuum check judges it.
    const vacuuming = new Set((snapshot.extra['vacuum-progress'] ?? []).map((r) => num(r.pid)));
    const targetOf = (oid: number) => snapshot.targets.find((t) => t.relations.some((r) => r.oid === oid));

    for (const row of snapshot.extra['create-index-progress'] ?? []) {
      const pid = num(row.pid);
      const target = targetOf(num(row.relid));
      if (!target || reported.has(pid)) continue;
      reported.add(pid);
      const s = sessions.get(pid);
      const total = Number(row.blocks_total ?? 0);
      const progress = total > 0 ? `, ${Math.round((100 * Number(row.blocks_done ?? 0)) / total)}% of ${formatCount(total)} blocks` : '';
      findings.push({
        kind: 'index-build', severity: 'fail', target: target.qualifiedName, relation: String(row.relation),
        message: `${String(row.command)} in pid ${pid}${row.index ? ` is building ${String(row.index)}` : ''} on ${String(row.relation)} (${String(row.phase)}${progress}), running ${age(s?.queryAgeSeconds)}`,
        ...sessionFields(s, pid), ageSeconds: s?.queryAgeSeconds ?? null, remediation: remediationFor(s),
        details: { command: String(row.command), phase: String(row.phase), index: row.index === null ? null : String(row.index) },
      });
    }
    findings.push(...tableRewriteFindings(snapshot, reported));
    for (const target of snapshot.targets) {
      // One entry per backend: its strongest DDL-class lock, the table's own first.
      const strongest = new Map<number, TargetLock>();
      for (const entry of locksOnTarget(snapshot, target)) {
        const pid = entry.lock.pid;
        // Prepared transactions are the prepared-transactions check's; autovacuum and VACUUM the autovacuum check's.
        if (pid === null || !DDL_MODES.has(entry.lock.mode) || reported.has(pid) || vacuuming.has(pid)) continue;
        if (entry.session?.backendType === 'autovacuum worker') continue;
        const current = strongest.get(pid);
        if (!current || (entry.relation.kind === 'table' && current.relation.kind !== 'table')) strongest.set(pid, entry);
      }
      for (const [pid, entry] of strongest) {
        reported.add(pid);
        const s = entry.session;
        findings.push({
          kind: 'ddl-lock', severity: 'fail', target: target.qualifiedName, relation: entry.relation.name,
          message: `${describeHolder(entry)} ${entry.lock.granted ? 'holds' : 'awaits'} ${entry.lock.mode} on ${entry.relation.name}${s?.query ? ` running: ${s.query.slice(0, 200)}` : ''}: another schema change or maintenance command is at work on the table (transaction open ${age(s?.xactAgeSeconds)})`,
          ...sessionFields(s, pid), ageSeconds: s?.xactAgeSeconds ?? null, lockMode: entry.lock.mode, granted: entry.lock.granted,
          remediation: remediationFor(s),
        });
      }
    }
    const status = statusOf(findings);
    return {
      status,
      summary: findings.length > 0 ? `${findings.length} schema change(s) or maintenance command(s) already at work on the target` : 'no DDL, index build or rewrite in progress on the target',
      findings,
    };
  },
});

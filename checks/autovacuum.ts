// Vacuum on the table: who runs it decides what the migration meets. An ordinary
// autovacuum yields to conflicting DDL (cancelled after deadlock_timeout); one running
// "to prevent wraparound" and a manual VACUUM do not, so the migration waits for them
// (../shared/postgres-facts.md, "Autovacuum and vacuum"). VACUUM FULL and CLUSTER
// rewrite the table under AccessExclusiveLock.
import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, Session, Severity, Snapshot, Target } from '../src/core/types.js';
import { formatCount } from '../src/core/units.js';
import { defineCheck, statusOf } from './types.js';
import { age, locksOnTarget, remediationFor, sessionFields, sessionsByPid } from './support.js';

type Option = 'wraparoundWarn';

/**
 * VACUUM runs on the target's relations (table, partitions, TOAST; $1), with progress.
 * https://www.postgresql.org/docs/current/progress-reporting.html#VACUUM-PROGRESS-REPORTING
 * PostgreSQL 18 replaced max_dead_tuples/num_dead_tuples with byte counts and added
 * indexes_total/indexes_processed, hence two texts. Other roles' rows show NULL relid
 * without pg_read_all_stats, so they drop out here (the lock-based view still sees them).
 */
export const VACUUM_PROGRESS_SQL = [
  {
    since: 140000,
    sql: `
SELECT v.pid, v.relid::int8 AS relid, v.relid::regclass::text AS relation, v.phase,
       v.heap_blks_total::int8 AS heap_blks_total, v.heap_blks_scanned::int8 AS heap_blks_scanned,
       v.index_vacuum_count::int8 AS index_vacuum_count, NULL::int8 AS indexes_total, NULL::int8 AS indexes_processed
  FROM pg_stat_progress_vacuum v
 WHERE v.relid = ANY($1::oid[]) AND v.datname = current_database()`,
  },
  {
    since: 180000,
    sql: `
SELECT v.pid, v.relid::int8 AS relid, v.relid::regclass::text AS relation, v.phase,
       v.heap_blks_total::int8 AS heap_blks_total, v.heap_blks_scanned::int8 AS heap_blks_scanned,
       v.index_vacuum_count::int8 AS index_vacuum_count, v.indexes_total::int8 AS indexes_total, v.indexes_processed::int8 AS indexes_processed
  FROM pg_stat_progress_vacuum v
 WHERE v.relid = ANY($1::oid[]) AND v.datname = current_database()`,
  },
] as const;

/**
 * CLUSTER and VACUUM FULL runs on the target ($1): they rewrite it under AccessExclusiveLock.
 * https://www.postgresql.org/docs/current/progress-reporting.html#CLUSTER-PROGRESS-REPORTING
 */
export const CLUSTER_PROGRESS_SQL = `
SELECT p.pid, p.relid::int8 AS relid, p.relid::regclass::text AS relation, p.command, p.phase,
       p.heap_blks_total::int8 AS heap_blks_total, p.heap_blks_scanned::int8 AS heap_blks_scanned
  FROM pg_stat_progress_cluster p
 WHERE p.relid = ANY($1::oid[]) AND p.datname = current_database()`;

/**
 * How close each heap of the target (table, partitions, TOAST; $1) is to a forced
 * anti-wraparound vacuum: age(relfrozenxid) against autovacuum_freeze_max_age, and
 * mxid_age(relminmxid) against autovacuum_multixact_freeze_max_age. A per-table
 * setting only ever lowers the server's (larger values are ignored), hence LEAST.
 * https://www.postgresql.org/docs/current/routine-vacuuming.html#VACUUM-FOR-WRAPAROUND
 * Reads pg_class only: never opens the table.
 */
export const FREEZE_AGE_SQL = `
SELECT c.oid::int8 AS oid, c.oid::regclass::text AS relation,
       age(c.relfrozenxid)::int8 AS xid_age,
       LEAST(current_setting('autovacuum_freeze_max_age')::int8,
             (SELECT substr(o, strpos(o, '=') + 1)::int8 FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_freeze_max_age=%')) AS freeze_max_age,
       mxid_age(c.relminmxid)::int8 AS mxid_age,
       LEAST(current_setting('autovacuum_multixact_freeze_max_age')::int8,
             (SELECT substr(o, strpos(o, '=') + 1)::int8 FROM unnest(c.reloptions) o WHERE o LIKE 'autovacuum_multixact_freeze_max_age=%')) AS multixact_freeze_max_age
  FROM pg_class c
 WHERE c.oid = ANY($1::oid[]) AND c.relkind IN ('r', 'm', 't') AND c.relfrozenxid::text <> '0'`;

const relationOids = (context: { relationOids: readonly number[] }): unknown[] => [context.relationOids];

export const VACUUM_PROGRESS_QUERY = { name: 'vacuum-progress', sql: VACUUM_PROGRESS_SQL, params: relationOids };
export const CLUSTER_PROGRESS_QUERY = { name: 'cluster-progress', sql: CLUSTER_PROGRESS_SQL, params: relationOids };

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function isAntiWraparound(session: Session | undefined): boolean {
  return /\(to prevent wraparound\)/.test(session?.query ?? '');
}

function progressOf(row: Record<string, unknown>): string {
  const total = numOrNull(row.heap_blks_total);
  const scanned = numOrNull(row.heap_blks_scanned);
  return total && scanned !== null ? `, ${Math.round((100 * scanned) / total)}% of ${formatCount(total)} blocks scanned` : '';
}

/**
 * A VACUUM FULL or CLUSTER on the target (pg_stat_progress_cluster): it rewrites the table
 * under AccessExclusiveLock. Both this check and ddl-in-progress report it, from this one
 * place; `reported` keeps a pid from being reported twice within one check.
 */
export function tableRewriteFindings(snapshot: Snapshot, reported: Set<number>): Finding[] {
  const sessions = sessionsByPid(snapshot);
  const findings: Finding[] = [];
  for (const row of snapshot.extra['cluster-progress'] ?? []) {
    const pid = num(row.pid);
    const target = snapshot.targets.find((t) => t.relations.some((r) => r.oid === num(row.relid)));
    if (!target || reported.has(pid)) continue;
    reported.add(pid);
    const s = sessions.get(pid);
    findings.push({
      kind: 'table-rewrite', severity: 'fail', target: target.qualifiedName, relation: String(row.relation),
      message: `${String(row.command)} in pid ${pid} is rewriting ${String(row.relation)} (${String(row.phase)}${progressOf(row)}) under AccessExclusiveLock, running ${age(s?.queryAgeSeconds)}: the migration and all traffic on the table wait for it`,
      ...sessionFields(s, pid), ageSeconds: s?.queryAgeSeconds ?? null, remediation: remediationFor(s),
      details: { command: String(row.command), phase: String(row.phase) },
    });
  }
  return findings;
}

export default defineCheck<Option>({
  id: 'autovacuum',
  title: 'Vacuum on the table',
  why: 'An ordinary autovacuum on the table is cancelled by the migration, but one running to prevent transaction-ID wraparound is not, nor is a manual VACUUM: the migration waits for it, with traffic queued behind. A table near autovacuum_freeze_max_age can start such a vacuum at any moment; VACUUM FULL and CLUSTER lock the table for their whole run.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see other roles\' vacuum progress and the autovacuum workers\' queries',
  options: {
    wraparoundWarn: { kind: 'count', percent: true, default: '90', flag: 'wraparound-warn', description: 'warn when the table\'s age(relfrozenxid) reaches this percentage of autovacuum_freeze_max_age (an anti-wraparound vacuum may start at any moment)' },
  },
  queries: [
    VACUUM_PROGRESS_QUERY,
    CLUSTER_PROGRESS_QUERY,
    { name: 'freeze-age', sql: FREEZE_AGE_SQL, params: relationOids },
  ],
  evaluate(snapshot, { options }) {
    const findings: Finding[] = [];
    const sessions = sessionsByPid(snapshot);
    const targetOf = (oid: number): Target | undefined => snapshot.targets.find((t) => t.relations.some((r) => r.oid === oid));
    const reported = new Set<number>();

    const vacuumFinding = (pid: number, target: Target, relation: string, progress: string, phase: string | null): void => {
      if (reported.has(pid)) return;
      reported.add(pid);
      const s = sessions.get(pid);
      const blocksMigration = conflicts('ShareUpdateExclusiveLock', target.lockMode);
      const autovacuum = s?.backendType === 'autovacuum worker';
      const wraparound = autovacuum && isAntiWraparound(s);
      let severity: Severity;
      let why: string;
      if (!blocksMigration) {
        severity = 'info';
        why = `its ShareUpdateExclusiveLock does not conflict with ${target.lockMode}`;
      } else if (wraparound) {
        severity = 'fail';
        why = 'an anti-wraparound autovacuum is not cancelled by DDL: the migration would wait until it finishes';
      } else if (autovacuum) {
        // Part of every healthy server's day, and no threat: conflicting DDL cancels it after
        // deadlock_timeout (1 s by default). Information, not a warning.
        severity = 'info';
        why = 'an ordinary autovacuum is cancelled by the migration after deadlock_timeout (the migration waits that long); it will run again later';
      } else {
        severity = 'fail';
        why = 'a manual VACUUM is not cancelled by DDL: the migration would wait until it finishes';
      }
      findings.push({
        kind: wraparound ? 'anti-wraparound-vacuum' : autovacuum ? 'autovacuum' : 'manual-vacuum',
        severity, target: target.qualifiedName, relation,
        message: `${autovacuum ? 'autovacuum worker' : 'VACUUM in'} pid ${pid} is ${phase ? `vacuuming ${relation} (${phase}${progress})` : `working on ${relation}${s?.query ? ` (${s.query})` : ''}`}, running ${age(s?.queryAgeSeconds)}: ${why}`,
        ...sessionFields(s, pid), ageSeconds: s?.queryAgeSeconds ?? null,
        remediation: severity === 'info' ? undefined : wraparound
          ? { sql: `SELECT phase, heap_blks_scanned, heap_blks_total FROM pg_stat_progress_vacuum WHERE pid = ${pid};`, note: 'wait for it to finish (watch its progress with this query): cancelling an anti-wraparound vacuum only postpones it, it restarts at once' }
          : remediationFor(s),
        details: { phase, antiWraparound: wraparound, conflicts: blocksMigration },
      });
    };

    for (const row of snapshot.extra['vacuum-progress'] ?? []) {
      const target = targetOf(num(row.relid));
      if (target) vacuumFinding(num(row.pid), target, String(row.relation), progressOf(row), String(row.phase));
    }
    // Workers the progress view hides from us (other roles) or that only ANALYZE still hold locks on the table.
    for (const target of snapshot.targets) {
      for (const entry of locksOnTarget(snapshot, target)) {
        if (entry.session?.backendType === 'autovacuum worker' && entry.lock.granted) vacuumFinding(entry.session.pid, target, entry.relation.name, '', null);
      }
    }
    findings.push(...tableRewriteFindings(snapshot, reported));

    const limitPercent = options.wraparoundWarn;
    for (const row of snapshot.extra['freeze-age'] ?? []) {
      const target = targetOf(num(row.oid));
      if (!target || limitPercent === null) continue;
      const xidAge = num(row.xid_age);
      const maxAge = num(row.freeze_max_age);
      const mxidAge = num(row.mxid_age);
      const mxidMax = num(row.multixact_freeze_max_age);
      const xidPercent = (100 * xidAge) / maxAge;
      const mxidPercent = (100 * mxidAge) / mxidMax;
      if (xidPercent < limitPercent && mxidPercent < limitPercent) continue;
      const byXid = xidPercent >= mxidPercent;
      const relation = String(row.relation);
      findings.push({
        kind: 'wraparound-near', severity: 'warn', target: target.qualifiedName, relation,
        message: byXid
          ? `${relation} has age(relfrozenxid) ${formatCount(xidAge)}, ${Math.floor(xidPercent)}% of its autovacuum_freeze_max_age ${formatCount(maxAge)}: an anti-wraparound vacuum, which DDL does not cancel, may start on it at any moment`
          : `${relation} has mxid_age(relminmxid) ${formatCount(mxidAge)}, ${Math.floor(mxidPercent)}% of its autovacuum_multixact_freeze_max_age ${formatCount(mxidMax)}: an anti-wraparound vacuum, which DDL does not cancel, may start on it at any moment`,
        remediation: { sql: `VACUUM (FREEZE, VERBOSE) ${relation};`, note: 'freezing the table yourself before the migration (ShareUpdateExclusiveLock, reads and writes continue) resets its age; run it outside the deploy window' },
        details: { xidAge, freezeMaxAge: maxAge, mxidAge, multixactFreezeMaxAge: mxidMax, percent: Math.floor(Math.max(xidPercent, mxidPercent)) },
      });
    }

    const status = statusOf(findings);
    const count = (kind: string): number => findings.filter((f) => f.kind === kind && f.severity !== 'info').length;
    const summary =
      count('anti-wraparound-vacuum') > 0
        ? 'an anti-wraparound autovacuum is running on the target: the migration would wait for it'
        : count('manual-vacuum') + count('table-rewrite') > 0
          ? 'a manual VACUUM, VACUUM FULL or CLUSTER is running on the target'
          : count('wraparound-near') > 0
            ? 'the target is close to a forced anti-wraparound vacuum'
            : findings.some((f) => f.kind === 'autovacuum' && f.details?.conflicts === true)
              ? 'an ordinary autovacuum is running on the target; the migration will cancel it after deadlock_timeout'
              : findings.length > 0
                ? 'vacuum activity on the target does not conflict with the migration'
                : `no vacuum running on the target; under ${limitPercent === null ? 'no' : `the ${limitPercent}%`} wraparound threshold`;
    return { status, summary, findings };
  },
});

// The blast radius of a lock wait, as a number: how many queries on the table would
// queue behind the migration while it waits up to its lock_timeout. The rate comes from
// the table's activity counters in pg_stat_user_tables, read without opening the table
// (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-TABLES-VIEW):
// by default their long-run average (since the statistics were reset, or the server
// started), or with --sample the current rate from two reads that far apart.
import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, Target } from '../src/core/types.js';
import { formatCount, formatDuration } from '../src/core/units.js';
import { defineCheck, resampledName, statusOf } from './types.js';

/**
 * Activity counters of the target's tables and partitions ($1), with when they were read
 * (clock_timestamp(), which moves within a transaction) and since when they count: the
 * database's stats_reset, else the server start (counters kept over a clean restart
 * can predate it, which makes the long-run rate an overestimate).
 */
export const TABLE_ACTIVITY_SQL = `
SELECT s.relid::int8 AS relid, s.relid::regclass::text AS relation,
       s.seq_scan::float8 AS seq_scan, COALESCE(s.idx_scan, 0)::float8 AS idx_scan,
       s.n_tup_ins::float8 AS n_tup_ins, s.n_tup_upd::float8 AS n_tup_upd, s.n_tup_del::float8 AS n_tup_del,
       EXTRACT(EPOCH FROM clock_timestamp())::float8 AS read_at,
       EXTRACT(EPOCH FROM COALESCE(d.stats_reset, pg_postmaster_start_time()))::float8 AS counting_since,
       d.stats_reset IS NOT NULL AS since_reset
  FROM pg_stat_user_tables s
 CROSS JOIN (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) d
 WHERE s.relid = ANY($1::oid[])`;

type Option = 'sample' | 'lockTimeout' | 'queuedWarn';
type Row = Record<string, unknown>;

interface Counters {
  /** Statements that read the table: sequential plus index scans (UPDATE and DELETE scan too). */
  scans: number;
  inserted: number;
  /** Rows written: inserted + updated + deleted. */
  written: number;
  readAt: number;
  since: number;
  sinceReset: boolean;
}

function countersOf(rows: readonly Row[], target: Target): Counters | undefined {
  const mine = rows.filter((r) => target.relations.some((rel) => rel.oid === Number(r.relid)));
  const first = mine[0];
  if (!first) return undefined;
  const sum = (key: string): number => mine.reduce((total, r) => total + Number(r[key] ?? 0), 0);
  return {
    scans: sum('seq_scan') + sum('idx_scan'),
    inserted: sum('n_tup_ins'),
    written: sum('n_tup_ins') + sum('n_tup_upd') + sum('n_tup_del'),
    readAt: Number(first.read_at),
    since: Number(first.counting_since),
    sinceReset: first.since_reset === true,
  };
}

export default defineCheck<Option>({
  id: 'traffic',
  title: 'Traffic on the table',
  why: 'While the migration waits for its lock, every query on the table that conflicts with it queues: this estimates how many, from the table\'s activity counters and the planned lock_timeout, so the risk has a number.',
  privileges: 'none (pg_stat_user_tables is readable by every role)',
  options: {
    sample: { kind: 'duration', positive: true, default: null, flag: 'sample', description: 'read the table\'s activity counters twice this far apart (e.g. 2s) for the current rate; off: use the long-run rate since statistics were reset or the server started' },
    lockTimeout: { kind: 'duration', positive: true, default: '4s', flag: 'lock-timeout', description: 'the lock_timeout the migration will use: how long queries may queue behind it' },
    queuedWarn: { kind: 'count', default: '500', flag: 'queued-warn', description: 'warn when this many queries are estimated to queue during one lock wait' },
  },
  queries: [
    {
      name: 'table-activity',
      sql: TABLE_ACTIVITY_SQL,
      params: (context) => [context.relationOids],
      resampleAfterMs: (context) => context.options.traffic?.sample ?? null,
    },
  ],
  evaluate(snapshot, { optionsFor }) {
    const findings: Finding[] = [];
    const firstRead = snapshot.extra['table-activity'] ?? [];
    const secondRead = snapshot.extra[resampledName('table-activity')];
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      const before = countersOf(firstRead, target);
      if (!before) {
        findings.push({ kind: 'traffic-unknown', severity: 'info', target: target.qualifiedName, message: `${target.qualifiedName} has no activity counters (pg_stat_user_tables has no row for it)` });
        continue;
      }
      const after = secondRead ? countersOf(secondRead, target) : undefined;
      let seconds: number;
      let scans: number;
      let inserted: number;
      let written: number;
      let method: string;
      let how: string;
      if (after) {
        seconds = Math.max(after.readAt - before.readAt, 0.001);
        scans = after.scans - before.scans;
        inserted = after.inserted - before.inserted;
        written = after.written - before.written;
        method = 'sample';
        how = `counters sampled twice ${formatDuration(seconds * 1000)} apart (backends report them about once a second, so short samples are coarse)`;
      } else {
        seconds = Math.max(before.readAt - before.since, 0.001);
        scans = before.scans;
        inserted = before.inserted;
        written = before.written;
        method = before.sinceReset ? 'since-reset' : 'since-start';
        how = `long-run average since ${before.sinceReset ? 'the statistics were reset' : 'the server started (statistics kept over a clean restart would make it an overestimate)'} ${new Date(before.since * 1000).toISOString()}; --sample 2s measures the current rate`;
      }
      // Which queries queue depends on the lock: everything behind a lock that conflicts
      // with plain reads; only writes behind one that conflicts with RowExclusiveLock.
      const blocksReads = conflicts('AccessShareLock', target.lockMode);
      const blocksWrites = conflicts('RowExclusiveLock', target.lockMode);
      const perSecond = blocksReads ? (scans + inserted) / seconds : blocksWrites ? written / seconds : 0;
      const lockTimeoutMs = limits.lockTimeout ?? 0;
      const queued = Math.round((perSecond * lockTimeoutMs) / 1000);
      const over = limits.queuedWarn !== null && queued >= limits.queuedWarn;
      const counted = blocksReads ? 'statements ≈ scans + inserted rows, a bulk insert counting each row' : blocksWrites ? `only writes queue behind ${target.lockMode}; writes ≈ rows inserted, updated and deleted` : `${target.lockMode} blocks neither reads nor writes`;
      findings.push({
        kind: 'traffic', severity: over ? 'warn' : 'info', target: target.qualifiedName, relation: target.qualifiedName,
        message: `estimate: at ~${formatCount(perSecond)} q/s, a ${formatDuration(lockTimeoutMs)} lock wait queues ~${formatCount(queued)} queries on ${target.qualifiedName} (${counted}; ${how})${over ? `: at or over ${formatCount(limits.queuedWarn ?? 0)}; use a shorter lock_timeout with retries, or a quieter moment` : ''}`,
        details: { method, queriesPerSecond: Math.round(perSecond * 10) / 10, lockTimeoutMs, queued, windowSeconds: Math.round(seconds * 1000) / 1000, scans, inserted, written },
      });
    }
    const status = statusOf(findings);
    const estimates = findings.filter((f) => f.kind === 'traffic').map((f) => `~${formatCount(Number(f.details?.queriesPerSecond ?? 0))} q/s, ~${formatCount(Number(f.details?.queued ?? 0))} queued in ${formatDuration(Number(f.details?.lockTimeoutMs ?? 0))}`);
    return { status, summary: estimates.length > 0 ? `estimate: ${estimates.join('; ')}` : 'no activity counters for the target', findings };
  },
});

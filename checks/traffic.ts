// The blast radius of a lock wait, as a number: how many queries on the table would
// queue behind the migration while it waits up to its lock_timeout.
//
// By default the rate is measured *now*, from what the core snapshot already holds, with
// no extra read and no wait: the sessions that hold or await a conflicting lock on the
// table at this instant (L) and how long their transactions have been open. By Little's
// law L = λ·W; the ages seen at a random instant are on average half a transaction's
// length, so λ ≈ L / (2 · median age). Activity counters since the server started cannot
// say "now": a bulk load counts every row, and a table busy this morning looks busy
// tonight (../shared/postgres-facts.md, "Under load"). With --sample the table's counters
// in pg_stat_user_tables are read twice that far apart instead, for an exact current rate
// (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ALL-TABLES-VIEW).
//
// Each query that queues holds its session until the lock wait ends, so no more queries
// can queue than the database has client sessions: the estimate is capped there. An
// application that opens more connections while it waits can queue more, up to the
// server's connection headroom, which the connections check judges.
import { conflicts } from '../src/core/lock-modes.js';
import type { Finding, Snapshot, Target } from '../src/core/types.js';
import { formatCount, formatDuration } from '../src/core/units.js';
import { defineCheck, resampledName, statusOf } from './types.js';
import { holdAgeSeconds, isClientWork, locksOnTarget } from './support.js';

/**
 * Activity counters of the target's tables and partitions ($1), with when they were read
 * (clock_timestamp(), which moves within a transaction). Read only with --sample.
 */
export const TABLE_ACTIVITY_SQL = `
SELECT s.relid::int8 AS relid, s.relid::regclass::text AS relation,
       s.seq_scan::float8 AS seq_scan, COALESCE(s.idx_scan, 0)::float8 AS idx_scan,
       s.n_tup_ins::float8 AS n_tup_ins, s.n_tup_upd::float8 AS n_tup_upd, s.n_tup_del::float8 AS n_tup_del,
       EXTRACT(EPOCH FROM clock_timestamp())::float8 AS read_at
  FROM pg_stat_user_tables s
 WHERE s.relid = ANY($1::oid[])`;

/** Shortest transaction length the estimate assumes: timestamps of a few microseconds say nothing about a rate. */
const MIN_TRANSACTION_SECONDS = 0.001;

type Option = 'sample' | 'lockTimeout' | 'queuedWarn';
type Row = Record<string, unknown>;

interface Counters {
  /** Statements that read the table: sequential plus index scans (UPDATE and DELETE scan too). */
  scans: number;
  inserted: number;
  /** Rows written: inserted + updated + deleted. */
  written: number;
  readAt: number;
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
  };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

interface Rate {
  /** null when the sessions on the table hide their ages from the checker. */
  perSecond: number | null;
  method: 'now' | 'sample';
  how: string;
  details: Record<string, number | null>;
}

/** The rate now, from the sessions holding or awaiting a conflicting lock on the table at this instant. */
function rateNow(snapshot: Snapshot, target: Target): Rate {
  const users = new Map<number, number | null>();
  for (const entry of locksOnTarget(snapshot, target)) {
    const s = entry.session;
    if (entry.lock.pid === null || !s || !isClientWork(s) || !entry.conflicting) continue;
    const pid = s.leaderPid ?? s.pid;
    if (!users.has(pid)) users.set(pid, holdAgeSeconds(entry));
  }
  const ages = [...users.values()].filter((a): a is number => a !== null);
  if (users.size === 0) {
    return { perSecond: 0, method: 'now', how: `no session holds or awaits a conflicting lock on ${target.qualifiedName} at this instant`, details: { sessionsOnTable: 0, medianAgeSeconds: null } };
  }
  if (ages.length === 0) {
    return { perSecond: null, method: 'now', how: `${users.size} session(s) on ${target.qualifiedName} hide their transaction ages from the checker`, details: { sessionsOnTable: users.size, medianAgeSeconds: null } };
  }
  const medianAge = median(ages);
  const perSecond = users.size / (2 * Math.max(medianAge, MIN_TRANSACTION_SECONDS / 2));
  return {
    perSecond,
    method: 'now',
    how: `now: ${users.size} session(s) in a transaction on ${target.qualifiedName}, median age ${formatDuration(medianAge * 1000)}, so about ${users.size} per ${formatDuration(2 * Math.max(medianAge, MIN_TRANSACTION_SECONDS / 2) * 1000)} by Little's law (--sample 2s measures it exactly)`,
    details: { sessionsOnTable: users.size, medianAgeSeconds: Math.round(medianAge * 1e6) / 1e6 },
  };
}

/** The rate from the table's counters read twice --sample apart, counting what queues behind the lock mode. */
function rateSampled(before: Counters, after: Counters, target: Target): Rate {
  const seconds = Math.max(after.readAt - before.readAt, 0.001);
  const scans = after.scans - before.scans;
  const inserted = after.inserted - before.inserted;
  const written = after.written - before.written;
  // Which queries queue depends on the lock: everything behind a lock that conflicts
  // with plain reads; only writes behind one that conflicts with RowExclusiveLock.
  const blocksReads = conflicts('AccessShareLock', target.lockMode);
  const blocksWrites = conflicts('RowExclusiveLock', target.lockMode);
  const perSecond = blocksReads ? (scans + inserted) / seconds : blocksWrites ? written / seconds : 0;
  const counted = blocksReads ? 'statements ≈ scans + inserted rows, a bulk insert counting each row' : blocksWrites ? `only writes queue behind ${target.lockMode}; writes ≈ rows inserted, updated and deleted` : `${target.lockMode} blocks neither reads nor writes`;
  return {
    perSecond,
    method: 'sample',
    how: `${counted}; counters sampled twice ${formatDuration(seconds * 1000)} apart (backends report them about once a second, so short samples are coarse)`,
    details: { windowSeconds: Math.round(seconds * 1000) / 1000, scans, inserted, written },
  };
}

export default defineCheck<Option>({
  id: 'traffic',
  title: 'Traffic on the table',
  why: 'While the migration waits for its lock, every query on the table that conflicts with it queues: this estimates how many, from the traffic on the table now and the planned lock_timeout, so the risk has a number.',
  privileges: 'pg_monitor (or pg_read_all_stats) to see how long other roles\' transactions on the table have been open; none with --sample (pg_stat_user_tables is readable by every role)',
  options: {
    sample: { kind: 'duration', positive: true, default: null, flag: 'sample', description: 'read the table\'s activity counters twice this far apart (e.g. 2s) for an exact current rate; off: estimate the rate now from the sessions on the table (no wait)' },
    lockTimeout: { kind: 'duration', positive: true, default: '4s', flag: 'lock-timeout', description: 'the lock_timeout the migration will use: how long queries may queue behind it' },
    queuedWarn: { kind: 'count', default: '500', flag: 'queued-warn', description: 'warn when this many queries are estimated to queue during one lock wait' },
  },
  queries: [
    {
      name: 'table-activity',
      sql: TABLE_ACTIVITY_SQL,
      params: (context) => [context.relationOids],
      when: (context) => (context.options.traffic?.sample ?? null) !== null,
      resampleAfterMs: (context) => context.options.traffic?.sample ?? null,
    },
  ],
  evaluate(snapshot, { optionsFor, options }) {
    const findings: Finding[] = [];
    const firstRead = snapshot.extra['table-activity'];
    const secondRead = snapshot.extra[resampledName('table-activity')];
    const sessions = snapshot.clientSessions;
    for (const target of snapshot.targets) {
      const limits = optionsFor(target);
      let rate: Rate;
      if (options.sample !== null && firstRead && secondRead) {
        const before = countersOf(firstRead, target);
        const after = countersOf(secondRead, target);
        if (!before || !after) {
          findings.push({ kind: 'traffic-unknown', severity: 'info', target: target.qualifiedName, message: `${target.qualifiedName} has no activity counters (pg_stat_user_tables has no row for it)` });
          continue;
        }
        rate = rateSampled(before, after, target);
      } else {
        rate = rateNow(snapshot, target);
      }
      const lockTimeoutMs = limits.lockTimeout ?? 0;
      const arriving = rate.perSecond === null ? Number.POSITIVE_INFINITY : (rate.perSecond * lockTimeoutMs) / 1000;
      const queued = Math.round(Math.min(arriving, sessions));
      const capped = arriving > sessions;
      const over = limits.queuedWarn !== null && queued >= limits.queuedWarn;
      const rateText = rate.perSecond === null ? 'an unknown rate' : `~${formatCount(rate.perSecond)} q/s`;
      findings.push({
        kind: 'traffic', severity: over ? 'warn' : 'info', target: target.qualifiedName, relation: target.qualifiedName,
        message: `estimate: at ${rateText}, a ${formatDuration(lockTimeoutMs)} lock wait queues ~${formatCount(queued)} queries on ${target.qualifiedName}${capped ? ` (capped at the database's ${formatCount(sessions)} client sessions: each queued query holds one)` : ''} (${rate.how})${over ? `: at or over ${formatCount(limits.queuedWarn ?? 0)}; use a shorter lock_timeout with retries, or a quieter moment` : ''}`,
        details: {
          method: rate.method,
          queriesPerSecond: rate.perSecond === null ? null : Math.round(rate.perSecond * 10) / 10,
          lockTimeoutMs,
          queued,
          clientSessions: sessions,
          ...rate.details,
        },
      });
    }
    const status = statusOf(findings);
    const estimates = findings
      .filter((f) => f.kind === 'traffic')
      .map((f) => `${f.details?.queriesPerSecond === null ? 'unknown rate' : `~${formatCount(Number(f.details?.queriesPerSecond ?? 0))} q/s`}, ~${formatCount(Number(f.details?.queued ?? 0))} queued in ${formatDuration(Number(f.details?.lockTimeoutMs ?? 0))}`);
    return { status, summary: estimates.length > 0 ? `estimate: ${estimates.join('; ')}` : 'no activity counters for the target', findings };
  },
});

// Is the database already under pressure? A migration started into a database where
// dozens of sessions wait on locks, or where more sessions want a CPU than there are CPUs,
// turns its brief lock into an outage: everything it queues waits longer, and so does the
// migration. This reads the same signal as `pgpreflight activity`, cheaply:
// - by default from the core snapshot the gate already takes (no extra read, no time):
//   the sessions of this database waiting on a lock (pg_locks, visible to every role) for
//   at least --load-lock-age, and the sessions on a CPU (active, no wait event) at that
//   instant against --cpus;
// - with --sample, also pg_stat_activity every 100 ms over the sample window, in the same
//   transaction and during the pause the traffic check already makes: average active
//   sessions (AAS) by wait class.
// It warns with the numbers and never fails on load alone unless a fail threshold is set.
import { classOf, formatAas, isActiveState, WAIT_CLASSES, zeroByClass, type WaitClass } from '../src/activity/classes.js';
import { ACTIVITY_SAMPLE_SQL } from '../src/activity/activity.sql.js';
import { sampleFromRow, summarize, type ActivitySample } from '../src/activity/summary.js';
import type { Finding, Session, Severity, Snapshot } from '../src/core/types.js';
import { formatDuration } from '../src/core/units.js';
import { blockingGraph, chainOf } from './locks.js';
import { age, pgMonitorHint } from './support.js';
import { defineCheck, sampledName, statusOf } from './types.js';

type Option = 'cpus' | 'cpuWarn' | 'cpuFail' | 'lockWarn' | 'lockFail' | 'lockAge';

/** How often pg_stat_activity is read during --sample. */
export const SAMPLE_EVERY_MS = 100;
const SAMPLES = 'load-activity';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function classList(byClass: Record<WaitClass, number>, format: (n: number) => string): string {
  const parts = WAIT_CLASSES.filter((c) => byClass[c] > 0).map((c) => `${c} ${format(byClass[c])}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function severityFor(value: number, warn: number | null, fail: number | null): Severity {
  if (fail !== null && value >= fail) return 'fail';
  if (warn !== null && value >= warn) return 'warn';
  return 'info';
}

interface LockReading {
  /** Sessions of this database waiting on a lock for at least lockAge. */
  waiting: number;
  /** Waiting for any time. */
  waitingAny: number;
  longestSeconds: number | null;
  /** The session most of them wait behind, at the end of their chains. */
  root: { pid: number; behind: number; session: Session | undefined } | null;
}

function lockReading(snapshot: Snapshot, lockAgeMs: number): LockReading {
  const sessions = new Map(snapshot.sessions.map((s) => [s.pid, s]));
  const graph = blockingGraph(snapshot);
  const waiters = new Map<number, number>();
  for (const lock of snapshot.locks) {
    if (lock.granted || lock.pid === null || waiters.has(lock.pid)) continue;
    if (sessions.get(lock.pid)?.database !== snapshot.server.database) continue;
    waiters.set(lock.pid, lock.waitSeconds ?? 0);
  }
  const aged = [...waiters].filter(([, seconds]) => seconds * 1000 >= lockAgeMs);
  const roots = new Map<number, number>();
  for (const [pid] of aged) {
    const root = chainOf(pid, graph).at(-1) as number;
    if (root !== pid) roots.set(root, (roots.get(root) ?? 0) + 1);
  }
  const top = [...roots].sort((a, b) => b[1] - a[1])[0];
  return {
    waiting: aged.length,
    waitingAny: waiters.size,
    longestSeconds: waiters.size === 0 ? null : Math.max(...waiters.values()),
    root: top ? { pid: top[0], behind: top[1], session: sessions.get(top[0]) } : null,
  };
}

function describeRoot(root: NonNullable<LockReading['root']>): string {
  if (root.pid === 0) return `${root.behind} of them behind a prepared transaction`;
  const s = root.session;
  const facts = s === undefined ? '' : s.hidden ? ' (details hidden)' : ` (${[s.state, s.xactAgeSeconds !== null ? `transaction open ${age(s.xactAgeSeconds)}` : null, s.application ? `app ${s.application}` : null].filter(Boolean).join(', ')})`;
  return `${root.behind} of them behind pid ${root.pid}${facts}`;
}

export default defineCheck<Option>({
  id: 'load',
  title: 'Database load',
  why: 'A migration started into a database that is already contention-bound (sessions piling up on locks) or over its CPUs turns its brief lock into an outage: everything queued behind it waits longer, and so does the migration. Read from the snapshot the gate already takes; with --sample, average active sessions by wait class over the sample (as `pgpreflight activity` shows them).',
  privileges: 'none for lock waits (pg_locks is visible to every role); pg_monitor to see other roles\' sessions on CPU (hidden ones are counted as hidden)',
  options: {
    cpus: { kind: 'count', default: null, flag: 'cpus', positive: true, description: 'the database server\'s CPU count: sessions on CPU are judged against it (also read by `pgpreflight activity`); off: not judged' },
    cpuWarn: { kind: 'count', default: '200', flag: 'load-cpu-warn', atMost: 'cpuFail', description: 'warn when sessions on CPU (active, no wait event; with --sample their average) reach this percentage of --cpus: 200 = twice as many as there are CPUs' },
    cpuFail: { kind: 'count', default: null, flag: 'load-cpu-fail', description: 'fail when sessions on CPU reach this percentage of --cpus' },
    lockWarn: { kind: 'count', default: '5', flag: 'load-lock-warn', atMost: 'lockFail', description: 'warn when this many sessions of the database wait on a lock, each for at least --load-lock-age (with --sample: or on average over the sample)' },
    lockFail: { kind: 'count', default: null, flag: 'load-lock-fail', description: 'fail when this many sessions of the database wait on a lock that long' },
    lockAge: { kind: 'duration', default: '1s', flag: 'load-lock-age', description: 'a lock wait counts once it is this old: shorter waits are ordinary row-lock traffic' },
  },
  queries: [
    {
      name: SAMPLES,
      sql: ACTIVITY_SAMPLE_SQL,
      // The traffic check's --sample sets the window: one pause, both readings.
      sampleOver: (context) => {
        const windowMs = context.options.traffic?.sample ?? null;
        return windowMs === null || windowMs <= 0 ? null : { windowMs, everyMs: SAMPLE_EVERY_MS };
      },
    },
  ],
  evaluate(snapshot, { options }) {
    const findings: Finding[] = [];
    const database = snapshot.server.database;
    const cpus = options.cpus !== null && options.cpus > 0 ? options.cpus : null;
    const lockAgeMs = options.lockAge ?? 0;

    const active = snapshot.sessions.filter((s) => !s.hidden && isActiveState(s.state) && classOf(s.waitEventType) !== null);
    const nowByClass = zeroByClass();
    for (const s of active) nowByClass[classOf(s.waitEventType) as WaitClass] += 1;
    const hidden = snapshot.sessions.filter((s) => s.hidden && s.database !== null).length;

    const rows = snapshot.extra[sampledName(SAMPLES)];
    const samples: ActivitySample[] | null = rows === undefined ? null : rows.map(sampleFromRow);
    const sampled = samples && samples.length > 0 ? summarize(samples, { cpus, role: snapshot.server.currentUser }) : null;
    const windowMs = samples && samples.length > 0 ? Math.round(((samples.at(-1) as ActivitySample).at - (samples[0] as ActivitySample).at + SAMPLE_EVERY_MS) / 100) * 100 : 0;
    const sampledLockAas = samples && samples.length > 0 ? samples.reduce((n, s) => n + s.sessions.filter((x) => x.database === database && classOf(x.waitEventType) === 'Lock').length, 0) / samples.length : null;

    // Lock contention: aged waiters now, or Lock AAS of this database over the sample.
    const locks = lockReading(snapshot, lockAgeMs);
    const lockValue = Math.max(locks.waiting, sampledLockAas ?? 0);
    const lockSeverity = severityFor(lockValue, options.lockWarn, options.lockFail);
    const lockWhat = `${plural(locks.waiting, 'session')} of ${database} ${locks.waiting === 1 ? 'has' : 'have'} waited on a lock for ${formatDuration(lockAgeMs)} or more${locks.waitingAny > locks.waiting ? ` (${locks.waitingAny} waiting in all)` : ''}${locks.longestSeconds !== null ? `, the longest ${age(locks.longestSeconds)}` : ''}${locks.root ? `; ${describeRoot(locks.root)}` : ''}${sampledLockAas !== null ? `; over the ${formatDuration(windowMs)} sample, ${formatAas(sampledLockAas)} sessions waited on locks on average` : ''}`;
    findings.push({
      kind: 'lock-contention',
      severity: lockSeverity,
      message: lockSeverity === 'info' ? lockWhat : `${lockWhat}: the database is contention-bound; a migration's lock would queue behind the same holders or deepen the pile — see \`pgpreflight locks\` and \`pgpreflight activity\``,
      // The root is named when it matters: an info line's pid would change from one look to the next.
      ...(lockSeverity !== 'info' && locks.root && locks.root.pid !== 0 ? { pid: locks.root.pid } : {}),
      details: { waiting: locks.waiting, waitingAny: locks.waitingAny, lockAgeMs, longestSeconds: locks.longestSeconds, rootPid: locks.root?.pid ?? null, waitingBehindRoot: locks.root?.behind ?? null, sampledLockAas: sampledLockAas === null ? null : Math.round(sampledLockAas * 100) / 100 },
    });

    // CPU: sessions on a CPU now, or their average over the sample, against --cpus.
    const onCpu = sampled ? sampled.byClass.CPU : nowByClass.CPU;
    const basis = sampled
      ? `on average over the ${formatDuration(windowMs)} sample (AAS ${formatAas(sampled.aas)}: ${classList(sampled.byClass, formatAas)})`
      : `at this instant (${active.length === 0 ? 'none active' : `${active.length} active: ${classList(nowByClass, String)}`}; --sample averages over a window)`;
    const onCpuText = sampled ? formatAas(onCpu) : String(onCpu);
    if (cpus === null) {
      findings.push({ kind: 'cpu-load', severity: 'info', message: `${onCpuText} sessions on CPU ${basis}; the server's CPU count is unknown (--cpus N judges it)`, details: { onCpu, active: active.length, cpus: null, percent: null, sampled: sampled !== null } });
    } else {
      const percent = (100 * onCpu) / cpus;
      let severity = severityFor(percent, options.cpuWarn, options.cpuFail);
      let note = '';
      // Another role's hidden sessions may be on CPU too: a fail threshold the visible ones miss cannot be called a pass.
      if (severity !== 'fail' && options.cpuFail !== null && hidden > 0 && !sampled && (100 * (onCpu + hidden)) / cpus >= options.cpuFail) {
        severity = 'error';
        note = `: ${hidden} hidden session(s) could reach --load-cpu-fail; ${pgMonitorHint(snapshot.server.currentUser)}`;
      }
      const verdict = severity === 'warn' || severity === 'fail' ? `: over the CPUs (at or over ${severity === 'fail' ? options.cpuFail : options.cpuWarn}%), a run queue is building; the migration and every query it queues slow down with everything else` : '';
      findings.push({
        kind: 'cpu-load', severity,
        message: `${onCpuText} sessions on CPU for ${cpus} CPUs (${Math.round(percent)}%) ${basis}${verdict}${note}`,
        details: { onCpu: Math.round(onCpu * 100) / 100, active: active.length, cpus, percent: Math.round(percent), sampled: sampled !== null },
      });
    }
    if (sampled) {
      findings.push({ kind: 'load-sample', severity: 'info', message: `over the ${formatDuration(windowMs)} sample (${sampled.samples} reads of pg_stat_activity): ${sampled.hypothesis.line}`, details: { aas: Math.round(sampled.aas * 100) / 100, samples: sampled.samples, hypothesis: sampled.hypothesis.kind, leadingClass: sampled.hypothesis.class, ...Object.fromEntries(WAIT_CLASSES.map((c) => [`aas${c}`, Math.round(sampled.byClass[c] * 100) / 100])) } });
    }
    if (hidden > 0) {
      findings.push({ kind: 'load-hidden', severity: 'info', message: `${plural(hidden, 'session')} of other roles ${hidden === 1 ? 'is' : 'are'} hidden from ${snapshot.server.currentUser}: whether they are on CPU is not counted (their lock waits are); grant pg_monitor for the whole picture`, details: { hidden } });
    }
    const status = statusOf(findings);
    const parts = [
      sampled ? `AAS ${formatAas(sampled.aas)} over ${formatDuration(windowMs)} (${classList(sampled.byClass, formatAas)})` : `${plural(active.length, 'active session')} now${active.length > 0 ? ` (${classList(nowByClass, String)})` : ''}`,
      `${locks.waiting} lock wait(s) ≥ ${formatDuration(lockAgeMs)} in ${database}`,
      cpus === null ? 'CPUs unknown' : `${onCpuText} on CPU for ${cpus} CPUs`,
      ...(hidden > 0 ? [`${hidden} hidden`] : []),
    ];
    return { status, summary: parts.join(' · '), findings };
  },
});

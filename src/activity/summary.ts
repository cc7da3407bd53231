// Average Active Sessions (AAS) from samples of pg_stat_activity: over the window and per
// wait class, per second for the chart, the top wait events and statements by their share
// of active samples, and the one-line hypothesis. Pure: no I/O.
import { classOf, formatAas, formatShare, WAIT_CLASSES, zeroByClass, type WaitClass } from './classes.js';
import { normalizeQuery } from '../core/query-text.js';

export { normalizeQuery };

export interface ActiveSession {
  pid: number;
  leaderPid: number | null;
  database: string | null;
  user: string | null;
  application: string | null;
  backendType: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
  queryId: string | null;
  query: string | null;
}

export interface ActivitySample {
  /** Server clock when the sample was read, epoch milliseconds. */
  at: number;
  /** Sessions of other roles the checking role may not see (state unknown). */
  hidden: number;
  /** Active sessions other than the sampler's own. */
  sessions: ActiveSession[];
}

type Row = Record<string, unknown>;

const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** One row of ACTIVITY_SAMPLE_SQL as a sample. */
export function sampleFromRow(row: Row): ActivitySample {
  const sessions = Array.isArray(row.sessions) ? (row.sessions as Row[]) : [];
  return {
    at: Number(row.at),
    hidden: Number(row.hidden ?? 0),
    sessions: sessions.map((s) => ({
      pid: Number(s.pid),
      leaderPid: s.leader === null || s.leader === undefined ? null : Number(s.leader),
      database: strOrNull(s.db),
      user: strOrNull(s.user),
      application: strOrNull(s.app),
      backendType: strOrNull(s.type),
      waitEventType: strOrNull(s.wt),
      waitEvent: strOrNull(s.we),
      queryId: strOrNull(s.qid),
      query: strOrNull(s.q),
    })),
  };
}

export interface Share {
  name: string;
  share: number;
}

export interface WaitEventLine {
  class: WaitClass;
  /** The wait_event, or `CPU` for the CPU class. */
  event: string;
  aas: number;
  /** Of all active samples. */
  share: number;
}

export interface StatementLine {
  /** query_id when the server computes it (compute_query_id), else null. */
  queryId: string | null;
  /** Normalized text (first QUERY_CHARS characters of the statement); null when only hidden. */
  query: string | null;
  aas: number;
  share: number;
  /** What its active samples waited on, by class, as shares of its own samples. */
  classes: Partial<Record<WaitClass, number>>;
  users: Share[];
  applications: Share[];
  databases: Share[];
}

export interface Second {
  /** Start of the second, epoch milliseconds. */
  at: number;
  samples: number;
  aas: number;
  byClass: Record<WaitClass, number>;
  hidden: number;
}

export type HypothesisKind = 'no-samples' | 'idle' | 'hidden' | 'contention' | 'cpu-bound' | 'cpu' | 'io-bound' | 'lwlock' | 'client' | 'ipc' | 'other';

export interface Hypothesis {
  kind: HypothesisKind;
  /** The class that leads, when one does. */
  class: WaitClass | null;
  line: string;
}

export interface ActivitySummary {
  samples: number;
  /** First and last sample, epoch milliseconds. */
  from: number | null;
  to: number | null;
  aas: number;
  byClass: Record<WaitClass, number>;
  /** The busiest second. */
  peak: { at: number; aas: number } | null;
  cpus: number | null;
  topWaitEvents: WaitEventLine[];
  topStatements: StatementLine[];
  /** Sessions of other roles hidden from the role: most seen in one sample. */
  hidden: number;
  hypothesis: Hypothesis;
  seconds: Second[];
}

export interface SummaryOptions {
  cpus: number | null;
  /** The role that looked, for the hidden-sessions line. */
  role?: string;
  top?: number;
  /** Epoch milliseconds the per-second columns start from (default: the first sample). */
  origin?: number;
}

function topShares(counts: Map<string, number>, total: number, limit = 3): Share[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([name, n]) => ({ name, share: total === 0 ? 0 : n / total }));
}

const bump = (map: Map<string, number>, key: string): void => {
  map.set(key, (map.get(key) ?? 0) + 1);
};

/** Per-second columns: the mean number of active sessions by class over each second's samples. */
export function secondsOf(samples: readonly ActivitySample[], origin?: number): Second[] {
  if (samples.length === 0) return [];
  const start = origin ?? (samples[0] as ActivitySample).at;
  const out = new Map<number, { at: number; samples: number; byClass: Record<WaitClass, number>; hidden: number }>();
  for (const sample of samples) {
    const index = Math.floor((sample.at - start) / 1000);
    let bucket = out.get(index);
    if (!bucket) {
      bucket = { at: start + index * 1000, samples: 0, byClass: zeroByClass(), hidden: 0 };
      out.set(index, bucket);
    }
    bucket.samples += 1;
    bucket.hidden = Math.max(bucket.hidden, sample.hidden);
    for (const session of sample.sessions) {
      const cls = classOf(session.waitEventType);
      if (cls) bucket.byClass[cls] += 1;
    }
  }
  return [...out.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, b]) => {
      const byClass = zeroByClass();
      for (const c of WAIT_CLASSES) byClass[c] = b.byClass[c] / b.samples;
      return { at: b.at, samples: b.samples, aas: WAIT_CLASSES.reduce((sum, c) => sum + byClass[c], 0), byClass, hidden: b.hidden };
    });
}

interface StatementAcc {
  queryId: string | null;
  query: string | null;
  count: number;
  classes: Map<string, number>;
  users: Map<string, number>;
  applications: Map<string, number>;
  databases: Map<string, number>;
}

export function summarize(samples: readonly ActivitySample[], options: SummaryOptions): ActivitySummary {
  const top = options.top ?? 5;
  const byClassCount = zeroByClass();
  const events = new Map<string, { class: WaitClass; event: string; count: number }>();
  const statements = new Map<string, StatementAcc>();
  let active = 0;
  let hidden = 0;
  for (const sample of samples) {
    hidden = Math.max(hidden, sample.hidden);
    for (const session of sample.sessions) {
      const cls = classOf(session.waitEventType);
      if (!cls) continue;
      active += 1;
      byClassCount[cls] += 1;
      const event = cls === 'CPU' ? 'CPU' : session.waitEvent ?? cls;
      const eventKey = `${cls}\u0000${event}`;
      const e = events.get(eventKey) ?? { class: cls, event, count: 0 };
      e.count += 1;
      events.set(eventKey, e);
      const normalized = session.query === null ? null : normalizeQuery(session.query);
      const key = session.queryId !== null && session.queryId !== '0' ? `id:${session.queryId}` : `q:${normalized ?? ''}`;
      let s = statements.get(key);
      if (!s) {
        s = { queryId: session.queryId !== '0' ? session.queryId : null, query: normalized, count: 0, classes: new Map(), users: new Map(), applications: new Map(), databases: new Map() };
        statements.set(key, s);
      }
      s.count += 1;
      bump(s.classes, cls);
      if (session.user !== null) bump(s.users, session.user);
      bump(s.applications, session.application || '(none)');
      if (session.database !== null) bump(s.databases, session.database);
    }
  }
  const n = samples.length;
  const byClass = zeroByClass();
  for (const c of WAIT_CLASSES) byClass[c] = n === 0 ? 0 : byClassCount[c] / n;
  const aas = n === 0 ? 0 : active / n;
  const seconds = secondsOf(samples, options.origin);
  const peakSecond = seconds.reduce<Second | null>((best, s) => (best === null || s.aas > best.aas ? s : best), null);
  const topWaitEvents = [...events.values()]
    .sort((a, b) => b.count - a.count || a.event.localeCompare(b.event))
    .slice(0, top)
    .map((e) => ({ class: e.class, event: e.event, aas: n === 0 ? 0 : e.count / n, share: active === 0 ? 0 : e.count / active }));
  const topStatements = [...statements.values()]
    .sort((a, b) => b.count - a.count || String(a.query).localeCompare(String(b.query)))
    .slice(0, top)
    .map((s) => ({
      queryId: s.queryId,
      query: s.query,
      aas: n === 0 ? 0 : s.count / n,
      share: active === 0 ? 0 : s.count / active,
      classes: Object.fromEntries([...s.classes].sort((a, b) => b[1] - a[1]).map(([c, k]) => [c, k / s.count])) as Partial<Record<WaitClass, number>>,
      users: topShares(s.users, s.count),
      applications: topShares(s.applications, s.count),
      databases: topShares(s.databases, s.count),
    }));
  const summary: ActivitySummary = {
    samples: n,
    from: n === 0 ? null : (samples[0] as ActivitySample).at,
    to: n === 0 ? null : (samples[n - 1] as ActivitySample).at,
    aas,
    byClass,
    peak: peakSecond ? { at: peakSecond.at, aas: peakSecond.aas } : null,
    cpus: options.cpus,
    topWaitEvents,
    topStatements,
    hidden,
    hypothesis: { kind: 'no-samples', class: null, line: '' },
    seconds,
  };
  summary.hypothesis = hypothesize(summary, options.role);
  return summary;
}

/** Below this AAS the database is idle: fewer than one session active in ten samples. */
export const IDLE_AAS = 0.1;

/** The class with the most AAS, with its share of the total. */
export function leadingClass(byClass: Record<WaitClass, number>): { class: WaitClass; aas: number; share: number } | null {
  const total = WAIT_CLASSES.reduce((sum, c) => sum + byClass[c], 0);
  if (total <= 0) return null;
  let best: WaitClass = 'CPU';
  for (const c of WAIT_CLASSES) if (byClass[c] > byClass[best]) best = c;
  return { class: best, aas: byClass[best], share: byClass[best] / total };
}

/**
 * The readings as one line: which class leads (mostly = half or more of AAS), what that
 * usually means and where to look next, against the CPU count when it is known.
 */
export function hypothesize(summary: Pick<ActivitySummary, 'samples' | 'aas' | 'byClass' | 'cpus' | 'hidden' | 'topWaitEvents'>, role = 'this role'): Hypothesis {
  const { aas, cpus, hidden } = summary;
  const hiddenNote = hidden > 0 ? ` (${hidden} session(s) of other roles hidden from ${role}: grant pg_monitor to count them)` : '';
  if (summary.samples === 0) return { kind: 'no-samples', class: null, line: 'no samples were taken' };
  const lead = leadingClass(summary.byClass);
  if (aas < IDLE_AAS || !lead) {
    if (hidden > 0) return { kind: 'hidden', class: null, line: `nothing visible is active (AAS ${formatAas(aas)}), but ${hidden} session(s) of other roles are hidden from ${role}: grant pg_monitor to see what they do` };
    return { kind: 'idle', class: null, line: `idle: AAS ${formatAas(aas)}${cpus !== null ? ` on ${cpus} CPUs` : ''} — the database is not under pressure` };
  }
  const mostly = lead.share >= 0.5 ? `mostly ${lead.class}` : `mixed, led by ${lead.class}`;
  const of = `${formatShare(lead.share)} of AAS ${formatAas(aas)}`;
  const event = summary.topWaitEvents.find((e) => e.class === lead.class)?.event;
  const eventText = event && event !== lead.class ? `, ${event}` : '';
  // Sessions waiting on a lock, the client or a timer use no CPU: only other waits are a queue for the machine.
  const overCpus = cpus !== null && cpus > 0 && aas > cpus && !['CPU', 'Lock', 'Client', 'Timeout'].includes(lead.class) ? `; AAS ${formatAas(aas)} over the ${cpus} CPUs` : '';
  let kind: HypothesisKind;
  let meaning: string;
  switch (lead.class) {
    case 'Lock':
      kind = 'contention';
      meaning = 'contention-bound (hot rows or a lock queue) — see `pgpreflight locks`';
      break;
    case 'CPU':
      if (cpus === null || cpus <= 0) {
        kind = 'cpu';
        meaning = 'CPU-bound if that is more than the server\'s CPUs — pass --cpus to judge; see the top statements';
      } else if (lead.aas > cpus) {
        kind = 'cpu-bound';
        meaning = `CPU-bound: ${formatAas(lead.aas)} sessions want ${cpus} CPUs, a run queue is building — see the top statements`;
      } else {
        kind = 'cpu';
        meaning = `busy within the ${cpus} CPUs, not queueing`;
      }
      break;
    case 'IO':
      kind = 'io-bound';
      meaning = 'I/O-bound (scans, cache misses, WAL) — see the top statements';
      break;
    case 'LWLock':
      kind = 'lwlock';
      meaning = 'contention inside the server on shared structures — see the top wait event';
      break;
    case 'Client':
      kind = 'client';
      meaning = 'sessions wait on the application or the network, not on the database';
      break;
    case 'IPC':
      kind = 'ipc';
      meaning = 'waits between server processes (parallel query, synchronous replication)';
      break;
    default:
      kind = 'other';
      meaning = lead.class === 'Timeout' ? 'sessions sleep on purpose (pg_sleep, vacuum or backoff delays)' : 'see the top wait event';
  }
  return { kind, class: lead.class, line: `${mostly} (${of}${eventText}): ${meaning}${overCpus}${hiddenNote}` };
}

// What the human formats (table, markdown, github) show, in the order they show it: the
// verdict, the root causes (from the report: computed by the gate, never here), the checks
// that did not pass (fail, warn, error) with the passing ones counted, then each remaining
// finding once. A session several checks flagged appears once, under its worst finding,
// with every check that flagged it; sessions the root causes already list are not repeated;
// identical sessions (same finding, query, application, user) collapse into one entry.
// Presentation only: no query, no policy (what blocks comes from the report).
import type { CheckResult, Finding, Report, RootCause, Severity, Status } from '../core/types.js';

const STATUS_ORDER: readonly Status[] = ['fail', 'warn', 'error', 'pass', 'skip'];
const SEVERITY_ORDER: readonly Severity[] = ['fail', 'error', 'warn', 'info'];

/** Checks in the order people read them: fail, warn, error, then the rest; by id within a status. */
export function orderedChecks(checks: readonly CheckResult[]): CheckResult[] {
  return [...checks].sort((a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status) || a.id.localeCompare(b.id));
}

/** One finding to show, standing for `count` alike sessions (or 1), with every check that reported them. */
export interface FindingEntry {
  finding: Finding;
  /** The check it is shown under. */
  check: string;
  /** Every check with a finding about these sessions, the shown one first. */
  checks: string[];
  count: number;
  pids: number[];
}

export interface ReportView {
  rootCauses: RootCause[];
  /** Checks that failed, warned or could not evaluate, in that order. */
  problems: CheckResult[];
  /** Of those, the ones whose every finding (worse than information) is about a session the root causes list. */
  explainedChecks: Set<string>;
  passed: CheckResult[];
  skipped: CheckResult[];
  /** Findings worse than information (all with verbose), not about a session the root causes list, each session once. */
  findings: FindingEntry[];
  /** Findings left out because the root causes already show their sessions. */
  explained: number;
}

const severityRank = (s: Severity): number => SEVERITY_ORDER.indexOf(s);

/** The sessions the root causes list: roots and everyone queued behind them. */
export function rootCausePids(rootCauses: readonly RootCause[]): Set<number> {
  const pids = new Set<number>();
  for (const root of rootCauses) {
    if (root.pid !== null) pids.add(root.pid);
    for (const group of root.waiters) for (const pid of group.pids) pids.add(pid);
  }
  return pids;
}

export function viewOf(report: Report, verbose = false): ReportView {
  const ordered = orderedChecks(report.checks);
  const listed = rootCausePids(report.rootCauses);
  const shown = (f: Finding): boolean => verbose || f.severity !== 'info';
  let explained = 0;
  // Each session once: its worst finding, with every check that reported it.
  const bySession = new Map<number, FindingEntry>();
  const entries: FindingEntry[] = [];
  for (const check of ordered) {
    if (check.status === 'skip') continue;
    for (const finding of check.findings) {
      if (!shown(finding)) continue;
      const pid = typeof finding.pid === 'number' ? finding.pid : null;
      if (pid !== null && listed.has(pid)) {
        explained += 1;
        continue;
      }
      if (pid === null) {
        entries.push({ finding, check: check.id, checks: [check.id], count: 1, pids: [] });
        continue;
      }
      const known = bySession.get(pid);
      if (!known) {
        const entry = { finding, check: check.id, checks: [check.id], count: 1, pids: [pid] };
        bySession.set(pid, entry);
        entries.push(entry);
        continue;
      }
      if (!known.checks.includes(check.id)) known.checks.push(check.id);
      if (severityRank(finding.severity) < severityRank(known.finding.severity)) {
        known.finding = finding;
        known.checks = [check.id, ...known.checks.filter((id) => id !== check.id)];
        known.check = check.id;
      }
    }
  }
  const problems = ordered.filter((c) => c.status === 'fail' || c.status === 'warn' || c.status === 'error');
  const explainedChecks = new Set(
    problems
      .filter((c) => {
        const shownFindings = c.findings.filter((f) => f.severity !== 'info');
        return shownFindings.length > 0 && shownFindings.every((f) => typeof f.pid === 'number' && listed.has(f.pid));
      })
      .map((c) => c.id),
  );
  return {
    rootCauses: report.rootCauses,
    problems,
    explainedChecks,
    passed: ordered.filter((c) => c.status === 'pass'),
    skipped: ordered.filter((c) => c.status === 'skip'),
    findings: collapse(entries).sort((a, b) => severityRank(a.finding.severity) - severityRank(b.finding.severity)),
    explained,
  };
}

/** Alike sessions (same kind, severity, checks, query, application, user, state, target) become one entry. */
function collapse(entries: readonly FindingEntry[]): FindingEntry[] {
  const out: FindingEntry[] = [];
  const byKey = new Map<string, FindingEntry>();
  for (const entry of entries) {
    const f = entry.finding;
    if (entry.pids.length === 0) {
      out.push(entry);
      continue;
    }
    const key = JSON.stringify([f.kind, f.severity, entry.checks, f.query ?? null, f.application ?? null, f.user ?? null, f.state ?? null, f.target ?? null, f.lockMode ?? null, f.granted ?? null]);
    const known = byKey.get(key);
    if (!known) {
      const copy = { ...entry, pids: [...entry.pids] };
      byKey.set(key, copy);
      out.push(copy);
      continue;
    }
    known.count += 1;
    known.pids.push(...entry.pids);
    // The oldest stands for the group.
    if ((f.ageSeconds ?? 0) > (known.finding.ageSeconds ?? 0)) known.finding = f;
  }
  return out;
}

/** "pid 123", or "a prepared transaction 'gid'". */
export function whoOf(root: Pick<RootCause, 'kind' | 'pid' | 'gid'>): string {
  if (root.kind === 'prepared') return root.gid === null ? 'a prepared transaction' : `prepared transaction '${root.gid}'`;
  return `pid ${root.pid}`;
}

/** "AccessShareLock on public.orders", "row locks", "a conflicting lock on public.orders". */
export function heldText(root: RootCause): string {
  if (root.holds.length === 0) return 'the locks its waiters queue for';
  return root.holds
    .map((h) => {
      if (h.lockType === 'transactionid') return 'row locks (its transaction id)';
      const on = h.relation ? ` on ${h.relation}` : h.lockType === 'relation' ? '' : ` (${h.lockType})`;
      return `${h.mode ?? 'a conflicting lock'}${on}`;
    })
    .join(', ');
}

/** "idle in transaction", "active", "prepared", "details hidden". */
export function stateText(root: RootCause): string {
  if (root.hidden) return 'details hidden';
  const state = root.state ?? 'state unknown';
  return root.backendType && root.backendType !== 'client backend' && root.kind === 'session' ? `${root.backendType}, ${state}` : state;
}

/** An idle session's query is its last one, not what it is doing. */
export function queryLabel(state: string | null): string {
  return state?.startsWith('idle') ? 'last query' : 'query';
}

/** One line of text: whitespace runs flattened, cut at `max` characters with an ellipsis. */
export function excerpt(text: string | null | undefined, max: number): string | null {
  if (!text) return null;
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

// The contract every check module implements. A check declares its metadata (read by
// `pgpreflight checks`, --help and docs/checks.md), any catalog queries it needs beyond
// the core snapshot, and a pure evaluate(): no I/O, no printing, no exit codes.
import type { MigrationAnalysis } from '../src/migration/index.js';
import type { VersionedSql } from '../src/core/sql-versions.js';
import type { CheckResult, Finding, Snapshot, Status, Target } from '../src/core/types.js';

export type OptionKind = 'duration' | 'size' | 'count';

export interface OptionSpec {
  kind: OptionKind;
  /** Default in the user's units (`5s`, `100MB`, `1000000`), or null for "off". */
  default: string | null;
  /** The CLI flag, without dashes. */
  flag: string;
  /**
   * The flag's old spelling, still accepted: on the command line (rewritten with a note on
   * stderr, src/cli/deprecated.ts), as PGPREFLIGHT_<OLD> and in the library's `thresholds`.
   */
  formerly?: string;
  description: string;
  /** Another option of this check that measures the same thing and must not be set lower (a warn threshold names its fail threshold). */
  atMost?: string;
  /** A percentage: from 0 to 100. */
  percent?: boolean;
  /** Zero means nothing useful (a lock wait of 0, a sample 0 s long): the value must be above it. */
  positive?: boolean;
}

/** Parsed option values: milliseconds, bytes or a count; null when off. */
export type OptionValues<K extends string> = Record<K, number | null>;

export interface QueryContext {
  targets: readonly Target[];
  /** Every relation whose locks count against a target. */
  relationOids: readonly number[];
  /** Values of every check's options (selected or not: load reads traffic's --sample), by check id. */
  options: Readonly<Record<string, Readonly<Record<string, number | null>>>>;
  /** The analyzed --migration, when given (migration-risk reads the schema it names). */
  migration?: MigrationAnalysis;
}

export interface CheckQuery {
  /** Key of its rows in snapshot.extra; unique across checks. */
  name: string;
  sql: VersionedSql;
  params?: (context: QueryContext) => unknown[];
  /** Read only when this returns true (absent: always), e.g. only when an option asks for it. */
  when?: (context: QueryContext) => boolean;
  /**
   * When it returns a number of milliseconds, the query is read a second time that long
   * after the first read, in the same transaction, and those rows are stored under
   * `resampledName(name)`; null or absent: read once. For activity counters sampled twice.
   */
  resampleAfterMs?: (context: QueryContext) => number | null;
  /**
   * When it returns a window, the query is not read once: it is read again and again over
   * the window, every everyMs, in the same transaction (the statistics cache cleared before
   * each read), while any resampleAfterMs pause runs; the rows of every read are stored in
   * order under `sampledName(name)`. Null or absent: never read. For pg_stat_activity over
   * --sample (checks/load.ts). Sampled queries are read together, over the longest window.
   */
  sampleOver?: (context: QueryContext) => { windowMs: number; everyMs: number } | null;
}

/** Key in snapshot.extra of a query's second read (see CheckQuery.resampleAfterMs). */
export function resampledName(name: string): string {
  return `${name}:resampled`;
}

/** Key in snapshot.extra of a sampled query's reads (see CheckQuery.sampleOver). */
export function sampledName(name: string): string {
  return `${name}:samples`;
}

export interface EvaluateContext<K extends string> {
  options: OptionValues<K>;
  /** Per-table overrides (from the config file) fall back to options. */
  optionsFor(target: Target): OptionValues<K>;
  /** The migration builds an index concurrently (see checks/old-snapshots). */
  concurrently: boolean;
  /** The analyzed statements of `check --migration`, when given (see checks/migration-risk). */
  migration?: MigrationAnalysis;
  /** Settings the migration's own session will have, when known (`run` sets them through PGOPTIONS). */
  migrationSession?: MigrationSession;
}

/** What `run` sets on the migration's session (PGOPTIONS), so the gate judges that session and not a bare one. */
export interface MigrationSession {
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

export type CheckOutcome = Omit<CheckResult, 'id' | 'title'>;

export interface CheckDefinition<K extends string = string> {
  id: string;
  title: string;
  /** Why it matters, one or two sentences. */
  why: string;
  /** What the connecting role needs for this check to see everything. */
  privileges: string;
  options: Record<K, OptionSpec>;
  /**
   * True when waiting cannot change what it finds (a fact about the table, the roles or the
   * migration, not about the moment): a gate blocked only by such checks is not retried by
   * --wait or `run`.
   */
  unchangedByWaiting?: boolean;
  queries?: readonly CheckQuery[];
  /** Evaluates the --replica-url standbys (snapshot.replicas): the runner reads them only for such a check. */
  usesReplicas?: boolean;
  evaluate(snapshot: Snapshot, context: EvaluateContext<K>): CheckOutcome;
}

export function defineCheck<K extends string>(definition: CheckDefinition<K>): CheckDefinition {
  return definition as unknown as CheckDefinition;
}

const SEVERITY_STATUS: Record<Finding['severity'], Status> = { info: 'pass', warn: 'warn', fail: 'fail', error: 'error' };

/** A check's status is its worst finding's; `pass` when it found nothing worse than info. */
export function statusOf(findings: readonly Finding[]): Status {
  const order: Status[] = ['pass', 'warn', 'fail', 'error'];
  let worst: Status = 'pass';
  for (const finding of findings) {
    const status = SEVERITY_STATUS[finding.severity];
    if (order.indexOf(status) > order.indexOf(worst)) worst = status;
  }
  return worst;
}

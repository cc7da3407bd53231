// Turns judged migration statements into findings: per statement, the locks, the tables with
// their live size (when a server was read), the danger, and the safe sequence as SQL. Pure:
// the migration-risk check calls it with sizes from the snapshot, --offline without.
import { estimateTarget, type TableEstimate } from '../core/estimate.js';
import type { Finding, Severity, Status, Target } from '../core/types.js';
import { formatBytes, formatCount } from '../core/units.js';
import type { LockedRelation } from './ast.js';
import type { Danger, MigrationStatement } from './judge.js';
import type { MigrationAnalysis } from './index.js';
import { isSql } from './parse.js';
import { remedyFor } from './remediation.js';

export interface Thresholds {
  maxSize: number | null;
  maxRows: number | null;
}

/** Looks a relation (canonical name) up among the snapshot's targets; null when there is no such target. */
export type SizeLookup = (canonical: string) => TableEstimate | null;

const quoted = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The target a migration relation (canonical name, as the analyzer spells it) resolved to. */
export function targetFor(targets: readonly Target[], relation: LockedRelation | string): Target | undefined {
  const canonical = typeof relation === 'string' ? relation : relation.canonical;
  return targets.find((t) => canonical === `${quoted(t.schema)}.${quoted(t.name)}` || canonical === quoted(t.name));
}

/** The same estimate as the table-size check: the catalog and the cumulative statistics, never the size functions (they lock). */
export function sizeOfTarget(target: Target, blockSize: number): TableEstimate {
  return estimateTarget(target, blockSize);
}

const ORDER: Status[] = ['pass', 'warn', 'fail', 'error'];
const STATUS_OF: Record<Severity, Status> = { info: 'pass', warn: 'warn', fail: 'fail', error: 'error' };

function describeSize(size: TableEstimate): string {
  if (size.rows === null) return `no row estimate (never analyzed: ${size.unknown.join(', ')}; the statistics have no count)`;
  const bytes = size.bytes !== null ? formatBytes(size.bytes) : size.bytesAtMost !== null ? `size unknown until VACUUM/ANALYZE (at most ${formatBytes(size.bytesAtMost)})` : 'size unknown';
  return `~${formatCount(size.rows)} rows (${size.sources.join(' + ')}), ${bytes}`;
}

type SizeVerdict = { kind: 'over'; reason: string } | { kind: 'small' } | { kind: 'unknown'; reason: string };

/**
 * Over a threshold, small, or unknown. Unknown is not small: with no row estimate, or no
 * byte size whose upper bound clears --rewrite-size-fail, the decision fails closed.
 */
function judgeSize(size: TableEstimate, thresholds: Thresholds): SizeVerdict {
  const reasons: string[] = [];
  if (thresholds.maxRows !== null && size.rows !== null && size.rows >= thresholds.maxRows) reasons.push(`at or over --rewrite-rows-fail ${formatCount(thresholds.maxRows)}`);
  if (thresholds.maxSize !== null && size.bytes !== null && size.bytes >= thresholds.maxSize) reasons.push(`at or over --rewrite-size-fail ${formatBytes(thresholds.maxSize)}`);
  if (reasons.length > 0) return { kind: 'over', reason: reasons.join(', ') };
  if (size.rows === null && (thresholds.maxRows !== null || thresholds.maxSize !== null)) return { kind: 'unknown', reason: 'the size is unknown, assumed large' };
  if (thresholds.maxSize !== null && size.bytes === null && (size.bytesAtMost === null || size.bytesAtMost >= thresholds.maxSize)) {
    return { kind: 'unknown', reason: `the size in bytes is unknown until VACUUM/ANALYZE and could reach --rewrite-size-fail ${formatBytes(thresholds.maxSize)}, assumed large` };
  }
  return { kind: 'small' };
}

interface Judged {
  severity: Severity;
  why: string;
  /** Tables to ANALYZE before the size decision can be made. */
  analyze?: string[];
}

function displayOf(statement: MigrationStatement, canonical: string): string {
  return [...statement.held, ...statement.relations, ...statement.work.map((w) => w.relation)].find((r) => r.canonical === canonical)?.display ?? canonical;
}

function severityOf(danger: Danger, statement: MigrationStatement, sizes: SizeLookup | null, thresholds: Thresholds): Judged {
  switch (danger.kind) {
    case 'rewrite':
    case 'scan-under-lock': {
      if (!sizes) return { severity: 'fail', why: 'offline: the table size is unknown, assumed large' };
      const relations = danger.relations ?? [];
      const measured = relations.map((canonical) => ({ canonical, display: displayOf(statement, canonical), size: sizes(canonical) }));
      // A relation that is not a target (an index, a table of an index): its size cannot be read, so it is assumed large.
      const unmeasured = measured.filter((m) => m.size === null);
      if (unmeasured.length > 0) return { severity: 'fail', why: `the size of ${unmeasured.map((m) => m.display).join(', ')} is not known to the gate, assumed large` };
      const judged = measured.map((m) => ({ ...m, verdict: judgeSize(m.size as TableEstimate, thresholds) }));
      const over = judged.filter((m) => m.verdict.kind === 'over');
      if (over.length > 0) return { severity: 'fail', why: over.map((m) => `${m.display}: ${describeSize(m.size as TableEstimate)}, ${(m.verdict as { reason: string }).reason}`).join('; ') };
      const unknown = judged.filter((m) => m.verdict.kind === 'unknown');
      if (unknown.length > 0) {
        return {
          severity: 'fail',
          why: unknown.map((m) => `${m.display}: ${describeSize(m.size as TableEstimate)}: ${(m.verdict as { reason: string }).reason}`).join('; '),
          analyze: unknown.map((m) => m.display),
        };
      }
      return { severity: 'info', why: `small enough: ${measured.map((m) => `${m.display} ${describeSize(m.size as TableEstimate)}`).join('; ')}` };
    }
    case 'fails-on-existing-rows': {
      // Unknown is not small: offline the table is assumed to have rows, as a size is assumed large.
      if (!sizes) return { severity: 'fail', why: 'offline: whether the table has rows is unknown; fails unless it is empty' };
      const measured = (danger.relations ?? []).map((canonical) => ({ display: displayOf(statement, canonical), size: sizes(canonical) }));
      // The heap's pages, not the indexes' or TOAST's (whose index has a metapage too): an empty
      // table's primary key still takes a page, and every TOASTed value has its row in the heap.
      const known = measured.flatMap((m) => (m.size !== null && m.size.rows !== null ? [{ rows: m.size.rows, bytes: m.size.heapBytes }] : []));
      if (known.length < measured.length) {
        const unknown = measured.filter((m) => m.size === null || m.size.rows === null);
        return { severity: 'fail', why: `whether ${unknown.map((m) => m.display).join(', ')} has rows is unknown (never analyzed)`, analyze: unknown.map((m) => m.display) };
      }
      // rows 0 comes with the pages' bytes (estimate.ts): both must say empty.
      if (known.some((k) => k.rows > 0 || (k.bytes !== null && k.bytes > 0))) return { severity: 'fail', why: 'the table has rows' };
      return { severity: 'warn', why: 'the table looks empty now' };
    }
    case 'concurrently-in-transaction':
      return { severity: 'fail', why: 'PostgreSQL rejects it inside a transaction block' };
    case 'unknown-statement':
      return { severity: 'fail', why: '' };
    case 'lock-timeout-missing':
    case 'avoidable-strong-lock':
      return { severity: 'warn', why: '' };
  }
}

function where(statement: MigrationStatement): string {
  return `${statement.file}:${statement.line}`;
}

function locksText(statement: MigrationStatement, sizes: SizeLookup | null): string {
  if (statement.relations.length === 0) return 'no existing table';
  return statement.relations
    .map((r) => {
      const size = sizes?.(r.canonical);
      return `${r.display} ${r.mode}${size ? ` (${describeSize(size)})` : ''}`;
    })
    .join(', ');
}

export interface Assessment {
  status: Status;
  summary: string;
  findings: Finding[];
}

/** Findings for every statement of the migration. `sizes` is null for --offline; `statements` defaults to the analysis's own. */
export function assessMigration(analysis: MigrationAnalysis, sizes: SizeLookup | null, thresholds: Thresholds, statements: readonly MigrationStatement[] = analysis.statements): Assessment {
  const findings: Finding[] = [];
  for (const statement of statements) {
    const common: Partial<Finding> = {
      file: statement.file,
      line: statement.line,
      query: statement.excerpt,
      ...(statement.relations[0] ? { relation: statement.relations.map((r) => r.display).join(', '), target: statement.relations[0].display } : {}),
    };
    const details = {
      column: statement.column,
      lock: statement.lock,
      statement: statement.kinds.join(','),
      rewrites: statement.rewrites,
      scansUnderLock: statement.scansUnderLock,
      mayRunInTransaction: statement.mayRunInTransaction,
      concurrently: statement.concurrently,
      inTransactionBlock: statement.inTransactionBlock,
      transaction: statement.transaction,
      held: statement.held.map((h) => `${h.display} ${h.mode}`).join(', ') || null,
      unknown: statement.unknown,
      source: statement.source,
      notes: statement.notes.join('; ') || null,
    };
    if (statement.dangers.length === 0) {
      if (statement.relations.length === 0 && !statement.unknown) continue;
      findings.push({ kind: 'statement', severity: 'info', message: `${where(statement)}: ${locksText(statement, sizes)}${statement.notes.length > 0 ? ` (${statement.notes.join('; ')})` : ''}`, ...common, details });
      continue;
    }
    for (const danger of statement.dangers) {
      const { severity, why, analyze } = severityOf(danger, statement, sizes, thresholds);
      const remedy = remedyFor(danger, statement, analysis.runner);
      const remediation = analyze
        ? { sql: analyze.map((t) => `ANALYZE ${t};`).join('\n'), note: `collects the statistics the size decision needs (ShareUpdateExclusiveLock: reads and writes continue); then run the gate again${remedy?.sql ? `. If the table is large:\n${remedy.sql}` : danger.safe ? `. If the table is large: ${danger.safe}` : ''}` }
        : remedy?.sql !== undefined && isSql(remedy.sql)
          ? { sql: remedy.sql, note: remedy.note }
          : undefined;
      findings.push({
        kind: danger.kind,
        severity,
        message: `${where(statement)}: ${danger.message}${why ? ` (${why})` : ''}; locks ${locksText(statement, sizes)}${!remediation && remedy ? `. Instead: ${remedy.note}` : ''}`,
        ...common,
        ...(remediation ? { remediation } : {}),
        details: { ...details, advice: remedy?.note ?? danger.safe ?? null },
      });
    }
  }
  if (analysis.trace) {
    const { where, traced, untraced } = analysis.trace;
    findings.push({
      kind: 'trace',
      severity: 'info',
      message: `traced on ${where}: ${traced.length} statement(s) judged by what they did${untraced.length > 0 ? `; ${untraced.length} from their text: ${untraced.join(', ')}` : ''}`,
      details: { traced: traced.join(', '), untraced: untraced.join('; ') || null },
    });
  }
  for (const skipped of analysis.skipped) {
    findings.push({ kind: 'skipped', severity: 'info', message: `${skipped.file}:${skipped.line}: not given to the parser: ${skipped.what}`, file: skipped.file, line: skipped.line });
  }
  let status: Status = 'pass';
  for (const f of findings) if (ORDER.indexOf(STATUS_OF[f.severity]) > ORDER.indexOf(status)) status = STATUS_OF[f.severity];
  const dangerous = findings.filter((f) => f.severity !== 'info');
  const statementCount = statements.length;
  const fileCount = analysis.files.length;
  const history = analysis.historyFiles.length > 0 ? `, ${analysis.historyFiles.length} history file(s) read for the schema` : '';
  const summary =
    dangerous.length === 0
      ? `${statementCount} statement(s) in ${fileCount} file(s)${history}: no lock or rewrite danger${sizes ? ' at the live table sizes' : ''} (runner: ${analysis.runner.name})`
      : `${dangerous.length} danger(s) in ${statementCount} statement(s): ${dangerous
          .slice(0, 3)
          .map((f) => `${f.file}:${f.line} ${f.kind}`)
          .join(', ')}${dangerous.length > 3 ? ', ...' : ''}`;
  return { status, summary, findings };
}

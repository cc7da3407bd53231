// Turns analyzed migration statements into findings: per statement, the lock, the tables
// with their live size (when a server was read), the danger and the safe sequence. Pure:
// the migration-risk check calls it with sizes from the snapshot, --offline without.
import type { Finding, Severity, Status, Target } from '../core/types.js';
import { formatBytes, formatCount } from '../core/units.js';
import { estimateTarget, type TableEstimate } from '../core/estimate.js';
import { blocksWrites, isSql, type Danger, type LockedRelation, type MigrationStatement } from './analyze.js';
import type { MigrationAnalysis } from './index.js';

export interface Thresholds {
  maxSize: number | null;
  maxRows: number | null;
}

/** Looks a migration's relation up among the snapshot's targets; null when there is no such target. */
export type SizeLookup = (relation: LockedRelation) => TableEstimate | null;

export function targetFor(targets: readonly Target[], relation: LockedRelation): Target | undefined {
  return targets.find((t) => t.name === relation.name && (relation.schema === null || t.schema === relation.schema));
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
 * byte size whose upper bound clears --rewrite-max-size, the decision fails closed.
 */
function judgeSize(size: TableEstimate, thresholds: Thresholds): SizeVerdict {
  const reasons: string[] = [];
  if (thresholds.maxRows !== null && size.rows !== null && size.rows >= thresholds.maxRows) reasons.push(`at or over --rewrite-max-rows ${formatCount(thresholds.maxRows)}`);
  if (thresholds.maxSize !== null && size.bytes !== null && size.bytes >= thresholds.maxSize) reasons.push(`at or over --rewrite-max-size ${formatBytes(thresholds.maxSize)}`);
  if (reasons.length > 0) return { kind: 'over', reason: reasons.join(', ') };
  if (size.rows === null && (thresholds.maxRows !== null || thresholds.maxSize !== null)) return { kind: 'unknown', reason: 'the size is unknown, assumed large' };
  if (thresholds.maxSize !== null && size.bytes === null && (size.bytesAtMost === null || size.bytesAtMost >= thresholds.maxSize)) {
    return { kind: 'unknown', reason: `the size in bytes is unknown until VACUUM/ANALYZE and could reach --rewrite-max-size ${formatBytes(thresholds.maxSize)}, assumed large` };
  }
  return { kind: 'small' };
}

function severityOf(danger: Danger, statement: MigrationStatement, sizes: SizeLookup | null, thresholds: Thresholds): { severity: Severity; why: string; analyze?: string[] } {
  // The tables whose rows are read or rewritten under a write-blocking lock (the new partition for ATTACH).
  const affected = statement.relations.filter((r) => r.role !== 'referenced' && blocksWrites(r.mode) && !statement.newRelations.includes(r.canonical));
  switch (danger.kind) {
    case 'rewrite':
    case 'scan-under-lock': {
      if (!sizes) return { severity: 'fail', why: 'offline: the table size is unknown, assumed large' };
      const measured = affected.map((r) => ({ relation: r, size: sizes(r) })).filter((m): m is { relation: LockedRelation; size: TableEstimate } => m.size !== null);
      if (measured.length === 0) return { severity: 'info', why: 'the table does not exist yet on the server (the migration creates it)' };
      const judged = measured.map((m) => ({ ...m, verdict: judgeSize(m.size, thresholds) }));
      const over = judged.filter((m) => m.verdict.kind === 'over');
      if (over.length > 0) return { severity: 'fail', why: over.map((m) => `${m.relation.display}: ${describeSize(m.size)}, ${(m.verdict as { reason: string }).reason}`).join('; ') };
      const unknown = judged.filter((m) => m.verdict.kind === 'unknown');
      if (unknown.length > 0) {
        return {
          severity: 'fail',
          why: unknown.map((m) => `${m.relation.display}: ${describeSize(m.size)}: ${(m.verdict as { reason: string }).reason}`).join('; '),
          analyze: unknown.map((m) => m.relation.display),
        };
      }
      return { severity: 'info', why: `small enough: ${measured.map((m) => `${m.relation.display} ${describeSize(m.size)}`).join('; ')}` };
    }
    case 'fails-on-existing-rows': {
      if (!sizes) return { severity: 'warn', why: 'offline: fails unless the table is empty' };
      const measured = affected.map((r) => ({ relation: r, size: sizes(r) })).filter((m): m is { relation: LockedRelation; size: TableEstimate } => m.size !== null);
      const unknown = measured.filter((m) => m.size.rows === null);
      if (unknown.length > 0) return { severity: 'fail', why: `whether ${unknown.map((m) => m.relation.display).join(', ')} has rows is unknown (never analyzed)`, analyze: unknown.map((m) => m.relation.display) };
      if (measured.some((m) => (m.size.rows ?? 0) > 0 || (m.size.bytes ?? 0) > 0)) return { severity: 'fail', why: 'the table has rows' };
      return { severity: 'warn', why: 'the table looks empty now' };
    }
    case 'concurrently-in-transaction':
      return { severity: 'fail', why: 'PostgreSQL rejects it inside a transaction block' };
    case 'lock-timeout-missing':
    case 'avoidable-strong-lock':
    case 'unknown-statement':
      return { severity: 'warn', why: '' };
  }
}

function where(statement: MigrationStatement): string {
  return `${statement.file}:${statement.line}`;
}

function sizesText(statement: MigrationStatement, sizes: SizeLookup | null): string {
  if (statement.relations.length === 0) return 'no existing table';
  return statement.relations
    .map((r) => {
      const size = sizes?.(r);
      return `${r.display} ${r.mode}${size ? ` (${describeSize(size)})` : ''}`;
    })
    .join(', ');
}

export interface Assessment {
  status: Status;
  summary: string;
  findings: Finding[];
}

/** Findings for every statement of the migration. `sizes` is null for --offline. */
export function assessMigration(analysis: MigrationAnalysis, sizes: SizeLookup | null, thresholds: Thresholds): Assessment {
  const findings: Finding[] = [];
  for (const statement of analysis.statements) {
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
      unknown: statement.unknown,
    };
    if (statement.dangers.length === 0) {
      if (statement.relations.length === 0 && !statement.unknown) continue;
      findings.push({ kind: 'statement', severity: 'info', message: `${where(statement)}: ${sizesText(statement, sizes)}`, ...common, details });
      continue;
    }
    for (const danger of statement.dangers) {
      const { severity, why, analyze } = severityOf(danger, statement, sizes, thresholds);
      const remediation = analyze
        ? { sql: analyze.map((t) => `ANALYZE ${t};`).join('\n'), note: `collects the statistics the size decision needs (ShareUpdateExclusiveLock: reads and writes continue); then run the gate again${danger.safe ? `. If the table is large: ${danger.safe}` : ''}` }
        : danger.safe && isSql(danger.safe)
          ? { sql: danger.safe, note: `safe sequence for: ${statement.excerpt}` }
          : undefined;
      findings.push({
        kind: danger.kind,
        severity,
        // A safe sequence that is SQL is the remediation; one in words is advice in the message.
        message: `${where(statement)}: ${danger.message}${why ? ` (${why})` : ''}; locks ${sizesText(statement, sizes)}${danger.safe && !isSql(danger.safe) ? `. Instead: ${danger.safe}` : ''}`,
        ...common,
        ...(remediation ? { remediation } : {}),
        details,
      });
    }
  }
  let status: Status = 'pass';
  for (const f of findings) if (ORDER.indexOf(STATUS_OF[f.severity]) > ORDER.indexOf(status)) status = STATUS_OF[f.severity];
  const dangerous = findings.filter((f) => f.severity !== 'info');
  const statementCount = analysis.statements.length;
  const summary =
    dangerous.length === 0
      ? `${statementCount} statement(s) in ${analysis.files.length} file(s): no lock or rewrite danger${sizes ? ' at the live table sizes' : ''}`
      : `${dangerous.length} danger(s) in ${statementCount} statement(s): ${dangerous
          .slice(0, 3)
          .map((f) => `${f.file}:${f.line} ${f.kind}`)
          .join(', ')}${dangerous.length > 3 ? ', ...' : ''}`;
  return { status, summary, findings };
}

// Turns analyzed migration statements into findings: per statement, the lock, the tables
// with their live size (when a server was read), the danger and the safe sequence. Pure:
// the migration-risk check calls it with sizes from the snapshot, --offline without.
import type { Finding, Severity, Status, Target } from '../core/types.js';
import { formatBytes, formatCount } from '../core/units.js';
import { blocksWrites, isSql, type Danger, type LockedRelation, type MigrationStatement } from './analyze.js';
import type { MigrationAnalysis } from './index.js';

export interface TableSize {
  /** Heap + indexes + TOAST, from pg_class.relpages. */
  bytes: number;
  /** pg_class.reltuples summed over the heaps; 0 when never analyzed. */
  rows: number;
  neverAnalyzed: boolean;
}

export interface Thresholds {
  maxSize: number | null;
  maxRows: number | null;
}

/** Looks a migration's relation up among the snapshot's targets; null when there is no such target. */
export type SizeLookup = (relation: LockedRelation) => TableSize | null;

export function targetFor(targets: readonly Target[], relation: LockedRelation): Target | undefined {
  return targets.find((t) => t.name === relation.name && (relation.schema === null || t.schema === relation.schema));
}

/** The same arithmetic as the table-size check: relpages × block size, never the size functions (they lock). */
export function sizeOfTarget(target: Target, blockSize: number): TableSize {
  const heaps = target.relations.filter((r) => (r.kind === 'table' || r.kind === 'partition' || r.kind === 'child') && r.relkind !== 'p');
  const bytes = target.relations.filter((r) => r.relkind !== 'p').reduce((sum, r) => sum + r.pages * blockSize, 0);
  return {
    bytes,
    rows: heaps.reduce((sum, r) => sum + Math.max(r.tuples, 0), 0),
    neverAnalyzed: heaps.some((r) => r.tuples < 0),
  };
}

const ORDER: Status[] = ['pass', 'warn', 'fail', 'error'];
const STATUS_OF: Record<Severity, Status> = { info: 'pass', warn: 'warn', fail: 'fail', error: 'error' };

function describeSize(size: TableSize): string {
  return `~${formatCount(size.rows)} rows, ${formatBytes(size.bytes)}${size.neverAnalyzed ? ' (never analyzed: no row estimate)' : ''}`;
}

function overThreshold(size: TableSize, thresholds: Thresholds): string | null {
  const reasons: string[] = [];
  if (thresholds.maxRows !== null && size.rows >= thresholds.maxRows) reasons.push(`at or over --rewrite-max-rows ${formatCount(thresholds.maxRows)}`);
  if (thresholds.maxSize !== null && size.bytes >= thresholds.maxSize) reasons.push(`at or over --rewrite-max-size ${formatBytes(thresholds.maxSize)}`);
  return reasons.length > 0 ? reasons.join(', ') : null;
}

function severityOf(danger: Danger, statement: MigrationStatement, sizes: SizeLookup | null, thresholds: Thresholds): { severity: Severity; why: string } {
  // The tables whose rows are read or rewritten under a write-blocking lock (the new partition for ATTACH).
  const affected = statement.relations.filter((r) => r.role !== 'referenced' && blocksWrites(r.mode) && !statement.newRelations.includes(r.canonical));
  switch (danger.kind) {
    case 'rewrite':
    case 'scan-under-lock': {
      if (!sizes) return { severity: 'fail', why: 'offline: the table size is unknown, assumed large' };
      const measured = affected.map((r) => ({ relation: r, size: sizes(r) })).filter((m): m is { relation: LockedRelation; size: TableSize } => m.size !== null);
      if (measured.length === 0) return { severity: 'info', why: 'the table does not exist yet on the server (the migration creates it)' };
      const over = measured.map((m) => ({ ...m, reason: overThreshold(m.size, thresholds) })).filter((m) => m.reason !== null);
      if (over.length > 0) return { severity: 'fail', why: over.map((m) => `${m.relation.display}: ${describeSize(m.size)}, ${m.reason}`).join('; ') };
      const unanalyzed = measured.filter((m) => m.size.neverAnalyzed && m.size.bytes > 0);
      if (unanalyzed.length > 0) return { severity: 'warn', why: `${unanalyzed.map((m) => m.relation.display).join(', ')} never analyzed: the row estimate is missing (run ANALYZE)` };
      return { severity: 'info', why: `small enough: ${measured.map((m) => `${m.relation.display} ${describeSize(m.size)}`).join('; ')}` };
    }
    case 'fails-on-existing-rows': {
      if (!sizes) return { severity: 'warn', why: 'offline: fails unless the table is empty' };
      const measured = affected.map((r) => sizes(r)).filter((s): s is TableSize => s !== null);
      if (measured.some((s) => s.rows > 0 || s.bytes > 0)) return { severity: 'fail', why: 'the table has rows' };
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
      const { severity, why } = severityOf(danger, statement, sizes, thresholds);
      findings.push({
        kind: danger.kind,
        severity,
        // A safe sequence that is SQL is the remediation; one in words is advice in the message.
        message: `${where(statement)}: ${danger.message}${why ? ` (${why})` : ''}; locks ${sizesText(statement, sizes)}${danger.safe && !isSql(danger.safe) ? `. Instead: ${danger.safe}` : ''}`,
        ...common,
        ...(danger.safe && isSql(danger.safe) ? { remediation: { sql: danger.safe, note: `safe sequence for: ${statement.excerpt}` } } : {}),
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

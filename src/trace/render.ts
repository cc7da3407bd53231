// The trace as a table for people and as JSON (the TraceResult document, version 1).
import Table from 'cli-table3';
import pc from 'picocolors';
import { LOCK_MODES } from '../core/lock-modes.js';
import { formatDuration } from '../core/units.js';
import type { TracedLock, TracedStatement, TraceResult } from './types.js';

export function traceJson(result: TraceResult): string {
  return `${JSON.stringify(result, null, 2)}\n`;
}

const SHORT: Record<string, string> = {
  AccessShareLock: 'AccessShare',
  RowShareLock: 'RowShare',
  RowExclusiveLock: 'RowExclusive',
  ShareUpdateExclusiveLock: 'ShareUpdateExclusive',
  ShareLock: 'Share',
  ShareRowExclusiveLock: 'ShareRowExclusive',
  ExclusiveLock: 'Exclusive',
  AccessExclusiveLock: 'AccessExclusive',
};

const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

function lockText(lock: TracedLock, here: string): string {
  const line = lock.since?.slice(lock.since.lastIndexOf(':') + 1);
  const origin = lock.since !== null && lock.since !== here ? ` (since :${line}${lock.carried ? ', an earlier transaction' : ''})` : '';
  return `${lock.relation} ${SHORT[lock.mode] ?? lock.mode}${lock.createdByMigration ? ' (new)' : ''}${origin}`;
}

/** The table's locks, and an index's only where it is stronger than its table's (the JSON has them all). */
function shownLocks(locks: readonly TracedLock[]): TracedLock[] {
  const rank = (mode: string): number => LOCK_MODES.indexOf(mode as (typeof LOCK_MODES)[number]);
  return locks.filter((lock) => {
    if (lock.kind !== 'index' || lock.table === undefined) return true;
    const table = locks.find((l) => l.relation === lock.table);
    return !table || rank(table.mode) < rank(lock.mode);
  });
}

const TRANSACTION: Record<TracedStatement['transaction'], string> = { own: 'on its own', block: 'in BEGIN', none: 'no transaction', 'trace-transaction': 'rolled back' };

function effects(s: TracedStatement): string {
  const parts: string[] = [];
  if (s.rewritten.length > 0) parts.push(`rewrites ${s.rewritten.map((r) => r.relation).join(', ')}`);
  if (s.truncated.length > 0) parts.push(`truncates ${s.truncated.map((r) => r.relation).join(', ')}`);
  if (s.indexesRebuilt.length > 0 && s.rewritten.length === 0) parts.push(`rebuilds ${s.indexesRebuilt.map((r) => r.relation).join(', ')}`);
  const scans = (s.scans ?? []).filter((scan) => !s.rewritten.some((r) => r.relation === scan.relation));
  if (scans.length > 0) parts.push(`scans ${scans.map((scan) => scan.relation).join(', ')}`);
  if (s.scans === null && s.outcome === 'traced') parts.push('scans not measured');
  return parts.join('; ') || '-';
}

export function traceTable(result: TraceResult, options: { color: boolean; exitCode: number }): string {
  const c = pc.createColors(options.color);
  const out: string[] = [];
  const history = result.history.files.length > 0 ? `, after ${result.history.statements} history statement(s) from ${result.history.files.length} file(s)` : '';
  out.push(`pgpreflight trace: ${result.files.length} file(s) on ${result.target.display}${history}`);
  const grid = new Table({
    head: ['where', 'statement', 'locks held afterwards', 'does'],
    style: { head: [], border: [] },
    colWidths: [22, 38, 40, 26],
    wordWrap: true,
  });
  for (const s of result.statements) {
    if (s.outcome === 'transaction-control') continue;
    const here = `${s.file}:${s.line}`;
    const location = `${baseName(s.file)}:${s.line}\n${c.dim(TRANSACTION[s.transaction])}`;
    const statement = s.excerpt.length > 110 ? `${s.excerpt.slice(0, 109)}…` : s.excerpt;
    if (s.outcome === 'error') {
      grid.push([location, statement, c.red(`ERROR ${s.error?.code ?? ''}: ${s.error?.message ?? ''}`), '-']);
      continue;
    }
    if (s.outcome === 'not-run') {
      grid.push([location, statement, c.yellow(`not run: ${s.note ?? ''}`), '-']);
      continue;
    }
    const locks = shownLocks(s.locks ?? []).map((l) => lockText(l, here)).join('\n') || '(none)';
    grid.push([location, statement, locks, effects(s)]);
  }
  out.push(grid.toString());
  const outside = result.statements.filter((s) => s.transaction === 'none' && s.outcome === 'traced');
  if (outside.length > 0) out.push('', c.dim(`note: ${outside.map((s) => `${baseName(s.file)}:${s.line}`).join(', ')} cannot run in a transaction: ran for real on the ${result.target.kind === 'throwaway' ? 'throwaway server' : 'shadow'}; first lock seen waiting, the rest sampled; scans not measured`));
  for (const note of result.notes) out.push('', c.dim(`note: ${note}`));
  const { summary } = result;
  const verdict = options.exitCode === 0 ? c.green('every statement ran') : options.exitCode === 1 ? c.red(`${summary.errors} failed, ${summary.notRun} not run`) : c.magenta('could not trace');
  out.push(
    '',
    `${c.bold('Trace:')} ${summary.traced} of ${summary.statements} statement(s) traced: ${summary.rewrites} rewrite(s), ${summary.scans} with full scans; ${verdict} (exit ${options.exitCode}, ${formatDuration(result.durationMs)})`,
  );
  return `${out.join('\n')}\n`;
}

/** 0: every statement ran and was observed; 1: some statement failed or could not be traced. */
export function traceExitCode(result: TraceResult): number {
  return result.summary.errors > 0 || result.summary.notRun > 0 ? 1 : 0;
}

// `pgpreflight trace`: runs the pending migration on a throwaway server (after its history)
// or on a marked shadow database, and reports what each statement really locked, rewrote and
// scanned. See docs/trace.md.
import { stat } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import type { ConnectionSpec } from '../core/connection.js';
import { PreflightError } from '../core/errors.js';
import { analyzeSources, migrationSourcesOf, readMigrationSources, withTrace, type AnalyzeOptions, type MigrationAnalysis, type MigrationSource } from '../migration/index.js';
import { layoutDirectoryOf, listMigrationDirectory, migrationsBefore } from '../migration/input.js';
import { applyHistory, Tracer, type TraceOptions } from './engine.js';
import { traceCoverage, traceOverlay } from './overlay.js';
import { traceSteps } from './statements.js';
import { shadowTarget, throwawayTarget, type TraceTarget } from './target.js';
import type { TracedStatement, TraceResult } from './types.js';

export type { TraceResult, TracedStatement, TracedLock, TracedScan, TracedRelation } from './types.js';
export { SHADOW_COMMENT, SHADOW_SETTING, type TraceTarget } from './target.js';

export type TraceWhere = { kind: 'throwaway'; major?: number } | { kind: 'shadow'; spec: ConnectionSpec; timeoutMs: number };

export interface TraceRequest {
  pending: MigrationSource[];
  /** The static analysis of `pending` (what `check --migration` computed). */
  analysis: MigrationAnalysis;
  history: MigrationSource[];
  where: TraceWhere;
  options: Omit<TraceOptions, 'mode'>;
}

/** The pending files a --migration argument means (a directory: its migrations), for leaving them out of the history. */
async function pendingFilesOf(pendingPaths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of pendingPaths) {
    if (path === '-') continue;
    if ((await stat(path).catch(() => null))?.isDirectory() === true) out.push(...(await listMigrationDirectory(path)).files);
    else out.push(path);
  }
  return out;
}

/**
 * The history files, in order. Given (--history): each directory's migrations that run before
 * the first pending file it holds (all of them when it holds none), and each file; never a
 * pending file. Not given: the migrations of the first pending file's layout directory that run
 * before it. Both pick and order the files as `check --migration <dir>` does (migrationsBefore):
 * V2 before V10, Flyway's repeatables last and undo files, .down.sql and down.sql never.
 * Empty when `history` is false (--no-history).
 */
export async function historyPaths(pendingPaths: readonly string[], history: readonly string[] | false | undefined): Promise<string[]> {
  if (history === false) return [];
  const pendingFiles = await pendingFilesOf(pendingPaths);
  const pending = new Set(pendingFiles.map((p) => resolve(p)));
  const out: string[] = [];
  const add = (path: string): void => {
    if (!pending.has(resolve(path)) && !out.some((p) => resolve(p) === resolve(path))) out.push(path);
  };
  if (history === undefined) {
    const first = pendingPaths[0];
    if (first === undefined || first === '-' || (await stat(first).catch(() => null))?.isFile() !== true) return [];
    // Only as deep as the pending file itself: the files beside a flat one, the sibling
    // directories of a Prisma/diesel one; not every .sql file somewhere under its directory.
    const dir = layoutDirectoryOf(first);
    (await migrationsBefore(dir, pendingFiles, relative(dir, first).split(sep).length - 1)).forEach(add);
    return out;
  }
  for (const path of history) {
    const info = await stat(path).catch(() => null);
    if (!info) throw new PreflightError(`--history ${path}: no such file or directory; pass the migration files (or their directory) that come before the pending ones`);
    if (info.isDirectory()) (await migrationsBefore(path, pendingFiles)).forEach(add);
    else add(path);
  }
  return out;
}

function summarize(statements: readonly TracedStatement[]): TraceResult['summary'] {
  const real = statements.filter((s) => s.outcome !== 'transaction-control');
  return {
    statements: real.length,
    traced: real.filter((s) => s.outcome === 'traced').length,
    errors: real.filter((s) => s.outcome === 'error').length,
    notRun: real.filter((s) => s.outcome === 'not-run').length,
    rewrites: real.filter((s) => s.rewritten.length > 0).length,
    scans: real.filter((s) => (s.scans ?? []).length > 0).length,
  };
}

/** Runs the trace; the throwaway server is always stopped, the shadow's transaction always rolled back. */
export async function traceMigration(request: TraceRequest): Promise<TraceResult> {
  const started = performance.now();
  if (request.where.kind === 'shadow' && request.history.length > 0) {
    throw new PreflightError('--history applies to the throwaway server only: a shadow database must already be at the state before the pending migration');
  }
  const target: TraceTarget = request.where.kind === 'throwaway' ? await throwawayTarget(request.where.major) : await shadowTarget(request.where.spec, request.where.timeoutMs);
  // Ctrl-C or a kill: stop the throwaway server before leaving (a shadow's transaction ends with the connection).
  const onSignal = (): void => {
    void target.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await traceOn(target, request);
    return { ...result, durationMs: Math.round(performance.now() - started) };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await target.close();
  }
}

/**
 * Traces on a target that is already there: a throwaway target (commit mode) is changed for
 * good, a shadow (rollback mode) is left as it was. The target stays open.
 */
export async function traceOn(target: TraceTarget, request: Omit<TraceRequest, 'where'>): Promise<TraceResult> {
  const started = performance.now();
  const historyAnalysis = request.history.length > 0 ? await analyzeSources(request.history) : null;
  const historySteps = historyAnalysis ? await traceSteps(historyAnalysis.statements) : [];
  const pendingSteps = await traceSteps(request.analysis.statements);
  const notes: string[] = [];
  if (historySteps.length > 0) {
    const historySession = await target.connect('pgpreflight-trace-history');
    try {
      notes.push(...(await applyHistory(historySession, historySteps)));
    } finally {
      await historySession.end().catch(() => undefined);
    }
  }
  const client = await target.connect('pgpreflight-trace');
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid');
    const tracer = new Tracer(client, rows[0]?.pid as number, () => target.connect('pgpreflight-trace-observer'), {
      ...request.options,
      mode: target.kind === 'throwaway' ? 'commit' : 'rollback',
    });
    const run = await tracer.run(pendingSteps);
    notes.push(...run.notes);
    return {
      version: 1,
      target: { kind: target.kind, display: target.display, serverVersion: target.serverVersion, major: target.major },
      history: { files: request.history.map((h) => h.file), statements: historySteps.length },
      files: request.pending.map((p) => p.file),
      statements: run.statements,
      summary: summarize(run.statements),
      notes,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Reads the --migration and --history arguments and traces them. */
export async function traceFiles(
  pendingPaths: readonly string[],
  history: readonly string[] | false | undefined,
  where: TraceWhere,
  options: Omit<TraceOptions, 'mode'>,
  stdin?: NodeJS.ReadableStream,
): Promise<TraceResult> {
  const pending = await readMigrationSources(pendingPaths, stdin);
  const analysis = await analyzeSources(pending);
  const historyFiles = where.kind === 'shadow' && history === undefined ? [] : await historyPaths(pendingPaths, history);
  const historySources = historyFiles.length > 0 ? await readMigrationSources(historyFiles) : [];
  return traceMigration({ pending, analysis, history: historySources, where, options });
}

/**
 * `check --trace`: the check's migration run on a throwaway server, after its history (--since
 * and --history, else the migrations beside the first pending file that run before it), and the
 * analysis judged again with what each statement did. A history that does not apply is an
 * error (exit 2); a statement that fails or is not run keeps its static judgement.
 */
export async function traceAnalysis(analysis: MigrationAnalysis, pendingPaths: readonly string[], options: AnalyzeOptions): Promise<MigrationAnalysis> {
  if (pendingPaths.includes('-')) throw new PreflightError('--trace runs the migration on a throwaway server from its files: pass them with --migration <file or directory>, not on stdin');
  const sources = await migrationSourcesOf(pendingPaths, options);
  const beside = sources.history.length === 0 ? await historyPaths(pendingPaths, undefined) : [];
  const history = beside.length > 0 ? await readMigrationSources(beside) : sources.history;
  const result = await traceMigration({
    pending: sources.pending,
    analysis,
    history,
    where: { kind: 'throwaway' },
    options: { inTransaction: analysis.runner.mode === 'transaction', settings: [], statementTimeoutMs: 60_000, lockTimeoutMs: 5_000 },
  });
  return withTrace(analysis, { overlay: traceOverlay(result), where: `a throwaway PostgreSQL ${result.target.serverVersion}`, ...traceCoverage(result) });
}

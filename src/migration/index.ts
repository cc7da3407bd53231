// `check --migration <path>`: read the migration files (a file, a directory in the order its
// tool applies it, or `-` for stdin), parse every statement with PostgreSQL's parser, judge
// them as PostgreSQL runs them (transactions, the runner's wrapping, the schema so far), and
// turn the result into the tables and lock modes the live checks gate on. With a server the
// judgement is made again on the server's schema (judgeOnServer, called by migration-risk).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PreflightError } from '../core/errors.js';
import { strongerLock } from '../core/lock-modes.js';
import type { TableRequest, Target } from '../core/types.js';
import { judge, type JudgedFile, type MigrationStatement, type Overlay } from './judge.js';
import { readMigrationInput, type InputOptions, type MigrationFile } from './input.js';
import { loadDeparser, loadParser, parseStatements, prepareText, type MigrationSource, type ParsedStatement, type Skipped } from './parse.js';
import { detectRunner, runnerByName, RUNNER_NAMES, RUNNERS, type Runner } from './runners.js';
import { Schema } from './schema.js';

export type { LockedRelation, RelationRole } from './ast.js';
export type { Danger, DangerKind, MigrationStatement, Overlay, TracedFacts, TransactionKind } from './judge.js';
export type { MigrationSource, Skipped } from './parse.js';
export type { Runner } from './runners.js';
export { blocksWrites } from './judge.js';
export { loadParser } from './parse.js';
export { RUNNER_NAMES, RUNNERS } from './runners.js';

export interface MigrationAnalysis {
  /** The pending files, judged. */
  files: string[];
  /** Files read for the schema only (--since, --history). */
  historyFiles: string[];
  statements: MigrationStatement[];
  /** One request per relation, with the strongest mode any statement takes on it. */
  tables: TableRequest[];
  /** Some statement has the CREATE INDEX CONCURRENTLY semantics. */
  concurrently: boolean;
  /** What was not given to the parser: psql meta-commands, COPY data, down sections, a BOM. */
  skipped: Skipped[];
  /** Files a directory held that are not run: down/undo scripts. */
  ignored: string[];
  runner: Runner;
  /** Where the runner came from. */
  runnerSource: 'flag' | 'detected';
  /** The parsed files, to judge again with a server's schema or a trace. */
  prepared: JudgedFile[];
  /** Type and function names the statements use, for the server-schema query. */
  names: { types: string[]; functions: string[] };
  /** Tables the migration renames: new canonical name → old (the same table, its size and traffic). */
  renamedFrom: Record<string, string>;
  /** With `check --trace`: what the trace observed; the statements above are judged with it. */
  trace?: MigrationTrace;
}

/** What `check --trace` adds to the analysis: the trace's facts per statement, and which statements it observed. */
export interface MigrationTrace {
  overlay: Overlay;
  /** Where it ran, e.g. "throwaway PostgreSQL 17.6". */
  where: string;
  /** file:line of each statement judged by what it did. */
  traced: string[];
  /** file:line (and why) of each statement judged from its text. */
  untraced: string[];
}

export interface AnalyzeOptions extends InputOptions {
  /** A runner name (see RUNNERS), `auto` to detect it, or undefined for auto. */
  runner?: string;
  /** Shorthand for --runner transaction. */
  inTransaction?: boolean;
}

function runnerFor(options: AnalyzeOptions, paths: readonly string[], markers: readonly string[]): { runner: Runner; source: 'flag' | 'detected' } {
  if (options.inTransaction && options.runner !== undefined && options.runner !== 'auto' && options.runner !== 'transaction') {
    throw new PreflightError(`--in-transaction and --runner ${options.runner} disagree: --in-transaction means --runner transaction`);
  }
  if (options.inTransaction) return { runner: RUNNERS.transaction as Runner, source: 'flag' };
  if (options.runner === undefined || options.runner === 'auto') return { runner: detectRunner(paths, markers), source: 'detected' };
  const runner = runnerByName(options.runner);
  if (!runner) throw new PreflightError(`--runner ${options.runner}: unknown; use one of ${RUNNER_NAMES.join(', ')}`);
  return { runner, source: 'flag' };
}

/** Every name a parse tree mentions that the server can describe: type names and called functions. */
function collectNames(statements: readonly ParsedStatement[]): { types: string[]; functions: string[] } {
  const types = new Set<string>();
  const functions = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const record = value as Record<string, unknown>;
    const typeName = record.TypeName as Record<string, unknown> | undefined;
    const names = (node: unknown): string[] =>
      (Array.isArray(node) ? node : []).map((n) => (n as { String?: { sval?: string } }).String?.sval).filter((s): s is string => typeof s === 'string');
    if (record.typeName && typeof record.typeName === 'object') {
      const parts = names((record.typeName as Record<string, unknown>).names);
      if (parts.length > 0 && parts[0] !== 'pg_catalog') types.add(parts.join('.'));
    }
    if (typeName) {
      const parts = names(typeName.names);
      if (parts.length > 0 && parts[0] !== 'pg_catalog') types.add(parts.join('.'));
    }
    const call = record.FuncCall as Record<string, unknown> | undefined;
    if (call) {
      const parts = names(call.funcname);
      const last = parts.at(-1);
      if (last) functions.add(last);
    }
    for (const child of Object.values(record)) visit(child);
  };
  for (const s of statements) visit(s.node);
  return { types: [...types].slice(0, 1000), functions: [...functions].slice(0, 1000) };
}

async function prepareFile(file: MigrationFile | (MigrationSource & { history?: boolean; noTransaction?: boolean }), depth = 0): Promise<JudgedFile> {
  const prepared = prepareText(file.file, file.text);
  const statements: ParsedStatement[] = parseStatements(file.file, file.text, prepared);
  const skipped = [...prepared.skipped];
  // psql \i and \ir: the included file's statements run at that point, in the same session.
  if (prepared.includes.length > 0) {
    const merged: ParsedStatement[] = [];
    let next = 0;
    const positioned = statements as (ParsedStatement & { at?: number })[];
    for (const include of prepared.includes) {
      while (next < positioned.length && (positioned[next]?.at ?? 0) < include.at) merged.push(positioned[next++] as ParsedStatement);
      const base = include.relative || file.file === '<stdin>' ? dirname(resolve(file.file === '<stdin>' ? '.' : file.file)) : process.cwd();
      const path = resolve(base, include.path);
      let text: string | undefined;
      if (depth < 8) text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) {
        throw new PreflightError(`${file.file}:${include.line}: psql \\${include.relative ? 'ir' : 'i'} ${include.path}: ${depth >= 8 ? 'includes nest too deep' : `cannot read ${path}`}; pass the included file's statements too, or run from the directory psql runs from`);
      }
      const inner = await prepareFile({ file: path, text, history: file.history, noTransaction: file.noTransaction }, depth + 1);
      merged.push(...inner.statements);
      skipped.push(...inner.skipped);
    }
    while (next < positioned.length) merged.push(positioned[next++] as ParsedStatement);
    return { file: file.file, statements: merged, history: file.history ?? false, skipped, markers: prepared.markers, noTransaction: file.noTransaction ?? false };
  }
  return { file: file.file, statements, history: file.history ?? false, skipped, markers: prepared.markers, noTransaction: file.noTransaction ?? false };
}

/** The tables the gate resolves: every relation a pending statement locks, except indexes, views and sequences. */
function tableRequests(statements: readonly MigrationStatement[], created: ReadonlySet<string>): TableRequest[] {
  const tables = new Map<string, TableRequest>();
  for (const statement of statements) {
    for (const rel of statement.relations) {
      if (rel.role === 'index' || rel.role === 'view' || rel.role === 'sequence') continue;
      const existing = tables.get(rel.canonical);
      // A table the migration creates is gated only if it already exists on the server (the
      // CREATE is history the input repeats); absent, it is new and holds no traffic.
      const ifExists = created.has(rel.canonical);
      tables.set(rel.canonical, existing ? { ...existing, lockMode: strongerLock(existing.lockMode, rel.mode) } : { input: rel.display, canonical: rel.canonical, lockMode: rel.mode, fromMigration: true, ...(ifExists ? { ifExists } : {}) });
    }
  }
  return [...tables.values()];
}

/** Analyzes parsed sources into statements and table requests. */
export async function analyzeSources(sources: readonly (MigrationSource | MigrationFile)[], options: AnalyzeOptions = {}, ignored: string[] = []): Promise<MigrationAnalysis> {
  await Promise.all([loadParser(), loadDeparser()]);
  const prepared: JudgedFile[] = [];
  for (const source of sources) prepared.push(await prepareFile(source));
  const pending = prepared.filter((f) => !f.history);
  const { runner, source: runnerSource } = runnerFor(options, pending.map((f) => f.file), pending.flatMap((f) => f.markers));
  const statements = judge(prepared, { runner, schema: new Schema() });
  // New names (CREATE, or a RENAME of an existing table): on the server only if the migration already ran.
  const created = new Set(statements.flatMap((s) => [...s.creates, ...s.renames.map(([, to]) => to)]));
  const renamedFrom = Object.fromEntries(statements.flatMap((s) => s.renames.map(([from, to]) => [to, from])));
  return {
    files: pending.map((f) => f.file),
    historyFiles: prepared.filter((f) => f.history).map((f) => f.file),
    statements,
    tables: tableRequests(statements, created),
    concurrently: statements.some((s) => s.concurrently),
    skipped: prepared.flatMap((f) => f.skipped),
    ignored,
    runner,
    runnerSource,
    prepared,
    names: collectNames(prepared.flatMap((f) => f.statements)),
    renamedFrom,
  };
}

/**
 * Judges the migration again with what a trace observed (`pgpreflight trace`, `check --trace`):
 * each statement the overlay answers for uses the traced locks, rewrites and scans instead of
 * the static ones. Offline (no schema and targets) the history is replayed for the schema as
 * `analyzeSources` does; with a server's schema and targets it is judgeOnServer's judgement.
 */
export function judgeWithOverlay(analysis: MigrationAnalysis, overlay: Overlay, server?: { schema: Schema; targets: readonly Target[] }): MigrationStatement[] {
  if (server) return judgeOnServer(analysis, server.schema, server.targets, overlay);
  return judge(analysis.prepared, { runner: analysis.runner, schema: new Schema(), overlay });
}

/** The files every --migration argument means, in order (a directory in the order its tool applies it), with their text. */
export async function readMigrationSources(paths: readonly string[], stdin?: NodeJS.ReadableStream): Promise<MigrationSource[]> {
  const input = await readMigrationInput(paths, stdin ? { stdin } : {});
  return input.files.filter((f) => !f.history).map((f) => ({ file: f.file, text: f.text }));
}

/** The files a --migration (with --since / --history) means, pending and history apart, with their text: what a trace runs. */
export async function migrationSourcesOf(paths: readonly string[], options: AnalyzeOptions = {}): Promise<{ pending: MigrationSource[]; history: MigrationSource[] }> {
  const input = await readMigrationInput(paths, options);
  const source = (f: MigrationFile): MigrationSource => ({ file: f.file, text: f.text });
  // The history is what ran before the first pending file (input order is the layout's order):
  // with --since, an unchanged V10 after a changed V2 has not run when V2 does.
  const firstPending = input.files.findIndex((f) => !f.history);
  const before = firstPending === -1 ? input.files : input.files.slice(0, firstPending);
  return { pending: input.files.filter((f) => !f.history).map(source), history: before.filter((f) => f.history).map(source) };
}

/**
 * The analysis with a trace's facts (`check --trace`): each statement the trace observed is
 * judged by what it did, the tables to gate are the ones the statements really locked, and
 * judgeOnServer keeps using the overlay when the server's schema is read.
 */
export function withTrace(analysis: MigrationAnalysis, trace: MigrationTrace): MigrationAnalysis {
  const statements = judgeWithOverlay(analysis, trace.overlay);
  const created = new Set(statements.flatMap((s) => [...s.creates, ...s.renames.map(([, to]) => to)]));
  return { ...analysis, statements, tables: tableRequests(statements, created), concurrently: statements.some((s) => s.concurrently), trace };
}

/** Reads and analyzes every --migration argument. */
export async function analyzeMigrations(paths: readonly string[], options: AnalyzeOptions | NodeJS.ReadableStream = {}): Promise<MigrationAnalysis> {
  const opts: AnalyzeOptions = 'pipe' in options || 'read' in options ? { stdin: options as NodeJS.ReadableStream } : (options as AnalyzeOptions);
  const input = await readMigrationInput(paths, opts);
  return analyzeSources(input.files, opts, input.ignored);
}

/**
 * Judges the migration again on the server's schema: column types, constraints, indexes and
 * TimeZone from the catalogs. History files are not replayed (the server already has them);
 * a relation is new only when the migration creates it and the server does not have it.
 * `sessionLockTimeout`: the lock_timeout the migration's sessions start with on this server.
 */
export function judgeOnServer(analysis: MigrationAnalysis, schema: Schema, targets: readonly Target[], overlay?: Overlay, sessionLockTimeout?: string): MigrationStatement[] {
  const present = (canonical: string): boolean =>
    targets.some((t) => {
      const quoted = (s: string): string => `"${s.replace(/"/g, '""')}"`;
      return canonical === `${quoted(t.schema)}.${quoted(t.name)}` || canonical === quoted(t.name);
    });
  return judge(
    analysis.prepared.filter((f) => !f.history),
    {
      runner: analysis.runner,
      schema: schema.clone(),
      isNew: (canonical, createdByPending) => createdByPending && !present(canonical),
      ...((overlay ?? analysis.trace?.overlay) ? { overlay: overlay ?? analysis.trace?.overlay } : {}),
      ...(sessionLockTimeout !== undefined ? { sessionLockTimeout } : {}),
    },
  );
}

/** --table requests and the migration's, one per table, the stronger mode winning; `ifExists` only when every request has it. */
export function mergeTableRequests(given: readonly TableRequest[], fromMigration: readonly TableRequest[]): TableRequest[] {
  const merged = new Map<string, TableRequest>();
  for (const request of [...given, ...fromMigration]) {
    const existing = merged.get(request.canonical);
    if (!existing) {
      merged.set(request.canonical, request);
      continue;
    }
    const ifExists = existing.ifExists === true && request.ifExists === true;
    const fromMigration = existing.fromMigration === true && request.fromMigration === true;
    merged.set(request.canonical, { input: existing.input, canonical: existing.canonical, lockMode: strongerLock(existing.lockMode, request.lockMode), ...(ifExists ? { ifExists } : {}), ...(fromMigration ? { fromMigration } : {}) });
  }
  return [...merged.values()];
}

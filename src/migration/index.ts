// `check --migration <path>`: read the migration files (a file, a directory's .sql files
// in name order, or `-` for stdin), analyze every statement, and turn the result into the
// tables and lock modes the live checks gate on.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PreflightError } from '../core/errors.js';
import { strongerLock } from '../core/lock-modes.js';
import type { TableRequest } from '../core/types.js';
import { analyzeSource, loadParser, type MigrationSource, type MigrationStatement } from './analyze.js';

export type { Danger, DangerKind, LockedRelation, MigrationSource, MigrationStatement } from './analyze.js';
export { analyzeSource, blocksWrites, loadParser } from './analyze.js';

export interface MigrationAnalysis {
  files: string[];
  statements: MigrationStatement[];
  /** One request per relation, with the strongest mode any statement takes on it. */
  tables: TableRequest[];
  /** Some statement has the CREATE INDEX CONCURRENTLY semantics. */
  concurrently: boolean;
}

async function readStdin(stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stdin) throw new PreflightError('--migration -: there is no standard input to read; pass a file path instead');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** The sources behind each --migration argument, in order. */
export async function readMigrationSources(paths: readonly string[], stdin?: NodeJS.ReadableStream): Promise<MigrationSource[]> {
  const sources: MigrationSource[] = [];
  for (const path of paths) {
    if (path === '-') {
      sources.push({ file: '<stdin>', text: await readStdin(stdin) });
      continue;
    }
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      throw new PreflightError(`--migration ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}; pass a .sql file, a directory of them, or - for stdin`, { cause: error });
    }
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => n.endsWith('.sql')).sort();
      if (names.length === 0) throw new PreflightError(`--migration ${path}: the directory has no .sql files`);
      for (const name of names) sources.push({ file: join(path, name), text: await readFile(join(path, name), 'utf8') });
    } else {
      sources.push({ file: path, text: await readFile(path, 'utf8') });
    }
  }
  return sources;
}

/** Analyzes parsed sources into statements and table requests. */
export async function analyzeSources(sources: readonly MigrationSource[]): Promise<MigrationAnalysis> {
  await loadParser();
  const created = new Set<string>();
  const statements = sources.flatMap((source) => analyzeSource(source, created));
  const tables = new Map<string, TableRequest>();
  for (const statement of statements) {
    for (const rel of statement.relations) {
      // Relations the migration itself creates do not exist yet on the live server; indexes
      // cannot be targets (the gate resolves tables), so index statements are reported by the
      // migration-risk check instead.
      if (statement.newRelations.includes(rel.canonical) || rel.role === 'index') continue;
      const existing = tables.get(rel.canonical);
      tables.set(rel.canonical, existing ? { ...existing, lockMode: strongerLock(existing.lockMode, rel.mode) } : { input: rel.display, canonical: rel.canonical, lockMode: rel.mode });
    }
  }
  return {
    files: sources.map((s) => s.file),
    statements,
    tables: [...tables.values()],
    concurrently: statements.some((s) => s.concurrently),
  };
}

/** Reads and analyzes every --migration argument. */
export async function analyzeMigrations(paths: readonly string[], stdin?: NodeJS.ReadableStream): Promise<MigrationAnalysis> {
  return analyzeSources(await readMigrationSources(paths, stdin));
}

/** --table requests and the migration's, one per table, the stronger mode winning. */
export function mergeTableRequests(given: readonly TableRequest[], fromMigration: readonly TableRequest[]): TableRequest[] {
  const merged = new Map<string, TableRequest>();
  for (const request of [...given, ...fromMigration]) {
    const existing = merged.get(request.canonical);
    merged.set(request.canonical, existing ? { ...existing, lockMode: strongerLock(existing.lockMode, request.lockMode) } : request);
  }
  return [...merged.values()];
}

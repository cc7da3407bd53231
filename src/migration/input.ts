// Which files a --migration argument means, in which order, and which of them are already
// applied. A directory is walked for the layouts tools write: flat `0001_x.sql` files,
// golang-migrate and sqlx `<n>_x.up.sql` (never `.down.sql`), Flyway `V<version>__x.sql`
// (ordered by version; `U` undo files skipped, `R__` repeatables last), ory/pop's
// `<n>_x.postgres.up.sql` (the other databases' files skipped), Prisma
// `<timestamp>_x/migration.sql`, diesel `<timestamp>_x/up.sql` (never `down.sql`), and
// `.SQL` in capitals. With --since <git-ref>, the files unchanged since that commit are
// history: read for the schema they leave behind, not judged.
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { PreflightError } from '../core/errors.js';

export interface MigrationFile {
  file: string;
  text: string;
  history: boolean;
  /** The tool skips its transaction for this file (diesel metadata.toml run_in_transaction = false). */
  noTransaction: boolean;
}

export interface MigrationInput {
  files: MigrationFile[];
  /** Files a directory held that are not migrations to run: down/undo scripts, other extensions. */
  ignored: string[];
}

const run = promisify(execFile);

const DOWN = /(^|[._-])(down|undo|revert|rollback)\.sql$/i;
/** ory/pop (Kratos, Hydra) keeps one file per database: name.postgres.up.sql next to name.mysql.up.sql. */
const OTHER_DIALECT = /\.(mysql|mariadb|sqlite3?|cockroach|mssql|sqlserver|oracle)(\.[a-z]+)*\.sql$/i;

function isSql(name: string): boolean {
  return /\.sql$/i.test(name);
}

/** Flyway's version of V1_2__x.sql / V1.2__x.sql as numbers, for ordering; null for other names. */
function flywayVersion(name: string): number[] | null {
  const match = /^V(\d+(?:[._]\d+)*)__/i.exec(name);
  return match ? (match[1] as string).split(/[._]/).map(Number) : null;
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

/** Orders paths (relative to the directory) as the tools apply them. */
export function orderMigrationPaths(paths: readonly string[]): string[] {
  const key = (p: string): { group: number; version: number[] | null } => {
    const name = basename(p);
    const version = flywayVersion(name);
    if (version) return { group: 0, version };
    if (/^R__/i.test(name)) return { group: 2, version: null };
    return { group: 1, version: null };
  };
  return [...paths].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    if (ka.group !== kb.group) return ka.group - kb.group;
    if (ka.version && kb.version) return compareVersions(ka.version, kb.version) || collator.compare(a, b);
    // Per path component, numbers compared as numbers: 2_x.up.sql before 10_y.up.sql.
    const pa = a.split(/[\\/]/);
    const pb = b.split(/[\\/]/);
    for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
      const d = collator.compare(pa[i] as string, pb[i] as string);
      if (d !== 0) return d;
    }
    return pa.length - pb.length;
  });
}

/** The migration files under a directory (subdirectories to `maxDepth` levels), in the order they run, and what was left out. */
export async function listMigrationDirectory(dir: string, maxDepth = 4): Promise<{ files: string[]; ignored: string[] }> {
  const files: string[] = [];
  const ignored: string[] = [];
  const walk = async (current: string, depth: number): Promise<void> => {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        if (depth < maxDepth && !/^(down|revert|undo|rollback|verify|seeds?)$/i.test(entry.name)) await walk(path, depth + 1);
        continue;
      }
      if (!isSql(entry.name)) continue;
      if (DOWN.test(entry.name) || /^U\d+(?:[._]\d+)*__/i.test(entry.name) || OTHER_DIALECT.test(entry.name)) ignored.push(path);
      else files.push(relative(dir, path));
    }
  };
  await walk(dir, 0);
  // ory/pop runs name.postgres.up.sql instead of name.up.sql when both exist.
  const dialectSpecific = new Set(files.filter((f) => /\.postgres(\.[a-z]+)*\.sql$/i.test(f)).map((f) => f.replace(/\.postgres((\.[a-z]+)*\.sql)$/i, '$1').replace(/\.autocommit\./i, '.')));
  const chosen = files.filter((f) => {
    if (!dialectSpecific.has(f.replace(/\.autocommit\./i, '.'))) return true;
    ignored.push(join(dir, f));
    return false;
  });
  return { files: orderMigrationPaths(chosen).map((f) => join(dir, f)), ignored };
}

/**
 * The directory whose migrations a file sits among: Prisma's `<ts>_x/migration.sql` and
 * diesel's `<ts>_x/up.sql` are one directory per migration, so their siblings are the parent's
 * other migration directories; any other file's are the files beside it.
 */
export function layoutDirectoryOf(file: string): string {
  return /^(migration|up)\.sql$/i.test(basename(file)) ? dirname(dirname(file)) : dirname(file);
}

/**
 * The migrations under `dir` (subdirectories to `maxDepth` levels) that run before the first
 * of `pending` (files) in the order listMigrationDirectory gives, i.e. what is already applied when the pending ones run; all of
 * them when no pending file is under `dir`. Down/undo scripts never, repeatables (run last)
 * only before a pending repeatable.
 */
export async function migrationsBefore(dir: string, pending: readonly string[], maxDepth?: number): Promise<string[]> {
  const { files } = await listMigrationDirectory(dir, maxDepth);
  const root = resolve(dir);
  const inside = new Set(pending.map((p) => resolve(p)).filter((p) => p.startsWith(root + sep)).map((p) => relative(root, p)));
  if (inside.size === 0) return files;
  // A pending file the listing leaves out (an odd name) still takes its place in the order.
  const ordered = orderMigrationPaths([...new Set([...files.map((f) => relative(root, resolve(f))), ...inside])]);
  return ordered.slice(0, ordered.findIndex((p) => inside.has(p))).map((p) => join(dir, p));
}

async function readStdin(stdin: NodeJS.ReadableStream | undefined): Promise<string> {
  if (!stdin) throw new PreflightError('--migration -: there is no standard input to read; pass a file path instead');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** diesel's per-migration metadata.toml (`run_in_transaction = false`), or ory/pop's `.autocommit.` file name. */
async function dieselNoTransaction(path: string): Promise<boolean> {
  if (/\.autocommit\.(up\.)?sql$/i.test(basename(path))) return true;
  if (basename(path).toLowerCase() !== 'up.sql') return false;
  try {
    const toml = await readFile(join(dirname(path), 'metadata.toml'), 'utf8');
    return /^\s*run_in_transaction\s*=\s*false\b/m.test(toml);
  } catch {
    return false;
  }
}

/** Files changed since a git ref (committed, staged, unstaged or untracked), as absolute paths. */
async function changedSince(ref: string, where: string): Promise<Set<string>> {
  const cwd = (await stat(where)).isDirectory() ? where : dirname(where);
  const git = async (args: string[]): Promise<string> => {
    try {
      return (await run('git', args, { cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
    } catch (error) {
      const e = error as { stderr?: string; code?: string | number };
      if (e.code === 'ENOENT') throw new PreflightError('--since needs git on the PATH', { cause: error });
      throw new PreflightError(`--since ${ref}: git could not compare with it (${(e.stderr ?? String(error)).trim().split('\n')[0]}); pass a commit, branch or tag of the repository that holds ${where}`, { cause: error });
    }
  };
  const top = (await git(['rev-parse', '--show-toplevel'])).trim();
  const listed = [
    ...(await git(['diff', '--name-only', '--no-renames', ref, '--', '.'])).split('\n'),
    ...(await git(['ls-files', '--others', '--exclude-standard', '--full-name', '--', '.'])).split('\n'),
  ].filter((line) => line.trim() !== '');
  return new Set(listed.map((p) => resolve(top, p)));
}

export interface InputOptions {
  stdin?: NodeJS.ReadableStream;
  /** Files unchanged since this git ref are history. */
  since?: string;
  /** Paths (files or directories) of migrations already applied. */
  history?: readonly string[];
}

async function expand(path: string, ignored: string[]): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new PreflightError(`--migration ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (error as Error).message}; pass a .sql file, a directory of them, or - for stdin`, { cause: error });
  }
  if (!info.isDirectory()) return [path];
  const listed = await listMigrationDirectory(path);
  ignored.push(...listed.ignored);
  if (listed.files.length === 0) throw new PreflightError(`--migration ${path}: the directory has no .sql migrations${listed.ignored.length > 0 ? ` (only ${listed.ignored.length} down/undo script(s))` : ''}`);
  return listed.files;
}

/** Reads every --migration argument (and --history), marking history files. */
export async function readMigrationInput(paths: readonly string[], options: InputOptions = {}): Promise<MigrationInput> {
  const ignored: string[] = [];
  const files: MigrationFile[] = [];
  const seen = new Set<string>();
  const read = async (path: string, history: boolean): Promise<MigrationFile> => ({ file: path, text: await readFile(path, 'utf8'), history, noTransaction: await dieselNoTransaction(path) });
  for (const path of options.history ?? []) {
    for (const file of await expand(path, ignored)) {
      seen.add(resolve(file));
      files.push(await read(file, true));
    }
  }
  for (const path of paths) {
    if (path === '-') {
      files.push({ file: '<stdin>', text: await readStdin(options.stdin), history: false, noTransaction: false });
      continue;
    }
    const expanded = await expand(path, ignored);
    const pending = options.since !== undefined ? await changedSince(options.since, path) : null;
    for (const file of expanded) {
      if (seen.has(resolve(file))) continue;
      seen.add(resolve(file));
      files.push(await read(file, pending !== null && !pending.has(resolve(file))));
    }
  }
  if (options.since !== undefined && files.every((f) => f.history)) {
    throw new PreflightError(`--since ${options.since}: no migration file changed since then, so there is nothing to judge; drop --since to judge them all`);
  }
  return { files, ignored };
}

// `npm run bench:lint`: pgpreflight's static analysis (`check --offline --migration`) next to
// squawk (the squawk-cli devDependency) on every migration under test/corpus/: dangerous/
// holds the patterns PostgreSQL's docs and migration guides warn about, safe/ their safe
// rewrites. Prints what each tool flags per statement and the totals, and exits 1 when
// pgpreflight misses a lock or rewrite danger squawk flags, or flags a safe rewrite.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import { projectRoot } from '../src/clusters/cluster.js';
import { analyzeSources, type MigrationStatement } from '../src/migration/index.js';
import type { Report } from '../src/core/types.js';

/**
 * squawk's rules about locks, rewrites and scans (https://squawkhq.com/docs/rules); its other
 * rules are about style, naming, idempotency or backwards compatibility (prefer-robust-stmts,
 * prefer-bigint-over-int, renaming-column, ban-drop-column, require-statement-timeout, ...).
 */
export const SQUAWK_LOCK_RULES = new Set([
  'adding-field-with-default',
  'adding-foreign-key-constraint',
  'adding-not-nullable-field',
  'adding-required-field',
  'adding-serial-primary-key-field',
  'ban-alter-domain-with-add-constraint',
  'ban-concurrent-index-creation-in-transaction',
  'changing-column-type',
  'constraint-missing-not-valid',
  'disallowed-unique-constraint',
  'require-concurrent-index-creation',
  'require-concurrent-index-deletion',
  'require-concurrent-partition-detach',
  'require-concurrent-reindex',
  'require-lock-timeout',
]);

export type Expectation = 'dangerous' | 'safe';

export interface CorpusRow {
  file: string;
  line: number;
  excerpt: string;
  expected: Expectation;
  /** pgpreflight's warn/fail finding kinds on this statement. */
  pgpreflight: string[];
  /** Every squawk rule that fired on this statement. */
  squawk: string[];
}

interface SquawkViolation {
  file: string;
  /** 0-based. */
  line: number;
  rule_name: string;
}

const CORPUS = join(projectRoot, 'test', 'corpus');
const SQUAWK = join(projectRoot, 'node_modules', '.bin', 'squawk');
const CLI = join(projectRoot, 'bin', 'pgpreflight.js');

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function squawk(paths: string[]): Promise<SquawkViolation[]> {
  const { code, stdout, stderr } = await run(SQUAWK, ['--reporter', 'json', ...paths]);
  if (code !== 0 && code !== 1) throw new Error(`squawk exited ${code}: ${stderr}`);
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as SquawkViolation[]);
}

async function pgpreflight(paths: string[]): Promise<Report> {
  const { code, stdout, stderr } = await run(process.execPath, [CLI, 'check', '--offline', ...paths.flatMap((p) => ['--migration', p]), '--format', 'json']);
  if (code !== 0 && code !== 1) throw new Error(`pgpreflight exited ${code}: ${stderr}`);
  const report = (JSON.parse(stdout) as { databases: { report: Report | null }[] }).databases[0]?.report;
  if (!report) throw new Error(`pgpreflight printed no report: ${stdout.slice(0, 200)}`);
  return report;
}

/** Whether a statement is worth a row: SET, BEGIN and COMMIT lock nothing. */
function isMigrationStep(statement: MigrationStatement): boolean {
  return statement.nodeType !== 'VariableSetStmt' && statement.nodeType !== 'TransactionStmt';
}

/**
 * Runs both tools on every corpus file and lines their verdicts up per statement. Each tool
 * runs once per directory, over all its files (pgpreflight keeps each file's transaction and
 * lock_timeout state apart; findings carry their file and line).
 */
export async function compareCorpus(root = CORPUS): Promise<CorpusRow[]> {
  const rows: CorpusRow[] = [];
  for (const expected of ['dangerous', 'safe'] as const) {
    const dir = join(root, expected);
    const paths = readdirSync(dir).filter((n) => n.endsWith('.sql')).sort().map((n) => join(dir, n));
    const [report, violations] = await Promise.all([pgpreflight(paths), squawk(paths)]);
    const findings = report.checks.flatMap((c) => c.findings).filter((f) => f.severity !== 'info' && f.line !== undefined);
    for (const path of paths) {
      const { statements } = await analyzeSources([{ file: path, text: readFileSync(path, 'utf8') }]);
      for (const statement of statements.filter(isMigrationStep)) {
        const within = (line: number): boolean => line >= statement.line && line <= statement.endLine;
        rows.push({
          file: `${expected}/${basename(path)}`,
          line: statement.line,
          excerpt: statement.excerpt,
          expected,
          pgpreflight: [...new Set(findings.filter((f) => f.file === path && within(f.line as number)).map((f) => `${f.kind}(${f.severity})`))],
          squawk: [...new Set(violations.filter((v) => v.file === path && within(v.line + 1)).map((v) => v.rule_name))],
        });
      }
    }
  }
  return rows;
}

export interface Totals {
  dangerous: number;
  safe: number;
  dangerousFlaggedByPgpreflight: number;
  dangerousFlaggedBySquawkLockRules: number;
  dangerousFlaggedBySquawkAnyRule: number;
  /** Statements where a squawk lock rule fired and pgpreflight said nothing: must be 0. */
  squawkLockDangersMissedByPgpreflight: CorpusRow[];
  /** Safe rewrites pgpreflight flags: must be 0. */
  safeFlaggedByPgpreflight: CorpusRow[];
  safeFlaggedBySquawkLockRules: number;
  safeFlaggedBySquawkAnyRule: number;
  /** Dangerous statements only pgpreflight flags (no squawk lock rule fired). */
  onlyPgpreflight: CorpusRow[];
}

export function totalsOf(rows: readonly CorpusRow[]): Totals {
  const dangerous = rows.filter((r) => r.expected === 'dangerous');
  const safe = rows.filter((r) => r.expected === 'safe');
  const lockRules = (r: CorpusRow): string[] => r.squawk.filter((rule) => SQUAWK_LOCK_RULES.has(rule));
  return {
    dangerous: dangerous.length,
    safe: safe.length,
    dangerousFlaggedByPgpreflight: dangerous.filter((r) => r.pgpreflight.length > 0).length,
    dangerousFlaggedBySquawkLockRules: dangerous.filter((r) => lockRules(r).length > 0).length,
    dangerousFlaggedBySquawkAnyRule: dangerous.filter((r) => r.squawk.length > 0).length,
    squawkLockDangersMissedByPgpreflight: dangerous.filter((r) => lockRules(r).length > 0 && r.pgpreflight.length === 0),
    safeFlaggedByPgpreflight: safe.filter((r) => r.pgpreflight.length > 0),
    safeFlaggedBySquawkLockRules: safe.filter((r) => lockRules(r).length > 0).length,
    safeFlaggedBySquawkAnyRule: safe.filter((r) => r.squawk.length > 0).length,
    onlyPgpreflight: dangerous.filter((r) => r.pgpreflight.length > 0 && lockRules(r).length === 0),
  };
}

async function main(): Promise<number> {
  const rows = await compareCorpus();
  const { stdout } = await run(SQUAWK, ['--version']);
  const table = new Table({ head: ['statement', 'expected', 'pgpreflight --offline', `${stdout.trim()}: LOCK RULES in capitals`], style: { head: [], border: [] }, colWidths: [58, 11, 34, 44], wordWrap: true });
  for (const row of rows) {
    const squawkText = row.squawk.map((rule) => (SQUAWK_LOCK_RULES.has(rule) ? rule.toUpperCase() : rule)).join(', ');
    table.push([`${row.file}:${row.line}\n${row.excerpt}`, row.expected, row.pgpreflight.join(', ') || '-', squawkText || '-']);
  }
  const t = totalsOf(rows);
  const summary = new Table({ head: ['total', 'pgpreflight', 'squawk (lock rules)', 'squawk (any rule)'], style: { head: [], border: [] } });
  summary.push(
    [`dangerous statements flagged (of ${t.dangerous})`, String(t.dangerousFlaggedByPgpreflight), String(t.dangerousFlaggedBySquawkLockRules), String(t.dangerousFlaggedBySquawkAnyRule)],
    [`safe rewrites flagged (of ${t.safe})`, String(t.safeFlaggedByPgpreflight.length), String(t.safeFlaggedBySquawkLockRules), String(t.safeFlaggedBySquawkAnyRule)],
    ['squawk lock dangers pgpreflight misses', String(t.squawkLockDangersMissedByPgpreflight.length), '', ''],
    ['dangers only pgpreflight flags', String(t.onlyPgpreflight.length), '', ''],
  );
  process.stdout.write(`${table.toString()}\n\n${summary.toString()}\n`);
  if (t.onlyPgpreflight.length > 0) process.stdout.write(`\nonly pgpreflight: ${t.onlyPgpreflight.map((r) => `${r.file}:${r.line}`).join(', ')}\n`);
  const failed = t.squawkLockDangersMissedByPgpreflight.length > 0 || t.safeFlaggedByPgpreflight.length > 0;
  if (failed) {
    process.stderr.write(
      `bench:lint: ${[...t.squawkLockDangersMissedByPgpreflight.map((r) => `missed ${r.file}:${r.line} (${r.squawk.join(', ')})`), ...t.safeFlaggedByPgpreflight.map((r) => `flagged safe ${r.file}:${r.line} (${r.pgpreflight.join(', ')})`)].join('; ')}\n`,
    );
  }
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // exitCode, not exit(): exit() can cut off stdout still flushing to a pipe.
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`bench:lint: ${(error as Error).message}\n`);
      process.exitCode = 2;
    },
  );
}

// `npm run bench:lint`: pgpreflight's migration analysis next to squawk (the squawk-cli
// devDependency) on two corpora kept apart: the project's own (test/corpus/: dangerous/ holds
// the patterns PostgreSQL's docs and migration guides warn about, safe/ their safe rewrites;
// compared per statement), and an independent one built from the peers' own examples
// (bench/corpus-peers/, see ./peers.ts; compared per case, offline and on a throwaway server),
// plus the analysis time of a 20,000-statement file. `--offline-only` skips the server,
// `--verbose` prints the project corpus per statement. Exits 1 when pgpreflight misses a lock
// or rewrite danger squawk flags in the project corpus, or flags a safe rewrite there.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Table from 'cli-table3';
import { projectRoot, startCluster, type Cluster } from '../src/clusters/cluster.js';
import { formatCount } from '../src/core/units.js';
import { analyzeSources, type MigrationStatement } from '../src/migration/index.js';
import type { Report } from '../src/core/types.js';
import { comparePeers, peerTotals, run, SQUAWK_LOCK_RULES } from './peers.js';

// squawk's rules about locks, rewrites and scans: one list, kept with the peers' corpus.
export { SQUAWK_LOCK_RULES };

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

/** A migration of `count` statements of the common kinds, for the analysis-time figure. */
export function largeMigration(count: number): string {
  const kinds = [
    (i: number) => `ALTER TABLE t${i % 97} ADD COLUMN c${i} int DEFAULT ${i};`,
    (i: number) => `CREATE INDEX CONCURRENTLY i${i} ON t${i % 97} (c${i});`,
    (i: number) => `INSERT INTO t${i % 97} (a, b) VALUES (${i}, 'é${i}');`,
    (i: number) => `UPDATE t${i % 97} SET b = 'x' WHERE a = ${i};`,
    (i: number) => `COMMENT ON TABLE t${i % 97} IS 'table ${i}';`,
  ];
  return `SET lock_timeout = '5s';\n${Array.from({ length: count - 1 }, (_, i) => (kinds[i % kinds.length] as (i: number) => string)(i)).join('\n')}\n`;
}

async function performance(statements: number): Promise<string[][]> {
  const { analyzeSources: analyze, loadParser } = await import('../src/migration/index.js');
  const { parseStatements, prepareText } = await import('../src/migration/parse.js');
  await loadParser();
  const text = largeMigration(statements);
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-bench-lint-'));
  const path = join(dir, 'large.sql');
  writeFileSync(path, text);
  const cpu = (f: () => unknown): number => {
    const start = process.cpuUsage();
    f();
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1000;
  };
  // Warm the parser and the JIT once, then measure.
  parseStatements('warm.sql', 'SELECT 1;', prepareText('warm.sql', 'SELECT 1;'));
  const parseMs = cpu(() => parseStatements('large.sql', text, prepareText('large.sql', text)));
  const startTotal = process.cpuUsage();
  await analyze([{ file: path, text }]);
  const used = process.cpuUsage(startTotal);
  const totalMs = (used.user + used.system) / 1000;
  // Wall time on a shared machine says more about the neighbours than the tool: CPU time (user + system) of the process, from bash's time.
  const cpuOf = async (command: string, args: string[]): Promise<number> => {
    const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const { stderr } = await run('bash', ['-c', `TIMEFORMAT='%U %S'; time ${quoted} > /dev/null`]);
    const [user, system] = (stderr.trim().split('\n').at(-1) ?? '0 0').split(' ').map(Number);
    return ((user ?? 0) + (system ?? 0)) * 1000;
  };
  const cliMs = await cpuOf(process.execPath, [CLI, 'check', '--offline', '--migration', path, '--format', 'json']);
  const squawkMs = await cpuOf(SQUAWK, ['--reporter', 'json', path]);
  return [
    [`${formatCount(statements)} statements: analysis (CPU, excluding the parser)`, `${Math.round(totalMs - parseMs)} ms`, '', '< 1 s'],
    [`${formatCount(statements)} statements: parse + analysis (CPU)`, `${Math.round(totalMs)} ms`, '', ''],
    [`${formatCount(statements)} statements: the CLI end to end, --format json (CPU)`, `${(cliMs / 1000).toFixed(1)} s`, `${(squawkMs / 1000).toFixed(1)} s`, ''],
  ];
}

const pct = (n: number, of: number): string => `${n}/${of} (${of === 0 ? 0 : Math.round((100 * n) / of)}%)`;

async function main(): Promise<number> {
  const offlineOnly = process.argv.includes('--offline-only');
  const verbose = process.argv.includes('--verbose');
  const rows = await compareCorpus();
  const { stdout } = await run(SQUAWK, ['--version']);
  if (verbose) {
    const table = new Table({ head: ['statement', 'expected', 'pgpreflight --offline', `${stdout.trim()}: LOCK RULES in capitals`], style: { head: [], border: [] }, colWidths: [58, 11, 34, 44], wordWrap: true });
    for (const row of rows) {
      const squawkText = row.squawk.map((rule) => (SQUAWK_LOCK_RULES.has(rule) ? rule.toUpperCase() : rule)).join(', ');
      table.push([`${row.file}:${row.line}\n${row.excerpt}`, row.expected, row.pgpreflight.join(', ') || '-', squawkText || '-']);
    }
    process.stdout.write(`${table.toString()}\n\n`);
  }
  const t = totalsOf(rows);
  const summary = new Table({ head: ['project corpus (test/corpus)', 'pgpreflight', 'squawk (lock rules)', 'squawk (any rule)'], style: { head: [], border: [] } });
  summary.push(
    [`dangerous statements flagged (of ${t.dangerous})`, String(t.dangerousFlaggedByPgpreflight), String(t.dangerousFlaggedBySquawkLockRules), String(t.dangerousFlaggedBySquawkAnyRule)],
    [`safe rewrites flagged (of ${t.safe})`, String(t.safeFlaggedByPgpreflight.length), String(t.safeFlaggedBySquawkLockRules), String(t.safeFlaggedBySquawkAnyRule)],
    ['squawk lock dangers pgpreflight misses', String(t.squawkLockDangersMissedByPgpreflight.length), '', ''],
  );
  process.stdout.write(`${summary.toString()}\n\n`);

  let cluster: Cluster | null = null;
  if (!offlineOnly) cluster = await startCluster({ settings: { autovacuum: false } });
  let peers;
  try {
    peers = peerTotals(await comparePeers(undefined, cluster));
  } finally {
    await cluster?.stop();
  }
  const p = peers;
  const peerTable = new Table({ head: [`independent corpus (bench/corpus-peers: ${p.dangerous + p.safe + p.schemaDependent} cases)`, 'pgpreflight', `${stdout.trim()}`, 'target'], style: { head: [], border: [] } });
  peerTable.push(
    ['dangerous flagged (offline)', pct(p.dangerousFlagged.pgpreflight, p.dangerous), pct(p.dangerousFlagged.squawk, p.dangerous), '>= 95%'],
    ['of them blocking a busy table: a fail (exit 1)', pct(p.blockingBlocked.pgpreflight, p.blockingBlocked.of), `${pct(p.blockingBlocked.squawk, p.blockingBlocked.of)} flagged`, 'all'],
    ['safe flagged (offline)', pct(p.safeFlagged.pgpreflight, p.safe), pct(p.safeFlagged.squawk, p.safe), '<= 3%'],
    ['schema-dependent safe cases right, with the earlier migrations (offline)', pct(p.schemaRight.withHistory, p.schemaDependent), 'n/a', ''],
    ['schema-dependent safe cases right, with a server (online)', cluster || !offlineOnly ? pct(p.schemaRight.online, p.schemaRight.onlineOf) : 'not run', 'n/a', 'all'],
    ['schema-dependent cases judged blind (pending file alone): failed closed', pct(p.schemaRight.blindFlagged, p.schemaDependent), '', 'all'],
    ['every case with a history, online: right', offlineOnly ? 'not run' : pct(p.onlineRight.right, p.onlineRight.of), '', ''],
  );
  for (const row of await performance(20000)) peerTable.push(row);
  process.stdout.write(`${peerTable.toString()}\n`);
  if (p.misses.length > 0) process.stdout.write(`\npgpreflight gets wrong: ${p.misses.join('; ')}\n`);
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

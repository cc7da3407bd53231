// The independent corpus under bench/corpus-peers/: the peers' own examples (squawk's rule
// tests, eugene's hint examples, strong_migrations' dangerous operations as the SQL Rails
// emits), each labelled by what PostgreSQL does with it on an existing, busy table:
//   fail  it blocks the table for a time that grows with its size, or errors out in its transaction
//   flag  quick but worth a warning (an ACCESS EXCLUSIVE with a lighter variant, a missing lock_timeout, an error on a non-empty table)
//   pass  safe
// A case is a directory: case.txt (source, expect, runner, schema-dependent, why), history.sql
// (the migrations already applied, when the case needs them) and 1.sql, 2.sql, ... (pending).
// Schema-dependent cases are safe only because of the table's current schema (a varchar being
// widened, a CHECK validated earlier): judged blind they must fail closed, with a schema right.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKS } from '../checks/index.js';
import { projectRoot, type Cluster } from '../src/clusters/cluster.js';
import { resolveConnection } from '../src/core/connection.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { offlineReport } from '../src/gate/offline.js';
import { runOnce } from '../src/gate/runner.js';
import { analyzeMigrations, mergeTableRequests } from '../src/migration/index.js';
import type { Report } from '../src/core/types.js';

export type Expect = 'fail' | 'flag' | 'pass';

export interface PeerCase {
  id: string;
  dir: string;
  source: string;
  expect: Expect;
  runner: string;
  schemaDependent: boolean;
  /** The case is about lock_timeout: timeout findings and rules count. */
  aboutTimeout: boolean;
  why: string;
  history: string | null;
  pending: string[];
}

export const PEERS = join(projectRoot, 'bench', 'corpus-peers');
const SQUAWK = join(projectRoot, 'node_modules', '.bin', 'squawk');

/**
 * squawk's rules about locks, rewrites, scans and transactions (https://squawkhq.com/docs/rules);
 * its other rules are about style, naming, idempotency or backwards compatibility
 * (prefer-robust-stmts, prefer-bigint-over-int, renaming-column, ban-drop-column, ...).
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
  'prefer-repack',
  'require-concurrent-index-creation',
  'require-concurrent-index-deletion',
  'require-concurrent-partition-detach',
  'require-concurrent-reindex',
  'require-lock-timeout',
  'require-timeout-settings',
]);
const TIMEOUT_RULES = new Set(['require-lock-timeout', 'require-timeout-settings', 'require-statement-timeout']);
/** Runners that wrap each file in a transaction: squawk is told so with --assume-in-transaction. */
const WRAPPING = new Set(['transaction', 'rails', 'django', 'diesel', 'sqlx', 'flyway', 'knex', 'node-pg-migrate', 'goose', 'dbmate', 'atlas', 'prisma', 'golang-migrate']);

export function loadPeerCases(root = PEERS): PeerCase[] {
  const cases: PeerCase[] = [];
  for (const source of readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    for (const name of readdirSync(join(root, source)).sort()) {
      const dir = join(root, source, name);
      const fields = Object.fromEntries(
        readFileSync(join(dir, 'case.txt'), 'utf8')
          .split('\n')
          .filter((l) => l.includes(': '))
          .map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]),
      ) as Record<string, string>;
      const pending = readdirSync(dir).filter((f) => /^\d+\.sql$/.test(f)).sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10)).map((f) => join(dir, f));
      cases.push({
        id: `${source}/${name}`,
        dir,
        source: fields.source ?? '',
        expect: (fields.expect ?? 'pass') as Expect,
        runner: fields.runner ?? 'psql',
        schemaDependent: fields['schema-dependent'] === 'yes',
        aboutTimeout: fields.about === 'lock_timeout',
        why: fields.why ?? '',
        history: existsSync(join(dir, 'history.sql')) ? join(dir, 'history.sql') : null,
        pending,
      });
    }
  }
  return cases;
}

/** A child process's exit code and output (squawk, the CLI), for both corpora of bench:lint. */
export function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface Judgement {
  /** Some warn or fail finding (timeouts only for a case about them). */
  flagged: boolean;
  /** Some fail finding: the deploy is blocked. */
  blocked: boolean;
  kinds: string[];
}

function judgementOf(report: Report, c: PeerCase): Judgement {
  const findings = report.checks.flatMap((check) => check.findings).filter((f) => f.severity === 'warn' || f.severity === 'fail').filter((f) => c.aboutTimeout || f.kind !== 'lock-timeout-missing');
  return { flagged: findings.length > 0, blocked: findings.some((f) => f.severity === 'fail'), kinds: [...new Set(findings.map((f) => `${f.kind}(${f.severity})`))] };
}

/** pgpreflight --offline on a case: with its history (what the files say), or blind (the pending files alone). In process: the same analysis and assessment the CLI prints. */
export async function pgpreflightOffline(c: PeerCase, withHistory: boolean): Promise<Judgement> {
  const analysis = await analyzeMigrations(c.pending, { runner: c.runner, ...(withHistory && c.history ? { history: [c.history] } : {}) });
  const report = offlineReport(analysis);
  return judgementOf(report, c);
}

/** squawk on the pending files, told whether the runner wraps each file in a transaction. */
export async function squawkOn(c: PeerCase): Promise<Judgement> {
  const { code, stdout, stderr } = await run(SQUAWK, ['--reporter', 'json', ...(WRAPPING.has(c.runner) ? ['--assume-in-transaction'] : []), ...c.pending]);
  if (code !== 0 && code !== 1) throw new Error(`squawk exited ${code} on ${c.id}: ${stderr}`);
  const violations = (stdout.trim() === '' ? [] : JSON.parse(stdout)) as { rule_name: string; level?: string }[];
  const rules = violations.map((v) => v.rule_name).filter((r) => SQUAWK_LOCK_RULES.has(r) && (c.aboutTimeout || !TIMEOUT_RULES.has(r)));
  return { flagged: rules.length > 0, blocked: rules.length > 0, kinds: [...new Set(rules)] };
}

/**
 * pgpreflight with a server: the case's history is applied to a fresh database, then the gate
 * (in process, as `check --migration --only migration-risk` runs it) judges the pending files on that schema. --rewrite-rows-fail 0 makes every rewrite or scan
 * under a write-blocking lock a fail whatever the (empty) table's size: what is compared is
 * whether the analyzer sees one, not the size.
 */
export async function pgpreflightOnline(c: PeerCase, cluster: Cluster, index: number): Promise<Judgement> {
  const database = `peer_${index}`;
  await cluster.sql(`DROP DATABASE IF EXISTS ${database}`);
  await cluster.sql(`CREATE DATABASE ${database}`);
  try {
    const client = await cluster.connect({ database });
    try {
      if (c.history) await client.query(readFileSync(c.history, 'utf8'));
      await client.query(`ALTER DATABASE ${database} SET timezone = 'UTC'`);
      await client.query('ANALYZE');
    } finally {
      await client.end();
    }
    const analysis = await analyzeMigrations(c.pending, { runner: c.runner });
    const checks = CHECKS.filter((check) => check.id === 'migration-risk');
    const { report } = await runOnce({
      connection: resolveConnection(cluster.url({ database }), {}),
      tables: mergeTableRequests([], analysis.tables),
      checks,
      options: resolveCheckOptions(checks, { 'rewrite-rows-fail': '0' }),
      timeoutMs: 30_000,
      migration: analysis,
    });
    return judgementOf(report, c);
  } finally {
    await cluster.sql(`DROP DATABASE IF EXISTS ${database}`);
  }
}

export interface PeerRow {
  c: PeerCase;
  pgpreflight: Judgement;
  /** Schema-dependent cases only: the pending files alone. */
  blind: Judgement | null;
  online: Judgement | null;
  squawk: Judgement;
}

/** Right for its label: fail → blocked; flag → flagged; pass → not flagged. */
export function right(expect: Expect, j: Judgement): boolean {
  return expect === 'fail' ? j.blocked : expect === 'flag' ? j.flagged : !j.flagged;
}

export async function comparePeers(cases = loadPeerCases(), cluster: Cluster | null = null): Promise<PeerRow[]> {
  const rows: PeerRow[] = [];
  for (const [index, c] of cases.entries()) {
    const [pgpreflight, squawk] = await Promise.all([pgpreflightOffline(c, true), squawkOn(c)]);
    const blind = c.schemaDependent ? await pgpreflightOffline(c, false) : null;
    const online = cluster && c.history ? await pgpreflightOnline(c, cluster, index) : null;
    rows.push({ c, pgpreflight, blind, online, squawk });
  }
  return rows;
}

export interface PeerTotals {
  dangerous: number;
  safe: number;
  schemaDependent: number;
  dangerousFlagged: { pgpreflight: number; squawk: number };
  /** Of the `fail` cases: how many each tool blocks (squawk has no pass/fail distinction: any lock rule). */
  blockingBlocked: { pgpreflight: number; squawk: number; of: number };
  safeFlagged: { pgpreflight: number; squawk: number };
  /** Schema-dependent (safe) cases: right with the history (offline), right online, and blind (must not pass unknowingly). */
  schemaRight: { withHistory: number; online: number; onlineOf: number; blindFlagged: number };
  /** Online, on every case with a history. */
  onlineRight: { right: number; of: number };
  misses: string[];
}

export function peerTotals(rows: readonly PeerRow[]): PeerTotals {
  const independent = rows.filter((r) => !r.c.schemaDependent);
  const dangerous = independent.filter((r) => r.c.expect !== 'pass');
  const blocking = independent.filter((r) => r.c.expect === 'fail');
  const safe = independent.filter((r) => r.c.expect === 'pass');
  const dependent = rows.filter((r) => r.c.schemaDependent);
  const online = rows.filter((r) => r.online);
  return {
    dangerous: dangerous.length,
    safe: safe.length,
    schemaDependent: dependent.length,
    dangerousFlagged: { pgpreflight: dangerous.filter((r) => r.pgpreflight.flagged).length, squawk: dangerous.filter((r) => r.squawk.flagged).length },
    blockingBlocked: { pgpreflight: blocking.filter((r) => r.pgpreflight.blocked).length, squawk: blocking.filter((r) => r.squawk.flagged).length, of: blocking.length },
    safeFlagged: { pgpreflight: safe.filter((r) => r.pgpreflight.flagged).length, squawk: safe.filter((r) => r.squawk.flagged).length },
    schemaRight: {
      withHistory: dependent.filter((r) => right(r.c.expect, r.pgpreflight)).length,
      online: dependent.filter((r) => r.online && right(r.c.expect, r.online)).length,
      onlineOf: dependent.filter((r) => r.online).length,
      blindFlagged: dependent.filter((r) => r.blind?.flagged).length,
    },
    onlineRight: { right: online.filter((r) => right(r.c.expect, r.online as Judgement)).length, of: online.length },
    misses: rows.filter((r) => !right(r.c.expect, r.pgpreflight) || (r.online && !right(r.c.expect, r.online))).map((r) => `${r.c.id} (expect ${r.c.expect}; offline ${r.pgpreflight.kinds.join(',') || 'nothing'}${r.online ? `; online ${r.online.kinds.join(',') || 'nothing'}` : ''})`),
  };
}

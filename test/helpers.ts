// Shared test plumbing: a throwaway cluster per file, sessions tagged with
// application_name so tests never trip over each other, and the built CLI as a subprocess.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { backendFromEnv, startCluster, projectRoot, type Cluster, type ClusterOptions } from '../src/clusters/cluster.js';
import { main } from '../src/cli/cli.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { resolveConnection } from '../src/core/connection.js';
import type { LockMode } from '../src/core/lock-modes.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import type { CheckResult, Finding, Report } from '../src/core/types.js';
import { isKnownFindingKind } from '../src/core/finding-kinds.js';

/** The backend the tests run on: PGPREFLIGHT_TEST_BACKEND (embedded or testcontainers), embedded when unset. */
export const TEST_BACKEND = backendFromEnv();

/** Starts one cluster for the whole file, on TEST_BACKEND, and stops it afterwards. */
export function useCluster(options: ClusterOptions = {}): () => Cluster {
  let cluster: Cluster | undefined;
  beforeAll(async () => {
    cluster = await startCluster({ backend: TEST_BACKEND, ...options });
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('cluster not started');
    return cluster;
  };
}

/** A connection tagged with an application_name of the test's choosing. */
export async function session(cluster: Cluster, applicationName: string, options: { user?: string; password?: string; database?: string } = {}): Promise<pg.Client> {
  return cluster.connect({ ...options, applicationName });
}

/** A tagged session and its backend pid; the client is pushed onto `open` for the caller's teardown. */
export async function taggedSession(cluster: Cluster, applicationName: string, open: pg.Client[]): Promise<{ client: pg.Client; pid: number }> {
  const client = await session(cluster, applicationName);
  open.push(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0]?.pid as number };
}

/** Polls a SQL condition (one row = true) until it holds. */
export async function waitFor(cluster: Cluster, sql: string, params: unknown[] = [], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await cluster.sql(sql, params);
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`condition never held: ${sql}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the session with this application_name waits on a lock. */
export function waitUntilWaiting(cluster: Cluster, applicationName: string): Promise<void> {
  return waitFor(cluster, "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [applicationName]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface GateOptions {
  tables?: string[];
  lockMode?: LockMode;
  flags?: Record<string, string>;
  only?: string[];
  user?: string;
  password?: string;
  database?: string;
  concurrently?: boolean;
}

/** Runs the gate in-process and returns the report. */
export async function gate(cluster: Cluster, options: GateOptions = {}): Promise<Report> {
  const checks = options.only ? CHECKS.filter((c) => options.only?.includes(c.id)) : CHECKS;
  const url = cluster.url({ user: options.user, password: options.password, database: options.database });
  const { report } = await runOnce({
    connection: resolveConnection(url, {}),
    tables: parseTables(options.tables ?? ['orders'], options.lockMode ?? 'AccessExclusiveLock'),
    checks,
    options: resolveCheckOptions(checks, options.flags ?? {}),
    timeoutMs: 10_000,
    concurrently: options.concurrently ?? false,
  });
  expectKnownKinds(report);
  return report;
}

/** Every finding kind a report carries is in the published list (src/core/finding-kinds.ts). */
export function expectKnownKinds(report: Report): void {
  for (const check of report.checks) {
    for (const finding of check.findings) {
      expect(isKnownFindingKind(finding.kind), `finding kind "${finding.kind}" of ${check.id} is not in src/core/finding-kinds.ts: add it there with its check and what it means`).toBe(true);
    }
  }
}

/** The one database's Report in a JSON document (`check --format json`, --report-file): version 2 nests it under databases[0].report. */
export function reportFrom(json: string): Report {
  const document = JSON.parse(json) as { version?: number; databases?: { report: Report | null }[] };
  if (document.version !== 2 || !Array.isArray(document.databases) || document.databases.length !== 1) throw new Error(`not a one-database version-2 document: ${json.slice(0, 200)}`);
  const report = document.databases[0]?.report;
  if (!report) throw new Error('the document has no report: the database could not be checked');
  return report;
}

export function checkOf(report: Report, id: string): CheckResult {
  const check = report.checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in report`);
  return check;
}

export function findingsOf(report: Report, id: string, kind?: string): Finding[] {
  return checkOf(report, id).findings.filter((f) => kind === undefined || f.kind === kind);
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const CLI = join(projectRoot, 'bin', 'pgpreflight.js');

/** Spawns the built CLI with a minimal environment (NO_COLOR=1) and collects its output. */
export function runCli(args: string[], env: Record<string, string> = {}, options: { timeoutMs?: number; input?: string; cwd?: string; bin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? CLI, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI did not exit within ${options.timeoutMs ?? 60_000} ms: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs the CLI's main() in this process (no build, no spawn) with NO_COLOR=1, collecting its output. */
export async function runMain(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdout, stderr, env: { NO_COLOR: '1', ...env } });
  return { code, stdout: out, stderr: err };
}

/**
 * The classic outage, staged for real: a session idle in transaction holding `table`
 * (`<prefix>-holder`) and an ALTER TABLE queued behind it (`<prefix>-waiter`). Both
 * connections are pushed onto `open` for the caller's teardown.
 */
export async function stageLockQueue(cluster: Cluster, prefix: string, open: pg.Client[], table = 'orders'): Promise<void> {
  const holder = await session(cluster, `${prefix}-holder`);
  open.push(holder);
  await holder.query(`BEGIN; SELECT * FROM ${table} LIMIT 1`);
  const waiter = await session(cluster, `${prefix}-waiter`);
  open.push(waiter);
  void waiter.query(`ALTER TABLE ${table} ADD COLUMN note text`).catch(() => undefined);
  await waitUntilWaiting(cluster, `${prefix}-waiter`);
  await sleep(200);
}

/**
 * Small thresholds that make a staged holder or queue fail at once, for tests that compare
 * two runs (direct vs PgBouncer, superuser vs pg_monitor). traffic is a rate since the
 * server started, which moves between two runs on a fresh server: kept under its warning.
 */
export const FAST_THRESHOLDS: Record<string, string> = {
  'idle-warn': '50ms',
  'idle-fail': '100ms',
  'idle-elsewhere': '100ms',
  'lock-warn': '50ms',
  'lock-fail': '100ms',
  'long-query-warn': '50ms',
  'long-query-fail': '100ms',
  'long-query-elsewhere': '100ms',
  'queued-warn': '1000000000',
};

export type ReportShape = Array<{ id: string; status: string; findings: Array<{ kind: string; pid: unknown; severity: string }> }>;

/** What two runs over the same situation must agree on: each check's status and its findings' kind, pid and severity. */
export const reportShape = (report: Report): ReportShape =>
  report.checks.map((check) => ({
    id: check.id,
    status: check.status,
    findings: check.findings
      .map((f) => ({ kind: f.kind, pid: f.pid ?? null, severity: f.severity }))
      .sort((a, b) => `${a.kind}/${String(a.pid)}`.localeCompare(`${b.kind}/${String(b.pid)}`)),
  }));

/** An error for people: exit 2, nothing on stdout, exactly one `pgpreflight: ...` line, no stack. Returns the line. */
export function expectOneLineFailure(result: { code: number | null; stdout: string; stderr: string }, pattern?: RegExp): string {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^pgpreflight: \S/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  if (pattern) expect(result.stderr).toMatch(pattern);
  return lines[0] as string;
}

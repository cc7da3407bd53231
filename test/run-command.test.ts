// `pgpreflight run -- <command>`: the gate, then a real `psql` migration under the
// guard, against real lock queues on a throwaway server.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backoffMs, childPgOptions, MAX_RETRY_DELAY_MS } from '../src/incident/guard.js';
import { CLI, runCli, sleep, taggedSession, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const PSQL = '/usr/bin/psql';
// Only the core lock checks: these tests stage young holders that must pass the gate.
const GATE = ['--only', 'locks,idle-in-transaction,long-running-queries'];
// Thresholds a fresh holder stays under even on a loaded machine, so the gate passes on every retry.
const FRESH = ['--lock-warn', '1min', '--lock-fail', '2min', '--idle-warn', '1min', '--idle-fail', '2min'];

const cluster = useCluster();
const open: pg.Client[] = [];
const pending: Promise<unknown>[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'rn-%' OR application_name LIKE 'pgpreflight-migration-%'");
  await Promise.allSettled(pending.splice(0));
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

/** A fresh session idle in transaction after reading orders: younger than the gate's thresholds. */
async function freshHolder(): Promise<{ client: pg.Client; pid: number }> {
  const holder = await tagged('rn-holder');
  await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
  return holder;
}

/** Readers of orders that queue (behind the migration) and resolve once they get their lock. */
async function queuedReaders(count: number): Promise<Promise<unknown>[]> {
  const done: Promise<unknown>[] = [];
  for (let i = 1; i <= count; i += 1) {
    const { client } = await tagged(`rn-reader-${i}`);
    const query = client.query('SELECT count(*) FROM orders');
    query.catch(() => undefined);
    pending.push(query);
    done.push(query);
  }
  return done;
}

interface Running {
  child: ChildProcess;
  appName: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Spawns the built CLI and streams its output, for tests that act while it runs. */
function start(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, appName: `pgpreflight-migration-${child.pid}`, stdout: () => stdout, stderr: () => stderr, exited };
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await sleep(50);
  }
}

const attemptLines = (stderr: string): string[] => stderr.split('\n').filter((l) => /^pgpreflight run: attempt \d+\/\d+:/.test(l));

async function hasColumn(column: string): Promise<boolean> {
  const { rows } = await cluster().sql("SELECT 1 FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = $1 AND NOT attisdropped", [column]);
  return rows.length > 0;
}

async function inTransaction(pid: number): Promise<boolean> {
  const { rows } = await cluster().sql("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'idle in transaction'", [pid]);
  return rows.length > 0;
}

describe('pgpreflight run', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
    // Sessions of the role have an idle timeout; its lock_timeout stays 0, as a fresh server's.
    await cluster().sql("ALTER ROLE postgres SET idle_in_transaction_session_timeout = '10min'");
  });

  const base = (): string[] => ['run', '--url', cluster().url(), '--table', 'orders', ...GATE];
  const psql = (...sql: string[]): string[] => ['--', PSQL, cluster().url(), '-X', '-At', '-v', 'ON_ERROR_STOP=1', ...sql.flatMap((s) => ['-c', s])];

  it('runs the command on a clean gate, with lock_timeout, statement_timeout and PGAPPNAME set', async () => {
    const result = await runCli([
      ...base(), '--lock-timeout', '3s', '--statement-timeout', '20s',
      ...psql('SHOW lock_timeout', 'SHOW statement_timeout', "SELECT current_setting('application_name')", 'ALTER TABLE orders ADD COLUMN clean_run int'),
    ]);
    expect(result.code).toBe(0);
    const [lockTimeout, statementTimeout, appName] = result.stdout.trim().split('\n');
    expect(lockTimeout).toBe('3s');
    expect(statementTimeout).toBe('20s');
    expect(appName).toMatch(/^pgpreflight-migration-\d+$/);
    expect(await hasColumn('clean_run')).toBe(true);
    const lines = attemptLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^pgpreflight run: attempt 1\/6: command succeeded/);
  });

  it('never starts the command when the gate blocks, and exits as the gate does', async () => {
    await freshHolder();
    await sleep(400);
    const result = await runCli([...base(), '--lock-fail', '200ms', '--retries', '0', ...psql('CREATE TABLE started_marker ()')]);
    expect(result.code).toBe(1);
    const { rows } = await cluster().sql("SELECT to_regclass('started_marker') AS oid");
    expect(rows[0]?.oid).toBeNull();
    const lines = attemptLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('command not started');
  });

  it('cancels a migration queued behind a fresh holder so readers flow, names the holder, and succeeds on retry once it leaves', async () => {
    const holder = await freshHolder();
    const run = start([...base(), ...FRESH, '--max-queue-wait', '1s', '--retry-delay', '200ms', '--guard-interval', '100ms', ...psql('ALTER TABLE orders ADD COLUMN guarded int')]);
    await waitUntilWaiting(cluster(), run.appName);
    const readers = await queuedReaders(3);
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'rn-reader-%' AND wait_event_type = 'Lock' HAVING count(*) = 3");
    // The guard cancels the migration: the readers get their lock while the holder is still open.
    await Promise.all(readers);
    expect(await inTransaction(holder.pid)).toBe(true);
    await until(() => attemptLines(run.stderr()).length >= 1, 'the first attempt line');
    const first = attemptLines(run.stderr())[0] as string;
    expect(first).toMatch(/^pgpreflight run: attempt 1\/6: guard cancelled pid \d+ waiting for AccessExclusiveLock on orders/);
    expect(first).toContain(`blocked by pid ${holder.pid} (idle in transaction`);
    expect(first).toContain('retrying in');
    await holder.client.query('COMMIT');
    expect(await run.exited).toBe(0);
    const lines = attemptLines(run.stderr());
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines[lines.length - 1]).toMatch(/command succeeded/);
    expect(await hasColumn('guarded')).toBe(true);
  });

  it('cancels when more than --max-queued queries wait behind the migration', async () => {
    const holder = await freshHolder();
    const run = start([...base(), ...FRESH, '--max-queue-wait', '30s', '--max-queued', '2', '--retries', '0', '--guard-interval', '100ms', ...psql('ALTER TABLE orders ADD COLUMN never_added int')]);
    await waitUntilWaiting(cluster(), run.appName);
    const readers = await queuedReaders(3);
    await Promise.all(readers);
    const code = await run.exited;
    expect(code).not.toBe(0);
    const lines = attemptLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/guard cancelled pid \d+ .*\(3 queries queued behind it/);
    expect(lines[0]).toContain(`blocked by pid ${holder.pid}`);
    expect(lines[0]).toContain('no retries left');
    expect(await hasColumn('never_added')).toBe(false);
  });

  it('retries a lock_timeout (55P03) and names the holder the server message does not', async () => {
    const holder = await freshHolder();
    const result = await runCli([...base(), ...FRESH, '--max-queue-wait', '30s', '--lock-timeout', '500ms', '--retries', '1', '--retry-delay', '100ms', '--guard-interval', '100ms', ...psql('ALTER TABLE orders ADD COLUMN timed_out int')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('canceling statement due to lock timeout');
    const lines = attemptLines(result.stderr);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^pgpreflight run: attempt 1\/2: lock_timeout \(500ms\) hit; blocked by pid \d+/);
    expect(lines[0]).toContain(`pid ${holder.pid}`);
    expect(lines[1]).toMatch(/^pgpreflight run: attempt 2\/2: .*no retries left/);
  });

  it('gates the tables a --migration file touches, without --table', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pgpreflight-run-')), 'add_column.sql');
    writeFileSync(file, 'ALTER TABLE orders ADD COLUMN from_file int;\n');
    const holder = await freshHolder();
    await sleep(400);
    const args = ['run', '--url', cluster().url(), '--migration', file, ...GATE, '--lock-fail', '200ms', '--retries', '0', '--', PSQL, cluster().url(), '-X', '-v', 'ON_ERROR_STOP=1', '-f', file];
    const blocked = await runCli(args);
    expect(blocked.code).toBe(1);
    expect(attemptLines(blocked.stderr)[0]).toContain('command not started');
    await holder.client.query('COMMIT');
    const clean = await runCli(args);
    expect(clean.code).toBe(0);
    expect(await hasColumn('from_file')).toBe(true);
  });

  it('retries its first gate: once the blocker leaves, the command runs', async () => {
    const holder = await freshHolder();
    await sleep(400);
    const run = start([...base(), '--lock-fail', '200ms', '--retry-delay', '200ms', ...psql('ALTER TABLE orders ADD COLUMN after_gate int')]);
    await until(() => /attempt 1\/6: gate fail .*command not started; retrying in/.test(run.stderr()), 'a first blocked gate, retried');
    await holder.client.query('COMMIT');
    expect(await run.exited).toBe(0);
    expect(attemptLines(run.stderr()).at(-1)).toMatch(/command succeeded/);
    expect(await hasColumn('after_gate')).toBe(true);
  });

  it('--wait looks again until the gate opens, as check --wait does, before the attempt', async () => {
    const holder = await freshHolder();
    await sleep(400);
    const run = start([...base(), '--lock-fail', '200ms', '--retries', '0', '--wait', '1min', '--wait-max-interval', '300ms', ...psql('ALTER TABLE orders ADD COLUMN after_wait int')]);
    await until(() => /^pgpreflight: attempt 1 .*blocked: .*locks/m.test(run.stderr()), "a first --wait look that is blocked");
    await holder.client.query('COMMIT');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/gate open/);
    expect(attemptLines(run.stderr())).toHaveLength(1);
    expect(await hasColumn('after_wait')).toBe(true);
  });

  it('retries past a transient gate error (the role has no free connection slot) instead of exiting 2', async () => {
    await cluster().sql('CREATE ROLE rn_gate LOGIN IN ROLE pg_monitor CONNECTION LIMIT 0');
    try {
      const run = start(['run', '--url', cluster().url({ user: 'rn_gate' }), '--table', 'orders', ...GATE, '--retry-delay', '200ms', ...psql('ALTER TABLE orders ADD COLUMN after_transient int')]);
      await until(() => /attempt 1\/6: gate could not look .*no free connection slots.*retrying in/.test(run.stderr()), 'a transient gate error, retried');
      await cluster().sql('ALTER ROLE rn_gate CONNECTION LIMIT -1');
      expect(await run.exited).toBe(0);
      expect(await hasColumn('after_transient')).toBe(true);
    } finally {
      await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'rn_gate'");
      await cluster().sql('DROP ROLE rn_gate');
    }
  });

  it('sibling: a gate blocked by what waiting cannot change (the table\'s size) is not retried', async () => {
    const result = await runCli(['run', '--url', cluster().url(), '--table', 'orders', '--only', 'table-size', '--max-rows', '1', '--retry-delay', '100ms', ...psql('CREATE TABLE size_marker ()')]);
    expect(result.code).toBe(1);
    const lines = attemptLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/command not started; exit 1, not retried/);
  });

  it('judges the session it will run: the lock_timeout it sets through PGOPTIONS counts as set, even under --fail-on warn', async () => {
    // The role gets no lock_timeout of its own: a bare session of it would warn.
    const bare = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--only', 'timeouts', '--fail-on', 'warn', '--format', 'json']);
    expect(bare.code).toBe(1);
    const result = await runCli(['run', '--url', cluster().url(), '--table', 'orders', '--only', 'timeouts', '--fail-on', 'warn', ...psql('SHOW lock_timeout')]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('4s');
  });

  it('does not retry a failure that is not about locks', async () => {
    const result = await runCli([...base(), ...psql('SELECT 1/0')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('division by zero');
    const lines = attemptLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/command failed with exit 1 .*not retried/);
  });

  it('backs off exponentially with jitter, capped, and keeps the caller\'s PGOPTIONS before its own', () => {
    expect([1, 2, 3].map((retry) => backoffMs(retry, 1000, () => 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((retry) => backoffMs(retry, 1000, () => 1))).toEqual([1000, 2000, 4000]);
    expect(backoffMs(30, 1000, () => 1)).toBe(MAX_RETRY_DELAY_MS);
    expect(childPgOptions(undefined, 4000, 30000)).toBe('-c lock_timeout=4000 -c statement_timeout=30000');
    expect(childPgOptions('-c search_path=app', 4000, 30000)).toBe('-c search_path=app -c lock_timeout=4000 -c statement_timeout=30000');
  });

  it('forwards Ctrl-C to the command and stops', async () => {
    const run = start([...base(), '--statement-timeout', '2min', ...psql('SELECT pg_sleep(60)')]);
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE '%pg_sleep%'", [run.appName]);
    run.child.kill('SIGINT');
    const code = await run.exited;
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    // psql got the signal and cancelled its statement: the backend no longer sleeps.
    await waitFor(cluster(), "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active')", [run.appName]);
    const lines = attemptLines(run.stderr());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('interrupted');
  });
});

// --wait against a real server and the built CLI: a blocker released mid-wait opens the gate
// on the next attempt; one that never clears ends with exit 1 at the deadline; Ctrl-C stops
// with exit 130; bad auth is not retried, a refused connection is.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/clusters/cluster.js';
import { backoffDelay } from '../src/gate/wait.js';
import { CLI, session, sleep, useCluster, reportFrom } from './helpers.js';

const PASSWORD = 'wait-pw-7';
const cluster = useCluster({ superuserPassword: PASSWORD, hba: ['host all all 127.0.0.1/32 scram-sha-256'] });
const open: pg.Client[] = [];
const FAST = ['--table', 'orders', '--only', 'locks', '--lock-warn', '100ms', '--lock-fail', '200ms', '--wait-max-interval', '1s'];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1); ANALYZE orders');
});

/** A session idle in transaction holding AccessShareLock on orders, and its pid. */
async function holdOrders(app: string): Promise<{ client: pg.Client; pid: number }> {
  const client = await session(cluster(), app);
  open.push(client);
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  await client.query('BEGIN; SELECT * FROM orders LIMIT 1');
  await sleep(300);
  return { client, pid };
}

interface Running {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once stderr matches. */
  until: (pattern: RegExp) => Promise<void>;
  exit: Promise<number | null>;
}

function start(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, 'check', ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.splice(0)) (w.pattern.test(stderr) ? w.resolve : () => waiters.push(w))();
  });
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    until: (pattern) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(stderr)) return resolve();
        waiters.push({ pattern, resolve });
        void exit.then(() => reject(new Error(`exited before stderr matched ${pattern}: ${stderr}`)));
      }),
    exit,
  };
}

function attemptLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /^pgpreflight: attempt \d+ /.test(line));
}

function attemptNumbers(stderr: string): number[] {
  return attemptLines(stderr).map((line) => Number(/attempt (\d+)/.exec(line)?.[1]));
}

describe('--wait', () => {
  it('a blocker released mid-wait opens the gate on the next attempt', async () => {
    const { client, pid } = await holdOrders('wait-released');
    const run = start(['--url', cluster().url(), ...FAST, '--wait', '60s']);
    await run.until(/attempt 1 .* blocked: locks/);
    const seen = attemptNumbers(run.stderr()).length;
    await client.query('ROLLBACK');
    expect(await run.exit).toBe(0);
    const numbers = attemptNumbers(run.stderr());
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));
    expect(numbers.length).toBe(seen + 1);
    expect(attemptLines(run.stderr())[0]).toContain(`locks (pid ${pid})`);
    expect(attemptLines(run.stderr()).at(-1)).toContain('gate open');
    expect(run.stdout()).toContain('Verdict: PASS');
  });

  it('a blocker that never clears ends with exit 1 at the deadline', async () => {
    const { pid } = await holdOrders('wait-stuck');
    const run = start(['--url', cluster().url(), ...FAST, '--wait', '3s', '--format', 'json']);
    expect(await run.exit).toBe(1);
    const lines = attemptLines(run.stderr());
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.every((line) => line.includes(`locks (pid ${pid})`))).toBe(true);
    expect(lines.at(-1)).toContain('deadline');
    // stdout is the final attempt's report, nothing else.
    const report = reportFrom(run.stdout());
    expect(report.verdict).toBe('fail');
    expect(report.checks[0]?.findings.find((f) => f.application === 'wait-stuck')?.pid).toBe(pid);
  });

  it('Ctrl-C (SIGINT) during the wait stops with a clear line and exit 130', async () => {
    await holdOrders('wait-interrupted');
    const run = start(['--url', cluster().url(), ...FAST, '--wait', '5m']);
    await run.until(/attempt 1 /);
    run.child.kill('SIGINT');
    expect(await run.exit).toBe(130);
    expect(run.stderr()).toMatch(/^pgpreflight: interrupted .*gate stays closed/m);
    expect(run.stdout()).toBe('');
  });

  it('does not retry a failed login (exit 2 after one attempt)', async () => {
    const run = start(['--url', cluster().url({ user: 'postgres', password: 'not-it' }), ...FAST, '--wait', '60s']);
    expect(await run.exit).toBe(2);
    expect(attemptNumbers(run.stderr())).toEqual([1]);
    expect(attemptLines(run.stderr())[0]).toContain('not retried');
    expect(run.stderr()).toMatch(/^pgpreflight: authentication failed/m);
  });

  it('retries a refused connection until the deadline, then exits 2', async () => {
    const port = await freePort();
    const run = start(['--url', `postgresql://postgres@127.0.0.1:${port}/postgres`, ...FAST, '--wait', '2s']);
    expect(await run.exit).toBe(2);
    expect(attemptNumbers(run.stderr()).length).toBeGreaterThanOrEqual(2);
    expect(attemptLines(run.stderr()).at(-1)).toContain('deadline');
    expect(run.stderr()).toMatch(/connection refused/);
  });

  it('backs off exponentially from about 1 s, with jitter, capped at --wait-max-interval', () => {
    expect(backoffDelay(1, 30_000, () => 0.5)).toBe(1000);
    expect(backoffDelay(1, 30_000, () => 0)).toBe(800);
    expect(backoffDelay(1, 30_000, () => 1)).toBe(1200);
    expect(backoffDelay(2, 30_000, () => 0.5)).toBe(2000);
    expect(backoffDelay(4, 30_000, () => 0.5)).toBe(8000);
    expect(backoffDelay(10, 30_000, () => 1)).toBe(30_000);
    expect(backoffDelay(3, 1000, () => 0.5)).toBe(1000);
  });
});

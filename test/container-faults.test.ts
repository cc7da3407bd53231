// Faults only a container can stage, against the built CLI: the whole server frozen
// (docker pause), killed (docker kill), cut off its network (docker network disconnect), and
// restarted (docker restart). For `check`, `locks --watch` and `run`'s guard, each must end
// with exit 2 and one clear line, never hang past its --timeout and never exit 0. A restart
// during `check --wait` is a blip the wait rides out: it must never open a gate it did not
// look at again, and a server that stays away ends the wait with exit 2.
//
// Runs only with PGPREFLIGHT_TEST_BACKEND=testcontainers; each destructive fault gets its own
// container (a second or two to start), the others share one.
import { spawn, type ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../src/clusters/cluster.js';
import { CLI, TEST_BACKEND, session, sleep } from './helpers.js';

const PSQL = '/usr/bin/psql';
const TIMEOUT_MS = 3000;
const TIMEOUT = `${TIMEOUT_MS}ms`;
/** If a command outlives its budget by this much, it hung: the test fails. */
const HANG_MS = 20_000;
const FAST = ['--only', 'locks', '--lock-warn', '100ms', '--lock-fail', '200ms'];

const containers: Cluster[] = [];
const open: pg.Client[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

afterAll(async () => {
  for (const cluster of containers.splice(0)) await cluster.stop();
});

/** A fresh container with an orders table, removed after the file. */
async function container(): Promise<Cluster> {
  const cluster = await startCluster({ backend: 'testcontainers' });
  containers.push(cluster);
  await cluster.sql('CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1); ANALYZE orders');
  return cluster;
}

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the stream matches; rejects if the process exits first. */
  until: (pattern: RegExp, stream?: 'stdout' | 'stderr') => Promise<void>;
  /** Exit code, and ms since `markFault()` (or since the start). */
  exit: Promise<{ code: number | null; afterFaultMs: number }>;
  markFault: () => void;
}

/** Spawns the built CLI; kills it (and so fails the test) if it lives HANG_MS past the fault. */
function start(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  let faultAt = Date.now();
  let hangTimer: NodeJS.Timeout | undefined;
  const checks: (() => void)[] = [];
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const check of [...checks]) check();
  });
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const check of [...checks]) check();
  });
  const exit = new Promise<{ code: number | null; afterFaultMs: number }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(hangTimer);
      resolve({ code, afterFaultMs: Date.now() - faultAt });
    }),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    until: (pattern, stream = 'stderr') =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stream === 'stdout' ? stdout : stderr)) {
            checks.splice(checks.indexOf(check), 1);
            resolve();
          }
        };
        checks.push(check);
        check();
        void exit.then(() => reject(new Error(`exited before ${stream} matched ${pattern}:\nstdout: ${stdout}\nstderr: ${stderr}`)));
      }),
    exit,
    markFault: () => {
      faultAt = Date.now();
      hangTimer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS + HANG_MS);
    },
  };
}

/** Polls (on its own short connections) until the SQL returns a row. */
async function until(cluster: Cluster, sql: string, params: unknown[] = []): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await cluster.sql(sql, params);
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`never held: ${sql}`);
    await sleep(20);
  }
}

/** Holds ACCESS EXCLUSIVE on pg_inherits, which the checker's target lookup reads: its snapshot waits there. */
async function lockCatalog(cluster: Cluster): Promise<void> {
  const holder = await session(cluster, 'ctf-catalog');
  open.push(holder);
  await holder.query('BEGIN; LOCK TABLE pg_catalog.pg_inherits IN ACCESS EXCLUSIVE MODE');
}

/** exit 2, and stderr's pgpreflight lines are exactly one, matching `pattern`. */
function expectFailedWith(result: { code: number | null }, stderr: string, prefix: RegExp, pattern: RegExp): string {
  expect(result.code).toBe(2);
  expect(stderr).not.toMatch(/\n\s+at /);
  const lines = stderr.split('\n').filter((line) => prefix.test(line));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  return lines[0] as string;
}

type Fault = 'pause' | 'kill' | 'disconnect' | 'restart';

async function stage(cluster: Cluster, fault: Fault): Promise<void> {
  const faults = cluster.container;
  if (!faults) throw new Error('not a container');
  if (fault === 'pause') await faults.pause();
  else if (fault === 'kill') await faults.kill();
  else if (fault === 'disconnect') await faults.disconnect();
  else await cluster.restart();
}

/** What each fault says: a frozen or cut-off server does not answer; a killed or restarted one ends the connection. */
const SAYS: Record<Fault, RegExp> = {
  pause: /did not answer within --timeout/,
  disconnect: /did not answer within --timeout|ended unexpectedly|reset/,
  kill: /ended unexpectedly|reset|terminated|refused|did not answer/,
  restart: /terminated|ended unexpectedly|restart|shutting down|reset/,
};

describe.skipIf(TEST_BACKEND !== 'testcontainers')('faults only a container can stage', () => {
  let shared: Cluster;

  beforeAll(async () => {
    shared = await container();
  });

  describe('check', () => {
    for (const fault of ['pause', 'kill', 'disconnect'] as const) {
      it(`${fault} mid-snapshot: exit 2 with one line, within --timeout`, async () => {
        const cluster = fault === 'pause' ? shared : await container();
        await lockCatalog(cluster);
        const run = start(['check', '--url', cluster.url(), '--table', 'orders', '--timeout', TIMEOUT, '--format', 'json']);
        await until(cluster, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgpreflight' AND wait_event_type = 'Lock'");
        run.markFault();
        await stage(cluster, fault);
        try {
          const result = await run.exit;
          expect(run.stdout()).toBe('');
          expectFailedWith(result, run.stderr(), /^pgpreflight: /, SAYS[fault]);
        } finally {
          if (fault === 'pause') await cluster.container?.unpause();
        }
      });
    }

    it('a restart during --wait, with a blocker that survives it: never opens, exit 1 at the deadline', async () => {
      const cluster = shared;
      // A prepared transaction keeps its lock across a restart.
      const preparer = await session(cluster, 'ctf-prepared');
      await preparer.query("BEGIN; SELECT * FROM orders FOR SHARE; PREPARE TRANSACTION 'ctf_restart'");
      await preparer.end();
      try {
        const run = start(['check', '--url', cluster.url(), '--table', 'orders', '--only', 'prepared-transactions', '--timeout', TIMEOUT, '--wait', '12s', '--wait-max-interval', '1s']);
        await run.until(/attempt 1 .*blocked/);
        run.markFault();
        await stage(cluster, 'restart');
        const restartedAt = run.stderr().split('\n').length;
        const result = await run.exit;
        expect(result.code).toBe(1);
        const after = run.stderr().split('\n').slice(restartedAt - 1).filter((line) => /^pgpreflight: attempt \d+/.test(line));
        // Looked again after the restart, and still saw the prepared transaction.
        expect(after.some((line) => /(blocked|deadline): prepared-transactions/.test(line))).toBe(true);
        expect(run.stderr()).not.toMatch(/gate open/);
      } finally {
        await cluster.sql("ROLLBACK PREPARED 'ctf_restart'").catch(() => undefined);
      }
    });

    it('a restart during --wait that takes the blocker with it: the gate opens after looking again', async () => {
      const cluster = shared;
      const holder = await session(cluster, 'ctf-holder');
      open.push(holder);
      await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
      await sleep(300);
      const run = start(['check', '--url', cluster.url(), '--table', 'orders', ...FAST, '--timeout', TIMEOUT, '--wait', '60s', '--wait-max-interval', '1s']);
      await run.until(/attempt 1 .*blocked: locks/);
      run.markFault();
      await stage(cluster, 'restart');
      const result = await run.exit;
      expect(result.code).toBe(0);
      expect(run.stderr().split('\n').filter((line) => /^pgpreflight: attempt/.test(line)).at(-1)).toMatch(/gate open/);
    });

    it('a server that goes away during --wait and stays away: exit 2 at the deadline, with the reason', async () => {
      const cluster = await container();
      const holder = await session(cluster, 'ctf-holder');
      open.push(holder);
      await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
      await sleep(300);
      const run = start(['check', '--url', cluster.url(), '--table', 'orders', ...FAST, '--timeout', TIMEOUT, '--wait', '6s', '--wait-max-interval', '1s']);
      await run.until(/attempt 1 .*blocked: locks/);
      run.markFault();
      await stage(cluster, 'pause');
      try {
        const result = await run.exit;
        expect(result.code).toBe(2);
        const lines = run.stderr().trimEnd().split('\n');
        expect(lines.filter((line) => !/^pgpreflight: attempt \d+ /.test(line))).toHaveLength(1);
        expect(lines.at(-1)).toMatch(/^pgpreflight: .*did not answer within --timeout/);
        expect(run.stdout()).toBe('');
      } finally {
        await cluster.container?.unpause();
      }
    });
  });

  describe('locks --watch', () => {
    for (const fault of ['pause', 'kill', 'disconnect', 'restart'] as const) {
      it(fault === 'restart' ? 'restart while watching: exit 2 with one line within --timeout, or the connection replaced and the restarted server looked at' : `${fault} while watching: exit 2 with one line, within --timeout`, async () => {
        const cluster = fault === 'pause' || fault === 'restart' ? shared : await container();
        const run = start(['locks', '--url', cluster.url(), '--watch', '200ms', '--timeout', TIMEOUT, '--format', 'json']);
        await run.until(/\n\{/, 'stdout');
        run.markFault();
        await stage(cluster, fault);
        try {
          if (fault === 'restart') {
            // A restart ends the kept connection. The watch either could not connect again yet and
            // exits 2 saying what ended it, or it replaced the connection (issue 14: reconnect on
            // loss) and goes on looking at the restarted server: two more documents after the
            // server is back, then a clean Ctrl-C. A hang is killed at the deadline and fails both.
            const documents = (): number => run.stdout().split('\n').filter((line) => line.startsWith('{')).length;
            const before = documents();
            const lookedAgain = (async (): Promise<null> => {
              while (documents() < before + 2 && run.child.exitCode === null && run.child.signalCode === null) await sleep(50);
              return null;
            })();
            await Promise.race([run.exit, lookedAgain]);
            if (documents() >= before + 2 && run.child.exitCode === null && run.child.signalCode === null) {
              run.child.kill('SIGINT');
              expect((await run.exit).code).toBe(0);
            } else {
              expectFailedWith(await run.exit, run.stderr(), /^pgpreflight: /, SAYS[fault]);
            }
            return;
          }
          const result = await run.exit;
          expectFailedWith(result, run.stderr(), /^pgpreflight: /, SAYS[fault]);
        } finally {
          if (fault === 'pause') await cluster.container?.unpause();
        }
      });
    }
  });

  describe("run's guard", () => {
    for (const fault of ['pause', 'kill', 'disconnect', 'restart'] as const) {
      it(`${fault} while the migration runs: exit 2 with one line, within --timeout, the command stopped`, async () => {
        const cluster = fault === 'pause' || fault === 'restart' ? shared : await container();
        const run = start([
          'run', '--url', cluster.url(), '--table', 'orders', '--only', 'locks', '--timeout', TIMEOUT, '--guard-interval', '200ms',
          '--', PSQL, cluster.url(), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT pg_sleep(120)',
        ]);
        // The migration runs, and the guard has finished a look since it started (a snapshot ends
        // with COMMIT). run's checks before the command use the guard's application_name too.
        await until(
          cluster,
          `SELECT 1 FROM pg_stat_activity m JOIN pg_stat_activity g ON g.application_name = 'pgpreflight-guard' AND g.query = 'COMMIT' AND g.state_change > m.backend_start
            WHERE m.application_name LIKE 'pgpreflight-migration-%' AND m.state = 'active'`,
        );
        run.markFault();
        await stage(cluster, fault);
        try {
          const result = await run.exit;
          // run's own lines: one about the gate and the guard at the start, then one per attempt.
          expectFailedWith(result, run.stderr(), /^pgpreflight run: attempt \d+\/\d+: /, /the guard lost the server/);
          expect(run.stderr()).not.toMatch(/command succeeded/);
        } finally {
          if (fault === 'pause') await cluster.container?.unpause();
        }
      });
    }
  });
});

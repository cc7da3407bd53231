// Faults staged for real: each must end the run with one clear line on stderr and exit
// 2 (could not evaluate), never a hang past --timeout and never a stack trace.
import { createServer, type Server, type Socket } from 'node:net';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/clusters/cluster.js';
import { type CliResult, expectOneLineFailure, runCli, session, useCluster } from './helpers.js';

const PASSWORD = 'faults-Secret-9';
const cluster = useCluster({ hba: ['host all all 127.0.0.1/32 scram-sha-256'], superuserPassword: PASSWORD });
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

/** Runs `check` against a URL; the child is killed (and the test fails) if it outlives the guard. */
function check(url: string, timeout: string, guardMs = 30_000): Promise<CliResult> {
  return runCli(['check', '--url', url, '--table', 'orders', '--timeout', timeout, '--format', 'json'], {}, { timeoutMs: guardMs });
}

/** Holds ACCESS EXCLUSIVE on pg_inherits, which the target lookup reads: the checker's query waits on it. */
async function lockCatalog(app: string): Promise<pg.Client> {
  const holder = await session(cluster(), app);
  open.push(holder);
  await holder.query('BEGIN; LOCK TABLE pg_catalog.pg_inherits IN ACCESS EXCLUSIVE MODE');
  return holder;
}

/**
 * The checker waits at most its lock_timeout (2 s) on the catalog, so this polls on one
 * open connection, often, and returns the waiting backend's pid the moment it shows.
 */
async function waitForCheckerOnLock(): Promise<number> {
  const poller = await session(cluster(), 'faults-poller');
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { rows } = await poller.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgpreflight' AND wait_event_type = 'Lock'");
      if (rows[0]) return rows[0].pid;
      if (Date.now() > deadline) throw new Error('the checker never waited on the locked catalog');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await poller.end();
  }
}

describe('faults', () => {
  beforeAll(async () => {
    await cluster().sql("CREATE TABLE orders (id int PRIMARY KEY); CREATE ROLE cannot_login NOLOGIN PASSWORD 'pw-nologin'");
  });

  describe('unreachable server', () => {
    let silent: Server;
    let silentPort = 0;
    let accepted = 0;
    const sockets: Socket[] = [];

    beforeAll(async () => {
      // Accepts connections and never says a word, like a firewall that swallows packets after the handshake.
      silent = createServer((socket) => {
        accepted += 1;
        sockets.push(socket);
        socket.on('error', () => undefined);
      });
      silentPort = await freePort();
      await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));
    });

    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('refused port', async () => {
      const port = await freePort();
      const line = expectOneLineFailure(await check(`postgresql://postgres@127.0.0.1:${port}/postgres`, '3s'));
      expect(line).toMatch(/refused/);
      expect(line).toContain(`127.0.0.1:${port}`);
    });

    it('unknown host', async () => {
      const line = expectOneLineFailure(await check('postgresql://postgres@pgpreflight-no-such-host.invalid:5432/postgres', '3s'));
      expect(line).toMatch(/host/);
      expect(line).toContain('pgpreflight-no-such-host.invalid');
    });

    it('a port that accepts and never answers: gives up at --timeout, both sslmode=prefer attempts included', async () => {
      accepted = 0;
      const line = expectOneLineFailure(await check(`postgresql://postgres@127.0.0.1:${silentPort}/postgres`, '2s'));
      expect(line).toMatch(/--timeout/);
      // The TLS attempt used up the whole budget, so prefer's plain retry was never made.
      expect(accepted).toBe(1);
    });

    it('the same silent port with sslmode=disable', async () => {
      accepted = 0;
      const line = expectOneLineFailure(await check(`postgresql://postgres@127.0.0.1:${silentPort}/postgres?sslmode=disable`, '1s'));
      expect(line).toMatch(/--timeout/);
      expect(accepted).toBe(1);
    });
  });

  describe('authentication', () => {
    it('wrong password', async () => {
      const line = expectOneLineFailure(await check(cluster().url({ user: 'postgres', password: 'not-the-password' }), '5s'));
      expect(line).toMatch(/authentication failed/);
    });

    it('a role that may not log in', async () => {
      const line = expectOneLineFailure(await check(cluster().url({ user: 'cannot_login', password: 'pw-nologin' }), '5s'));
      expect(line).toMatch(/not permitted to log in/);
    });

    it('a missing database', async () => {
      const line = expectOneLineFailure(await check(cluster().url({ database: 'no_such_db' }), '5s'));
      expect(line).toMatch(/no_such_db/);
    });
  });

  describe('mid-run', () => {
    it("the checker's backend is terminated while it waits", async () => {
      await lockCatalog('faults-lock-terminate');
      const run = check(cluster().url(), '10s');
      const pid = await waitForCheckerOnLock();
      const { rows } = await cluster().sql('SELECT pg_terminate_backend($1) AS done', [pid]);
      expect(rows).toEqual([{ done: true }]);
      const line = expectOneLineFailure(await run);
      expect(line).toMatch(/terminated/);
    });

    it('the server restarts mid-run', async () => {
      await lockCatalog('faults-lock-restart');
      const run = check(cluster().url(), '10s');
      await waitForCheckerOnLock();
      await cluster().restart();
      const line = expectOneLineFailure(await run);
      expect(line).toMatch(/terminated|restart|ended/);
      // The server is back and the gate works again.
      const after = await check(cluster().url(), '10s');
      expect(after.code).toBe(0);
    });

    it('a backend that stops answering mid-query (SIGSTOP): the watchdog ends the run at --timeout', async () => {
      await lockCatalog('faults-lock-stopped');
      const run = check(cluster().url(), '3s', 20_000);
      const pid = await waitForCheckerOnLock();
      // A stopped process cannot act on its own statement_timeout or lock_timeout.
      await cluster().signal(pid, 'SIGSTOP');
      try {
        const line = expectOneLineFailure(await run);
        expect(line).toMatch(/--timeout/);
      } finally {
        await cluster().signal(pid, 'SIGCONT');
      }
    });

    it("a statement hits the checker's statement_timeout (the --timeout budget)", async () => {
      await lockCatalog('faults-lock-timeout');
      const line = expectOneLineFailure(await check(cluster().url(), '1500ms', 15_000));
      expect(line).toMatch(/statement_timeout/);
    });
  });
});

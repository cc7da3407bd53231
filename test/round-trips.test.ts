// At network distance round trips are the cost, not CPU: one TCP connection per look, the
// snapshot in at most two batches, one batch per look of a loop on a connection kept open.
// Counted at a TCP proxy in front of the test server (bench/proxy.ts), which sees what the
// network sees: connections accepted, and round trips (client→server bursts: a pipelined
// batch is one, so are the SSLRequest, the startup and the final Terminate).
import { spawn } from 'node:child_process';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { startDelayProxy, type DelayProxy } from '../bench/proxy.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { connect, resolveConnection } from '../src/core/connection.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { KeptConnections } from '../src/gate/connections.js';
import { takeSnapshot, type SnapshotMemory } from '../src/gate/snapshot.js';
import { CLI, expectOneLineFailure, FAST_THRESHOLDS, runCli, session, useCluster, waitFor } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];
let proxy: DelayProxy;
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-round-trips-'));

/** Through the proxy, sslmode left to its default (prefer) against a server without TLS, as most CI jobs connect. */
const url = (): string => `postgresql://postgres@127.0.0.1:${proxy.port}/postgres`;
const thresholdArgs = Object.entries(FAST_THRESHOLDS).flatMap(([flag, value]) => [`--${flag}`, value]);

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders; CREATE TABLE other (id int)');
  // A little distance, so the server's answers never overtake a batch still arriving.
  proxy = await startDelayProxy({ host: '127.0.0.1', port: cluster().port }, 2);
});

afterAll(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => proxy.reset());

/** Counts are final once the proxy saw both sides close. */
async function settledCounts(): Promise<ReturnType<DelayProxy['counts']>> {
  await new Promise((r) => setTimeout(r, 50));
  return proxy.counts();
}

describe('round trips at network distance', () => {
  it('check: one connection (prefer continues after the server says no TLS), two batches', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'orders', '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const counts = await settledCounts();
    expect(counts.connections).toBe(1);
    // SSLRequest ('N'), startup, batch 1 (opening + targets), batch 2 (activity, checks, COMMIT), Terminate.
    expect(counts.roundTrips).toBe(5);
  });

  it('check --migration: the tables from the migration, the same two batches', async () => {
    const migration = join(dir, 'migration.sql');
    writeFileSync(migration, 'ALTER TABLE orders ADD COLUMN note text;\n');
    const result = await runCli(['check', '--url', url(), '--migration', migration, '--format', 'json']);
    expect(result.code).toBe(0);
    const counts = await settledCounts();
    expect(counts.connections).toBe(1);
    expect(counts.roundTrips).toBe(5);
  });

  it('locks without --table: nothing to resolve first, one batch', async () => {
    const result = await runCli(['locks', '--url', url(), '--format', 'json']);
    expect(result.code).toBe(0);
    const counts = await settledCounts();
    expect(counts.connections).toBe(1);
    expect(counts.roundTrips).toBe(4);
  });

  it('a missing table still fails with the one-line message naming the search_path, on one connection', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'no_such_table']);
    expectOneLineFailure(result, /not found in database postgres \(search_path: pg_catalog, "\$user", public\)/);
    expect((await settledCounts()).connections).toBe(1);
  });

  it('check --wait: each further look is one batch on the same connection', async () => {
    const holder = await session(cluster(), 'rt-holder');
    open.push(holder);
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    try {
      const result = await runCli(['check', '--url', url(), '--table', 'orders', '--format', 'json', '--wait', '2s', '--wait-max-interval', '300ms', ...thresholdArgs]);
      expect(result.code).toBe(1);
      const attempts = (result.stderr.match(/attempt \d+/g) ?? []).length;
      expect(attempts).toBeGreaterThanOrEqual(3);
      const counts = await settledCounts();
      expect(counts.connections).toBe(1);
      // SSLRequest, startup, the first look's two batches, one batch per look after it, Terminate.
      expect(counts.roundTrips).toBe(attempts + 4);
    } finally {
      await holder.query('ROLLBACK');
    }
  });

  it('locks --watch --table: the first look resolves the table, each refresh after it is one batch', async () => {
    const result = await runCli(['locks', '--url', url(), '--table', 'orders', '--format', 'json', '--watch', '100ms', '--refreshes', '3']);
    expect(result.code).toBe(0);
    const counts = await settledCounts();
    expect(counts.connections).toBe(1);
    expect(counts.roundTrips).toBe(1 + 1 + 2 + 1 + 1 + 1);
  });

  it('a look that assumed the last look\'s table, recreated since, is taken again and sees the new table', async () => {
    const client = await connect(resolveConnection(url(), {}), { applicationName: 'rt-looker', timeoutMs: 10_000 });
    open.push(client);
    const request = { tables: parseTables(['orders'], 'AccessExclusiveLock'), checks: CHECKS, options: resolveCheckOptions(CHECKS, {}), statementTimeoutMs: 10_000 };
    const memory: SnapshotMemory = {};
    const batches = async (work: () => Promise<unknown>): Promise<number> => {
      const before = proxy.counts().roundTrips;
      await work();
      return proxy.counts().roundTrips - before;
    };
    let first: Awaited<ReturnType<typeof takeSnapshot>> | undefined;
    expect(await batches(async () => (first = await takeSnapshot(client, request, memory)))).toBe(2);
    expect(await batches(() => takeSnapshot(client, request, memory))).toBe(1);
    await cluster().sql('CREATE TABLE orders_new (LIKE orders INCLUDING ALL); ALTER TABLE orders RENAME TO orders_old; ALTER TABLE orders_new RENAME TO orders');
    try {
      let third: Awaited<ReturnType<typeof takeSnapshot>> | undefined;
      // The single batch assumed the old table; the look is taken again: one batch, then two.
      expect(await batches(async () => (third = await takeSnapshot(client, request, memory)))).toBe(3);
      const newOid = (await cluster().sql<{ oid: string }>("SELECT 'orders'::regclass::oid AS oid")).rows[0]?.oid;
      expect(third?.targets[0]?.oid).toBe(Number(newOid));
      expect(third?.targets[0]?.oid).not.toBe(first?.targets[0]?.oid);
      expect(await batches(() => takeSnapshot(client, request, memory))).toBe(1);
    } finally {
      await cluster().sql('DROP TABLE orders; ALTER TABLE orders_old RENAME TO orders');
    }
  });

  it('locks --watch replaces a connection the server terminated and goes on', async () => {
    const child = spawn(process.execPath, [CLI, 'locks', '--url', url(), '--format', 'json', '--watch', '300ms', '--refreshes', '4'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Between two looks: the first is printed, so its connection is kept, not being opened.
    await new Promise<void>((resolve) => {
      const seen = (): void => {
        if (stdout.includes('\n')) resolve();
        else child.stdout.once('data', seen);
      };
      seen();
      void exited.then(() => resolve());
    });
    await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgpreflight'");
    const code = await exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').filter((line) => line.startsWith('{'))).toHaveLength(4);
    expect((await settledCounts()).connections).toBe(2);
  });

  it('a kept connection the server ended, when no new one can be had: the look fails naming the loss, not the refusal', async () => {
    const own = await startDelayProxy({ host: '127.0.0.1', port: cluster().port }, 0);
    const spec = resolveConnection(`postgresql://postgres@127.0.0.1:${own.port}/postgres`, {});
    const connections = new KeptConnections('rt-kept');
    const look = (): Promise<unknown> =>
      connections.look(spec, { timeoutMs: 10_000, deadline: Date.now() + 10_000 }, (client, memory) =>
        takeSnapshot(client, { tables: [], checks: [], options: {}, statementTimeoutMs: 10_000 }, memory),
      );
    let closed = false;
    try {
      await look();
      await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rt-kept'");
      await waitFor(cluster(), "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'rt-kept')");
      // The server stays away: a new connection is refused.
      await own.close();
      closed = true;
      const failure = await look().then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(/terminated|ended unexpectedly|reset/);
      expect(failure?.message).not.toMatch(/refused/);
    } finally {
      await connections.close();
      if (!closed) await own.close();
    }
  });

  it("run's guard polls on one connection however long the command runs", async () => {
    // The command runs until the guard's connection (the third) has carried five polls, however
    // slow the machine: polls on fresh connections would never get there, and the CLI times out.
    const release = join(dir, 'release-guarded-command');
    const command = `const fs = require('node:fs'); const t = setInterval(() => { if (fs.existsSync(${JSON.stringify(release)})) clearInterval(t); }, 20);`;
    const running = runCli(['run', '--url', url(), '--table', 'other', '--guard-interval', '100ms', '--', process.execPath, '-e', command]);
    let exited = false;
    void running.finally(() => (exited = true)).catch(() => undefined);
    try {
      // SSLRequest and startup, then one batch per poll.
      while (!exited && (proxy.counts().perConnection[2] ?? 0) < 2 + 5) await new Promise((r) => setTimeout(r, 20));
    } finally {
      writeFileSync(release, '');
    }
    const result = await running;
    rmSync(release, { force: true });
    expect(result.code).toBe(0);
    const counts = await settledCounts();
    // The guard's privileges before the start, the gate, the guard.
    expect(counts.connections).toBe(3);
    expect(counts.perConnection[2]).toBeGreaterThanOrEqual(3 + 5);
  });
});

describe('the proxy that counts', () => {
  it('counts a message split across two writes, with the server speaking in between, as one round trip', async () => {
    // A fake server: 'N' to the SSLRequest, then one byte back for every chunk it receives.
    const fake = createServer((socket) => {
      let first = true;
      socket.on('data', () => {
        socket.write(first ? 'N' : 'x');
        first = false;
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const address = fake.address() as AddressInfo;
    const counting = await startDelayProxy({ host: '127.0.0.1', port: address.port }, 0);
    const socket = netConnect({ host: '127.0.0.1', port: counting.port });
    const answers: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => answers.push(chunk));
    const answered = async (count: number): Promise<void> => {
      while (answers.length < count) await new Promise((r) => setTimeout(r, 5));
    };
    try {
      const int32 = (n: number): Buffer => {
        const b = Buffer.alloc(4);
        b.writeInt32BE(n);
        return b;
      };
      socket.write(Buffer.concat([int32(8), int32(80877103)])); // SSLRequest
      await answered(1);
      const params = Buffer.from('user\0postgres\0\0');
      socket.write(Buffer.concat([int32(8 + params.length), int32(196608), params])); // StartupMessage
      await answered(2);
      const text = Buffer.from('SELECT 1\0');
      const query = Buffer.concat([Buffer.from('Q'), int32(4 + text.length), text]);
      socket.write(query.subarray(0, 7));
      await answered(3);
      socket.write(query.subarray(7));
      await answered(4);
      expect(counting.counts().roundTrips).toBe(3);
    } finally {
      socket.destroy();
      await counting.close();
      await new Promise<void>((resolve) => fake.close(() => resolve()));
    }
  });
});

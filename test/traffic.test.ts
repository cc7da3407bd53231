import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Report } from '../src/core/types.js';
import { checkOf, findingsOf, gate, reportFrom, runCli, session, sleep, useCluster, waitFor } from './helpers.js';

const cluster = useCluster({ settings: { autovacuum: false } });
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

/**
 * Real traffic on orders from a second connection: single-row lookups by primary key,
 * each its own transaction, until stopped (bounded at 200,000). Resolves to the count.
 */
async function startLoad(): Promise<{ stop: () => Promise<number> }> {
  const client = await session(cluster(), 'traffic-load');
  open.push(client);
  let stopped = false;
  const done = (async () => {
    let n = 0;
    while (!stopped && n < 200_000) {
      await client.query('SELECT total FROM orders WHERE id = $1', [(n % 100) + 1]);
      n += 1;
    }
    return n;
  })();
  return {
    stop: async () => {
      stopped = true;
      return done;
    },
  };
}

function traffic(report: Report, target = 'public.orders') {
  const finding = findingsOf(report, 'traffic', 'traffic').find((f) => f.target === target);
  if (!finding?.details) throw new Error(`no traffic finding for ${target}`);
  return {
    finding,
    details: finding.details as { method: string; queriesPerSecond: number | null; queued: number; lockTimeoutMs: number; windowSeconds: number; scans: number; sessionsOnTable: number; clientSessions: number },
  };
}

/** queued = rate × lock_timeout, but never more than the sessions there are to queue (the rate is shown rounded). */
function expectQueued(details: { queriesPerSecond: number | null; queued: number; lockTimeoutMs: number; clientSessions: number }): void {
  expect(details.queued).toBeLessThanOrEqual(details.clientSessions);
  expect(Math.abs(details.queued - Math.min(((details.queriesPerSecond ?? 0) * details.lockTimeoutMs) / 1000, details.clientSessions))).toBeLessThanOrEqual(1);
}

describe('traffic', () => {
  beforeAll(async () => {
    // quiet gets no index: building one scans the table, and that scan would count.
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE quiet (id int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
  });

  it('passes on a table nobody touches, measured now and by a sample', async () => {
    const now = await gate(cluster(), { tables: ['quiet'], only: ['traffic'] });
    expect(checkOf(now, 'traffic').status).toBe('pass');
    expect(traffic(now, 'public.quiet').details).toMatchObject({ method: 'now', queriesPerSecond: 0, queued: 0, lockTimeoutMs: 4000, sessionsOnTable: 0 });
    const sampled = await gate(cluster(), { tables: ['quiet'], only: ['traffic'], flags: { sample: '500ms' } });
    expect(traffic(sampled, 'public.quiet').details).toMatchObject({ method: 'sample', queriesPerSecond: 0, queued: 0 });
  });

  it('a freshly bulk-loaded table nobody uses has no traffic now (the long-run counters count every loaded row)', async () => {
    await cluster().sql('CREATE TABLE loaded (id int, payload text); INSERT INTO loaded SELECT g, md5(g::text) FROM generate_series(1, 200000) g; ANALYZE loaded');
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_user_tables WHERE relname = 'loaded' AND n_tup_ins >= 200000");
    const report = await gate(cluster(), { tables: ['loaded'], only: ['traffic'] });
    expect(checkOf(report, 'traffic').status).toBe('pass');
    expect(traffic(report, 'public.loaded').details).toMatchObject({ method: 'now', queriesPerSecond: 0, queued: 0 });
  });

  it('sibling: a table that was busy a moment ago and is quiet now has no traffic now', async () => {
    const load = await startLoad();
    try {
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_user_tables WHERE relname = 'orders' AND seq_scan + COALESCE(idx_scan, 0) > 500");
    } finally {
      await load.stop();
    }
    const report = await gate(cluster(), { only: ['traffic'], flags: { 'queued-warn': '1' } });
    expect(traffic(report).details).toMatchObject({ method: 'now', queued: 0 });
    expect(checkOf(report, 'traffic').status).toBe('pass');
  });

  it('sessions in a transaction on the table now give a rate by Little\'s law, and the queue is capped at the client sessions', async () => {
    for (let i = 0; i < 5; i += 1) {
      const client = await session(cluster(), `traffic-user-${i}`);
      open.push(client);
      await client.query('BEGIN; SELECT total FROM orders WHERE id = 1');
    }
    const report = await gate(cluster(), { only: ['traffic'], flags: { 'queued-warn': '1' } });
    const { details } = traffic(report);
    expect(details.method).toBe('now');
    expect(details.sessionsOnTable).toBe(5);
    expect(details.queriesPerSecond).toBeGreaterThan(0);
    expect(details.clientSessions).toBeGreaterThanOrEqual(5);
    // Each queued query holds a session: never more queued than sessions to queue them.
    expectQueued(details);
    expect(checkOf(report, 'traffic').status).toBe('warn');
    // CREATE INDEX CONCURRENTLY's ShareUpdateExclusiveLock blocks neither reads nor writes.
    const concurrent = await gate(cluster(), { only: ['traffic'], lockMode: 'ShareUpdateExclusiveLock', flags: { 'queued-warn': '1' } });
    expect(checkOf(concurrent, 'traffic').status).toBe('pass');
    expect(traffic(concurrent).details.queued).toBe(0);
    for (const client of open.splice(0)) await client.end();
  });

  it('--sample measures real traffic from the counters, capped the same way', async () => {
    const load = await startLoad();
    await sleep(1500);
    const report = await gate(cluster(), { tables: ['orders', 'quiet'], only: ['traffic'], flags: { sample: '2s', 'queued-warn': '1' } });
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(400);
    const { finding, details } = traffic(report);
    expect(details.method).toBe('sample');
    expect(details.windowSeconds).toBeGreaterThanOrEqual(2);
    expect(details.queriesPerSecond).toBeGreaterThan(50);
    // One connection sends the load: one query of it can queue, however fast it goes.
    expectQueued(details);
    expect(finding.severity).toBe('warn');
    // The quiet table in the same run saw none of it.
    expect(traffic(report, 'public.quiet').details).toMatchObject({ queriesPerSecond: 0, queued: 0 });
  });

  it('takes --sample and --lock-timeout on the command line (built CLI)', async () => {
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'quiet', '--only', 'traffic', '--sample', '1s', '--lock-timeout', '2s', '--format', 'json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const report = reportFrom(result.stdout);
    expect(traffic(report, 'public.quiet').details).toMatchObject({ method: 'sample', lockTimeoutMs: 2000, queued: 0 });
    const tooLong = await runCli(['check', '--url', cluster().url(), '--table', 'quiet', '--only', 'traffic', '--sample', '20s', '--timeout', '5s']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/--timeout/);
  });
});

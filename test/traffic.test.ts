import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Report } from '../src/core/types.js';
import { checkOf, findingsOf, gate, runCli, session, sleep, useCluster } from './helpers.js';

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
  return { finding, details: finding.details as { method: string; queriesPerSecond: number; queued: number; lockTimeoutMs: number; windowSeconds: number; scans: number } };
}

describe('traffic', () => {
  beforeAll(async () => {
    // quiet gets no index: building one scans the table, and that scan would count.
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE quiet (id int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
  });

  it('passes on a table nobody touches, by the long-run rate and by a sample', async () => {
    const longRun = await gate(cluster(), { tables: ['quiet'], only: ['traffic'] });
    expect(checkOf(longRun, 'traffic').status).toBe('pass');
    expect(traffic(longRun, 'public.quiet').details).toMatchObject({ queriesPerSecond: 0, queued: 0, lockTimeoutMs: 4000 });
    expect(['since-start', 'since-reset']).toContain(traffic(longRun, 'public.quiet').details.method);
    const sampled = await gate(cluster(), { tables: ['quiet'], only: ['traffic'], flags: { sample: '500ms' } });
    expect(traffic(sampled, 'public.quiet').details).toMatchObject({ method: 'sample', queriesPerSecond: 0, queued: 0 });
  });

  it('samples real traffic for the current rate and warns when a lock wait would queue too many', async () => {
    const load = await startLoad();
    await sleep(1500);
    const report = await gate(cluster(), { tables: ['orders', 'quiet'], only: ['traffic'], flags: { sample: '2s', 'queued-warn': '100' } });
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(400);
    expect(checkOf(report, 'traffic').status).toBe('warn');
    const { finding, details } = traffic(report);
    expect(finding.severity).toBe('warn');
    expect(details.method).toBe('sample');
    expect(details.windowSeconds).toBeGreaterThanOrEqual(2);
    expect(details.queriesPerSecond).toBeGreaterThan(50);
    expect(Math.abs(details.queued - details.queriesPerSecond * 4)).toBeLessThanOrEqual(1);
    // The quiet table in the same run saw none of it.
    expect(traffic(report, 'public.quiet').details).toMatchObject({ queriesPerSecond: 0, queued: 0 });
  });

  it('uses the long-run rate by default, scaled by --lock-timeout; a lock that blocks nothing queues nothing', async () => {
    const load = await startLoad();
    await sleep(1500);
    await load.stop();
    await sleep(1100); // let the load's backend report its counters
    const report = await gate(cluster(), { only: ['traffic'], flags: { 'lock-timeout': '10s', 'queued-warn': '1' } });
    const { details } = traffic(report);
    expect(['since-start', 'since-reset']).toContain(details.method);
    expect(details.scans).toBeGreaterThan(400);
    expect(details.lockTimeoutMs).toBe(10_000);
    expect(Math.abs(details.queued - details.queriesPerSecond * 10)).toBeLessThanOrEqual(5);
    expect(checkOf(report, 'traffic').status).toBe('warn');
    // CREATE INDEX CONCURRENTLY's ShareUpdateExclusiveLock blocks neither reads nor writes.
    const concurrent = await gate(cluster(), { only: ['traffic'], lockMode: 'ShareUpdateExclusiveLock', flags: { 'queued-warn': '1' } });
    expect(checkOf(concurrent, 'traffic').status).toBe('pass');
    expect(traffic(concurrent).details.queued).toBe(0);
  });

  it('takes --sample and --lock-timeout on the command line (built CLI)', async () => {
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'quiet', '--only', 'traffic', '--sample', '1s', '--lock-timeout', '2s', '--format', 'json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const report = JSON.parse(result.stdout) as Report;
    expect(traffic(report, 'public.quiet').details).toMatchObject({ method: 'sample', lockTimeoutMs: 2000, queued: 0 });
    const tooLong = await runCli(['check', '--url', cluster().url(), '--table', 'quiet', '--only', 'traffic', '--sample', '20s', '--timeout', '5s']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/--timeout/);
  });
});

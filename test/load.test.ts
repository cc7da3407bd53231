// The load check on a real server: a lock pile-up in the database warns with its numbers and
// its root, fails only when a fail threshold is set, reads the same without pg_monitor;
// --sample adds AAS by class; a quiet server and CPU load without --cpus pass.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { sampledName } from '../checks/types.js';
import { resolveConnection } from '../src/core/connection.js';
import { parseTables } from '../src/core/identifiers.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import type { Report } from '../src/core/types.js';
import { checkOf, findingsOf, gate, runCli, session, useCluster, waitFor, reportFrom } from './helpers.js';
import { findPgbench, startCpuLoad } from './support/pgbench.js';

const cluster = useCluster();
const open: pg.Client[] = [];

beforeAll(async () => {
  await cluster().sql(`
    CREATE ROLE watcher LOGIN;
    CREATE TABLE orders (id int PRIMARY KEY);
    CREATE TABLE hot (id int PRIMARY KEY, v int);
    INSERT INTO hot VALUES (1, 0);
    ANALYZE orders, hot;`);
});

afterAll(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

describe('load on a quiet server', () => {
  it('passes, with no extra read: the numbers come from the core snapshot', async () => {
    const { report, snapshot } = await runOnce({
      connection: resolveConnection(cluster().url(), {}),
      tables: parseTables(['orders'], 'AccessExclusiveLock'),
      checks: CHECKS,
      options: resolveCheckOptions(CHECKS, {}),
      timeoutMs: 10_000,
    });
    expect(Object.keys(snapshot.extra)).not.toContain('load-activity');
    expect(Object.keys(snapshot.extra)).not.toContain(sampledName('load-activity'));
    const load = checkOf(report, 'load');
    expect(load.status).toBe('pass');
    expect(findingsOf(report, 'load', 'lock-contention')[0]?.details).toMatchObject({ waiting: 0 });
    expect(findingsOf(report, 'load', 'cpu-load')[0]?.details).toMatchObject({ cpus: null, sampled: false });
  });
});

describe('a lock pile-up elsewhere in the database', () => {
  let holderPid: number;

  beforeAll(async () => {
    // A hot row: one transaction updated it and went idle; 20 sessions update it too and wait.
    const holder = await session(cluster(), 'load-holder');
    open.push(holder);
    await holder.query('BEGIN; UPDATE hot SET v = v + 1 WHERE id = 1');
    holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
    for (let i = 0; i < 20; i += 1) {
      const waiter = await session(cluster(), 'load-pile-up');
      open.push(waiter);
      void waiter.query('UPDATE hot SET v = v + 1 WHERE id = 1').catch(() => undefined);
    }
    await waitFor(cluster(), "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'load-pile-up' AND NOT l.granted AND l.waitstart < now() - interval '300 ms' HAVING count(DISTINCT l.pid) = 20");
  });

  it('warns with the number of waiters and the session they wait behind; the table is not involved', async () => {
    const report = await gate(cluster(), { only: ['load'], flags: { 'load-lock-age': '300ms' } });
    expect(checkOf(report, 'load').status).toBe('warn');
    const finding = findingsOf(report, 'load', 'lock-contention')[0];
    expect(finding).toMatchObject({ severity: 'warn', pid: holderPid });
    expect(finding?.details).toMatchObject({ waiting: 20, rootPid: holderPid, waitingBehindRoot: 20 });
  });

  it('fails only when the user sets a fail threshold', async () => {
    const report = await gate(cluster(), { only: ['load'], flags: { 'load-lock-age': '300ms', 'load-lock-fail': '10' } });
    expect(checkOf(report, 'load').status).toBe('fail');
    expect(report.verdict).toBe('fail');
  });

  it('shorter than --load-lock-age, the waits do not count', async () => {
    const report = await gate(cluster(), { only: ['load'], flags: { 'load-lock-age': '1h' } });
    expect(checkOf(report, 'load').status).toBe('pass');
    expect(findingsOf(report, 'load', 'lock-contention')[0]?.details).toMatchObject({ waiting: 0, waitingAny: 20 });
  });

  it('sees the waits without pg_monitor (pg_locks) and counts the sessions it cannot see as hidden', async () => {
    const report = await gate(cluster(), { only: ['load'], user: 'watcher', flags: { 'load-lock-age': '300ms' } });
    expect(checkOf(report, 'load').status).toBe('warn');
    expect(findingsOf(report, 'load', 'lock-contention')[0]?.details).toMatchObject({ waiting: 20 });
    expect(Number(findingsOf(report, 'load', 'load-hidden')[0]?.details?.hidden)).toBeGreaterThanOrEqual(21);
  });

  it('with --sample: AAS by class over the sample, Lock leading', async () => {
    const report = await gate(cluster(), { only: ['load', 'traffic'], tables: ['orders'], flags: { sample: '1s', 'load-lock-age': '1h' } });
    const sample = findingsOf(report, 'load', 'load-sample')[0];
    expect(sample?.details).toMatchObject({ hypothesis: 'contention', leadingClass: 'Lock' });
    expect(Number(sample?.details?.aasLock)).toBeGreaterThanOrEqual(19);
    expect(Number(sample?.details?.samples)).toBeGreaterThanOrEqual(5);
    // Lock AAS over the sample counts toward --load-lock-warn even when no wait is old enough.
    expect(checkOf(report, 'load').status).toBe('warn');
  });

  it('--sample reaches load with traffic skipped (--only load)', async () => {
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--only', 'load', '--sample', '500ms', '--format', 'json']);
    expect(result.code, result.stderr).toBe(0);
    const report = reportFrom(result.stdout);
    expect(findingsOf(report, 'load', 'load-sample')[0]?.details).toMatchObject({ leadingClass: 'Lock' });
  });

  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
    await waitFor(cluster(), "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name IN ('load-pile-up', 'load-holder'))");
  });
});

describe('CPU load', () => {
  it('passes without --cpus and warns over the CPUs it is given, averaged over --sample', async (context) => {
    const pgbench = findPgbench(cluster());
    if (!pgbench) {
      console.log('pgbench not found (PGBENCH, PATH, pg_config --bindir): CPU load test skipped');
      context.skip();
      return;
    }
    const load = startCpuLoad(pgbench, cluster(), 4, 'load-cpu');
    try {
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'load-cpu' HAVING count(*) = 4");
      const unknown = await gate(cluster(), { only: ['load'] });
      expect(checkOf(unknown, 'load').status).toBe('pass');
      const judged = await gate(cluster(), { only: ['load', 'traffic'], flags: { sample: '1s', cpus: '1', 'load-cpu-warn': '50' } });
      const cpu = findingsOf(judged, 'load', 'cpu-load')[0];
      expect(cpu).toMatchObject({ severity: 'warn' });
      expect(cpu?.details).toMatchObject({ cpus: 1, sampled: true });
      expect(findingsOf(judged, 'load', 'load-sample')[0]?.details).toMatchObject({ leadingClass: 'CPU' });
    } finally {
      await load.stop();
    }
  });
});

import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkOf, findingsOf, gate, sleep, taggedSession, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lrq-%'");
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

/** Starts a statement and waits until pg_stat_activity shows it running. */
async function running(app: string, sql: string): Promise<number> {
  const { client, pid } = await tagged(app);
  client.query(sql).catch(() => undefined);
  await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND wait_event = 'PgSleep'", [app]);
  return pid;
}

beforeAll(async () => {
  await cluster().sql(`
    CREATE TABLE orders (id int PRIMARY KEY, total int);
    INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;
    CREATE TABLE other (id int);
    CREATE VIEW order_totals AS SELECT sum(total) AS total FROM orders;
    CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM orders';
    ANALYZE;`);
});

describe('long-running-queries', () => {
  it('passes with nothing running', async () => {
    const report = await gate(cluster(), { only: ['long-running-queries'] });
    expect(checkOf(report, 'long-running-queries').status).toBe('pass');
    expect(findingsOf(report, 'long-running-queries')).toEqual([]);
  });

  it('fails on a long statement that reaches the table through a view', async () => {
    const pid = await running('lrq-view', 'SELECT total, pg_sleep(30) FROM order_totals');
    await sleep(400);
    const report = await gate(cluster(), { only: ['long-running-queries'], flags: { 'long-query-warn': '100ms', 'long-query-fail': '300ms' } });
    expect(checkOf(report, 'long-running-queries').status).toBe('fail');
    const finding = findingsOf(report, 'long-running-queries', 'long-query').find((f) => f.pid === pid);
    expect(finding).toMatchObject({ severity: 'fail', state: 'active', lockMode: 'AccessShareLock', granted: true, target: 'public.orders', application: 'lrq-view' });
    expect(finding?.remediation?.sql).toBe(`SELECT pg_cancel_backend(${pid});`);
  });

  it('counts a statement that reaches the table through a function', async () => {
    const pid = await running('lrq-function', 'SELECT order_count(), pg_sleep(30)');
    await sleep(400);
    const report = await gate(cluster(), { only: ['long-running-queries'], flags: { 'long-query-warn': '100ms', 'long-query-fail': '1h' } });
    expect(checkOf(report, 'long-running-queries').status).toBe('warn');
    expect(findingsOf(report, 'long-running-queries', 'long-query').find((f) => f.pid === pid)).toMatchObject({ severity: 'warn' });
  });

  it('does not blame a statement whose text merely mentions the table; warns about it elsewhere when old', async () => {
    const pid = await running('lrq-text', "SELECT 'orders' AS orders, (SELECT count(*) FROM other) AS n, pg_sleep(30)");
    await sleep(400);
    const quiet = await gate(cluster(), { only: ['long-running-queries'], flags: { 'long-query-fail': '100ms' } });
    expect(checkOf(quiet, 'long-running-queries').status).toBe('pass');
    const report = await gate(cluster(), { only: ['long-running-queries'], flags: { 'long-query-fail': '100ms', 'long-query-elsewhere': '200ms' } });
    expect(checkOf(report, 'long-running-queries').status).toBe('warn');
    expect(findingsOf(report, 'long-running-queries', 'long-query-elsewhere').find((f) => f.pid === pid)).toMatchObject({ severity: 'warn' });
    expect(findingsOf(report, 'long-running-queries', 'long-query')).toEqual([]);
  });

  it('counts a statement awaiting a conflicting lock on the table', async () => {
    const holder = await tagged('lrq-holder');
    await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const alter = await tagged('lrq-alter');
    const pending = alter.client.query('ALTER TABLE orders ADD COLUMN note text').catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'lrq-alter');
    await sleep(300);
    const report = await gate(cluster(), { only: ['long-running-queries'], flags: { 'long-query-warn': '100ms', 'long-query-fail': '200ms' } });
    expect(findingsOf(report, 'long-running-queries', 'long-query').find((f) => f.pid === alter.pid)).toMatchObject({ severity: 'fail', granted: false, lockMode: 'AccessExclusiveLock' });
    await holder.client.query('ROLLBACK');
    await pending;
  });
});

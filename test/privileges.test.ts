import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkOf, findingsOf, gate, runCli, session, sleep, useCluster } from './helpers.js';

const cluster = useCluster();
let holder: pg.Client;
let holderPid: number;

beforeAll(async () => {
  await cluster().sql(`
    CREATE ROLE app_owner LOGIN;
    CREATE ROLE limited LOGIN;
    CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
    CREATE TABLE orders (id int PRIMARY KEY);
    ALTER TABLE orders OWNER TO app_owner;
    ANALYZE orders;`);
  holder = await session(cluster(), 'priv-holder', { user: 'app_owner' });
  await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
  holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  await sleep(300);
});

afterAll(async () => {
  await holder?.end();
});

describe('without pg_monitor', () => {
  it('never passes a lock whose holder it cannot see: the locks check is error and names pg_monitor', async () => {
    const report = await gate(cluster(), { user: 'limited', flags: { 'lock-fail': '1h', 'lock-warn': '1h', 'idle-fail': '1h', 'idle-warn': '1h' } });
    expect(report.verdict).toBe('error');
    const locks = checkOf(report, 'locks');
    expect(locks.status).toBe('error');
    expect(findingsOf(report, 'locks', 'lock-holder').find((f) => f.pid === holderPid)).toMatchObject({ severity: 'error', user: 'app_owner', state: null });
    expect(locks.summary).toContain('pg_monitor');
    expect(report.notes.some((n) => n.includes('pg_monitor'))).toBe(true);
  });

  it('exits 2 from the CLI', async () => {
    const result = await runCli(['check', '--url', cluster().url({ user: 'limited' }), '--table', 'orders', '--format', 'json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).verdict).toBe('error');
  });
});

describe('with pg_monitor', () => {
  it('sees the holder and judges it by age', async () => {
    const report = await gate(cluster(), { user: 'monitor', flags: { 'lock-fail': '100ms', 'idle-fail': '100ms' } });
    expect(report.verdict).toBe('fail');
    expect(findingsOf(report, 'idle-in-transaction', 'idle-in-transaction').find((f) => f.pid === holderPid)).toMatchObject({
      severity: 'fail',
      state: 'idle in transaction',
      user: 'app_owner',
      application: 'priv-holder',
    });
  });
});

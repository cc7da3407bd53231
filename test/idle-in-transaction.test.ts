import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, session, sleep, useCluster } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

async function tagged(app: string): Promise<pg.Client> {
  const client = await session(cluster(), app);
  open.push(client);
  return client;
}

describe('idle-in-transaction', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE other (id int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders, other');
  });

  it('passes on a quiet server', async () => {
    const report = await gate(cluster(), { only: ['idle-in-transaction'] });
    expect(checkOf(report, 'idle-in-transaction').status).toBe('pass');
    expect(findingsOf(report, 'idle-in-transaction')).toEqual([]);
  });

  it('fails on a real session idle in transaction holding a lock on the table past the threshold', async () => {
    const holder = await tagged('iit-holder');
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    await sleep(1200);
    const report = await gate(cluster(), { only: ['idle-in-transaction'], flags: { 'idle-fail': '1s' } });
    const check = checkOf(report, 'idle-in-transaction');
    expect(check.status).toBe('fail');
    const finding = findingsOf(report, 'idle-in-transaction', 'idle-in-transaction').find((f) => f.application === 'iit-holder');
    expect(finding).toMatchObject({ severity: 'fail', pid, state: 'idle in transaction', lockMode: 'AccessShareLock', granted: true, target: 'public.orders' });
    expect(finding?.remediation?.sql).toBe(`SELECT pg_terminate_backend(${pid});`);
    expect(finding?.ageSeconds).toBeGreaterThanOrEqual(1);
  });

  it('warns (not fails) under the fail threshold', async () => {
    const holder = await tagged('iit-young');
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(300);
    const report = await gate(cluster(), { only: ['idle-in-transaction'], flags: { 'idle-warn': '200ms', 'idle-fail': '1h' } });
    expect(checkOf(report, 'idle-in-transaction').status).toBe('warn');
  });

  it('keeps locks after an error under a savepoint: still blocks', async () => {
    const holder = await tagged('iit-aborted');
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1; SAVEPOINT s1');
    await holder.query('SELECT 1/0').catch(() => undefined);
    await sleep(300);
    const report = await gate(cluster(), { only: ['idle-in-transaction'], flags: { 'idle-fail': '100ms' } });
    const finding = findingsOf(report, 'idle-in-transaction', 'idle-in-transaction').find((f) => f.application === 'iit-aborted');
    expect(finding).toMatchObject({ severity: 'fail', state: 'idle in transaction (aborted)' });
  });

  it('does not blame a session on another table; warns about it only when old', async () => {
    const elsewhere = await tagged('iit-other');
    await elsewhere.query('BEGIN; SELECT * FROM other LIMIT 1');
    await sleep(300);
    const quiet = await gate(cluster(), { only: ['idle-in-transaction'] });
    expect(checkOf(quiet, 'idle-in-transaction').status).toBe('pass');
    const report = await gate(cluster(), { only: ['idle-in-transaction'], flags: { 'idle-elsewhere': '100ms' } });
    expect(checkOf(report, 'idle-in-transaction').status).toBe('warn');
    const finding = findingsOf(report, 'idle-in-transaction', 'idle-in-transaction-elsewhere').find((f) => f.application === 'iit-other');
    expect(finding).toMatchObject({ severity: 'warn', state: 'idle in transaction' });
  });

  it('ignores a holder whose lock does not conflict with the requested mode', async () => {
    const holder = await tagged('iit-reader');
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(300);
    const report = await gate(cluster(), { only: ['idle-in-transaction'], lockMode: 'ShareUpdateExclusiveLock', flags: { 'idle-fail': '100ms', 'idle-elsewhere': '1h' } });
    expect(checkOf(report, 'idle-in-transaction').status).toBe('pass');
  });
});

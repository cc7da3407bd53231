import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, session, sleep, useCluster } from './helpers.js';

// Throwaway clusters run with max_prepared_transactions = 10.
const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  const { rows } = await cluster().sql("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'ptx-%'");
  for (const row of rows as { gid: string }[]) await cluster().sql(`ROLLBACK PREPARED '${row.gid}'`);
});

/** Prepares a real transaction that ran `statement`, then ends its session: only the prepared transaction remains. */
async function prepare(gid: string, statement: string): Promise<void> {
  const client = await session(cluster(), gid);
  await client.query(`BEGIN; ${statement}; PREPARE TRANSACTION '${gid}'`);
  await client.end();
}

describe('prepared-transactions', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE other (id int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders, other');
  });

  it('passes with no prepared transactions', async () => {
    const report = await gate(cluster(), { only: ['prepared-transactions'] });
    expect(checkOf(report, 'prepared-transactions').status).toBe('pass');
    expect(findingsOf(report, 'prepared-transactions')).toEqual([]);
  });

  it('fails on a prepared transaction holding a conflicting lock on the table, naming gid, owner and the choice', async () => {
    await prepare('ptx-orders', 'UPDATE orders SET total = total + 1 WHERE id = 1');
    const report = await gate(cluster(), { only: ['prepared-transactions', 'locks'] });
    expect(checkOf(report, 'prepared-transactions').status).toBe('fail');
    const finding = findingsOf(report, 'prepared-transactions', 'prepared-transaction-lock').find((f) => f.details?.gid === 'ptx-orders');
    expect(finding).toMatchObject({ severity: 'fail', pid: null, user: 'postgres', lockMode: 'RowExclusiveLock', granted: true, relation: 'orders', target: 'public.orders' });
    expect(finding?.details).toMatchObject({ owner: 'postgres', database: 'postgres' });
    expect(finding?.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(finding?.remediation?.sql).toContain("ROLLBACK PREPARED 'ptx-orders'");
    expect(finding?.remediation?.sql).toContain("COMMIT PREPARED 'ptx-orders'");
    // The lock really is held with no session behind it: a conflicting request waits.
    const probe = await session(cluster(), 'ptx-probe');
    open.push(probe);
    await expect(probe.query("SET lock_timeout = '200ms'; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")).rejects.toThrow(/lock timeout/);
  });

  it('a prepared writer does not block a ShareUpdateExclusiveLock migration, but does block --concurrently', async () => {
    await prepare('ptx-writer', 'UPDATE orders SET total = total + 1 WHERE id = 2');
    const plain = await gate(cluster(), { only: ['prepared-transactions'], lockMode: 'ShareUpdateExclusiveLock' });
    expect(checkOf(plain, 'prepared-transactions').status).toBe('pass');
    expect(findingsOf(plain, 'prepared-transactions', 'prepared-transaction-lock')).toEqual([]);
    const concurrent = await gate(cluster(), { only: ['prepared-transactions'], lockMode: 'ShareUpdateExclusiveLock', concurrently: true });
    expect(checkOf(concurrent, 'prepared-transactions').status).toBe('fail');
    expect(findingsOf(concurrent, 'prepared-transactions', 'prepared-transaction-lock')[0]).toMatchObject({ severity: 'fail', lockMode: 'RowExclusiveLock', details: { gid: 'ptx-writer' } });
  });

  it('warns on an old prepared transaction elsewhere, and only past the threshold', async () => {
    await prepare('ptx-other', 'INSERT INTO other VALUES (1)');
    await sleep(300);
    const young = await gate(cluster(), { only: ['prepared-transactions'] });
    expect(checkOf(young, 'prepared-transactions').status).toBe('pass');
    expect(findingsOf(young, 'prepared-transactions', 'prepared-transaction')[0]).toMatchObject({ severity: 'info', details: { gid: 'ptx-other' } });
    const report = await gate(cluster(), { only: ['prepared-transactions'], flags: { 'prepared-warn': '200ms' } });
    expect(checkOf(report, 'prepared-transactions').status).toBe('warn');
    const finding = findingsOf(report, 'prepared-transactions', 'prepared-transaction').find((f) => f.details?.gid === 'ptx-other');
    expect(finding).toMatchObject({ severity: 'warn', pid: null, user: 'postgres' });
    expect(finding?.ageSeconds).toBeGreaterThanOrEqual(0.2);
  });
});

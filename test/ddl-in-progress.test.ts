import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, taggedSession, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const cluster = useCluster({ settings: { autovacuum: false } });
const open: pg.Client[] = [];
const running: Promise<unknown>[] = [];

afterEach(async () => {
  await cluster().sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'ddl-%' AND state = 'active'");
  await Promise.allSettled(running.splice(0));
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await cluster().sql('DROP INDEX IF EXISTS orders_total_idx');
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

describe('ddl-in-progress', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE orders (id int PRIMARY KEY, total int);
      INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;
      -- An index expression that is slow only in a session that asks for it, so a real
      -- VACUUM FULL spends seconds rebuilding the index while the gate looks.
      CREATE FUNCTION slow_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN IF current_setting('test.slow', true) = 'on' THEN PERFORM pg_sleep(0.05); END IF; RETURN $1; END $$;
      CREATE TABLE ledger (id int);
      INSERT INTO ledger SELECT g FROM generate_series(1, 400) g;
      CREATE INDEX ledger_slow_idx ON ledger (slow_key(id));
      ANALYZE orders, ledger`);
  });

  it('passes when nothing else works on the table', async () => {
    const report = await gate(cluster(), { only: ['ddl-in-progress'] });
    expect(checkOf(report, 'ddl-in-progress').status).toBe('pass');
    expect(findingsOf(report, 'ddl-in-progress')).toEqual([]);
  });

  it('fails on a real CREATE INDEX CONCURRENTLY in progress (waiting for a writer); its index is not reported invalid', async () => {
    const { client: writer } = await tagged('ddl-writer');
    await writer.query('BEGIN; UPDATE orders SET total = total + 1 WHERE id = 1');
    const { client: builder, pid } = await tagged('ddl-cic');
    running.push(builder.query('CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)').catch(() => undefined));
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_progress_create_index WHERE pid = $1 AND phase LIKE 'waiting%'", [pid]);
    const report = await gate(cluster(), { only: ['ddl-in-progress', 'invalid-indexes'] });
    expect(checkOf(report, 'ddl-in-progress').status).toBe('fail');
    const finding = findingsOf(report, 'ddl-in-progress', 'index-build').find((f) => f.application === 'ddl-cic');
    expect(finding).toMatchObject({ severity: 'fail', pid, target: 'public.orders', relation: 'orders', details: { command: 'CREATE INDEX CONCURRENTLY', index: 'orders_total_idx' } });
    expect(String(finding?.details?.phase)).toMatch(/^waiting for writers/);
    // One finding per backend: its ShareUpdateExclusiveLock is not reported again.
    expect(findingsOf(report, 'ddl-in-progress').filter((f) => f.pid === pid)).toHaveLength(1);
    // The half-built index is invalid while it builds: info, not a warning.
    expect(checkOf(report, 'invalid-indexes').status).toBe('pass');
    expect(findingsOf(report, 'invalid-indexes', 'index-being-built')[0]).toMatchObject({ severity: 'info', relation: 'public.orders_total_idx' });
  });

  it('fails on another migration queued for the table', async () => {
    const { client: reader } = await tagged('ddl-reader');
    await reader.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const { client: migration, pid } = await tagged('ddl-alter');
    running.push(migration.query('ALTER TABLE orders ADD COLUMN note text').catch(() => undefined));
    await waitUntilWaiting(cluster(), 'ddl-alter');
    const report = await gate(cluster(), { only: ['ddl-in-progress'] });
    expect(checkOf(report, 'ddl-in-progress').status).toBe('fail');
    const findings = findingsOf(report, 'ddl-in-progress', 'ddl-lock');
    expect(findings.find((f) => f.application === 'ddl-alter')).toMatchObject({ severity: 'fail', pid, lockMode: 'AccessExclusiveLock', granted: false, relation: 'orders' });
    // The reader holds only AccessShareLock: ordinary traffic, not DDL.
    expect(findings.filter((f) => f.application === 'ddl-reader')).toEqual([]);
  });

  it('fails on a real VACUUM FULL rewriting the table (the autovacuum check too)', async () => {
    const { client: vacuum, pid } = await tagged('ddl-vacuum-full');
    await vacuum.query("SET test.slow = 'on'");
    running.push(vacuum.query('VACUUM FULL ledger').catch(() => undefined));
    await waitFor(cluster(), 'SELECT 1 FROM pg_stat_progress_cluster WHERE pid = $1', [pid]);
    const report = await gate(cluster(), { tables: ['ledger'], only: ['ddl-in-progress', 'autovacuum'] });
    expect(checkOf(report, 'ddl-in-progress').status).toBe('fail');
    expect(findingsOf(report, 'ddl-in-progress', 'table-rewrite')[0]).toMatchObject({ severity: 'fail', pid, application: 'ddl-vacuum-full', relation: 'ledger', details: { command: 'VACUUM FULL' } });
    expect(checkOf(report, 'autovacuum').status).toBe('fail');
    expect(findingsOf(report, 'autovacuum', 'table-rewrite')[0]).toMatchObject({ severity: 'fail', pid, details: { command: 'VACUUM FULL' } });
  });
});

// check --migration against real holders: the gate reads the migration's tables and modes,
// then judges the live sessions by exactly those (conflict-aware), and migration-risk
// weighs each statement's rewrite or scan against the table's live size.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { resolveConnection } from '../src/core/connection.js';
import { analyzeMigrations, mergeTableRequests } from '../src/migration/index.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import type { Report } from '../src/core/types.js';
import { checkOf, findingsOf, session, sleep, useCluster, waitFor } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-migration-'));
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

async function tagged(app: string, sql: string): Promise<number> {
  const client = await session(cluster(), app);
  open.push(client);
  await client.query(sql);
  return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
}

function migrationFile(name: string, sql: string): string {
  const path = join(dir, name);
  writeFileSync(path, sql);
  return path;
}

/** The gate in-process, as `check --migration <path> --only ...` runs it. */
async function gateMigration(path: string, options: { only: string[]; flags?: Record<string, string> }): Promise<Report> {
  const analysis = await analyzeMigrations([path]);
  const checks = CHECKS.filter((c) => options.only.includes(c.id));
  const { report } = await runOnce({
    connection: resolveConnection(cluster().url(), {}),
    tables: mergeTableRequests([], analysis.tables),
    checks,
    options: resolveCheckOptions(checks, options.flags ?? {}),
    timeoutMs: 10_000,
    concurrently: analysis.concurrently,
    migration: analysis,
  });
  return report;
}

const holderOf = (report: Report, app: string) => findingsOf(report, 'locks', 'lock-holder').find((f) => f.application === app);

describe('check --migration with real holders', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE customers (id int PRIMARY KEY, name text);
      CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int);
      INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
      INSERT INTO orders SELECT g, 1 + g % 100, g FROM generate_series(1, 5000) g;
      ANALYZE customers, orders;
    `);
  });

  const FK = "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n";

  it('targets both tables of a foreign key with ShareRowExclusiveLock', async () => {
    const report = await gateMigration(migrationFile('fk.sql', FK), { only: ['locks', 'migration-risk'] });
    expect(report.targets.map((t) => [t.name, t.lockMode]).sort()).toEqual([
      ['public.customers', 'ShareRowExclusiveLock'],
      ['public.orders', 'ShareRowExclusiveLock'],
    ]);
    expect(checkOf(report, 'migration-risk').status).toBe('pass');
  });

  it('a writer holding the referenced table blocks the foreign key', async () => {
    const pid = await tagged('mig-fk-writer', 'BEGIN; UPDATE customers SET name = name WHERE id = 1');
    await sleep(300);
    const report = await gateMigration(migrationFile('fk.sql', FK), { only: ['locks'], flags: { 'lock-fail': '100ms' } });
    expect(checkOf(report, 'locks').status).toBe('fail');
    expect(holderOf(report, 'mig-fk-writer')).toMatchObject({ pid, severity: 'fail', target: 'public.customers', lockMode: 'RowExclusiveLock', details: { conflicting: true } });
  });

  it('a reader of the referenced table does not block the foreign key', async () => {
    await tagged('mig-fk-reader', 'BEGIN; SELECT * FROM customers LIMIT 1');
    await sleep(300);
    const report = await gateMigration(migrationFile('fk.sql', FK), { only: ['locks'], flags: { 'lock-fail': '100ms' } });
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(holderOf(report, 'mig-fk-reader')).toMatchObject({ severity: 'info', details: { conflicting: false } });
  });

  const CIC = "SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\n";

  it('a reader does not block CREATE INDEX CONCURRENTLY', async () => {
    await tagged('mig-cic-reader', 'BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(300);
    const report = await gateMigration(migrationFile('cic.sql', CIC), { only: ['locks', 'migration-risk'], flags: { 'lock-fail': '100ms' } });
    expect(report.targets.map((t) => [t.name, t.lockMode])).toEqual([['public.orders', 'ShareUpdateExclusiveLock']]);
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(checkOf(report, 'migration-risk').status).toBe('pass');
  });

  it('a writer whose transaction stays open blocks CREATE INDEX CONCURRENTLY (a young one does not)', async () => {
    const pid = await tagged('mig-cic-writer', 'BEGIN; UPDATE orders SET total = total WHERE id = 1');
    // Young, under a threshold it cannot reach during the test: CIC waits for it only briefly.
    const young = await gateMigration(migrationFile('cic.sql', CIC), { only: ['locks'], flags: { 'lock-writer-fail': '1h' } });
    expect(checkOf(young, 'locks').status).toBe('pass');
    // Past --lock-writer-fail: CIC would wait for it as long as it stays open.
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'mig-cic-writer' AND now() - xact_start > interval '300 milliseconds'");
    const report = await gateMigration(migrationFile('cic.sql', CIC), { only: ['locks'], flags: { 'lock-writer-fail': '200ms' } });
    expect(checkOf(report, 'locks').status).toBe('fail');
    expect(holderOf(report, 'mig-cic-writer')).toMatchObject({ pid, severity: 'fail', lockMode: 'RowExclusiveLock' });
  });

  const TYPE_CHANGE = "SET lock_timeout = '5s';\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n";

  it('fails a rewrite on a table at the size threshold, on size alone, with the safe sequence', async () => {
    const path = migrationFile('type.sql', TYPE_CHANGE);
    const report = await gateMigration(path, { only: ['locks', 'migration-risk'], flags: { 'rewrite-rows-fail': '1000' } });
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(checkOf(report, 'migration-risk').status).toBe('fail');
    const [finding] = findingsOf(report, 'migration-risk', 'rewrite');
    expect(finding).toMatchObject({ severity: 'fail', file: path, line: 2, target: 'orders', query: 'ALTER TABLE orders ALTER COLUMN total TYPE bigint', details: { lock: 'AccessExclusiveLock', rewrites: true } });
    expect(finding?.remediation?.sql).toMatch(/ALTER TABLE orders ADD COLUMN total_new bigint;/);
  });

  it('passes the same rewrite under the threshold, and fails it by bytes too', async () => {
    const path = migrationFile('type.sql', TYPE_CHANGE);
    const small = await gateMigration(path, { only: ['migration-risk'], flags: { 'rewrite-rows-fail': '1000000', 'rewrite-size-fail': '1GB' } });
    expect(checkOf(small, 'migration-risk').status).toBe('pass');
    expect(findingsOf(small, 'migration-risk', 'rewrite')[0]).toMatchObject({ severity: 'info' });
    const bytes = await gateMigration(path, { only: ['migration-risk'], flags: { 'rewrite-rows-fail': '1000000', 'rewrite-size-fail': '64kB' } });
    expect(findingsOf(bytes, 'migration-risk', 'rewrite')[0]).toMatchObject({ severity: 'fail' });
  });

  it('fails CREATE INDEX CONCURRENTLY inside a transaction block and warns on a missing lock_timeout', async () => {
    const path = migrationFile('tx.sql', 'BEGIN;\nCREATE INDEX CONCURRENTLY orders_cid_idx ON orders (customer_id);\nCOMMIT;\nALTER TABLE orders ADD COLUMN note text;\n');
    const report = await gateMigration(path, { only: ['migration-risk'] });
    expect(checkOf(report, 'migration-risk').status).toBe('fail');
    expect(findingsOf(report, 'migration-risk', 'concurrently-in-transaction')).toEqual([expect.objectContaining({ severity: 'fail', file: path, line: 2 })]);
    expect(findingsOf(report, 'migration-risk', 'lock-timeout-missing')).toEqual([expect.objectContaining({ severity: 'warn', file: path, line: 4 })]);
  });

  it('does not target a table the migration itself creates', async () => {
    const path = migrationFile('create.sql', "SET lock_timeout = '5s';\nCREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers (id));\nALTER TABLE invoices ADD COLUMN total int;\n");
    const report = await gateMigration(path, { only: ['migration-risk'] });
    expect(report.targets.map((t) => [t.name, t.lockMode])).toEqual([['public.customers', 'ShareRowExclusiveLock']]);
    expect(checkOf(report, 'migration-risk').status).toBe('pass');
  });
});

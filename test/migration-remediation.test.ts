// remediation.sql is SQL to run, with the statement's real names: for each dangerous
// statement, the fix the built CLI prints is run statement by statement on a real server
// (batched backfills repeated until they touch no row) and must reach the end state the
// dangerous statement wanted, without the dangerous statement.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Report } from '../src/core/types.js';
import { analyzeSources } from '../src/migration/index.js';
import { reportFrom, runCli, useCluster } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-remediation-'));

/** The fix the built CLI offers for the migration's first failing finding of this kind. */
async function fixFor(sql: string, kind: string): Promise<string> {
  const path = join(dir, `m${Math.random().toString(36).slice(2)}.sql`);
  writeFileSync(path, `SET lock_timeout = '5s';\n${sql}\n`);
  const result = await runCli(['check', '--offline', '--migration', path, '--format', 'json']);
  const finding = reportFrom(result.stdout).checks[0]?.findings.find((f) => f.kind === kind && f.severity === 'fail');
  expect(finding?.remediation?.sql, `a fix for ${kind}`).toBeTruthy();
  return finding?.remediation?.sql as string;
}

/** Runs a fix statement by statement, as a person would paste it (outside a transaction unless it says BEGIN). */
async function runFix(sql: string): Promise<void> {
  const statements = (await analyzeSources([{ file: 'fix.sql', text: sql }])).statements;
  const client = await cluster().connect({ applicationName: 'remediation' });
  try {
    for (const statement of statements) {
      const batched = /ctid = ANY \(ARRAY\(SELECT ctid/.test(statement.sql);
      for (let round = 0; round < 100; round++) {
        const result = await client.query(statement.sql);
        if (!batched || result.rowCount === 0) break;
      }
    }
  } finally {
    await client.end();
  }
}

const column = async (table: string, name: string): Promise<{ type: string; notnull: boolean } | undefined> =>
  (await cluster().sql<{ type: string; notnull: boolean }>("SELECT format_type(atttypid, atttypmod) AS type, attnotnull AS notnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped", [table, name])).rows[0];

describe('remediation SQL runs as printed', () => {
  beforeEach(async () => {
    await cluster().sql(`
      DROP TABLE IF EXISTS orders, customers CASCADE;
      CREATE TABLE customers (id int PRIMARY KEY);
      CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, reference text, note text);
      INSERT INTO customers SELECT generate_series(1, 50);
      INSERT INTO orders SELECT g, 1 + g % 50, g, 'r' || g, CASE WHEN g % 2 = 0 THEN 'n' END FROM generate_series(1, 12000) g;
    `);
  });

  it('ALTER COLUMN TYPE: a new column, a sync trigger, a batched backfill, a swap', async () => {
    await runFix(await fixFor('ALTER TABLE orders ALTER COLUMN total TYPE bigint;', 'rewrite'));
    expect(await column('orders', 'total')).toMatchObject({ type: 'bigint' });
    const { rows } = await cluster().sql<{ n: string }>('SELECT count(*) AS n FROM orders WHERE total = id');
    expect(Number(rows[0]?.n)).toBe(12000);
  });

  it('ADD COLUMN with a volatile default: added plain, the default set, old rows backfilled', async () => {
    await runFix(await fixFor('ALTER TABLE orders ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();', 'rewrite'));
    expect(await column('orders', 'token')).toEqual({ type: 'uuid', notnull: true });
    const { rows } = await cluster().sql<{ n: string }>('SELECT count(DISTINCT token) AS n FROM orders');
    expect(Number(rows[0]?.n)).toBe(12000);
  });

  it('SET NOT NULL, ADD CHECK, ADD FOREIGN KEY, ADD UNIQUE and CREATE INDEX', async () => {
    await cluster().sql("UPDATE orders SET note = 'n' WHERE note IS NULL");
    await runFix(await fixFor('ALTER TABLE orders ALTER COLUMN note SET NOT NULL;', 'scan-under-lock'));
    expect(await column('orders', 'note')).toMatchObject({ notnull: true });
    await runFix(await fixFor('ALTER TABLE orders ADD CHECK (total > 0);', 'scan-under-lock'));
    await runFix(await fixFor('ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);', 'scan-under-lock'));
    const constraints = await cluster().sql<{ conname: string; convalidated: boolean }>("SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype IN ('c', 'f') ORDER BY conname");
    expect(constraints.rows).toEqual([
      { conname: 'orders_check', convalidated: true },
      { conname: 'orders_customer_fk', convalidated: true },
    ]);
    await runFix(await fixFor('ALTER TABLE orders ADD CONSTRAINT orders_reference_key UNIQUE (reference);', 'scan-under-lock'));
    await runFix(await fixFor('CREATE INDEX orders_total_idx ON orders (total);', 'scan-under-lock'));
    const indexes = await cluster().sql<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'orders' ORDER BY 1");
    expect(indexes.rows.map((r) => r.indexname)).toEqual(['orders_pkey', 'orders_reference_key', 'orders_total_idx']);
  });

  it('a backfill under the lock of an earlier ALTER: the UPDATE in batches after the ALTER commits', async () => {
    const fix = await fixFor("BEGIN;\nALTER TABLE orders ADD COLUMN status text;\nUPDATE orders SET status = 'new';\nCOMMIT;", 'scan-under-lock');
    await cluster().sql('ALTER TABLE orders ADD COLUMN status text');
    await runFix(fix);
    const { rows } = await cluster().sql<{ n: string }>("SELECT count(*) AS n FROM orders WHERE status = 'new'");
    expect(Number(rows[0]?.n)).toBe(12000);
  });
});

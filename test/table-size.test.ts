import { beforeAll, describe, expect, it } from 'vitest';
import { checkOf, findingsOf, gate, useCluster } from './helpers.js';

const cluster = useCluster({ settings: { autovacuum: false } });

beforeAll(async () => {
  await cluster().sql(`
    CREATE TABLE orders (id int PRIMARY KEY, payload text);
    INSERT INTO orders SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
    CREATE TABLE docs (id int, body text);
    INSERT INTO docs SELECT g, (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200)) FROM generate_series(1, 50) g;
    CREATE TABLE fresh (id int);
    CREATE TABLE measurements (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    INSERT INTO measurements SELECT g, DATE '2025-01-01' + (g % 700) FROM generate_series(1, 7000) g;
    ANALYZE orders, measurements_2025, measurements_2026;`);
  // relpages of a TOAST table is refreshed by VACUUM, as (auto)vacuum does in production.
  await cluster().sql('VACUUM docs');
});

describe('table-size', () => {
  it('passes under the thresholds and reports the catalog estimate', async () => {
    const report = await gate(cluster(), { only: ['table-size'] });
    expect(checkOf(report, 'table-size').status).toBe('pass');
    const [finding] = findingsOf(report, 'table-size', 'table-size');
    expect(finding?.details?.rows).toBe(20000);
    expect(Number(finding?.details?.heapBytes)).toBeGreaterThan(1_000_000);
    expect(Number(finding?.details?.indexBytes)).toBeGreaterThan(100_000);
  });

  it('warns at the row or size threshold and fails past --max-rows / --max-size', async () => {
    expect(checkOf(await gate(cluster(), { only: ['table-size'], flags: { 'rows-warn': '10000' } }), 'table-size').status).toBe('warn');
    expect(checkOf(await gate(cluster(), { only: ['table-size'], flags: { 'size-warn': '1MB' } }), 'table-size').status).toBe('warn');
    const rows = await gate(cluster(), { only: ['table-size'], flags: { 'max-rows': '15000' } });
    expect(findingsOf(rows, 'table-size', 'table-size')[0]).toMatchObject({ severity: 'fail', target: 'public.orders' });
    expect(checkOf(await gate(cluster(), { only: ['table-size'], flags: { 'max-size': '1MB' } }), 'table-size').status).toBe('fail');
  });

  it('counts TOAST storage', async () => {
    const report = await gate(cluster(), { tables: ['docs'], only: ['table-size'] });
    expect(Number(findingsOf(report, 'table-size', 'table-size')[0]?.details?.toastBytes)).toBeGreaterThan(100_000);
  });

  it('says a never-analyzed table has no estimate: information without a size decision, a warning with one', async () => {
    const report = await gate(cluster(), { tables: ['fresh'], only: ['table-size'] });
    expect(checkOf(report, 'table-size').status).toBe('pass');
    expect(findingsOf(report, 'table-size', 'never-analyzed')[0]).toMatchObject({ severity: 'info', relation: 'fresh' });
    const judged = await gate(cluster(), { tables: ['fresh'], only: ['table-size'], flags: { 'rows-warn': '1000' } });
    expect(checkOf(judged, 'table-size').status).toBe('warn');
    expect(findingsOf(judged, 'table-size', 'never-analyzed')[0]).toMatchObject({ severity: 'warn', relation: 'fresh' });
  });

  it('reports a large table as information by default: its size is a fact about the migration, not the moment', async () => {
    // 20,000 rows over a 10,000-row policy warns only when the team sets that policy.
    const report = await gate(cluster(), { only: ['table-size'] });
    expect(findingsOf(report, 'table-size', 'table-size')[0]).toMatchObject({ severity: 'info', details: { rows: 20000 } });
    expect(checkOf(await gate(cluster(), { only: ['table-size'], flags: { 'rows-warn': '10000' } }), 'table-size').status).toBe('warn');
  });

  it('sums the partitions of a partitioned table', async () => {
    const report = await gate(cluster(), { tables: ['measurements'], only: ['table-size'] });
    expect(checkOf(report, 'table-size').status).toBe('pass');
    expect(findingsOf(report, 'table-size', 'table-size')[0]?.details).toMatchObject({ rows: 7000, partitions: 2, neverAnalyzed: 0 });
  });
});

// Issue 20: sizes the gate cannot see must not pass a rewrite. A table bulk-loaded and
// never analyzed has reltuples = -1 and relpages = 0; the cumulative statistics have counted
// its rows. Every size-dependent decision uses that count, says where it came from, and
// fails closed (with ANALYZE as the fix) when no count exists at all. Autovacuum is off so
// nothing analyzes the tables behind the test's back.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Finding, Report } from '../src/core/types.js';
import { checkOf, findingsOf, gate, reportFrom, runCli, session, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const cluster = useCluster({ settings: { autovacuum: false } });
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-estimates-'));
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

function migration(name: string, sql: string): string {
  const path = join(dir, name);
  writeFileSync(path, `SET lock_timeout = '5s';\n${sql}\n`);
  return path;
}

async function check(path: string, extra: string[] = []): Promise<{ code: number | null; report: Report; findings: Finding[] }> {
  const result = await runCli(['check', '--url', cluster().url(), '--migration', path, '--only', 'migration-risk,table-size', '--timeout', '30s', '--format', 'json', ...extra]);
  expect(result.stderr).toBe('');
  const report = reportFrom(result.stdout);
  return { code: result.code, report, findings: report.checks.find((c) => c.id === 'migration-risk')?.findings ?? [] };
}

/** The cumulative statistics are flushed when a backend commits or exits: wait until they count `rows`. */
async function counted(table: string, rows: number): Promise<void> {
  await waitFor(cluster(), `SELECT 1 FROM pg_stat_user_tables WHERE relname = $1 AND n_live_tup >= $2`, [table, rows]);
}

describe('sizes without planner statistics (issue 20)', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE bulk (id int, c int);
      INSERT INTO bulk SELECT g, g FROM generate_series(1, 2000000) g;
      CREATE TABLE tiny (id int, c int);
      INSERT INTO tiny VALUES (1, 1), (2, 2), (3, 3);
      CREATE TABLE grown (id int, c int);
      ANALYZE grown;
      INSERT INTO grown SELECT g, g FROM generate_series(1, 20000) g;
      CREATE TABLE lost (id int, c int);
      INSERT INTO lost SELECT g, g FROM generate_series(1, 5000) g;
      CREATE TABLE events (id int, kind int, c int) PARTITION BY LIST (kind);
      CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
      CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);
      INSERT INTO events SELECT g, 1 + g % 2, g FROM generate_series(1, 30000) g;
      ANALYZE events_1;
      CREATE TABLE docs (id int, body text);
      ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
      INSERT INTO docs SELECT g, repeat(md5(g::text), 300) FROM generate_series(1, 300) g;
    `);
    await counted('bulk', 2_000_000);
    await counted('tiny', 3);
    await counted('grown', 20_000);
    await counted('lost', 5000);
    await counted('events_2', 15_000);
    await counted('docs', 300);
    // The statistics of `lost` are gone (as after a crash or a reset): no estimate anywhere.
    await cluster().sql("SELECT pg_stat_reset_single_table_counters('lost'::regclass)");
    const { rows } = await cluster().sql<{ reltuples: number; relpages: number }>("SELECT reltuples, relpages FROM pg_class WHERE relname = 'bulk'");
    expect(rows[0]).toEqual({ reltuples: -1, relpages: 0 });
  }, 120_000);

  it('a 2,000,000-row table never analyzed: CREATE INDEX and ALTER COLUMN TYPE exit 1, counted from n_live_tup', async () => {
    for (const sql of ['CREATE INDEX bulk_c ON bulk (c);', 'ALTER TABLE bulk ALTER COLUMN c TYPE bigint;']) {
      const { code, findings } = await check(migration('bulk.sql', sql));
      expect(code).toBe(1);
      const danger = findings.find((f) => f.kind === 'scan-under-lock' || f.kind === 'rewrite');
      expect(danger).toMatchObject({ severity: 'fail' });
      expect(danger?.message).toMatch(/~2,000,000 rows \(n_live_tup\)/);
    }
  });

  it('with thresholds above the row count, the unknown byte size still fails closed, with ANALYZE as the fix', async () => {
    const { code, findings } = await check(migration('bulk-type.sql', 'ALTER TABLE bulk ALTER COLUMN c TYPE bigint;'), ['--rewrite-rows-fail', '5000000', '--rewrite-size-fail', '1GB']);
    expect(code).toBe(1);
    const danger = findings.find((f) => f.kind === 'rewrite');
    expect(danger).toMatchObject({ severity: 'fail', remediation: { sql: 'ANALYZE bulk;' } });
  });

  it('a few rows never analyzed are judged small from the cumulative statistics: no false block', async () => {
    const { code, findings } = await check(migration('tiny.sql', 'ALTER TABLE tiny ALTER COLUMN c TYPE bigint;'));
    expect(code).toBe(0);
    expect(findings.find((f) => f.kind === 'rewrite')).toMatchObject({ severity: 'info' });
    expect(findings.find((f) => f.kind === 'rewrite')?.message).toMatch(/~3 rows \(n_live_tup\)/);
  });

  it('analyzed while empty, then loaded: the stale reltuples = 0 loses to n_live_tup', async () => {
    const { code, findings } = await check(migration('grown.sql', 'CREATE INDEX grown_c ON grown (c);'), ['--rewrite-rows-fail', '10000']);
    expect(code).toBe(1);
    expect(findings.find((f) => f.kind === 'scan-under-lock')?.message).toMatch(/~20,000 rows \(n_live_tup\)/);
  });

  it('no estimate at all (statistics reset, never analyzed): fails with ANALYZE, exit 1', async () => {
    const { code, findings, report } = await check(migration('lost.sql', 'ALTER TABLE lost ALTER COLUMN c TYPE bigint;'));
    expect(code).toBe(1);
    expect(findings.find((f) => f.kind === 'rewrite')).toMatchObject({ severity: 'fail', remediation: { sql: 'ANALYZE lost;' } });
    expect(findingsOf(report, 'table-size', 'never-analyzed')[0]).toMatchObject({ severity: 'warn', relation: 'lost' });
  });

  it('sums a partitioned table over its partitions, each from its own source', async () => {
    const { findings } = await check(migration('events.sql', 'CREATE INDEX events_c ON events (c);'), ['--rewrite-rows-fail', '25000']);
    const danger = findings.find((f) => f.kind === 'scan-under-lock');
    expect(danger).toMatchObject({ severity: 'fail' });
    expect(danger?.message).toMatch(/~30,000 rows \(pg_class\.reltuples \+ n_live_tup\)/);
  });

  it('counts never-vacuumed TOAST from its chunk count', async () => {
    const report = await gate(cluster(), { tables: ['docs'], only: ['table-size'] });
    const [finding] = findingsOf(report, 'table-size', 'table-size');
    expect(finding?.details?.rowSource).toBe('n_live_tup');
    // 300 values of ~9.6 kB stored out of line: at least 2 MB of TOAST, relpages still 0.
    expect(Number(finding?.details?.toastBytes)).toBeGreaterThan(2_000_000);
  });

  it('table-size: a --max-rows that cannot be compared fails closed; one that can is judged by the estimate', async () => {
    const lost = await gate(cluster(), { tables: ['lost'], only: ['table-size'], flags: { 'max-rows': '1000000' } });
    expect(checkOf(lost, 'table-size').status).toBe('fail');
    const bulk = await gate(cluster(), { tables: ['bulk'], only: ['table-size'], flags: { 'max-rows': '1000000' } });
    expect(findingsOf(bulk, 'table-size', 'table-size')[0]).toMatchObject({ severity: 'fail', details: { rows: 2_000_000, rowSource: 'n_live_tup' } });
    const tiny = await gate(cluster(), { tables: ['tiny'], only: ['table-size'], flags: { 'max-rows': '1000000', 'max-size': '1GB' } });
    expect(checkOf(tiny, 'table-size').status).toBe('pass');
  });

  it('reads the statistics without queueing behind an ALTER that waits for the table', async () => {
    const holder = await session(cluster(), 'estimates-holder');
    open.push(holder);
    await holder.query('BEGIN; SELECT * FROM tiny LIMIT 1');
    const waiter = await session(cluster(), 'estimates-waiter');
    open.push(waiter);
    void waiter.query('ALTER TABLE tiny ADD COLUMN note text').catch(() => undefined);
    await waitUntilWaiting(cluster(), 'estimates-waiter');
    const report = await gate(cluster(), { tables: ['tiny'], only: ['table-size'] });
    expect(findingsOf(report, 'table-size', 'table-size')[0]).toMatchObject({ details: { rows: 3, rowSource: 'n_live_tup' } });
  });

  it('a role that is not a superuser (pg_monitor only) gets the same estimate, without pg_stat_have_stats', async () => {
    await cluster().sql('CREATE ROLE estimates_monitor LOGIN; GRANT pg_monitor TO estimates_monitor');
    const report = await gate(cluster(), { tables: ['tiny'], only: ['table-size'], user: 'estimates_monitor' });
    expect(findingsOf(report, 'table-size', 'table-size')[0]).toMatchObject({ details: { rows: 3, rowSource: 'n_live_tup' } });
  });

  it('after ANALYZE the same statements are judged by the real size', async () => {
    await cluster().sql('ANALYZE bulk');
    const { code, findings } = await check(migration('bulk-after.sql', 'ALTER TABLE bulk ALTER COLUMN c TYPE bigint;'), ['--rewrite-rows-fail', '5000000', '--rewrite-size-fail', '1GB']);
    expect(code).toBe(0);
    expect(findings.find((f) => f.kind === 'rewrite')?.message).toMatch(/rows \(pg_class\.reltuples\)/);
    const index = await check(migration('bulk-index.sql', 'CREATE INDEX bulk_c ON bulk (c);'));
    expect(index.code).toBe(1);
  });
});

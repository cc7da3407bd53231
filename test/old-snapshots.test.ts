import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import type { Report } from '../src/core/types.js';
import { checkOf, findingsOf, gate, runCli, sleep, taggedSession, useCluster, reportFrom, waitFor } from './helpers.js';

// --concurrently semantics, staged as in ../shared/postgres-facts.md ("What CREATE INDEX
// CONCURRENTLY waits for"), and checked against a real CREATE INDEX CONCURRENTLY.
const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await cluster().sql('DROP INDEX IF EXISTS orders_total_idx');
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

/** Runs a real CREATE INDEX CONCURRENTLY with a short statement_timeout: 'done' or 'waited'. */
async function realConcurrentBuild(): Promise<'done' | 'waited'> {
  const { client } = await tagged('snap-cic');
  try {
    await client.query("SET statement_timeout = '1500ms'");
    await client.query('CREATE INDEX CONCURRENTLY orders_total_idx ON orders (total)');
    return 'done';
  } catch (error) {
    if (/statement timeout/.test((error as Error).message)) return 'waited';
    throw error;
  }
}

const concurrently = { lockMode: 'ShareUpdateExclusiveLock' as const, concurrently: true };

describe('old-snapshots and --concurrently', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int) WITH (autovacuum_enabled = off); CREATE TABLE other (id int) WITH (autovacuum_enabled = off); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; INSERT INTO other VALUES (1); ANALYZE orders, other');
  });

  it('passes on a quiet database, with and without --concurrently', async () => {
    for (const options of [{}, concurrently]) {
      const report = await gate(cluster(), { only: ['old-snapshots', 'locks'], ...options });
      expect(checkOf(report, 'old-snapshots').status).toBe('pass');
      expect(checkOf(report, 'locks').status).toBe('pass');
    }
    expect(await realConcurrentBuild()).toBe('done');
  });

  it('fails --concurrently on a REPEATABLE READ snapshot on another table, which really makes CIC wait', async () => {
    const { client, pid } = await tagged('snap-rr');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM other');
    await sleep(1100);
    const report = await gate(cluster(), { only: ['old-snapshots', 'locks'], ...concurrently, flags: { 'snapshot-fail': '1s' } });
    expect(checkOf(report, 'old-snapshots').status).toBe('fail');
    const finding = findingsOf(report, 'old-snapshots', 'old-snapshot').find((f) => f.application === 'snap-rr');
    expect(finding).toMatchObject({ severity: 'fail', pid, state: 'idle in transaction', details: { concurrently: true } });
    expect(finding?.details?.backendXmin).not.toBeNull();
    expect(finding?.ageSeconds).toBeGreaterThanOrEqual(1);
    expect(finding?.remediation?.sql).toBe(`SELECT pg_terminate_backend(${pid});`);
    // It holds no lock on orders, so the locks check sees nothing.
    expect(checkOf(report, 'locks').status).toBe('pass');
    // Without --concurrently the same snapshot is young against the 5 min default.
    const plain = await gate(cluster(), { only: ['old-snapshots'], lockMode: 'ShareUpdateExclusiveLock' });
    expect(checkOf(plain, 'old-snapshots').status).toBe('pass');
    expect(findingsOf(plain, 'old-snapshots').find((f) => f.application === 'snap-rr')).toMatchObject({ severity: 'info' });
    expect(await realConcurrentBuild()).toBe('waited');
  });

  it('warns without --concurrently on a snapshot older than the warn threshold', async () => {
    const { client, pid } = await tagged('snap-old');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM other');
    await sleep(600);
    const report = await gate(cluster(), { only: ['old-snapshots'], flags: { 'snapshot-warn': '500ms' } });
    expect(checkOf(report, 'old-snapshots').status).toBe('warn');
    expect(findingsOf(report, 'old-snapshots').find((f) => f.application === 'snap-old')).toMatchObject({ severity: 'warn', pid });
  });

  it('ignores a READ COMMITTED reader idle in transaction (no snapshot), as CIC does', async () => {
    const { client } = await tagged('snap-reader');
    await client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(1100);
    const report = await gate(cluster(), { only: ['old-snapshots', 'locks'], ...concurrently, flags: { 'snapshot-fail': '1s' } });
    expect(checkOf(report, 'old-snapshots').status).toBe('pass');
    expect(findingsOf(report, 'old-snapshots').filter((f) => f.application === 'snap-reader')).toEqual([]);
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(await realConcurrentBuild()).toBe('done');
  });

  it('--concurrently on the built CLI: a young open writer of the table passes locks, with no fix to end it (a pgbench transaction)', async () => {
    const { client, pid } = await tagged('snap-young-writer');
    await client.query('BEGIN; UPDATE orders SET total = total + 1 WHERE id = 1');
    // 1h: its transaction cannot reach the threshold while the test runs.
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--concurrently', '--only', 'locks,old-snapshots', '--lock-writer-fail', '1h', '--format', 'json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const report = reportFrom(result.stdout);
    expect(checkOf(report, 'locks').status).toBe('pass');
    const finding = findingsOf(report, 'locks', 'lock-holder').find((f) => f.application === 'snap-young-writer');
    expect(finding).toMatchObject({ severity: 'info', pid, lockMode: 'RowExclusiveLock', granted: true, details: { conflicting: true, waitingBehind: 0 } });
    expect(finding?.remediation).toBeUndefined();
    // An idle writer holds no snapshot: old-snapshots has nothing to say about it.
    expect(findingsOf(report, 'old-snapshots').filter((f) => f.application === 'snap-young-writer')).toEqual([]);
  });

  it('--concurrently on the built CLI: an open writer of the table past --lock-writer-fail fails locks with its pid and a terminate fix; a plain ShareUpdateExclusiveLock gate passes it', async () => {
    const { client, pid } = await tagged('snap-writer');
    await client.query('BEGIN; UPDATE orders SET total = total + 1 WHERE id = 1');
    const plain = await gate(cluster(), { only: ['locks'], lockMode: 'ShareUpdateExclusiveLock', flags: { 'lock-writer-fail': '200ms' } });
    expect(checkOf(plain, 'locks').status).toBe('pass');
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND now() - xact_start > interval '300ms'", [pid]);
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--concurrently', '--only', 'locks,old-snapshots', '--lock-writer-fail', '200ms', '--format', 'json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: '' });
    const report = reportFrom(result.stdout);
    expect(checkOf(report, 'locks').status).toBe('fail');
    const finding = findingsOf(report, 'locks', 'lock-holder').find((f) => f.application === 'snap-writer');
    expect(finding).toMatchObject({ severity: 'fail', pid, lockMode: 'RowExclusiveLock', granted: true, details: { conflicting: true } });
    expect(finding?.ageSeconds).toBeGreaterThanOrEqual(0.2);
    expect(finding?.remediation?.sql).toBe(`SELECT pg_terminate_backend(${pid});`);
    expect(findingsOf(report, 'old-snapshots').filter((f) => f.application === 'snap-writer')).toEqual([]);
    expect(await realConcurrentBuild()).toBe('waited');
  });

  it('--concurrently on the built CLI: a prepared transaction that wrote to the table fails locks and prepared-transactions, however young (it never ends by itself)', async () => {
    const { client } = await tagged('snap-prepared');
    await client.query("BEGIN; UPDATE orders SET total = total + 1 WHERE id = 2; PREPARE TRANSACTION 'snap-prepared-writer'");
    try {
      const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--concurrently', '--only', 'locks,prepared-transactions', '--lock-writer-fail', '1h', '--format', 'json']);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: '' });
      const report = reportFrom(result.stdout);
      expect(checkOf(report, 'locks').status).toBe('fail');
      const finding = findingsOf(report, 'locks', 'lock-holder').find((f) => f.details?.gid === 'snap-prepared-writer');
      expect(finding).toMatchObject({ severity: 'fail', pid: null, lockMode: 'RowExclusiveLock', details: { conflicting: true } });
      expect(finding?.remediation?.sql).toContain("ROLLBACK PREPARED 'snap-prepared-writer'");
      expect(checkOf(report, 'prepared-transactions').status).toBe('fail');
      expect(findingsOf(report, 'prepared-transactions', 'prepared-transaction-lock')[0]).toMatchObject({ severity: 'fail', lockMode: 'RowExclusiveLock', details: { gid: 'snap-prepared-writer' } });
    } finally {
      await cluster().sql("ROLLBACK PREPARED 'snap-prepared-writer'");
    }
  });

  it('check --concurrently on the built CLI: ShareUpdateExclusiveLock, and exit 1 on an old snapshot', async () => {
    const { client, pid } = await tagged('snap-cli');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM other');
    await sleep(1100);
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--concurrently', '--only', 'old-snapshots,locks', '--snapshot-fail', '1s', '--format', 'json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 1, stderr: '' });
    const report = reportFrom(result.stdout);
    expect(report.targets[0]?.lockMode).toBe('ShareUpdateExclusiveLock');
    expect(report.verdict).toBe('fail');
    expect(findingsOf(report, 'old-snapshots').find((f) => f.application === 'snap-cli')).toMatchObject({ severity: 'fail', pid });
  });

  it('cannot clear --concurrently when a snapshot\'s age is hidden from the checking role (no pg_monitor): error, not pass', async () => {
    await cluster().sql('DROP ROLE IF EXISTS plain_checker; CREATE ROLE plain_checker LOGIN');
    const { client, pid } = await tagged('snap-hidden');
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT * FROM other');
    const report = await gate(cluster(), { only: ['old-snapshots'], user: 'plain_checker', ...concurrently });
    expect(checkOf(report, 'old-snapshots').status).toBe('error');
    expect(findingsOf(report, 'old-snapshots').find((f) => f.pid === pid)).toMatchObject({ severity: 'error', ageSeconds: null });
    const plain = await gate(cluster(), { only: ['old-snapshots'], user: 'plain_checker' });
    expect(checkOf(plain, 'old-snapshots').status).toBe('pass');
  });
});

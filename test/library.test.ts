// The library API (src/index.ts) against a real server: the same decisions as the CLI,
// resolved outcomes for every verdict with a report, a PreflightError when nothing could
// be checked, and a wait that an AbortSignal stops.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/clusters/cluster.js';
import { analyzeMigration, blockingTree, check, PreflightError, render, type Report } from '../src/index.js';
import { runCli, session, stageLockQueue, useCluster, reportFrom } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-library-'));
const open: pg.Client[] = [];
const migration = join(dir, '0042.sql');

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE invoices (id int PRIMARY KEY); ANALYZE');
  writeFileSync(migration, 'ALTER TABLE invoices ADD COLUMN note text;\n');
});

afterAll(async () => {
  for (const client of open) await client.end().catch(() => undefined);
});

const base = () => ({ url: cluster().url(), config: false as const, env: {} });

describe('check()', () => {
  it('opens the gate on a quiet table, with the document --format json prints', async () => {
    const outcome = await check({ ...base(), migration });
    expect(outcome).toMatchObject({ ok: true, exitCode: 0, blocking: [], report: { version: 2, exitCode: 0 } });
    const report = outcome.report.databases[0]?.report as Report;
    expect(report.targets.map((t) => [t.name, t.lockMode])).toEqual([['public.invoices', 'AccessExclusiveLock']]);
    const cli = await runCli(['check', '--url', cluster().url(), '--migration', migration, '--format', 'json']);
    expect((reportFrom(cli.stdout)).checks.map((c) => [c.id, c.status])).toEqual(report.checks.map((c) => [c.id, c.status]));
  });

  it('blocks on a staged lock queue and renders the same table as the CLI', async () => {
    await stageLockQueue(cluster(), 'library', open);
    const outcome = await check({ ...base(), tables: ['orders'], only: ['locks'], thresholds: { 'lock-warn': '50ms', 'lock-fail': '100ms' } });
    expect(outcome).toMatchObject({ ok: false, exitCode: 1, verdict: 'fail', blocking: ['locks'] });
    const table = await render(outcome);
    expect(table).toMatch(/library-holder/);
    expect(table).toMatch(/pg_terminate_backend\(\d+\)/);
    expect(JSON.parse(await render(outcome, { format: 'json' }))).toEqual(outcome.report);
  });

  it('shows who blocks whom with blockingTree()', async () => {
    const tree = await blockingTree({ url: cluster().url(), tables: ['orders'], env: {} });
    expect(tree.roots.map((r) => r.application)).toEqual(['library-holder']);
    expect(tree.roots[0]?.blocks.map((b) => b.application)).toEqual(['library-waiter']);
  });

  it('a wait stops at once when its signal aborts, and check() rejects with the reason', async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const pending = check({ ...base(), tables: ['orders'], only: ['locks'], thresholds: { 'lock-fail': '100ms' }, wait: '5m', signal: controller.signal, onAttempt: (line) => lines.push(line) });
    while (lines.length === 0) await new Promise((r) => setTimeout(r, 20));
    controller.abort(new Error('deploy cancelled'));
    await expect(pending).rejects.toThrow('deploy cancelled');
    expect(lines[0]).toMatch(/attempt 1 .* blocked: locks/);
  });

  it('several databases: one GateReport, an unreachable one makes exit code 2 without rejecting', async () => {
    const refused = `postgresql://postgres:lib-secret-pw@127.0.0.1:${await freePort()}/postgres`;
    const outcome = await check({ ...base(), url: [cluster().url(), refused], tables: ['invoices'], timeout: '3s' });
    expect(outcome.exitCode).toBe(2);
    expect(outcome.report).toBe(outcome.gate);
    expect(outcome.gate.databases[0]?.report?.targets[0]?.name).toBe('public.invoices');
    expect(outcome.gate.databases[1]).toMatchObject({ verdict: 'error', report: null, error: expect.stringMatching(/connection refused/) });
    expect(JSON.stringify(outcome)).not.toContain('lib-secret-pw');
  });

  it('rejects with a one-line PreflightError when nothing could be checked, never with the password', async () => {
    const refused = `postgresql://postgres:lib-secret-pw@127.0.0.1:${await freePort()}/postgres`;
    const error = (await check({ ...base(), url: refused, tables: ['orders'], timeout: '3s' }).catch((e: unknown) => e)) as PreflightError;
    expect(error).toBeInstanceOf(PreflightError);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(/connection refused/);
    expect(error.message).not.toContain('lib-secret-pw');
    await expect(check({ ...base(), tables: ['nope'] })).rejects.toThrow(/table "nope" not found/);
    await expect(check({ ...base(), tables: ['orders'], thresholds: { 'lock-fial': '1s' } })).rejects.toThrow(/unknown threshold "lock-fial"/);
    await expect(check({ ...base() })).rejects.toThrow(/no table to check/);
  });
});

describe('analyzeMigration()', () => {
  it('reads SQL text without a server: locks per statement and the offline verdict', async () => {
    const result = await analyzeMigration({ sql: "SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN id TYPE bigint;\n", file: 'widen.sql' });
    const statement = result.statements.find((s) => s.nodeType === 'AlterTableStmt');
    expect(statement).toMatchObject({ file: 'widen.sql', line: 2, lock: 'AccessExclusiveLock', rewrites: true });
    expect(result.tables.map((t) => [t.input, t.lockMode])).toEqual([['orders', 'AccessExclusiveLock']]);
    expect(result).toMatchObject({ verdict: 'fail', exitCode: 1 });
    expect(result.report).toMatchObject({ version: 2, exitCode: 1 });
    expect(result.report.databases[0]?.report?.server).toBeNull();
  });

  it('reads files, and rejects SQL that does not parse', async () => {
    expect((await analyzeMigration({ files: [migration] })).files).toEqual([migration]);
    await expect(analyzeMigration({ sql: 'ALTER TABLE orders ADD COLUMN' })).rejects.toBeInstanceOf(PreflightError);
  });
});

describe('the CLI and the library agree on a held lock', () => {
  it('both block with the same checks', async () => {
    const holder = await session(cluster(), 'agree-holder');
    open.push(holder);
    await holder.query('BEGIN; SELECT * FROM invoices LIMIT 1');
    const flags = ['--idle-warn', '50ms', '--idle-fail', '100ms', '--lock-warn', '50ms', '--lock-fail', '100ms'];
    await new Promise((r) => setTimeout(r, 200));
    const cli = await runCli(['check', '--url', cluster().url(), '--table', 'invoices', '--format', 'json', ...flags]);
    const outcome = await check({ ...base(), tables: ['invoices'], thresholds: { 'idle-warn': '50ms', 'idle-fail': '100ms', 'lock-warn': '50ms', 'lock-fail': '100ms' } });
    expect(cli.code).toBe(outcome.exitCode);
    const statuses = (report: Report): string[] => report.checks.filter((c) => c.id !== 'traffic').map((c) => `${c.id}:${c.status}`);
    expect(statuses(outcome.report.databases[0]?.report as Report)).toEqual(statuses(reportFrom(cli.stdout)));
    await holder.query('ROLLBACK');
  });
});

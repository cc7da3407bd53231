// check --migration ... --trace: each statement judged by what it did on a throwaway server
// (src/trace/index.ts traceAnalysis, the overlay of src/trace/overlay.ts, judgeWithOverlay),
// offline and against a live server. A DO block that builds its SQL is unknown to the text
// alone, and the gate fails closed on it; traced, it is judged as what it is.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Finding } from '../src/core/types.js';
import { reportFrom, runCli, useCluster } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-trace-check-'));
const widen = join(dir, '2_widen.sql');
const audit = join(dir, '3_audit.sql');
writeFileSync(join(dir, '1_orders.sql'), 'CREATE TABLE orders (id int PRIMARY KEY, total int);\n');
writeFileSync(widen, "SET lock_timeout = '5s';\nDO $$ BEGIN EXECUTE format('ALTER TABLE %I ALTER COLUMN total TYPE bigint', 'orders'); END $$;\n");
writeFileSync(audit, "SET lock_timeout = '5s';\nDO $$ BEGIN EXECUTE 'CREATE TABLE ' || quote_ident('audit_log') || ' (id int)'; END $$;\n");

async function check(args: string[]): Promise<{ code: number | null; findings: Finding[]; targets: string[] }> {
  const result = await runCli(['check', ...args, '--format', 'json', '--timeout', '30s'], {}, { timeoutMs: 120_000 });
  expect(result.stderr).toBe('');
  const report = reportFrom(result.stdout);
  return { code: result.code, findings: report.checks.find((c) => c.id === 'migration-risk')?.findings ?? [], targets: report.targets.map((t) => t.name) };
}

const kinds = (findings: Finding[]): string[] => findings.filter((f) => f.severity !== 'info').map((f) => `${f.kind}:${f.severity}`);

describe('check --migration --trace', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 50) g; ANALYZE orders');
  });

  it('offline: the DO block that rewrites orders fails closed as unknown, and traced it is the rewrite of orders (after the files before it)', async () => {
    const plain = await check(['--offline', '--migration', widen]);
    expect(plain.code).toBe(1);
    expect(kinds(plain.findings)).toEqual(['unknown-statement:fail']);
    const traced = await check(['--offline', '--migration', widen, '--trace']);
    expect(traced.code).toBe(1);
    const rewrite = traced.findings.find((f) => f.kind === 'rewrite');
    expect(rewrite).toMatchObject({ file: widen, line: 2, target: 'orders', details: { source: 'trace', unknown: false } });
    expect(traced.findings.some((f) => f.kind === 'unknown-statement')).toBe(false);
    expect(traced.findings.find((f) => f.kind === 'trace')).toMatchObject({ severity: 'info', details: { traced: expect.stringContaining(`${widen}:2`), untraced: null } });
  });

  it('offline: a DO block that only creates a new table passes once traced', async () => {
    expect((await check(['--offline', '--migration', audit])).code).toBe(1);
    const traced = await check(['--offline', '--migration', audit, '--trace']);
    expect(kinds(traced.findings)).toEqual([]);
    expect(traced.code).toBe(0);
  });

  it('on a server: the traced rewrite gates orders, judged by its live size', async () => {
    const plain = await check(['--url', cluster().url(), '--migration', widen, '--only', 'migration-risk,locks']);
    expect(plain.code).toBe(1);
    const traced = await check(['--url', cluster().url(), '--migration', widen, '--only', 'migration-risk,locks', '--trace']);
    expect(traced.targets).toEqual(['public.orders']);
    expect(traced.findings.find((f) => f.kind === 'rewrite')).toMatchObject({ target: 'orders', details: { source: 'trace' } });
    expect(kinds(traced.findings)).toEqual([]);
    expect(traced.code).toBe(0);
  });

  it('refuses --trace without --migration, and on stdin', async () => {
    const none = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--trace']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--trace needs --migration/);
    const stdin = await runCli(['check', '--offline', '--migration', '-', '--trace'], {}, { input: "DO $$ BEGIN PERFORM 1; END $$;\n" });
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toMatch(/not on stdin/);
  });
});

// The built CLI with --migration, as a subprocess: exit codes, --offline, the syntax-error
// line, stdin, directories in name order, and a live run against a real holder.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/core/types.js';
import { runCli, session, sleep, useCluster, reportFrom } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-migration-cli-'));
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

function file(name: string, sql: string): string {
  const path = join(dir, name);
  writeFileSync(path, sql);
  return path;
}

const migrationFindings = (report: Report) => report.checks.find((c) => c.id === 'migration-risk')?.findings ?? [];

describe('pgpreflight check --migration (built CLI)', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE customers (id int PRIMARY KEY, name text);
      CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int);
      INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g;
      INSERT INTO orders SELECT g, 1 + g % 100, g FROM generate_series(1, 2000) g;
      ANALYZE customers, orders;
    `);
  });

  it('--offline fails a dangerous migration with the file, line and safe sequence, no server needed', async () => {
    const path = file('0042_type.sql', "SET lock_timeout = '5s';\n\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n");
    const result = await runCli(['check', '--offline', '--migration', path, '--format', 'json'], { PGHOST: '/nonexistent', PGPORT: '1' });
    expect(result.code).toBe(1);
    const report = reportFrom(result.stdout);
    expect(report.server).toBeNull();
    expect(report.verdict).toBe('fail');
    expect(migrationFindings(report)).toEqual([
      expect.objectContaining({ kind: 'rewrite', severity: 'fail', file: path, line: 3, query: 'ALTER TABLE orders ALTER COLUMN total TYPE bigint', remediation: expect.objectContaining({ sql: expect.stringMatching(/ALTER TABLE orders ADD COLUMN total_new bigint;/) }) }),
    ]);
  });

  it('--format github puts an annotation on the migration file and line', async () => {
    const path = file('0045_gh.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n");
    const result = await runCli(['check', '--offline', '--migration', path, '--format', 'github']);
    expect(result.code).toBe(1);
    const annotation = result.stdout.split('\n').find((line) => line.includes(',file='));
    expect(annotation).toMatch(/^::error title=pgpreflight%3A migration-risk,file=.*0045_gh\.sql,line=2::/);
  });

  it('--offline passes a safe rewrite (exit 0)', async () => {
    const path = file('0043_safe.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total > 0) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_pos;\n");
    const result = await runCli(['check', '--offline', '--migration', path, '--format', 'json']);
    expect(result.code).toBe(0);
    expect((reportFrom(result.stdout)).verdict).toBe('pass');
  });

  it('a syntax error exits 2 naming the file, line and column', async () => {
    const path = file('0044_typo.sql', "SET lock_timeout = '5s';\n-- café\nALTER TABLE orders ADD COLUM note text;\n");
    const result = await runCli(['check', '--offline', '--migration', path]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${path}:3:35:`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('reads stdin with --migration -', async () => {
    const result = await runCli(['check', '--offline', '--migration', '-', '--format', 'json'], {}, { input: 'BEGIN;\nCREATE INDEX CONCURRENTLY orders_total_idx ON orders (total);\nCOMMIT;\n' });
    expect(result.code).toBe(1);
    const findings = migrationFindings(reportFrom(result.stdout));
    expect(findings.find((f) => f.kind === 'concurrently-in-transaction')).toMatchObject({ severity: 'fail', file: '<stdin>', line: 2 });
  });

  it('reads a directory\'s .sql files in name order', async () => {
    const migrations = join(dir, 'migrations');
    mkdirSync(migrations);
    writeFileSync(join(migrations, '002_index.sql'), 'CREATE INDEX orders_cid_idx ON orders (customer_id);\n');
    writeFileSync(join(migrations, '001_timeout.sql'), "SET lock_timeout = '5s';\n");
    writeFileSync(join(migrations, 'README.md'), 'not SQL');
    const result = await runCli(['check', '--offline', '--migration', migrations, '--format', 'json']);
    const findings = migrationFindings(reportFrom(result.stdout));
    // Each file is its own session: 002's lock_timeout is not 001's, so both dangers show.
    expect(findings.map((f) => [f.file, f.kind])).toEqual([
      [join(migrations, '002_index.sql'), 'scan-under-lock'],
      [join(migrations, '002_index.sql'), 'lock-timeout-missing'],
    ]);
    expect(result.code).toBe(1);
  });

  it('a missing migration file exits 2', async () => {
    const result = await runCli(['check', '--offline', '--migration', join(dir, 'nope.sql')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('nope.sql');
  });

  it('live: a writer on the referenced table blocks the foreign key; --table combines', async () => {
    const path = file('0045_fk.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n");
    const args = ['check', '--url', cluster().url(), '--migration', path, '--table', 'orders', '--only', 'locks,migration-risk', '--lock-fail', '100ms', '--timeout', '30s', '--format', 'json'];
    const quiet = await runCli(args);
    expect(quiet.code).toBe(0);
    const quietReport = reportFrom(quiet.stdout);
    // --table orders (AccessExclusiveLock by default) is stronger than the migration's ShareRowExclusiveLock on it.
    expect(quietReport.targets.map((t) => [t.name, t.lockMode]).sort()).toEqual([
      ['public.customers', 'ShareRowExclusiveLock'],
      ['public.orders', 'AccessExclusiveLock'],
    ]);
    const writer = await session(cluster(), 'mig-cli-writer');
    open.push(writer);
    await writer.query('BEGIN; UPDATE customers SET name = name WHERE id = 2');
    await sleep(300);
    const blocked = await runCli(args);
    expect(blocked.code).toBe(1);
    const holder = (reportFrom(blocked.stdout)).checks.find((c) => c.id === 'locks')?.findings.find((f) => f.application === 'mig-cli-writer');
    expect(holder).toMatchObject({ kind: 'lock-holder', severity: 'fail', target: 'public.customers', lockMode: 'RowExclusiveLock' });
  });
});

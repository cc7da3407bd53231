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

  it('--offline fails ADD COLUMN ... NOT NULL without a default: whether the table has rows is unknown (exit 1)', async () => {
    const path = file('0046_notnull.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN nn int NOT NULL;\n");
    const result = await runCli(['check', '--offline', '--migration', path, '--format', 'json'], { PGHOST: '/nonexistent', PGPORT: '1' });
    expect(result.code).toBe(1);
    expect(migrationFindings(reportFrom(result.stdout))).toEqual([expect.objectContaining({ kind: 'fails-on-existing-rows', severity: 'fail', file: path, line: 2 })]);
  });

  it('live: ADD COLUMN ... NOT NULL on an empty table (its primary key and TOAST index have a page each) is judged by its rows: not a failure (exit 0)', async () => {
    await cluster().sql('CREATE TABLE empty_orders (id int PRIMARY KEY, note text); ANALYZE empty_orders;');
    const path = file('0047_notnull_empty.sql', "SET lock_timeout = '5s';\nALTER TABLE empty_orders ADD COLUMN nn int NOT NULL;\n");
    const result = await runCli(['check', '--url', cluster().url(), '--migration', path, '--only', 'migration-risk', '--format', 'json']);
    expect(result.code).toBe(0);
    expect(migrationFindings(reportFrom(result.stdout)).filter((f) => f.kind === 'fails-on-existing-rows')).toEqual([expect.objectContaining({ severity: 'warn', line: 2 })]);
    // The same on orders, which has rows: fails.
    const full = await runCli(['check', '--url', cluster().url(), '--migration', file('0048_notnull_full.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ADD COLUMN nn int NOT NULL;\n"), '--only', 'migration-risk', '--format', 'json']);
    expect(full.code).toBe(1);
    expect(migrationFindings(reportFrom(full.stdout)).filter((f) => f.kind === 'fails-on-existing-rows')).toEqual([expect.objectContaining({ severity: 'fail', line: 2 })]);
  });

  it("live: the connecting role's lock_timeout covers a file without SET lock_timeout; a role setting of 0 does not", async () => {
    // A role of its own, so the other tests' postgres role keeps lock_timeout 0.
    await cluster().sql("CREATE ROLE mig_guarded LOGIN; ALTER ROLE mig_guarded SET lock_timeout = '3s'; GRANT SELECT ON orders TO mig_guarded;");
    const path = file('000001_add_col.up.sql', 'ALTER TABLE orders ADD COLUMN c int;\n');
    const args = ['check', '--url', cluster().url({ user: 'mig_guarded' }), '--migration', path, '--only', 'migration-risk,timeouts', '--fail-on', 'warn', '--format', 'json'];
    const guarded = await runCli(args);
    expect(guarded.code).toBe(0);
    const findings = migrationFindings(reportFrom(guarded.stdout));
    expect(findings.filter((f) => f.kind === 'lock-timeout-missing')).toEqual([]);
    expect(findings.filter((f) => f.kind === 'lock-timeout-inherited')).toEqual([
      expect.objectContaining({ severity: 'info', user: 'mig_guarded', file: path, line: 1, details: expect.objectContaining({ valueMs: 3000, source: 'role' }) }),
    ]);
    // Without the timeouts check selected, migration-risk still reads the role's setting.
    const alone = await runCli(args.map((a) => (a === 'migration-risk,timeouts' ? 'migration-risk' : a)));
    expect(alone.code).toBe(0);
    expect(migrationFindings(reportFrom(alone.stdout)).map((f) => [f.kind, f.severity])).toContainEqual(['lock-timeout-inherited', 'info']);

    await cluster().sql('ALTER ROLE mig_guarded SET lock_timeout = 0;');
    const off = await runCli(args);
    expect(off.code).toBe(1);
    const offFindings = migrationFindings(reportFrom(off.stdout));
    expect(offFindings.filter((f) => f.kind === 'lock-timeout-missing')).toEqual([expect.objectContaining({ severity: 'warn', file: path, line: 1 })]);
    expect(offFindings.filter((f) => f.kind === 'lock-timeout-inherited')).toEqual([]);
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

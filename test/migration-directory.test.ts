// Issue 10 item 2: a migrations directory as users have it. A CREATE TABLE earlier in the input
// never removes a table the server has from the gate; a gate with nothing to look at exits 2;
// --since <git-ref> judges only the pending files; the layouts tools write are recognised
// (Prisma, golang-migrate, Flyway, diesel, uppercase .SQL) and down scripts are never read.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Report } from '../src/core/types.js';
import { analyzeMigrations } from '../src/migration/index.js';
import { expectOneLineFailure, reportFrom, runCli, session, useCluster, waitFor } from './helpers.js';

const cluster = useCluster();
const root = mkdtempSync(join(tmpdir(), 'pgpreflight-directory-'));
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

function tree(name: string, files: Record<string, string>): string {
  const base = join(root, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(base, path, '..'), { recursive: true });
    writeFileSync(join(base, path), text);
  }
  return base;
}

const T = "SET lock_timeout = '5s';\n";

async function gateJson(args: string[]): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await runCli(['check', '--url', cluster().url(), '--timeout', '30s', '--format', 'json', '--only', 'locks,migration-risk', '--lock-fail', '100ms', ...args]);
  return { code: result.code, report: result.stdout ? reportFrom(result.stdout) : ({} as Report), stderr: result.stderr };
}

describe('check --migration <directory> (issue 10 item 2)', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE orders (id int PRIMARY KEY, total int);
      INSERT INTO orders SELECT g, g FROM generate_series(1, 500) g;
      ANALYZE orders;`);
  });

  it('a CREATE TABLE earlier in the directory does not hide the server\'s table: held by an idle transaction, the gate blocks', async () => {
    const dir = tree('history-in-dir', {
      '0001_create_orders.sql': 'CREATE TABLE orders (id int PRIMARY KEY, total int);\n',
      '0042_widen_total.sql': `${T}ALTER TABLE orders ALTER COLUMN total TYPE bigint;\n`,
    });
    const holder = await session(cluster(), 'dir-holder');
    open.push(holder);
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'dir-holder' AND state = 'idle in transaction'");
    const { code, report } = await gateJson(['--migration', dir]);
    expect(code).toBe(1);
    expect(report.targets.map((t) => [t.name, t.lockMode])).toEqual([['public.orders', 'AccessExclusiveLock']]);
    expect(report.checks.find((c) => c.id === 'locks')?.status).toBe('fail');
    // The rewrite is judged from the server's int, not assumed: a rewrite of an existing table.
    expect(report.checks.find((c) => c.id === 'migration-risk')?.findings.find((f) => f.kind === 'rewrite')?.message).toMatch(/ALTER COLUMN total TYPE bigint rewrites orders \(integer → bigint/);
  });

  it('sibling: the CREATE and the ALTER in one file, with IF NOT EXISTS: the existing table is still gated', async () => {
    const dir = tree('same-file', { 'schema.sql': `${T}CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, total int);\nCREATE INDEX orders_total_idx ON orders (total);\n` });
    const { code, report } = await gateJson(['--migration', join(dir, 'schema.sql'), '--rewrite-rows-fail', '100']);
    expect(code).toBe(1);
    expect(report.targets.map((t) => t.name)).toEqual(['public.orders']);
    expect(report.checks.find((c) => c.id === 'migration-risk')?.findings.find((f) => f.kind === 'scan-under-lock')).toMatchObject({ severity: 'fail' });
  });

  it('a table absent from the server is new: nothing to gate on it, and the target checks say so instead of "pass on the target"', async () => {
    const dir = tree('new-table', { '0001.sql': `${T}CREATE TABLE invoices (id int PRIMARY KEY, order_id int);\nCREATE INDEX invoices_order ON invoices (order_id);\n` });
    const { code, report } = await gateJson(['--migration', dir]);
    expect(code).toBe(0);
    expect(report.targets).toEqual([]);
    expect(report.checks.find((c) => c.id === 'locks')).toMatchObject({ status: 'skip', summary: expect.stringMatching(/no existing table to gate/) });
    expect(report.checks.find((c) => c.id === 'migration-risk')?.status).toBe('pass');
  });

  it('sibling: a table renamed earlier in the file keeps its data: later statements on the new name are judged by its size (not "not found")', async () => {
    const dir = tree('renamed', { '0001.sql': `${T}ALTER TABLE orders RENAME TO purchases;\nCREATE INDEX purchases_total ON purchases (total);\nALTER TABLE purchases RENAME TO orders;\n` });
    const { code, report, stderr } = await gateJson(['--migration', dir, '--rewrite-rows-fail', '100']);
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(report.targets.map((t) => t.name)).toEqual(['public.orders']);
    expect(report.checks.find((c) => c.id === 'migration-risk')?.findings.find((f) => f.kind === 'scan-under-lock')?.message).toMatch(/~500 rows/);
  });

  it('no statement to judge and no target exits 2 and says why', async () => {
    const dir = tree('only-settings', { '0001.sql': T, '0002.sql': '' });
    const result = await runCli(['check', '--url', cluster().url(), '--migration', dir]);
    expectOneLineFailure(result, /no statement to judge \(2 file\(s\), 1 statement\(s\), all SET or transaction control\)/);
  });

  it('--since <git-ref>: only files changed since the ref are judged; the others are history, read for the schema', async () => {
    const repo = tree('repo', {
      'db/0001_create.sql': 'CREATE TABLE accounts (id int, email varchar(20));\n',
      'db/0002_old_rewrite.sql': `${T}ALTER TABLE orders ALTER COLUMN total TYPE numeric;\n`,
    });
    const git = (...args: string[]): string => execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'applied');
    writeFileSync(join(repo, 'db', '0003_widen.sql'), `${T}ALTER TABLE accounts ALTER COLUMN email TYPE varchar(200);\n`);
    const analysis = await analyzeMigrations([join(repo, 'db')], { since: 'HEAD' });
    expect(analysis.files.map((f) => f.split('/').at(-1))).toEqual(['0003_widen.sql']);
    expect(analysis.historyFiles.map((f) => f.split('/').at(-1))).toEqual(['0001_create.sql', '0002_old_rewrite.sql']);
    // The widening is judged from the history's varchar(20): no rewrite; the old rewrite is not judged.
    const offline = await runCli(['check', '--offline', '--since', 'HEAD', '--migration', join(repo, 'db'), '--format', 'json']);
    expect(offline.code).toBe(0);
    git('add', '.');
    git('commit', '-qm', 'deployed');
    expectOneLineFailure(await runCli(['check', '--offline', '--since', 'HEAD', '--migration', join(repo, 'db')]), /--since HEAD: no migration file changed since then/);
    expectOneLineFailure(await runCli(['check', '--offline', '--since', 'no-such-ref', '--migration', join(repo, 'db')]), /--since no-such-ref: git could not compare with it/);
  });
});

describe('directory layouts', () => {
  it('Prisma: <timestamp>_name/migration.sql in order, run as one query string', async () => {
    const dir = tree('prisma', {
      '20240102000000_index/migration.sql': 'CREATE INDEX CONCURRENTLY users_email ON users (email);\n',
      '20240101000000_init/migration.sql': 'CREATE TABLE users (id int, email text);\n',
      'migration_lock.toml': 'provider = "postgresql"\n',
    });
    const analysis = await analyzeMigrations([dir]);
    expect(analysis.files.map((f) => f.slice(dir.length + 1))).toEqual(['20240101000000_init/migration.sql', '20240102000000_index/migration.sql']);
    expect(analysis.runner.name).toBe('prisma');
  });

  it('golang-migrate: N_name.up.sql in numeric order; .down.sql never read', async () => {
    const dir = tree('golang-migrate', {
      '2_add_index.up.sql': `${T}CREATE INDEX CONCURRENTLY i ON t (a);\n`,
      '10_widen.up.sql': 'SELECT 1;\n',
      '1_init.up.sql': 'CREATE TABLE t (a int);\n',
      '1_init.down.sql': 'DROP TABLE t;\n',
      '2_add_index.down.sql': 'ALTER TABLE t ALTER COLUMN a TYPE bigint;\n',
    });
    const analysis = await analyzeMigrations([dir]);
    expect(analysis.files.map((f) => f.slice(dir.length + 1))).toEqual(['1_init.up.sql', '2_add_index.up.sql', '10_widen.up.sql']);
    expect(analysis.ignored.map((f) => f.slice(dir.length + 1)).sort()).toEqual(['1_init.down.sql', '2_add_index.down.sql']);
    // Two statements in one golang-migrate file: one query string, an implicit transaction.
    expect(analysis.statements.flatMap((s) => s.dangers.map((d) => d.kind))).toContain('concurrently-in-transaction');
  });

  it('Flyway: V<version>__name.sql by version (V1.1 after V1, V10 after V2), undo files skipped, repeatables last; uppercase .SQL', async () => {
    const dir = tree('flyway', {
      'V10__ten.sql': 'SELECT 10;\n',
      'V2__two.sql': 'SELECT 2;\n',
      'V1_1__one_one.SQL': 'SELECT 11;\n',
      'V1__one.sql': 'SELECT 1;\n',
      'U2__undo_two.sql': 'SELECT -2;\n',
      'R__views.sql': 'SELECT 0;\n',
    });
    const analysis = await analyzeMigrations([dir]);
    expect(analysis.files.map((f) => f.slice(dir.length + 1))).toEqual(['V1__one.sql', 'V1_1__one_one.SQL', 'V2__two.sql', 'V10__ten.sql', 'R__views.sql']);
    expect(analysis.runner.name).toBe('flyway');
  });

  it('ory/pop (Kratos): the postgres files and the dialect-free ones, never another database\'s; .autocommit. runs outside a transaction', async () => {
    const dir = tree('pop', {
      '20200101000000000000_init.postgres.up.sql': 'CREATE TABLE t (a int);\n',
      '20200101000000000000_init.mysql.up.sql': 'CREATE TABLE t (a int) ENGINE=InnoDB;\n',
      '20200101000000000000_init.postgres.down.sql': 'DROP TABLE t;\n',
      '20200102000000000000_index.postgres.autocommit.up.sql': `${T}CREATE INDEX CONCURRENTLY t_a ON t (a);\n`,
      '20200102000000000000_index.cockroach.autocommit.up.sql': 'CREATE INDEX t_a ON t USING INVERTED (a);\n',
      '20200103000000000000_data.up.sql': "INSERT INTO t VALUES (1);\n",
      // Both: pop runs the postgres one.
      '20200104000000000000_col.up.sql': 'ALTER TABLE t ADD COLUMN b text;\n',
      '20200104000000000000_col.postgres.up.sql': 'ALTER TABLE t ADD COLUMN b varchar;\n',
    });
    const analysis = await analyzeMigrations([dir], { runner: 'transaction' });
    expect(analysis.files.map((f) => f.slice(dir.length + 1))).toEqual(['20200101000000000000_init.postgres.up.sql', '20200102000000000000_index.postgres.autocommit.up.sql', '20200103000000000000_data.up.sql', '20200104000000000000_col.postgres.up.sql']);
    expect(analysis.statements.flatMap((s) => s.dangers.map((d) => d.kind))).not.toContain('concurrently-in-transaction');
  });

  it('sibling: diesel up.sql/down.sql, with run_in_transaction = false in metadata.toml', async () => {
    const dir = tree('diesel', {
      '2024-01-01-000000_create/up.sql': 'CREATE TABLE t (a int);\n',
      '2024-01-01-000000_create/down.sql': 'DROP TABLE t;\n',
      '2024-01-02-000000_index/up.sql': `${T}CREATE INDEX CONCURRENTLY i ON t (a);\n`,
      '2024-01-02-000000_index/metadata.toml': 'run_in_transaction = false\n',
    });
    const analysis = await analyzeMigrations([dir]);
    expect(analysis.runner.name).toBe('diesel');
    expect(analysis.files).toHaveLength(2);
    expect(analysis.statements.flatMap((s) => s.dangers.map((d) => d.kind))).not.toContain('concurrently-in-transaction');
  });
});

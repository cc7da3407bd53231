import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../src/clusters/cluster.js';
import type { Report } from '../src/core/types.js';
import { expectOneLineFailure, runCli, session, useCluster, waitUntilWaiting, reportFrom } from './helpers.js';

const cluster = useCluster();

beforeAll(async () => {
  await cluster().sql(`
    CREATE SCHEMA billing;
    CREATE TABLE orders (id int PRIMARY KEY);
    CREATE TABLE billing.invoices (id int PRIMARY KEY);
    CREATE TABLE "Orders" (id int);
    ALTER ROLE postgres SET lock_timeout = '4s';
    ANALYZE;`);
});

const url = (): string => cluster().url();

describe('pgpreflight check (built CLI)', () => {
  it('exits 0 with a table on a quiet server', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'orders']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/PASS/);
    expect(result.stdout).toMatch(/Verdict: PASS/);
    expect(result.stderr).toBe('');
    // NO_COLOR and no terminal: no escape codes.
    expect(result.stdout).not.toMatch(/\u001b\[/);
  });

  it('prints one stable JSON document for several tables, including quoted and schema-qualified names', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'orders', '--table', 'billing.invoices', '--table', '"Orders"', '--format', 'json']);
    expect(result.code).toBe(0);
    const report = reportFrom(result.stdout);
    expect(JSON.parse(result.stdout)).toMatchObject({ version: 2, verdict: 'pass', exitCode: 0 });
    expect(report.verdict).toBe('pass');
    expect(report.targets.map((t) => t.name)).toEqual(['public.orders', 'billing.invoices', 'public."Orders"']);
    expect(report.checks.map((c) => c.id)).toEqual(expect.arrayContaining(['idle-in-transaction', 'locks', 'long-running-queries', 'replication-lag', 'table-size']));
    for (const check of report.checks) expect(check).toEqual(expect.objectContaining({ id: expect.any(String), title: expect.any(String), status: expect.any(String), summary: expect.any(String), findings: expect.any(Array) }));
    expect(report.server?.versionNum).toBeGreaterThanOrEqual(140000);
    expect(typeof report.durationMs).toBe('number');
  });

  it('reads DATABASE_URL and libpq environment variables', async () => {
    const viaDatabaseUrl = await runCli(['check', '--table', 'orders', '--format', 'json'], { DATABASE_URL: url() });
    expect(viaDatabaseUrl.code).toBe(0);
    const viaPgEnv = await runCli(['check', '--table', 'orders', '--format', 'json'], { PGHOST: '127.0.0.1', PGPORT: String(cluster().port), PGUSER: 'postgres', PGDATABASE: 'postgres' });
    expect(viaPgEnv.code).toBe(0);
    expect((reportFrom(viaPgEnv.stdout)).targets[0]?.name).toBe('public.orders');
  });

  describe('with a blocker', () => {
    let holder: pg.Client;
    let alter: pg.Client;
    let pending: Promise<unknown>;
    beforeAll(async () => {
      holder = await session(cluster(), 'cli-holder');
      await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
      alter = await session(cluster(), 'cli-alter');
      // The role's lock_timeout (4s, for the quiet-server pass) must not end the queue under a slow run.
      await alter.query('SET lock_timeout = 0');
      pending = alter.query('ALTER TABLE orders ADD COLUMN note text').catch((e: Error) => e);
      await waitUntilWaiting(cluster() as Cluster, 'cli-alter');
    });
    afterAll(async () => {
      await holder.query('ROLLBACK');
      await pending;
      await holder.end();
      await alter.end();
    });

    it('exits 1 and shows the finding and the remediation', async () => {
      const result = await runCli(['check', '--url', url(), '--table', 'orders']);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/FAIL/);
      expect(result.stdout).toMatch(/pg_terminate_backend\(\d+\)/);
      expect(result.stdout).toContain('cli-holder');
    });

    it('exits 1 with --format json and a fail verdict', async () => {
      const result = await runCli(['check', '--url', url(), '--table', 'orders', '--format', 'json', '--only', 'locks']);
      expect(result.code).toBe(1);
      const report = reportFrom(result.stdout);
      expect(report.verdict).toBe('fail');
      expect(report.checks.map((c) => c.id)).toEqual(['locks']);
      expect(report.checks[0]?.findings.some((f) => f.kind === 'lock-waiter' && f.application === 'cli-alter')).toBe(true);
    });
  });

  it('--fail-on warn makes a warning block', async () => {
    const args = ['check', '--url', url(), '--table', 'orders', '--only', 'table-size', '--rows-warn', '0', '--format', 'json'];
    expect((await runCli(args)).code).toBe(0);
    const blocked = await runCli([...args, '--fail-on', 'warn']);
    expect(blocked.code).toBe(1);
    expect((reportFrom(blocked.stdout)).verdict).toBe('warn');
  });
});

describe('errors are one line, exit 2, no stack trace', () => {
  it('a missing table is named', async () => {
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'nope']), /table "nope" not found/);
    // A near miss: the server's own table names, closest first.
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'ordres']), /table "ordres" not found.*did you mean --table orders\b/);
  });

  it('a refused connection names the fix and never the password', async () => {
    const result = await runCli(['check', '--url', 'postgresql://app:s3cr3t-pw@127.0.0.1:1/app', '--table', 'orders']);
    expectOneLineFailure(result, /connection refused/);
    expect(result.stderr).not.toContain('s3cr3t-pw');
  });

  it('bad flags', async () => {
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'orders', '--lock-fail', '5x']), /--lock-fail must be a duration/);
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'orders', '--lock-mode', 'BigLock']), /--lock-mode must be one of/);
    expectOneLineFailure(await runCli(['check', '--url', url(), '--tabel', 'orders']), /unknown option --tabel\b.*--table\b/);
    expectOneLineFailure(await runCli(['check', '--url', url()]), /no table to check/);
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'a.b.c']), /too many dotted parts/);
    expectOneLineFailure(await runCli(['check', '--url', url(), '--table', 'orders', '--only', 'nosuch']), /unknown check "nosuch"/);
  });

  it('--debug shows the stack', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'nope', '--debug']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/\n\s+at /);
  });
});

describe('a standby', () => {
  it('is refused with exit 2: migrations run on the primary', async () => {
    const standby = await cluster().startStandby();
    try {
      const result = await runCli(['check', '--url', standby.url(), '--table', 'orders']);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/standby/);
    } finally {
      await standby.stop();
    }
  });
});

describe('pgpreflight checks', () => {
  it('lists every check with its thresholds, from the checks\' metadata', async () => {
    const result = await runCli(['checks', '--format', 'json']);
    expect(result.code).toBe(0);
    const catalog = JSON.parse(result.stdout) as { id: string; options: { flag: string; default: string | null }[] }[];
    expect(catalog.map((c) => c.id)).toEqual([...catalog.map((c) => c.id)].sort());
    expect(catalog.find((c) => c.id === 'locks')?.options).toEqual(expect.arrayContaining([expect.objectContaining({ flag: '--lock-fail', default: '5s' })]));
  });
});

describe('pgpreflight demo', () => {
  it('starts its own server, passes, blocks with exit 1 shown, passes again, and exits 0', async () => {
    const result = await runCli(['demo'], {}, { timeoutMs: 120_000 });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/The gate exited 0, then 1 \(deploy blocked\), then 0/);
  });
});

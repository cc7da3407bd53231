// Secrets and writes. A password given in --url, DATABASE_URL or PGPASSWORD must never
// reach stdout or stderr in any format, on success or on any error (even with --debug).
// And the checker writes nothing: a role with only pg_monitor + CONNECT, on a server
// where every transaction defaults to read-only, sees exactly what a superuser sees.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORTER_NAMES } from '../src/reporters/index.js';
import type { Report } from '../src/core/types.js';
import { type CliResult, FAST_THRESHOLDS, findingsOf, gate, reportShape, runCli, session, sleep, stageLockQueue, useCluster, waitFor, reportFrom } from './helpers.js';

// Characters that URLs must percent-encode, so both spellings are looked for.
const PASSWORD = 'Pw:s3cr/et@9#x';
const WRONG_PASSWORD = 'Wr0ng:pa55/word';
const MONITOR_PASSWORD = 'm0n:it/or@pw';
const cluster = useCluster({ hba: ['host all all 127.0.0.1/32 scram-sha-256'], superuserPassword: PASSWORD });
const open: pg.Client[] = [];

const THRESHOLDS = FAST_THRESHOLDS;
const thresholdArgs = Object.entries(THRESHOLDS).flatMap(([flag, value]) => [`--${flag}`, value]);

function expectNoSecret(result: CliResult, ...secrets: string[]): void {
  const output = result.stdout + result.stderr;
  for (const secret of secrets) {
    expect(output).not.toContain(secret);
    expect(output).not.toContain(encodeURIComponent(secret));
  }
}

const configDir = mkdtempSync(join(tmpdir(), 'pgpreflight-security-'));
let configCount = 0;
afterAll(() => rmSync(configDir, { recursive: true, force: true }));

/** Writes a JSON configuration file and returns its path. */
function configFile(content: unknown): string {
  configCount += 1;
  const path = join(configDir, `config-${configCount}.json`);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

const env = (): Record<string, string> => ({ PGHOST: '127.0.0.1', PGPORT: String(cluster().port), PGUSER: 'postgres', PGDATABASE: 'postgres' });

describe('security', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
    // Staged: an idle transaction holding orders, and an ALTER TABLE queued behind it.
    await stageLockQueue(cluster(), 'sec', open);
  });

  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
  });

  describe('a password never appears in any output format', () => {
    for (const format of REPORTER_NAMES) {
      it(`--url, --format ${format}`, async () => {
        const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--format', format, ...thresholdArgs]);
        expect(result.code).toBe(1);
        expect(result.stdout.length).toBeGreaterThan(0);
        expectNoSecret(result, PASSWORD);
      });

    }

    // The environment sources go through the same redaction as --url; one format suffices for them.
    for (const format of ['json']) {
      it(`DATABASE_URL, --format ${format}`, async () => {
        const result = await runCli(['check', '--table', 'orders', '--format', format, ...thresholdArgs], { DATABASE_URL: cluster().url() });
        expect(result.code).toBe(1);
        expectNoSecret(result, PASSWORD);
      });

      it(`PGPASSWORD, --format ${format}`, async () => {
        const result = await runCli(['check', '--table', 'orders', '--format', format, ...thresholdArgs], { ...env(), PGPASSWORD: PASSWORD });
        expect(result.code).toBe(1);
        expectNoSecret(result, PASSWORD);
      });
    }

    for (const format of ['json']) {
      it(`a config file naming the URL's environment variable (urlEnv), --format ${format}`, async () => {
        const config = configFile({ databases: [{ name: 'main', urlEnv: 'MAIN_DATABASE_URL' }] });
        const result = await runCli(['check', '--config', config, '--table', 'orders', '--format', format, ...thresholdArgs], { MAIN_DATABASE_URL: cluster().url() });
        expect(result.code).toBe(1);
        expectNoSecret(result, PASSWORD);
      });
    }

    it('--url=<url> spelling, and the JSON report names the server without the password', async () => {
      const result = await runCli(['check', `--url=${cluster().url()}`, '--table', 'orders', '--format', 'json', ...thresholdArgs]);
      expectNoSecret(result, PASSWORD);
      const report = reportFrom(result.stdout);
      expect(report.server?.user).toBe('postgres');
    });
  });

  describe('a password never appears in an error, even with --debug', () => {
    const wrongUrl = (): string => cluster().url({ user: 'postgres', password: WRONG_PASSWORD });
    const cases: Array<[string, () => { args: string[]; env?: Record<string, string> }]> = [
      ['wrong password in --url', () => ({ args: ['check', '--url', wrongUrl(), '--table', 'orders'] })],
      ['wrong password in DATABASE_URL', () => ({ args: ['check', '--table', 'orders'], env: { DATABASE_URL: wrongUrl() } })],
      ['wrong PGPASSWORD', () => ({ args: ['check', '--table', 'orders'], env: { ...env(), PGPASSWORD: WRONG_PASSWORD } })],
      ['unknown host', () => ({ args: ['check', '--url', `postgresql://postgres:${encodeURIComponent(WRONG_PASSWORD)}@no-such-host.invalid/postgres`, '--table', 'orders'] })],
      ['refused port', () => ({ args: ['check', '--url', `postgresql://postgres:${encodeURIComponent(WRONG_PASSWORD)}@127.0.0.1:1/postgres`, '--table', 'orders'] })],
      ['port out of range', () => ({ args: ['check', '--url', `postgresql://postgres:${encodeURIComponent(WRONG_PASSWORD)}@127.0.0.1:99999/postgres`, '--table', 'orders'] })],
      ['malformed URL', () => ({ args: ['check', '--url', `postgresql://postgres:${WRONG_PASSWORD}@[::1/postgres`, '--table', 'orders'] })],
      ['unknown sslmode', () => ({ args: ['check', '--url', `${wrongUrl()}?sslmode=bogus`, '--table', 'orders'] })],
      ['sslmode=require against a server without TLS', () => ({ args: ['check', '--url', `${wrongUrl()}?sslmode=require`, '--table', 'orders'] })],
      ['a missing table', () => ({ args: ['check', '--url', cluster().url(), '--table', 'no_such_table'] })],
      [
        'a config file holding a URL with a password',
        () => ({ args: ['check', '--config', configFile({ databases: [{ name: 'main', url: wrongUrl() }] }), '--table', 'orders'] }),
      ],
      ['a config file with a URL under the wrong key', () => ({ args: ['check', '--config', configFile({ format: wrongUrl() }), '--table', 'orders'] })],
      [
        'a config file whose urlEnv holds a wrong password',
        () => ({ args: ['check', '--config', configFile({ databases: [{ name: 'main', urlEnv: 'MAIN_DATABASE_URL' }] }), '--table', 'orders'], env: { MAIN_DATABASE_URL: wrongUrl() } }),
      ],
      ['an unknown flag next to --url', () => ({ args: ['check', '--url', wrongUrl(), '--table', 'orders', '--no-such-flag', WRONG_PASSWORD] })],
      ['a mistyped command with a URL', () => ({ args: ['chekc', wrongUrl()] })],
      ['the URL given as --table', () => ({ args: ['check', '--url', cluster().url(), '--table', wrongUrl()] })],
    ];
    // --debug prints the one-line message and then the stack, so it covers the plain run too.
    for (const [name, make] of cases) {
      it(`${name} (--debug)`, async () => {
        const { args, env: extra } = make();
        const result = await runCli([...args, '--debug'], extra ?? {});
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(/^pgpreflight: \S/);
        expectNoSecret(result, WRONG_PASSWORD, PASSWORD);
      });
    }

    it('a wrong password in --url without --debug: exactly one line', async () => {
      const result = await runCli(['check', '--url', wrongUrl(), '--table', 'orders']);
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expectNoSecret(result, WRONG_PASSWORD, PASSWORD);
    });
  });

  describe('a hostile search_path', () => {
    it('cannot shadow the catalog functions the checker calls and fake a pass', async () => {
      await cluster().sql('CREATE DATABASE hijack');
      const owner = await cluster().connect({ database: 'hijack', applicationName: 'sec-hijack-owner' });
      await owner.query(
        `CREATE TABLE orders (id int PRIMARY KEY);
         CREATE SCHEMA evil;
         CREATE FUNCTION evil.pg_blocking_pids(int) RETURNS int[] LANGUAGE sql AS 'SELECT ARRAY[]::int[]';
         CREATE FUNCTION evil.current_setting(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked'; END $$;
         ALTER DATABASE hijack SET search_path = evil, pg_catalog, public`,
      );
      await owner.end();
      const holder = await cluster().connect({ database: 'hijack', applicationName: 'sec-hijack-holder' });
      open.push(holder);
      await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
      const waiter = await cluster().connect({ database: 'hijack', applicationName: 'sec-hijack-waiter' });
      open.push(waiter);
      void waiter.query('ALTER TABLE orders ADD COLUMN note text').catch(() => undefined);
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'sec-hijack-waiter' AND wait_event_type = 'Lock'");
      await sleep(200);
      const holderPid = (await cluster().sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'sec-hijack-holder'")).rows[0]?.pid as number;

      const report = await gate(cluster(), { database: 'hijack', flags: THRESHOLDS });
      expect(report.verdict).toBe('fail');
      const waiterFinding = findingsOf(report, 'locks', 'lock-waiter').find((f) => f.application === 'sec-hijack-waiter');
      expect(waiterFinding?.blockedBy).toContain(holderPid);
    });
  });

  describe('the checker performs no writes', () => {

    it('a pg_monitor + CONNECT role, with default_transaction_read_only = on, gets the same findings as a superuser', async () => {
      await cluster().sql(
        `CREATE ROLE monitor_only LOGIN PASSWORD '${MONITOR_PASSWORD}';
         GRANT pg_monitor TO monitor_only;
         REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
         GRANT CONNECT ON DATABASE postgres TO monitor_only`,
      );
      const baseline = await gate(cluster(), { flags: THRESHOLDS });
      expect(baseline.verdict).toBe('fail');
      const pids = (await cluster().sql<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name IN ('sec-holder', 'sec-waiter')")).rows.map((r) => r.pid);
      expect(pids).toHaveLength(2);
      const blamed = baseline.checks.flatMap((c) => c.findings).map((f) => f.pid);
      for (const pid of pids) expect(blamed).toContain(pid);

      const monitor = await gate(cluster(), { flags: THRESHOLDS, user: 'monitor_only', password: MONITOR_PASSWORD });
      expect(monitor.server?.user).toBe('monitor_only');
      expect(reportShape(monitor)).toEqual(reportShape(baseline));

      // Every transaction on the server now defaults to read-only: a write anywhere in
      // the checker would fail the run.
      await cluster().sql('ALTER SYSTEM SET default_transaction_read_only = on');
      await cluster().sql('SELECT pg_reload_conf()');
      try {
        const probe = await cluster().sql('SHOW default_transaction_read_only');
        expect(probe.rows).toEqual([{ default_transaction_read_only: 'on' }]);
        await expect(cluster().sql('CREATE TABLE written (id int)')).rejects.toThrow(/read-only/);
        const monitorReadOnly = await gate(cluster(), { flags: THRESHOLDS, user: 'monitor_only', password: MONITOR_PASSWORD });
        expect(reportShape(monitorReadOnly)).toEqual(reportShape(baseline));
        const superReadOnly = await gate(cluster(), { flags: THRESHOLDS });
        expect(reportShape(superReadOnly)).toEqual(reportShape(baseline));
      } finally {
        const admin = await session(cluster(), 'sec-admin');
        await admin.query('SET default_transaction_read_only = off');
        await admin.query('ALTER SYSTEM RESET default_transaction_read_only');
        await admin.query('SELECT pg_reload_conf()');
        await admin.end();
      }
    });
  });
});

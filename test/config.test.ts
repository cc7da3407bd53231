// The configuration file: found the usual way, validated strictly (exit 2 naming the file,
// the key and what is allowed), and layered flags > environment > file > defaults, checked
// against a real server where a threshold decides the verdict.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config-file.js';
import type { Report } from '../src/core/types.js';
import { runCli, runMain, session, sleep, useCluster, reportFrom } from './helpers.js';

const PASSWORD = 'cfg-pw-5150';
const cluster = useCluster({ superuserPassword: PASSWORD, hba: ['host all all 127.0.0.1/32 scram-sha-256'] });
const root = mkdtempSync(join(tmpdir(), 'pgpreflight-config-'));
let holder: pg.Client;
let holderPid: number;

function write(relative: string, content: string): string {
  const path = join(root, relative);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); ANALYZE orders, other');
  holder = await session(cluster(), 'cfg-holder');
  holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  // Holds AccessShareLock on both tables, idle in transaction, older than every small threshold below.
  await holder.query('BEGIN; SELECT 1 FROM orders LIMIT 1; SELECT 1 FROM other LIMIT 1');
  await sleep(500);
});

afterAll(async () => {
  await holder?.end().catch(() => undefined);
});

describe('finding the file', () => {
  it('reads .pgpreflightrc.yaml from the working directory', async () => {
    write('yaml/.pgpreflightrc.yaml', 'lockMode: share\nthresholds:\n  locks:\n    fail: 2s\n    warn: null\n');
    const config = await loadConfig({ cwd: join(root, 'yaml') });
    expect(config).toMatchObject({ lockMode: 'ShareLock', thresholds: { locks: { fail: 2000, warn: null } } });
    expect(config?.path).toBe(join(root, 'yaml', '.pgpreflightrc.yaml'));
  });

  it('searches upwards from a subdirectory, and reads an extensionless .pgpreflightrc as YAML', async () => {
    write('up/.pgpreflightrc', 'format: markdown\n');
    mkdirSync(join(root, 'up', 'a', 'b'), { recursive: true });
    expect((await loadConfig({ cwd: join(root, 'up', 'a', 'b') }))?.format).toBe('markdown');
  });

  it('reads a "pgpreflight" key in package.json, and skips a package.json without one', async () => {
    write('pkg/package.json', JSON.stringify({ name: 'app', pgpreflight: { skip: ['table-size'], databases: [{ name: 'main', urlEnv: 'MAIN_URL' }] } }));
    expect(await loadConfig({ cwd: join(root, 'pkg') })).toMatchObject({ skip: ['table-size'], databases: [{ name: 'main', urlEnv: 'MAIN_URL', optional: false }] });
    write('plain/package.json', JSON.stringify({ name: 'app' }));
    write('plain/pgpreflight.config.json', JSON.stringify({ failOn: 'warn' }));
    expect((await loadConfig({ cwd: join(root, 'plain') }))?.failOn).toBe('warn');
  });

  it('--config names a file anywhere', async () => {
    const path = write('elsewhere/gate.yaml', 'timeout: 3s\nwait: 5m\n');
    expect(await loadConfig({ explicitPath: path })).toMatchObject({ timeoutMs: 3000, waitMs: 300_000 });
  });
});

describe('an invalid file exits 2 naming the file, the key and what is allowed', () => {
  const cases: [string, string, RegExp][] = [
    ['unknown-key.json', JSON.stringify({ thresholds: { locks: { fial: '2s' } } }), /bad-unknown-key\.json: thresholds\.locks: unknown key "fial": allowed keys are warn, fail, writerFail$/m],
    ['unknown-check.json', JSON.stringify({ skip: ['lokcs'] }), /bad-unknown-check\.json: skip\[0\]: must be a check id: .*locks/m],
    ['bad-value.yaml', 'thresholds:\n  table-size:\n    sizeWarn: huge\n', /bad-bad-value\.yaml: thresholds\.table-size\.sizeWarn must be a size such as 512kB, 100MB or 1GiB, got "huge"$/m],
    ['bad-format.yaml', 'format: xml\n', /bad-bad-format\.yaml: format: must be one of table, json, github, markdown, junit$/m],
    ['url-in-file.json', JSON.stringify({ databases: [{ name: 'a', url: `postgresql://postgres:${PASSWORD}@db/app` }] }), /bad-url-in-file\.json: databases\[0\]: holds a URL or password: never put one in the file/m],
    ['bad-env-name.json', JSON.stringify({ databases: [{ name: 'a', urlEnv: 'not a name' }] }), /bad-bad-env-name\.json: databases\[0\]\.urlEnv: must be an environment variable name/m],
    ['not-yaml.yaml', 'thresholds: [1, 2\n', /bad-not-yaml\.yaml: not valid YAML or JSON/m],
  ];
  it.each(cases)('%s', async (name, content, message) => {
    const path = write(`bad-${name}`, content);
    const result = await runMain(['check', '--config', path, '--table', 'orders', '--url', cluster().url()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain(PASSWORD);
    expect(result.stdout).toBe('');
  });
});

/** The locks check's findings for the holder, by target table. */
function holderSeverities(report: Report): Record<string, string> {
  const locks = report.checks.find((c) => c.id === 'locks');
  return Object.fromEntries((locks?.findings ?? []).filter((f) => f.pid === holderPid).map((f) => [f.target ?? '', f.severity]));
}

describe('precedence: flags > environment > file > defaults, on a real server', () => {
  const lenient = (): string => write('lenient.json', JSON.stringify({ format: 'json', only: ['locks'], thresholds: { locks: { warn: '1h', fail: '1h' } } }));
  const run = (args: string[], env: Record<string, string> = {}): ReturnType<typeof runMain> =>
    runMain(['check', '--url', cluster().url(), '--table', 'orders', ...args], env);

  it('the file\'s thresholds, the environment over them, a flag over both', async () => {
    const path = lenient();
    const [fromFile, fromEnv, fromFlag] = await Promise.all([
      run(['--config', path]),
      run(['--config', path], { PGPREFLIGHT_LOCK_FAIL: '200ms' }),
      run(['--config', path, '--lock-fail', '1h'], { PGPREFLIGHT_LOCK_FAIL: '200ms' }),
    ]);
    expect([fromFile.code, fromEnv.code, fromFlag.code]).toEqual([0, 1, 0]);
    expect(holderSeverities(reportFrom(fromFile.stdout))).toEqual({ 'public.orders': 'info' });
    expect(holderSeverities(reportFrom(fromEnv.stdout))).toEqual({ 'public.orders': 'fail' });
    expect(holderSeverities(reportFrom(fromFlag.stdout))).toEqual({ 'public.orders': 'info' });
  });

  it('a per-table override makes orders stricter than other; a flag still beats it', async () => {
    const path = write('per-table.yaml', 'format: json\nonly: [locks]\nthresholds:\n  locks: { warn: 1h, fail: 1h }\ntables:\n  orders:\n    locks: { fail: 200ms }\n');
    const [strict, overridden] = await Promise.all([
      run(['--config', path, '--table', 'other']),
      run(['--config', path, '--table', 'other', '--lock-fail', '1h']),
    ]);
    expect(strict.code).toBe(1);
    expect(holderSeverities(reportFrom(strict.stdout))).toEqual({ 'public.orders': 'fail', 'public.other': 'info' });
    expect(overridden.code).toBe(0);
    expect(holderSeverities(reportFrom(overridden.stdout))).toEqual({ 'public.orders': 'info', 'public.other': 'info' });
  });

  it('lock mode and format from the file, the flag and the environment over them', async () => {
    const path = write('mode.json', JSON.stringify({ lockMode: 'ShareUpdateExclusiveLock', format: 'json', only: ['locks'], thresholds: { locks: { warn: '100ms', fail: '200ms' } } }));
    const [fileMode, flagMode, envFormat] = await Promise.all([
      run(['--config', path]),
      run(['--config', path, '--lock-mode', 'AccessExclusiveLock']),
      run(['--config', path], { PGPREFLIGHT_FORMAT: 'junit' }),
    ]);
    // AccessShareLock does not conflict with ShareUpdateExclusiveLock, but does with AccessExclusiveLock.
    expect(fileMode.code).toBe(0);
    expect((reportFrom(fileMode.stdout)).targets[0]?.lockMode).toBe('ShareUpdateExclusiveLock');
    expect(flagMode.code).toBe(1);
    expect((reportFrom(flagMode.stdout)).targets[0]?.lockMode).toBe('AccessExclusiveLock');
    expect(envFormat.stdout.startsWith('<?xml')).toBe(true);
  });

  it('pgpreflight config shows each value with its source, and no password', async () => {
    const path = write('shown.yaml', 'format: markdown\nfailOn: warn\nthresholds:\n  locks: { fail: 3s }\ntables:\n  orders:\n    locks: { warn: 100ms }\ndatabases:\n  - name: main\n    urlEnv: MAIN_URL\n');
    const result = await runMain(['config', '--config', path, '--json', '--timeout', '4s'], { MAIN_URL: cluster().url(), PGPREFLIGHT_LOCK_WARN: '2s', GITHUB_ACTIONS: 'true' });
    expect(result.code).toBe(0);
    const { configFile, settings } = JSON.parse(result.stdout) as { configFile: string; settings: { key: string; value: string; source: string }[] };
    expect(configFile).toBe(path);
    const byKey = Object.fromEntries(settings.map((s) => [s.key, s]));
    expect(byKey.format).toMatchObject({ value: 'github', source: 'GITHUB_ACTIONS=true' });
    expect(byKey['fail-on']).toMatchObject({ value: 'warn', source: `${path}: failOn` });
    expect(byKey.timeout).toMatchObject({ value: '4s', source: '--timeout' });
    expect(byKey['lock-mode']).toMatchObject({ value: 'AccessExclusiveLock', source: 'default' });
    expect(byKey['locks.warn']).toMatchObject({ value: '2s', source: 'PGPREFLIGHT_LOCK_WARN' });
    expect(byKey['locks.fail']).toMatchObject({ value: '3s', source: `${path}: thresholds.locks.fail` });
    // The environment set locks.warn for every table, so the file's per-table warn is dropped.
    expect(byKey['table orders: locks.warn']).toBeUndefined();
    expect(byKey['database main']).toMatchObject({ value: `postgres@127.0.0.1:${cluster().port}/postgres`, source: `${path}: databases (URL from MAIN_URL)` });
    expect(result.stdout).not.toContain(PASSWORD);
    const text = await runCli(['config', '--config', path], { MAIN_URL: cluster().url() });
    expect(text.stdout).toMatch(/^table orders: locks\.warn +100ms +.*tables\.orders\.locks\.warn$/m);
    expect(text.stdout).not.toContain(PASSWORD);
  });
});

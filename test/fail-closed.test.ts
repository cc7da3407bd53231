// Issue 10, "never exit 0 without having looked", through the built CLI on a real server.
// The database `postgres` has a real lock queue on orders (a session idle in transaction
// and an ALTER TABLE waiting behind it), so a gate that looks there exits 1; the database
// `quiet` has nothing, so a gate that lands there instead passes. Every hole below is an
// invocation that used to exit 0 (or look at the wrong server); each must now exit 1
// because it looked, or 2 because it could not.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { projectRoot } from '../src/clusters/cluster.js';
import { parseConninfo } from '../src/core/conninfo.js';
import type { Report } from '../src/core/types.js';
import { expectOneLineFailure, runCli, session, stageLockQueue, useCluster, waitFor, type CliResult, reportFrom } from './helpers.js';

const cluster = useCluster({ hba: ['host all scram_user 127.0.0.1/32 scram-sha-256'] });
const open: pg.Client[] = [];
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-fail-closed-'));
const OWN_VERSION = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string }).version;
const SCRAM_PASSWORD = 'scram-Secret-9f2';

const port = (): string => String(cluster().port);
/** The database with the lock queue: a gate that looks here exits 1. */
const queued = (user = 'postgres'): string => cluster().url({ user });
/** The database with nothing going on: a gate that lands here by mistake passes. */
const quiet = (user = 'postgres'): string => cluster().url({ user, database: 'quiet' });
const address = (database: string, user = 'postgres'): string => `${user}@127.0.0.1:${cluster().port}/${database}`;
const json = (result: CliResult): Report => reportFrom(result.stdout);
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

beforeAll(async () => {
  await cluster().sql('CREATE DATABASE quiet');
  await cluster().sql(`
    CREATE SCHEMA billing;
    CREATE TABLE billing.invoices (id int);
    CREATE TABLE orders (id int PRIMARY KEY);
    CREATE ROLE deploy LOGIN IN ROLE pg_monitor;
    CREATE ROLE migrator LOGIN;
    CREATE ROLE signaller LOGIN IN ROLE pg_monitor, pg_signal_backend;
    CREATE ROLE scram_user LOGIN IN ROLE pg_monitor PASSWORD '${SCRAM_PASSWORD}';
    ANALYZE;`);
  const q = await cluster().connect({ database: 'quiet' });
  await q.query('CREATE TABLE orders (id int PRIMARY KEY); ANALYZE orders');
  await q.end();
  await stageLockQueue(cluster(), 'fc', open);
}, 60_000);

afterAll(async () => {
  for (const client of open) await client.end().catch(() => undefined);
});

describe('psql muscle memory (issue 10, hole 1)', () => {
  it('-h/-p/-U/-d connect where they say: the queue blocks (exit 1), the quiet database passes', async () => {
    const [short, long, attached, elsewhere] = await Promise.all([
      runCli(['check', '-h', '127.0.0.1', '-p', port(), '-U', 'postgres', '-d', 'postgres', '--table', 'orders', '--format', 'json', '--only', 'locks']),
      runCli(['check', '--host=127.0.0.1', '--port', port(), '--username', 'postgres', '--dbname', 'postgres', '--table', 'orders', '--only', 'locks']),
      runCli(['check', '-h127.0.0.1', `-p${port()}`, '-Upostgres', '--table', 'orders', '--only', 'locks']),
      runCli(['check', '-h', '127.0.0.1', '-p', port(), '-U', 'postgres', '-d', 'quiet', '--table', 'orders', '--only', 'locks']),
    ]);
    expect(short.code).toBe(1);
    expect(json(short).server?.address).toBe(address('postgres'));
    expect([long.code, attached.code, elsewhere.code]).toEqual([1, 1, 0]);
  });

  it('--url and -d take libpq keyword/value strings, quoted as libpq quotes them', async () => {
    const [kv, viaD] = await Promise.all([
      runCli(['check', '--url', `host=127.0.0.1 port = ${port()} user=postgres dbname='postgres'`, '--table', 'orders', '--only', 'locks']),
      runCli(['check', '-d', `host=127.0.0.1 port=${port()} user=postgres dbname=quiet`, '--table', 'orders', '--only', 'locks', '--format', 'json']),
    ]);
    expect(kv.code).toBe(1);
    expect(viaD.code).toBe(0);
    expect(json(viaD).server?.address).toBe(address('quiet'));
    expect(parseConninfo(String.raw`host=db password='it\'s a \\ secret' dbname=a\ b`, '--url')).toEqual({ host: 'db', password: String.raw`it's a \ secret`, dbname: 'a b' });
  });

  it("libpq's precedence, setting by setting: explicit options > --url > DATABASE_URL > PG* environment", async () => {
    const refused = `postgresql://postgres@127.0.0.1:1/postgres`;
    const args = ['--table', 'orders', '--only', 'locks', '--format', 'json'];
    const [dOverUrl, urlOverEnv, envFillsUrl, portOverEnv] = await Promise.all([
      runCli(['check', '--url', quiet(), '-d', 'postgres', ...args], { PGPORT: '1' }),
      runCli(['check', '--url', queued(), ...args], { DATABASE_URL: quiet() }),
      runCli(['check', ...args], { DATABASE_URL: 'postgresql://postgres@127.0.0.1/quiet', PGPORT: port(), PGDATABASE: 'postgres' }),
      runCli(['check', '-p', port(), ...args], { DATABASE_URL: refused }),
    ]);
    expect([dOverUrl.code, urlOverEnv.code, envFillsUrl.code, portOverEnv.code]).toEqual([1, 1, 0, 1]);
    expect([dOverUrl, urlOverEnv, envFillsUrl, portOverEnv].map((r) => json(r).server?.address)).toEqual([address('postgres'), address('postgres'), address('quiet'), address('postgres')]);
  });

  it('--help and --version never ride along with gate arguments (exit 2); alone they work', async () => {
    const gate = ['check', '-h', '127.0.0.1', '-p', port(), '--table', 'orders'];
    const [help, version, psqlHelp, alone, helpCommand, runHelp] = await Promise.all([
      runCli([...gate, '--help']),
      runCli([...gate, '--version']),
      runCli(['check', '-?']),
      runCli(['--version']),
      runCli(['help', 'check', '--table', 'orders']),
      runCli(['run', '--table', 'orders', '--help', '--', 'psql', '-f', 'x.sql']),
    ]);
    expectOneLineFailure(help, /--help cannot be combined with other arguments/);
    expectOneLineFailure(version, /--version cannot be combined/);
    expect(psqlHelp.code).toBe(0);
    expect(psqlHelp.stdout).toMatch(/-h, --host/);
    expect(alone).toMatchObject({ code: 0, stdout: `${OWN_VERSION}\n` });
    expectOneLineFailure(helpCommand, /--help cannot be combined/);
    expectOneLineFailure(runHelp, /--help cannot be combined/);
  });

  it('siblings: a stray argument, a valueless --url, a run that evaluates nothing: exit 2, never 0', async () => {
    const allChecks = CHECKS.map((c) => c.id).join(',');
    const results = await Promise.all([
      runCli(['check', '--url', queued(), '--table', 'orders', '--', 'extra']),
      runCli(['check', '--url', quiet(), '--table', 'orders', '--lock-mode', 'SHARE', 'ROW', 'EXCLUSIVE']),
      // `--url "$A" --url $B` with B unset: only A would be checked.
      runCli(['check', '--url', quiet(), '--url', '--table', 'orders']),
      // Every selected check skips itself: "nothing was checked" used to exit 0.
      runCli(['check', '--url', queued(), '--table', 'orders', '--only', 'migration-risk']),
      runCli(['check', '--url', queued(), '--table', 'orders', '--skip', allChecks]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2, 2, 2]);
    expectOneLineFailure(results[0] as CliResult, /unexpected argument "extra"/);
    expectOneLineFailure(results[2] as CliResult, /--url was given without a value/);
    expect((results[3] as CliResult).stdout).toMatch(/Verdict: SKIP: nothing was evaluated: the gate stays closed \(exit 2/);
    expectOneLineFailure(results[4] as CliResult, /leave no check to run/);
  });
});

describe('an empty secret (issue 10, hole 3)', () => {
  it('DATABASE_URL="" never falls back to the PG* environment or localhost', async () => {
    // What a CI job with a postgres service container looks like: PG* point at a server that would pass.
    const serviceContainer = { PGHOST: '127.0.0.1', PGPORT: port(), PGUSER: 'postgres', PGDATABASE: 'quiet' };
    const [empty, blank, unset] = await Promise.all([
      runCli(['check', '--table', 'orders'], { ...serviceContainer, DATABASE_URL: '' }),
      runCli(['check', '--table', 'orders'], { ...serviceContainer, DATABASE_URL: '  ' }),
      runCli(['check', '--table', 'orders', '--only', 'locks'], serviceContainer),
    ]);
    expectOneLineFailure(empty, /DATABASE_URL is set but empty/);
    expectOneLineFailure(blank, /DATABASE_URL is set but empty/);
    // Unset is not empty: the PG* environment is the documented source.
    expect(unset.code).toBe(0);
  });

  // The action's empty database-url (it arrives as an empty DATABASE_URL): test/package.test.ts.
  it('an empty --url on every command that connects, and an empty DATABASE_URL', async () => {
    const results = await Promise.all([
      runCli(['check', '--url', '', '--table', 'orders'], { PGHOST: '127.0.0.1', PGPORT: port() }),
      runCli(['locks', '--url', ''], { PGHOST: '127.0.0.1', PGPORT: port() }),
      runCli(['run', '--url', '', '--table', 'orders', '--', 'true'], { PGHOST: '127.0.0.1', PGPORT: port() }),
      runCli(['locks', '--table', 'orders'], { DATABASE_URL: '', PGHOST: '127.0.0.1', PGPORT: port() }),
    ]);
    for (const result of results) expectOneLineFailure(result, /(--url is empty|DATABASE_URL is set but empty)/);
  });

  it('siblings: an empty -h, an empty host= in a keyword/value string, an empty urlEnv', async () => {
    const config = file('empty-env.json', JSON.stringify({ databases: [{ name: 'main', urlEnv: 'MAIN_URL' }] }));
    const [host, keyword, urlEnv] = await Promise.all([
      runCli(['check', '-h', '', '-p', port(), '--table', 'orders']),
      // libpq would read this host as "port=..." (blanks after "=" are skipped).
      runCli(['check', '--url', `host= port=${port()} dbname=quiet`, '--table', 'orders']),
      runCli(['check', '--config', config, '--table', 'orders'], { MAIN_URL: '', PGHOST: '127.0.0.1', PGPORT: port() }),
    ]);
    expectOneLineFailure(host, /-h\/--host is empty/);
    expectOneLineFailure(keyword, /host= is empty/);
    expectOneLineFailure(urlEnv, /MAIN_URL, which is set but empty/);
  });

  it('a config file that names databases is used when DATABASE_URL is empty, and it looks (exit 1)', async () => {
    const config = file('named.json', JSON.stringify({ databases: [{ name: 'main', urlEnv: 'MAIN_URL' }], only: ['locks'] }));
    const result = await runCli(['check', '--config', config, '--table', 'orders'], { DATABASE_URL: '', MAIN_URL: queued() });
    expect(result.code).toBe(1);
  });
});

describe('every output format names the server it inspected, never the password', () => {
  it('table, json, markdown, github, junit, locks and run', async () => {
    const url = `postgresql://scram_user:${SCRAM_PASSWORD}@127.0.0.1:${port()}/quiet`;
    const server = address('quiet', 'scram_user');
    const gate = ['--url', url, '--table', 'orders', '--only', 'locks'];
    const results = await Promise.all([
      ...['table', 'json', 'markdown', 'github', 'junit'].map((format) => runCli(['check', ...gate, '--format', format])),
      runCli(['locks', '--url', url]),
      runCli(['locks', '--url', url, '--format', 'json']),
      runCli(['run', ...gate, '--', process.execPath, '-e', '0']),
    ]);
    for (const result of results) {
      expect(result.code).toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain(server);
      expect(`${result.stdout}${result.stderr}`).not.toContain(SCRAM_PASSWORD);
    }
    expect(json(results[1] as CliResult).server?.address).toBe(server);
    expect((results[0] as CliResult).stdout.split('\n')[1]).toMatch(new RegExp(`^${server.replace(/[.[\]]/g, '\\$&')} · PostgreSQL ${json(results[1] as CliResult).server?.version} · public\\.orders \\(AccessExclusiveLock\\)`));
    expect((results[4] as CliResult).stdout).toContain(`hostname="${server}"`);
    expect((JSON.parse((results[6] as CliResult).stdout) as { server: string }).server).toBe(server);
    expect((results[7] as CliResult).stderr.split('\n')[0]).toMatch(new RegExp(`^pgpreflight run: gate and guard on ${server.replace(/[.]/g, '\\.')};`));
  });
});

describe('--offline never says "safe to migrate" (issue 10, hole 4)', () => {
  it('its verdict says what it looked at; the JSON marks every live check as not run', async () => {
    const migration = file('0001_safe.sql', "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT total_pos CHECK (id > 0) NOT VALID;\n");
    const [table, asJson, markdown] = await Promise.all(['table', 'json', 'markdown'].map((format) => runCli(['check', '--offline', '--migration', migration, '--format', format])));
    expect([table?.code, asJson?.code, markdown?.code]).toEqual([0, 0, 0]);
    for (const result of [table, markdown]) {
      const text = result?.stdout.replace(/\s+/g, ' ');
      expect(text).not.toMatch(/safe to migrate/);
      expect(text).toMatch(/no server was looked at \(--offline\)/);
    }
    // The long --offline verdict is wrapped to the terminal like every other line.
    const narrow = await runCli(['check', '--offline', '--migration', migration], { COLUMNS: '80' });
    expect(narrow.stdout).toMatch(/^Verdict: PASS/);
    expect(Math.max(...narrow.stdout.split('\n').map((line) => [...line].length))).toBeLessThanOrEqual(80);
    const report = json(asJson as CliResult);
    expect(report).toMatchObject({ offline: true, server: null, verdict: 'pass' });
    expect(report.checks.map((c) => c.id).sort()).toEqual(CHECKS.map((c) => c.id).sort());
    for (const check of report.checks.filter((c) => c.id !== 'migration-risk')) expect(check).toMatchObject({ status: 'skip', summary: expect.stringMatching(/^not run/) });
  });
});

describe('messages that send the operator the right way', () => {
  it('a missing schema USAGE names the real role and the GRANT, told apart from a missing table; the GRANT fixes it', async () => {
    const [qualified, missing] = await Promise.all([
      runCli(['check', '--url', queued('deploy'), '--table', 'billing.invoices']),
      runCli(['check', '--url', queued('deploy'), '--table', 'billing.nope']),
    ]);
    const line = expectOneLineFailure(qualified, /"billing\.invoices" exists, but role deploy has no USAGE on schema billing.*GRANT USAGE ON SCHEMA billing TO deploy;/);
    expect(line).not.toMatch(/<role>|pg_monitor/);
    expectOneLineFailure(missing, /no table "billing\.nope" in it/);
    // The sibling to_regclass hides: an unqualified name on the role's search_path returns NULL.
    await cluster().sql('ALTER ROLE deploy SET search_path = billing, public');
    try {
      const unqualified = await runCli(['check', '--url', queued('deploy'), '--table', 'invoices']);
      expectOneLineFailure(unqualified, /table "invoices" not found .*billing\.invoices exists, but role deploy has no USAGE on schema billing, so it cannot see it\. Fix: GRANT USAGE ON SCHEMA billing TO deploy;/);
      await cluster().sql('GRANT USAGE ON SCHEMA billing TO deploy');
      const granted = await runCli(['check', '--url', quiet('deploy'), '-d', 'postgres', '--table', 'invoices', '--only', 'locks', '--format', 'json']);
      expect(granted.code).toBe(0);
      expect(json(granted).targets[0]?.name).toBe('billing.invoices');
    } finally {
      await cluster().sql('ALTER ROLE deploy RESET search_path; REVOKE USAGE ON SCHEMA billing FROM deploy');
    }
  });

  it('sibling: a revoked CONNECT names GRANT CONNECT with the role, not pg_monitor', async () => {
    await cluster().sql('REVOKE CONNECT ON DATABASE quiet FROM PUBLIC');
    try {
      const result = await runCli(['check', '--url', quiet('deploy'), '--table', 'orders']);
      expectOneLineFailure(result, /Fix: GRANT CONNECT ON DATABASE quiet TO deploy$/m);
    } finally {
      await cluster().sql('GRANT CONNECT ON DATABASE quiet TO PUBLIC');
    }
  });

  it('SCRAM without a password says none was found and where it looks, including a ~/.pgpass it ignores', async () => {
    const home = mkdtempSync(join(dir, 'home-'));
    const url = quiet('scram_user');
    const none = await runCli(['check', '--url', url, '--table', 'orders'], { HOME: home });
    expectOneLineFailure(none, /no password found for scram_user@.*: pgpreflight looks in --url \(or DATABASE_URL\), PGPASSWORD, and the password file \(passfile, else PGPASSFILE, else ~\/\.pgpass\); .*\.pgpass does not exist/);
    const pgpass = join(home, '.pgpass');
    writeFileSync(pgpass, `127.0.0.1:${port()}:*:scram_user:${SCRAM_PASSWORD}\n`);
    chmodSync(pgpass, 0o644);
    const loose = await runCli(['check', '--url', url, '--table', 'orders'], { HOME: home });
    expect(loose.code).toBe(2);
    expect(loose.stderr).toMatch(/\.pgpass is ignored: it is readable by group or others \(chmod 600 it\)/);
    chmodSync(pgpass, 0o600);
    const [fromHome, fromPassfile] = await Promise.all([
      runCli(['check', '--url', url, '--table', 'orders', '--only', 'locks'], { HOME: home }),
      runCli(['check', '--url', url, '--table', 'orders', '--only', 'locks'], { PGPASSFILE: pgpass }),
    ]);
    expect([fromHome.code, fromPassfile.code]).toEqual([0, 0]);
    for (const result of [none, loose, fromHome, fromPassfile]) expect(`${result.stdout}${result.stderr}`).not.toContain(SCRAM_PASSWORD);
  });

  it('an unwritable --report-file: the verdict is printed, one line says what, exit 2', async () => {
    const result = await runCli(['check', '--url', quiet(), '--table', 'orders', '--only', 'locks', '--report-file', '/nonexistent/dir/r.json']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/Verdict: PASS/);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      'pgpreflight: could not write the JSON report to --report-file /nonexistent/dir/r.json: its directory does not exist; exit 2 although the verdict is pass: a step that reads that file would find no report, or an old one',
    ]);
  });

  it("unwritable runner files (summary, outputs, RUNNER_TEMP) only warn: the exit code stays the verdict's", async () => {
    const runner = { GITHUB_ACTIONS: 'true', RUNNER_TEMP: '/nonexistent', GITHUB_STEP_SUMMARY: '/nonexistent/summary.md', GITHUB_OUTPUT: '/nonexistent/output' };
    const [pass, blocked] = await Promise.all([
      runCli(['check', '--url', quiet(), '--table', 'orders', '--only', 'locks'], runner),
      runCli(['check', '--url', queued(), '--table', 'orders', '--only', 'locks'], runner),
    ]);
    expect([pass.code, blocked.code]).toEqual([0, 1]);
    expect(pass.stdout).toMatch(/^pgpreflight: verdict pass, exit 0; checked /m);
    expect(pass.stderr.trimEnd().split('\n').map((l) => /could not write (the \S+ \S+)/.exec(l)?.[1])).toEqual(['the JSON report', 'the job summary', 'the step outputs']);
  });

  it('sibling: a report file never keeps an older run\'s pass when this run could not check', async () => {
    const report = file('stale.json', JSON.stringify({ version: 1, verdict: 'pass' }));
    const result = await runCli(['check', '--url', 'postgresql://postgres@127.0.0.1:1/postgres', '--table', 'orders', '--report-file', report]);
    expectOneLineFailure(result, /connection refused/);
    expect(JSON.parse(readFileSync(report, 'utf8'))).toMatchObject({ verdict: 'error' });
  });

  it("--version prints pgpreflight's own version from any directory and from an installed copy", async () => {
    const project = mkdtempSync(join(dir, 'app-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-app', version: '1.0.0' }));
    const installed = join(project, 'node_modules', 'pgpreflight');
    mkdirSync(installed, { recursive: true });
    cpSync(join(projectRoot, 'bin'), join(installed, 'bin'), { recursive: true });
    cpSync(join(projectRoot, 'dist', 'bundle'), join(installed, 'dist', 'bundle'), { recursive: true });
    const [here, copy] = await Promise.all([
      runCli(['--version'], {}, { cwd: project }),
      runCli(['--version'], {}, { cwd: project, bin: join(installed, 'bin', 'pgpreflight.js') }),
    ]);
    expect(here).toMatchObject({ code: 0, stdout: `${OWN_VERSION}\n` });
    expect(copy).toMatchObject({ code: 0, stdout: `${OWN_VERSION}\n` });
  });
});

describe('impossible thresholds and overrides are refused with the reason', () => {
  it('pairs from the checks\' metadata: each atMost names an option of its own check, of the same kind', () => {
    const pairs = CHECKS.flatMap((check) => Object.values(check.options).filter((o) => o.atMost !== undefined).map((o) => [check.id, o, check.options[o.atMost as string]] as const));
    expect(pairs.map(([id, low]) => `${id}:${low.flag}`)).toEqual(expect.arrayContaining(['locks:lock-warn', 'idle-in-transaction:idle-warn', 'connections:connections-warn', 'replication-lag:lag-bytes-warn']));
    for (const [, low, high] of pairs) expect(high?.kind).toBe(low.kind);
    // A check with an X-warn and an X-fail flag declares the pair, so a new check cannot forget it.
    // old-snapshots is the exception: its two thresholds apply to different runs (--concurrently or not).
    for (const check of CHECKS.filter((c) => c.id !== 'old-snapshots')) {
      for (const spec of Object.values(check.options)) {
        const fail = Object.entries(check.options).find(([, o]) => o.flag === spec.flag.replace(/-warn$/, '-fail') && o !== spec);
        if (spec.flag.endsWith('-warn') && fail) expect({ check: check.id, flag: spec.flag, atMost: spec.atMost }).toEqual({ check: check.id, flag: spec.flag, atMost: fail[0] });
      }
    }
  });

  it('inverted pairs (flags, environment, one file section), percentages over 100 and a zero lock wait: exit 2', async () => {
    const config = file('inverted.yaml', 'thresholds:\n  locks: { warn: 10s, fail: 5s }\n');
    const gate = ['check', '--url', quiet(), '--table', 'orders'];
    const [flags, percent, env, inFile, zero, stricter] = await Promise.all([
      runCli([...gate, '--lock-warn', '10s', '--lock-fail', '5s']),
      runCli([...gate, '--connections-warn', '120']),
      runCli(gate, { PGPREFLIGHT_LAG_BYTES_WARN: '1GB', PGPREFLIGHT_LAG_BYTES_FAIL: '10MB' }),
      runCli([...gate, '--config', config]),
      runCli([...gate, '--lock-timeout', '0']),
      // Not a mistake: a stricter fail over the default warning.
      runCli([...gate, '--lock-fail', '500ms', '--only', 'locks']),
    ]);
    expectOneLineFailure(flags, /--lock-warn \(10s\) is above --lock-fail \(5s\)/);
    expectOneLineFailure(percent, /--connections-warn is a percentage: it must be from 0 to 100, got "120"/);
    expectOneLineFailure(env, /PGPREFLIGHT_LAG_BYTES_WARN \(1\.0 GB\) is above PGPREFLIGHT_LAG_BYTES_FAIL \(10 MB\)/);
    expectOneLineFailure(inFile, /thresholds\.locks\.warn \(10s\) is above .*thresholds\.locks\.fail \(5s\)/);
    expectOneLineFailure(zero, /--lock-timeout must be more than 0/);
    expect(stricter.code).toBe(0);
  });

  it('a per-table override must name a table and a threshold, and applies however --table spells the table', async () => {
    const typo = file('typo.yaml', 'tables:\n  ordres:\n    locks: { fail: 1s }\n');
    const empty = file('empty.yaml', 'tables:\n  orders: {}\n');
    const strict = file('strict.yaml', 'only: [locks]\nformat: json\nthresholds:\n  locks: { warn: 1h, fail: 1h }\ntables:\n  orders:\n    locks: { fail: 100ms }\n');
    const holder = await session(cluster(), 'fc-young-holder', { database: 'quiet' });
    open.push(holder);
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    try {
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'fc-young-holder' AND now() - xact_start > interval '200 milliseconds'");
      const [named, none, qualified] = await Promise.all([
        runCli(['check', '--url', quiet(), '--table', 'orders', '--config', typo]),
        runCli(['check', '--url', quiet(), '--table', 'orders', '--config', empty]),
        // The override says `orders`; the run says `public.orders`: the same table.
        runCli(['check', '--url', quiet(), '--table', 'public.orders', '--config', strict]),
      ]);
      expectOneLineFailure(named, /per-table thresholds for "ordres" \(tables\.ordres\) name no table/);
      expectOneLineFailure(none, /tables\.orders: sets no threshold/);
      expect(qualified.code).toBe(1);
      expect(json(qualified).checks[0]?.findings.find((f) => f.application === 'fc-young-holder')?.severity).toBe('fail');
    } finally {
      await holder.query('ROLLBACK');
    }
  });
});

describe("run: whether the guard may cancel the migration (issue 10, hole 5)", () => {
  /** A migration command that connects with the URL given after it, and says so on stdout. */
  const migration = (url: string): string[] => [process.execPath, '-e', "const pg=require('pg');const c=new pg.Client({connectionString:process.argv[1]});c.connect().then(()=>c.query('SELECT 1')).then(()=>{console.log('migrated');return c.end()})", url];
  const run = (guardUser: string, migrationUser: string, extra: string[] = []): Promise<CliResult> =>
    runCli(['run', '--url', quiet(guardUser), '--table', 'orders', '--only', 'locks', ...extra, '--', ...migration(quiet(migrationUser))], {}, { cwd: projectRoot });

  it('says before starting that the guard cannot cancel a migration of another role; --require-guard refuses to start it', async () => {
    const [warned, refused] = await Promise.all([run('deploy', 'migrator'), run('deploy', 'migrator', ['--require-guard'])]);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain('migrated');
    expect(warned.stderr.split('\n')[0]).toMatch(/^pgpreflight run: gate and guard on deploy@.*\/quiet; the migration connects as migrator; the guard \(deploy\) has neither its privileges nor pg_signal_backend, so it cannot cancel .*Fix: GRANT pg_signal_backend TO deploy;$/);
    expectOneLineFailure(refused, /^pgpreflight: --require-guard: the migration connects as migrator; .*cannot cancel/);
  });

  it('the same role, pg_signal_backend or a superuser can: --require-guard starts the migration', async () => {
    const results = await Promise.all([run('deploy', 'deploy', ['--require-guard']), run('signaller', 'migrator', ['--require-guard']), run('postgres', 'migrator', ['--require-guard'])]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    for (const result of results) expect(result.stdout).toContain('migrated');
    expect(results.map((r) => /; (.*)$/m.exec(r.stderr.split('\n')[0] ?? '')?.[1])).toEqual([
      'the guard and the migration both connect as deploy: the guard can cancel the migration\'s statement',
      'the guard (signaller) has pg_signal_backend: it can cancel the migration\'s statement (as migrator)',
      'the guard runs as postgres, a superuser: it can cancel the migration\'s statement whatever role it uses',
    ]);
  });

  it('sibling: the role the migration really uses is checked when the guard first sees it', async () => {
    // The URL comes from a variable run does not read, so before the start it cannot tell. The
    // migration (a superuser) runs one statement until the guard has looked at its role (the
    // guard's last query is then the one naming pg_signal_backend), as a busy migration would.
    const until = `DO $$ BEGIN FOR i IN 1..600 LOOP PERFORM pg_stat_clear_snapshot(); EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgpreflight-guard' AND query LIKE '%pg_signal_backend%'); PERFORM pg_sleep(0.05); END LOOP; END $$`;
    const script = `const pg=require('pg');const c=new pg.Client({connectionString:process.env.MIGRATION_URL});c.connect().then(()=>c.query(${JSON.stringify(until)})).then(()=>{console.log('judged');return c.end()})`;
    const result = await runCli(['run', '--url', quiet('signaller'), '--table', 'orders', '--only', 'locks', '--guard-interval', '2s', '--', process.execPath, '-e', script], { MIGRATION_URL: quiet('postgres') }, { cwd: projectRoot });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('judged');
    expect(result.stderr).toMatch(/^pgpreflight run: gate and guard on .*; the guard \(signaller\) has pg_signal_backend: it can cancel the migration's statement unless the migration connects as a superuser$/m);
    expect(result.stderr).toMatch(/^pgpreflight run: warning: the migration connects as postgres, a superuser, and the guard \(signaller\) is not one: it cannot cancel/m);
  });
});

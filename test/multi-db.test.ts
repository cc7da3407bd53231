// Several databases in one gate, against two real clusters (one clean, one with a blocker)
// and a port nobody listens on: the worst verdict wins and names the database that blocks;
// an unreachable database is an error unless the config marks it optional.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../src/clusters/cluster.js';
import type { GateReport } from '../src/gate/gate.js';
import { CLI, runCli, runMain, session, sleep, useCluster } from './helpers.js';

const PASSWORD_A = 'multi-a-pw-41';
const PASSWORD_B = 'multi-b-pw-97';
const hba = ['host all all 127.0.0.1/32 scram-sha-256'];
const clean = useCluster({ superuserPassword: PASSWORD_A, hba });
const blocked = useCluster({ superuserPassword: PASSWORD_B, hba });
const FAST = ['--table', 'orders', '--only', 'locks', '--lock-warn', '100ms', '--lock-fail', '200ms'];
let holder: pg.Client;
let holderPid: number;
let refusedUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-multi-'));

beforeAll(async () => {
  for (const c of [clean(), blocked()]) await c.sql('CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1); ANALYZE orders');
  holder = await session(blocked(), 'multi-holder');
  holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
  await sleep(300);
  refusedUrl = `postgresql://postgres:refused-pw-3@127.0.0.1:${await freePort()}/postgres`;
});

afterAll(async () => {
  await holder?.end().catch(() => undefined);
});

function configFile(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(content));
  return path;
}

function env(): Record<string, string> {
  return { SHARD_A_URL: clean().url(), SHARD_B_URL: blocked().url(), SHARD_C_URL: refusedUrl };
}

function expectNoSecret(...texts: string[]): void {
  for (const text of texts) for (const secret of [PASSWORD_A, PASSWORD_B, 'refused-pw-3']) expect(text).not.toContain(secret);
}

describe('several databases', () => {
  it('--url twice: one clean and one blocked gives exit 1 and names the blocked one', async () => {
    const result = await runCli(['check', '--url', clean().url(), '--url', blocked().url(), ...FAST, '--format', 'json']);
    expect(result.code).toBe(1);
    const gate = JSON.parse(result.stdout) as GateReport;
    const blockedName = `127.0.0.1:${blocked().port}/postgres`;
    expect(gate).toMatchObject({ version: 2, verdict: 'fail', exitCode: 1, blockedBy: [blockedName] });
    expect(gate.databases.map((d) => [d.name, d.verdict, d.blocking])).toEqual([
      [`127.0.0.1:${clean().port}/postgres`, 'pass', []],
      [blockedName, 'fail', ['locks']],
    ]);
    const finding = gate.databases[1]?.report?.checks[0]?.findings.find((f) => f.application === 'multi-holder');
    expect(finding).toMatchObject({ pid: holderPid, severity: 'fail', target: 'public.orders' });
    expect(Object.keys(gate.databases[0]?.report ?? {}).sort()).toEqual(['checks', 'durationMs', 'notes', 'rootCauses', 'server', 'targets', 'verdict']);
    expectNoSecret(result.stdout, result.stderr);
  });

  it('databases named in the config: each has its own section in every format', async () => {
    const config = configFile('named.json', { databases: [{ name: 'shard-a', urlEnv: 'SHARD_A_URL' }, { name: 'shard-b', urlEnv: 'SHARD_B_URL' }], concurrency: 2 });
    const [table, markdown, junit, github] = await Promise.all([
      runMain(['check', '--config', config, ...FAST], env()),
      runMain(['check', '--config', config, ...FAST, '--format', 'markdown'], env()),
      runMain(['check', '--config', config, ...FAST, '--format', 'junit'], env()),
      runCli(['check', '--config', config, ...FAST, '--format', 'github'], { ...env(), GITHUB_OUTPUT: join(dir, 'gh-output'), GITHUB_STEP_SUMMARY: join(dir, 'gh-summary.md'), RUNNER_TEMP: dir }),
    ]);
    for (const result of [table, markdown, junit, github]) expect(result.code).toBe(1);
    expect(table.stdout).toMatch(/^== shard-a: PASS ==$/m);
    expect(table.stdout).toMatch(/^== shard-b: FAIL ==$/m);
    expect(table.stdout).toMatch(/^Gate verdict: FAIL across 2 databases, blocked by shard-b \(exit 1/m);
    expect(markdown.stdout).toMatch(/^## pgpreflight: ❌ FAIL: deploy blocked \(blocked by shard-b\)$/m);
    expect(markdown.stdout).toMatch(/^### ✅ PASS shard-a$/m);
    expect(markdown.stdout).toMatch(/^### ❌ FAIL shard-b$/m);
    expect(junit.stdout).toContain('<testsuite name="pgpreflight shard-a" tests="1" failures="0"');
    expect(junit.stdout).toContain('<testsuite name="pgpreflight shard-b" tests="1" failures="1"');
    expect(junit.stdout).toContain('classname="pgpreflight.shard-b.locks" name="locks on public.orders"');
    expect(github.stdout).toMatch(/^::error title=pgpreflight \[shard-b\]%3A pid \d+ \(locks\)::/m);
    expect(github.stdout).not.toMatch(/\[shard-a\]/);
    const outputs = readFileSync(join(dir, 'gh-output'), 'utf8');
    expect(outputs).toMatch(/^failed-checks<<(ghadelimiter_[-0-9a-f]+)\nshard-b:locks\n\1$/m);
    expectNoSecret(...[table, markdown, junit, github].flatMap((r) => [r.stdout, r.stderr]), outputs, readFileSync(join(dir, 'gh-summary.md'), 'utf8'), readFileSync(join(dir, 'pgpreflight-report.json'), 'utf8'));
  });

  it('an unreachable database makes the verdict error (exit 2)', async () => {
    const config = configFile('unreachable.json', { databases: [{ name: 'shard-a', urlEnv: 'SHARD_A_URL' }, { name: 'shard-c', urlEnv: 'SHARD_C_URL' }] });
    const result = await runMain(['check', '--config', config, ...FAST, '--format', 'json'], env());
    expect(result.code).toBe(2);
    const gate = JSON.parse(result.stdout) as GateReport;
    expect(gate).toMatchObject({ verdict: 'error', blockedBy: ['shard-c'] });
    expect(gate.databases[1]).toMatchObject({ name: 'shard-c', verdict: 'error', report: null, optional: false });
    expect(gate.databases[1]?.error).toMatch(/connection refused/);
    expectNoSecret(result.stdout, result.stderr);
  });

  it('an unreachable database marked optional does not close the gate', async () => {
    const config = configFile('optional.json', {
      databases: [
        { name: 'shard-a', urlEnv: 'SHARD_A_URL' },
        { name: 'shard-c', urlEnv: 'SHARD_C_URL', optional: true },
        { name: 'shard-d', urlEnv: 'SHARD_D_URL', optional: true },
      ],
    });
    const result = await runMain(['check', '--config', config, ...FAST, '--format', 'json'], env());
    expect(result.code).toBe(0);
    const gate = JSON.parse(result.stdout) as GateReport;
    expect(gate).toMatchObject({ verdict: 'pass', blockedBy: [] });
    expect(gate.databases.map((d) => [d.name, d.verdict, d.optional])).toEqual([
      ['shard-a', 'pass', false],
      ['shard-c', 'error', true],
      ['shard-d', 'error', true],
    ]);
    expect(gate.databases[2]?.error).toContain('SHARD_D_URL is not set');
  });

  it('a required database whose URL variable is unset fails the gate for that database alone; the others are still checked', async () => {
    const config = configFile('unset.json', { databases: [{ name: 'shard-a', urlEnv: 'SHARD_A_URL' }, { name: 'shard-x', urlEnv: 'SHARD_X_URL' }] });
    const result = await runMain(['check', '--config', config, ...FAST, '--format', 'json'], env());
    expect(result.code).toBe(2);
    const gate = JSON.parse(result.stdout) as GateReport;
    expect(gate).toMatchObject({ verdict: 'error', blockedBy: ['shard-x'] });
    expect(gate.databases.map((d) => [d.name, d.verdict, d.retryable])).toEqual([
      ['shard-a', 'pass', true],
      ['shard-x', 'error', false],
    ]);
    expect(gate.databases[1]?.error).toMatch(/^database "shard-x" in .*unset\.json reads its URL from SHARD_X_URL, which is not set/);
    // Alone, it is the one-line input error of every other command.
    const alone = configFile('unset-alone.json', { databases: [{ name: 'shard-x', urlEnv: 'SHARD_X_URL' }] });
    const single = await runMain(['check', '--config', alone, ...FAST], env());
    expect(single.code).toBe(2);
    expect(single.stderr).toMatch(/^pgpreflight: database "shard-x" in .*unset-alone\.json reads its URL from SHARD_X_URL, which is not set/m);
    expect(single.stdout).toBe('');
  });

  it('sibling: a database whose URL variable holds something that is not a URL fails alone, without printing it', async () => {
    const config = configFile('bad-url.json', { databases: [{ name: 'shard-a', urlEnv: 'SHARD_A_URL' }, { name: 'shard-y', urlEnv: 'SHARD_Y_URL' }] });
    const result = await runMain(['check', '--config', config, ...FAST, '--format', 'json'], { ...env(), SHARD_Y_URL: 'postgresql://deploy:s3cr3t-y@[::1' });
    expect(result.code).toBe(2);
    const gate = JSON.parse(result.stdout) as GateReport;
    expect(gate.databases.map((d) => [d.name, d.verdict])).toEqual([
      ['shard-a', 'pass'],
      ['shard-y', 'error'],
    ]);
    expect(gate.databases[1]?.error).toContain('SHARD_Y_URL');
    expect(`${result.stdout}${result.stderr}`).not.toContain('s3cr3t-y');
  });

  it('--wait across databases retries until the blocked one clears', async () => {
    const second = await session(blocked(), 'multi-wait');
    await second.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(300);
    const child = spawn(process.execPath, [CLI, 'check', '--url', clean().url(), '--url', blocked().url(), ...FAST, '--wait', '30s', '--wait-max-interval', '1s', '--format', 'json'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' },
    });
    const result = { stdout: '', stderr: '', code: null as number | null };
    child.stdout.on('data', (d: Buffer) => (result.stdout += d.toString()));
    const firstAttempt = new Promise<void>((resolve) =>
      child.stderr.on('data', (d: Buffer) => {
        result.stderr += d.toString();
        if (/attempt 1 /.test(result.stderr)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await firstAttempt;
    await second.query('ROLLBACK');
    await second.end();
    await holder.query('ROLLBACK');
    result.code = await exited;
    expect(result.code).toBe(0);
    const lines = result.stderr.split('\n').filter((l) => /^pgpreflight: attempt \d+ /.test(l));
    expect(lines[0]).toContain(`127.0.0.1:${blocked().port}/postgres: locks (pids`);
    expect(lines.at(-1)).toContain('gate open');
    expect((JSON.parse(result.stdout) as GateReport).verdict).toBe('pass');
  });
});

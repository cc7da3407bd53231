// Output formats for pipelines, against a real server with a real blocker: GitHub Actions
// (annotations on stdout, job summary and step outputs written to the files GitHub names),
// Markdown, JUnit XML and JSON. The superuser has a real password (scram): it must not
// reach any output.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeData, escapeProperty } from '../src/reporters/github.js';
import { fenced } from '../src/reporters/markdown.js';
import type { Report } from '../src/core/types.js';
import { runCli, runMain, session, sleep, type CliResult, useCluster, reportFrom } from './helpers.js';

const PASSWORD = 'fmt-Secr3t%pw:x,y';
const cluster = useCluster({ superuserPassword: PASSWORD, hba: ['host all all 127.0.0.1/32 scram-sha-256'] });
let holder: pg.Client;
let holderPid: number;
const FAST = ['--only', 'locks,idle-in-transaction', '--lock-warn', '100ms', '--lock-fail', '200ms', '--idle-warn', '100ms', '--idle-fail', '200ms'];

// A query text with every character the escaping rules care about.
const HOLDER_QUERY = "SELECT id, '100%, a:b' AS tricky /* ```fence``` */\nFROM orders LIMIT 1";

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY); INSERT INTO orders VALUES (1); ANALYZE orders, other');
  holder = await session(cluster(), 'fmt-holder');
  holderPid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  await holder.query('BEGIN');
  await holder.query(HOLDER_QUERY);
  // The holder's current query must stay HOLDER_QUERY: no statement after it.
  await sleep(400);
});

afterAll(async () => {
  await holder?.end().catch(() => undefined);
});

function githubEnv(): { env: Record<string, string>; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-gh-'));
  return {
    dir,
    env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(dir, 'summary.md'), GITHUB_OUTPUT: join(dir, 'output'), RUNNER_TEMP: dir },
  };
}

/** Parses $GITHUB_OUTPUT as the runner does: name=value lines and name<<DELIM heredocs. */
function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      for (i += 1; i < lines.length && lines[i] !== delimiter; i += 1) value.push(lines[i] as string);
      if (lines[i] !== delimiter) throw new Error(`unterminated heredoc for ${name}`);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

interface Annotation {
  level: string;
  properties: Record<string, string>;
  message: string;
}

const unescape = (text: string): string => text.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');

/** Workflow commands on stdout, decoded. */
function annotations(stdout: string): Annotation[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('::'))
    .map((line) => {
      const match = /^::(\w+)(?: ([^:]*))?::(.*)$/.exec(line);
      if (!match) throw new Error(`not a workflow command: ${line}`);
      const properties = Object.fromEntries((match[2] ?? '').split(',').filter(Boolean).map((p) => [p.slice(0, p.indexOf('=')), unescape(p.slice(p.indexOf('=') + 1))]));
      return { level: match[1] as string, properties, message: unescape(match[3] as string) };
    });
}

function expectNoSecret(...texts: string[]): void {
  for (const text of texts) {
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
  }
}

describe('escaping is @actions/core\'s', () => {
  it('encodes %, CR and LF in data, and also : and , in properties', () => {
    expect(escapeData('100%\r\nnext: a,b')).toBe('100%25%0D%0Anext: a,b');
    expect(escapeProperty('100%\r\nnext: a,b')).toBe('100%25%0D%0Anext%3A a%2Cb');
  });

  it('fences a query that contains backticks with a longer fence', () => {
    const block = fenced('SELECT 1 /* ``` */', 'sql');
    expect(block.startsWith('````sql\n')).toBe(true);
    expect(block.endsWith('\n````')).toBe(true);
  });
});

describe('--format github', () => {
  let result: CliResult;
  let files: { dir: string; env: Record<string, string> };

  beforeAll(async () => {
    files = githubEnv();
    // No --format: GITHUB_ACTIONS=true selects github.
    result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--table', 'other', ...FAST], files.env);
  });

  it('exits 1 and annotates the holder once, with every check that flagged it, one escaped command per line', () => {
    expect(result.code).toBe(1);
    const found = annotations(result.stdout);
    const about = found.filter((a) => a.properties.title?.includes(`pid ${holderPid}`));
    expect(about).toHaveLength(1);
    const locks = about[0];
    expect(locks?.level).toBe('error');
    expect(locks?.properties.title).toMatch(/\(idle-in-transaction, locks\)$/);
    expect(locks?.message).toContain(`pid ${holderPid}`);
    expect(locks?.message).toContain(`pg_terminate_backend(${holderPid})`);
    // The title holds ':' and is a property: it must arrive escaped, then decode intact.
    expect(result.stdout).toContain('title=pgpreflight%3A ');
    expect(locks?.properties.title).toMatch(/^pgpreflight: /);
  });

  it('writes verdict, failed-checks and report-path to $GITHUB_OUTPUT', () => {
    const outputs = parseOutputFile(readFileSync(files.env.GITHUB_OUTPUT as string, 'utf8'));
    expect(outputs.verdict).toBe('fail');
    expect(outputs['failed-checks']?.split(',').sort()).toEqual(['idle-in-transaction', 'locks']);
    const reportPath = outputs['report-path'] as string;
    expect(existsSync(reportPath)).toBe(true);
    expect(JSON.parse(readFileSync(reportPath, 'utf8'))).toMatchObject({ version: 2, verdict: 'fail', exitCode: 1 });
    const report = reportFrom(readFileSync(reportPath, 'utf8'));
    expect(report.checks.map((c) => c.id)).toEqual(['idle-in-transaction', 'locks']);
  });

  it('appends a Markdown job summary with the verdict, the checks table, pids, queries and remediation', () => {
    const summary = readFileSync(files.env.GITHUB_STEP_SUMMARY as string, 'utf8');
    expect(summary).toMatch(/^## pgpreflight: .*FAIL/m);
    expect(summary).toContain('| Status | Check | Summary |');
    expect(summary).toMatch(/\| ❌ FAIL \| `locks` \|/);
    expect(summary).toContain(`pid ${holderPid}`);
    expect(summary).toContain(`SELECT pg_terminate_backend(${holderPid});`);
    // The query, backticks and all, sits in a fence it cannot close.
    expect(summary).toContain(`\`\`\`\`sql\n    ${HOLDER_QUERY.split('\n')[0]}`);
  });

  it('an explicit --format beats GITHUB_ACTIONS=true', async () => {
    const json = await runMain(['check', '--url', cluster().url(), '--table', 'orders', '--format', 'json', ...FAST], githubEnv().env);
    expect((reportFrom(json.stdout)).verdict).toBe('fail');
  });

  it('never writes the password anywhere', () => {
    expectNoSecret(result.stdout, result.stderr, readFileSync(files.env.GITHUB_OUTPUT as string, 'utf8'), readFileSync(files.env.GITHUB_STEP_SUMMARY as string, 'utf8'), readFileSync(join(files.dir, 'pgpreflight-report.json'), 'utf8'));
  });
});

describe('--format markdown', () => {
  it('renders the verdict, a table row per check and the findings', async () => {
    const result = await runMain(['check', '--url', cluster().url(), '--table', 'orders', '--format', 'markdown', ...FAST], {});
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^## pgpreflight: ❌ FAIL: deploy blocked/);
    expect(result.stdout.match(/^\| (✅ PASS|⚠️ WARN|❌ FAIL) \| `[a-z-]+` \|/gm)).toHaveLength(2);
    expect(result.stdout).toContain(`pid ${holderPid}`);
    expect(result.stdout).toContain('app `fmt-holder`');
    expectNoSecret(result.stdout, result.stderr);
  });
});

interface TestCase {
  classname: string;
  name: string;
  failure: string | null;
  skipped: boolean;
}

function testcases(xml: string): TestCase[] {
  return [...xml.matchAll(/<testcase classname="([^"]*)" name="([^"]*)"[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)].map((m) => ({
    classname: m[1] as string,
    name: m[2] as string,
    failure: /<failure [^>]*>([\s\S]*?)<\/failure>/.exec(m[3] ?? '')?.[1] ?? null,
    skipped: /<skipped/.test(m[3] ?? ''),
  }));
}

describe('--format junit', () => {
  it('has one testcase per check and target; the blocked table fails with its findings', async () => {
    const result = await runMain(['check', '--url', cluster().url(), '--table', 'orders', '--table', 'other', '--format', 'junit', ...FAST], {});
    expect(result.code).toBe(1);
    expect(result.stdout.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="pgpreflight" tests="4" failures="2"')).toBe(true);
    const cases = testcases(result.stdout);
    expect(cases.map((c) => c.name).sort()).toEqual(['idle-in-transaction on public.orders', 'idle-in-transaction on public.other', 'locks on public.orders', 'locks on public.other']);
    const lockOnOrders = cases.find((c) => c.name === 'locks on public.orders');
    expect(lockOnOrders?.classname).toBe('pgpreflight.locks');
    expect(lockOnOrders?.failure).toContain(`pid ${holderPid}`);
    expect(lockOnOrders?.failure).toContain('&apos;100%, a:b&apos;');
    expect(cases.find((c) => c.name === 'locks on public.other')?.failure).toBeNull();
    expectNoSecret(result.stdout, result.stderr);
  });

  it('a warning is a failure only when --fail-on warn makes it block', async () => {
    const warnOnly = ['--table', 'orders', '--format', 'junit', '--only', 'locks', '--lock-warn', '100ms', '--lock-fail', '1h'];
    const [lenient, strict] = await Promise.all([
      runMain(['check', '--url', cluster().url(), ...warnOnly], {}),
      runMain(['check', '--url', cluster().url(), ...warnOnly, '--fail-on', 'warn'], {}),
    ]);
    expect([lenient.code, strict.code]).toEqual([0, 1]);
    expect(testcases(lenient.stdout).map((c) => c.failure)).toEqual([null]);
    expect(lenient.stdout).toContain(`<system-out>[warn] pid ${holderPid}`);
    expect(testcases(strict.stdout)[0]?.failure).toContain(`pid ${holderPid}`);
  });
});

describe('--format json', () => {
  it('prints the version-2 document for one database: the same shape as for several', async () => {
    const result = await runMain(['check', '--url', cluster().url(), '--table', 'orders', '--format', 'json', ...FAST], {});
    const document = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(document).sort()).toEqual(['blockedBy', 'databases', 'durationMs', 'exitCode', 'failOn', 'generatedAt', 'pgpreflight', 'verdict', 'version']);
    expect(document).toMatchObject({ version: 2, verdict: 'fail', exitCode: 1, failOn: 'fail', pgpreflight: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(Date.parse(document.generatedAt as string)).not.toBeNaN();
    expect(Object.keys(reportFrom(result.stdout)).sort()).toEqual(['checks', 'durationMs', 'notes', 'rootCauses', 'server', 'targets', 'verdict']);
    expectNoSecret(result.stdout, result.stderr);
  });
});

describe('secrets', () => {
  it('a failed login prints no password in any format', async () => {
    const wrong = cluster().url({ user: 'postgres', password: `${PASSWORD}-wrong` });
    const formats = ['table', 'json', 'github', 'markdown', 'junit'];
    // In this process (main() is the whole CLI but the bin wrapper): five spawns would cost more than the test.
    const runs = [];
    for (const format of formats) {
      const gh = githubEnv();
      runs.push({ format, gh, result: await runMain(['check', '--url', wrong, '--table', 'orders', '--format', format, ...FAST], gh.env) });
    }
    for (const { format, gh, result } of runs) {
      expect(result.code).toBe(2);
      expectNoSecret(result.stdout, result.stderr);
      expect(result.stdout + result.stderr).not.toContain(`${PASSWORD}-wrong`);
      if (format === 'github') {
        const outputs = parseOutputFile(readFileSync(gh.env.GITHUB_OUTPUT as string, 'utf8'));
        expect(outputs.verdict).toBe('error');
        expectNoSecret(readFileSync(gh.env.GITHUB_OUTPUT as string, 'utf8'), readFileSync(gh.env.GITHUB_STEP_SUMMARY as string, 'utf8'));
      }
    }
  });

  it('a password given through DATABASE_URL stays out of every output', async () => {
    const gh = githubEnv();
    const result = await runCli(['check', '--table', 'orders', '--format', 'github', ...FAST], { ...gh.env, DATABASE_URL: cluster().url() });
    expect(result.code).toBe(1);
    expectNoSecret(result.stdout, result.stderr, readFileSync(gh.env.GITHUB_STEP_SUMMARY as string, 'utf8'), readFileSync(gh.env.GITHUB_OUTPUT as string, 'utf8'));
  });
});

// Issue 13's staged incident, seen through every human format of the built CLI: a forgotten
// BEGIN holds orders (billing-worker), an ALTER TABLE queues behind it (deploy), and 40
// readers (web) queue behind the ALTER. Each view must lead with the root blocker and its one
// fix, list every session once (the 40 readers as one line), give no waiting session a kill
// fix, and fit where it is shown: `check` on 80- and 200-column terminals and `locks --watch`
// on an 80×40 one (a real pseudo-terminal: script(1) with stty), the Markdown job summary and
// the GitHub annotations within GitHub's limits. Assertions are on statuses, pids, fixes and
// sizes, not on wording.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateReport } from '../src/gate/gate.js';
import { CLI, runCli, taggedSession, useCluster, waitFor } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];
const READERS = 40;
let holder: number;
let alter: number;
const readers: number[] = [];

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const plain = (text: string): string => text.replace(ANSI, '').replace(/\r/g, '');
const width = (line: string): number => [...line].length;

/** The built CLI on a pseudo-terminal of the given size (script(1) with stty); stdout only, stderr dropped. */
function onTerminal(args: string[], columns: number, rows: number, timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols ${columns} rows ${rows}; ${quoted} 2>/dev/null`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', TERM: 'xterm-256color' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no exit within ${timeoutMs} ms: ${args.join(' ')}\n${out}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const url = (): string => cluster().url();

beforeAll(async () => {
  await cluster().sql(`CREATE TABLE orders (id bigserial PRIMARY KEY, total int);
    INSERT INTO orders (total) SELECT g FROM generate_series(1, 1000) g; ANALYZE orders;`);
  const forgotten = await taggedSession(cluster(), 'billing-worker', open);
  holder = forgotten.pid;
  await forgotten.client.query('BEGIN; SELECT * FROM orders WHERE id = 1');
  const deploy = await taggedSession(cluster(), 'deploy', open);
  alter = deploy.pid;
  await deploy.client.query('SET lock_timeout = 0');
  void deploy.client.query('ALTER TABLE orders ADD COLUMN note text').catch(() => undefined);
  await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'deploy' AND wait_event_type = 'Lock'");
  for (let i = 0; i < READERS; i += 1) {
    const reader = await taggedSession(cluster(), 'web', open);
    readers.push(reader.pid);
    void reader.client.query('SELECT count(*) FROM orders').catch(() => undefined);
  }
  await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'web' AND wait_event_type = 'Lock' HAVING count(*) = $1", [READERS]);
}, 120_000);

afterAll(async () => {
  await Promise.all(open.map((c) => c.end().catch(() => undefined)));
});

/** No reader's pid, no cancel for anyone, the holder's pid once (its fix aside). */
function expectEverySessionOnce(text: string): void {
  for (const pid of readers) expect(text).not.toMatch(new RegExp(`\\b${pid}\\b`));
  expect(text).not.toContain('pg_cancel_backend');
  expect(text.match(new RegExp(`pid ${holder}\\b`, 'g'))?.length).toBe(1);
  expect(text.match(new RegExp(`pg_terminate_backend\\(${holder}\\)`, 'g'))?.length).toBe(1);
  // The ALTER is listed once; the readers' line may name it as what they queue behind.
  expect(text).toMatch(/\b1 × ALTER TABLE orders ADD COLUMN note text\b/);
  expect(text).toMatch(new RegExp(`\\b${READERS} × SELECT count\\(\\*\\) FROM orders\\b`));
  expect((text.match(/ALTER TABLE orders ADD COLUMN note text/g) ?? []).length).toBe(1);
}

describe('check, table', () => {
  it('on an 80×40 terminal: the whole picture on one screen, root blocker and fix first, no line wider than 80', async () => {
    const { code, out } = await onTerminal(['check', '--url', url(), '--table', 'orders'], 80, 40);
    expect(code).toBe(1);
    const lines = plain(out).trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(40);
    for (const line of lines) expect(width(line), line).toBeLessThanOrEqual(80);
    expect(lines[0]).toMatch(/^Verdict: FAIL/);
    const rootAt = lines.findIndex((l) => l.startsWith(`Root blocker: pid ${holder}`));
    const fixAt = lines.findIndex((l) => l.includes(`SELECT pg_terminate_backend(${holder});`));
    expect(rootAt).toBeGreaterThan(0);
    expect(fixAt).toBeGreaterThan(rootAt);
    expect(fixAt).toBeLessThan(15);
    expectEverySessionOnce(plain(out));
    // Status rows: failures before warnings before errors before the rest; passes on one line.
    const statuses = lines.map((l) => /^(FAIL|WARN|ERROR|PASS|SKIP) /.exec(l)?.[1]).filter(Boolean);
    const rank = ['FAIL', 'WARN', 'ERROR', 'PASS', 'SKIP'];
    expect(statuses.map((s) => rank.indexOf(s as string))).toEqual([...statuses.map((s) => rank.indexOf(s as string))].sort((a, b) => a - b));
    expect(lines.filter((l) => l.startsWith('PASS '))).toHaveLength(1);
  });

  it('on a 200-column terminal: laid out to the width, words never split', async () => {
    const { code, out } = await onTerminal(['check', '--url', url(), '--table', 'orders'], 200, 60);
    expect(code).toBe(1);
    const lines = plain(out).trimEnd().split('\n');
    for (const line of lines) expect(width(line)).toBeLessThanOrEqual(200);
    expect(Math.max(...lines.map(width))).toBeGreaterThan(100);
    // The readers' group fits on one line at this width.
    expect(lines.some((l) => l.includes(`${READERS} × SELECT count(*) FROM orders`) && /for AccessShareLock on \S*orders/.test(l))).toBe(true);
    expectEverySessionOnce(plain(out));
  });

  it('piped: no escape codes; --verbose lists every check', async () => {
    const [piped, verbose] = await Promise.all([
      runCli(['check', '--url', url(), '--table', 'orders']),
      runCli(['check', '--url', url(), '--table', 'orders', '--verbose']),
    ]);
    expect(piped.code).toBe(1);
    expect(piped.stdout).not.toMatch(ANSI);
    expectEverySessionOnce(piped.stdout);
    expect(verbose.stdout.split('\n').filter((l) => /^PASS +[a-z-]+ /.test(l)).length).toBeGreaterThan(3);
  });
});

describe('check, table and JSON agree', () => {
  it('every check named on a status line has that status in the JSON report', async () => {
    // Waits of a second or more make the load check warn about the same sessions the failing checks
    // flag: both statuses are then explained by the root blocker above.
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'web' AND wait_event_type = 'Lock' AND now() - query_start > interval '1.5 s'");
    const [table, json] = await Promise.all([
      runCli(['check', '--url', url(), '--table', 'orders']),
      runCli(['check', '--url', url(), '--table', 'orders', '--format', 'json']),
    ]);
    const statusOf = new Map((JSON.parse(json.stdout) as GateReport).databases[0]?.report?.checks.map((c) => [c.id, c.status.toUpperCase()]) ?? []);
    const named: [string, string][] = [];
    for (const line of table.stdout.split('\n')) {
      const grouped = /^(FAIL|WARN|ERROR) +([a-z-]+(?:, [a-z-]+)*): the sessions above/.exec(line);
      const row = /^(FAIL|WARN|ERROR|PASS|SKIP) +([a-z-]+) /.exec(line);
      if (grouped) for (const id of (grouped[2] as string).split(', ')) named.push([id, grouped[1] as string]);
      else if (row) named.push([row[2] as string, row[1] as string]);
    }
    expect(named).toContainEqual(['locks', 'FAIL']);
    expect(named).toContainEqual(['load', 'WARN']);
    for (const [id, status] of named) expect([id, status]).toEqual([id, statusOf.get(id)]);
  });
});

describe('check, JSON: the root cause as data', () => {
  it('one root with the ALTER and the 40 readers collapsed, no fix on any waiter, each with the checks that flagged it', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'orders', '--format', 'json']);
    const document = JSON.parse(result.stdout) as GateReport;
    const report = document.databases[0]?.report;
    expect(report?.rootCauses).toHaveLength(1);
    const root = report?.rootCauses[0];
    expect(root).toMatchObject({ pid: holder, application: 'billing-worker', state: 'idle in transaction', waiting: READERS + 1, remediation: { sql: `SELECT pg_terminate_backend(${holder});` } });
    expect(root?.holds).toEqual([{ lockType: 'relation', relation: expect.stringMatching(/orders$/), mode: 'AccessShareLock' }]);
    expect(root?.flaggedBy).toEqual(expect.arrayContaining(['idle-in-transaction', 'locks']));
    expect(root?.waiters.map((g) => [g.count, g.depth, g.application, g.blocking])).toEqual([
      [1, 1, 'deploy', READERS],
      [READERS, 2, 'web', 0],
    ]);
    expect(root?.waiters[0]?.pids).toEqual([alter]);
    expect([...(root?.waiters[1]?.pids ?? [])].sort()).toEqual([...readers].sort());
    expect(root?.waiters[1]?.behind).toEqual([alter]);
    expect(root?.waiters[1]?.flaggedBy).toContain('locks');
    const waiting = new Set([alter, ...readers]);
    const waiterFindings = report?.checks.flatMap((c) => c.findings).filter((f) => typeof f.pid === 'number' && waiting.has(f.pid)) ?? [];
    expect(waiterFindings.length).toBeGreaterThan(READERS);
    expect(waiterFindings.filter((f) => f.remediation)).toEqual([]);
  });
});

describe('locks', () => {
  it('plain: the root, its fix and the queue collapsed', async () => {
    const result = await runCli(['locks', '--url', url()]);
    expect(result.code).toBe(0);
    expectEverySessionOnce(result.stdout);
    expect(result.stdout).toMatch(new RegExp(`holds AccessShareLock on \\S*orders; ${READERS + 1} session`));
  });

  it('--watch on an 80×40 terminal: the alternate screen, every frame within 80×40 with the root and its fix at the top', async () => {
    const { code, out } = await onTerminal(['locks', '--url', url(), '--watch', '200ms', '--refreshes', '2'], 80, 40);
    expect(code).toBe(0);
    const enter = out.indexOf('\x1b[?1049h');
    const leave = out.indexOf('\x1b[?1049l');
    expect(enter).toBeGreaterThanOrEqual(0);
    expect(leave).toBeGreaterThan(enter);
    const frames = out.slice(enter, leave).split('\x1b[H\x1b[2J').slice(1);
    expect(frames).toHaveLength(2);
    for (const frame of frames) {
      const lines = plain(frame).split('\n');
      expect(lines.length).toBeLessThanOrEqual(40);
      for (const line of lines) expect(width(line)).toBeLessThanOrEqual(80);
      const rootAt = lines.findIndex((l) => l.startsWith(`Root blocker: pid ${holder}`));
      expect(rootAt).toBeGreaterThan(0);
      expect(rootAt).toBeLessThan(10);
      expect(lines.some((l) => l.includes(`SELECT pg_terminate_backend(${holder});`))).toBe(true);
      expectEverySessionOnce(plain(frame));
    }
    // What stays on the normal screen afterwards is one line, not a frame.
    expect(plain(out.slice(leave)).trim().split('\n')).toHaveLength(1);
  });

  it('--watch on a 60×12 terminal: the root and its fix stay, what does not fit is counted', async () => {
    const { out } = await onTerminal(['locks', '--url', url(), '--watch', '200ms', '--refreshes', '1'], 60, 12);
    const frame = plain(out.slice(out.indexOf('\x1b[H\x1b[2J'), out.indexOf('\x1b[?1049l')));
    const lines = frame.split('\n');
    expect(lines.length).toBeLessThanOrEqual(12);
    for (const line of lines) expect(width(line)).toBeLessThanOrEqual(60);
    expect(frame).toContain(`pid ${holder}`);
    expect(frame).toContain(`pg_terminate_backend(${holder})`);
    expect(lines.at(-1)).toMatch(/^… .*\d+ more waiting session/);
  });

  it.skipIf(!hasTmux())('--watch redraws at the new size when the terminal is resized', async () => {
    const name = `pgpreflight-i13-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', name, ...args], { encoding: 'utf8' });
    tmux('new-session', '-d', '-s', 'w', '-x', '80', '-y', '40', `NO_COLOR=1 ${process.execPath} ${CLI} locks --url ${url()} --watch 30s`);
    try {
      const screen = async (test: (text: string) => boolean): Promise<string> => {
        for (let i = 0; i < 200; i += 1) {
          const text = tmux('capture-pane', '-t', 'w', '-p');
          if (test(text)) return text;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`screen never matched:\n${tmux('capture-pane', '-t', 'w', '-p')}`);
      };
      await screen((t) => t.includes(`pg_terminate_backend(${holder})`));
      tmux('resize-window', '-t', 'w', '-x', '60', '-y', '12');
      // The next look is 30 s away: only a redraw on resize shows the smaller layout now.
      const small = await screen((t) => /^… /m.test(t));
      expect(small).toContain(`pg_terminate_backend(${holder})`);
      for (const line of small.split('\n')) expect(width(line)).toBeLessThanOrEqual(60);
    } finally {
      tmux('kill-server');
    }
  });
});

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('markdown and github', () => {
  it('the job summary: root blocker and fix on top, the queue in <details>, small', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-incident-'));
    const env = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: join(dir, 'summary.md'), GITHUB_OUTPUT: join(dir, 'output'), RUNNER_TEMP: dir };
    const result = await runCli(['check', '--url', url(), '--table', 'orders'], env);
    expect(result.code).toBe(1);
    const summary = readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8');
    expect(Buffer.byteLength(summary)).toBeLessThan(16 * 1024);
    const lines = summary.split('\n');
    expect(lines.length).toBeLessThan(80);
    const rootAt = lines.findIndex((l) => l.includes(`Root blocker: pid ${holder}`));
    expect(rootAt).toBeGreaterThan(0);
    expect(rootAt).toBeLessThan(6);
    expect(lines.findIndex((l) => l.includes(`SELECT pg_terminate_backend(${holder});`))).toBeLessThan(20);
    expect(summary).toMatch(/<details><summary>41 session\(s\) queued/);
    expect(summary).toMatch(new RegExp(`^\\| ${READERS} \\| \`SELECT count\\(\\*\\) FROM orders\``, 'm'));
    for (const pid of readers) expect(summary).not.toMatch(new RegExp(`\\b${pid}\\b`));
    expect(summary).not.toContain('pg_cancel_backend');

    // Annotations: one for the root blocker with its fix, all short, none about a reader.
    const annotations = result.stdout.split('\n').filter((l) => l.startsWith('::'));
    const roots = annotations.filter((a) => a.includes('root blocker'));
    expect(roots).toHaveLength(1);
    expect(roots[0]).toMatch(/^::error /);
    expect(roots[0]).toContain(`pg_terminate_backend(${holder})`);
    for (const a of annotations) expect(a.length).toBeLessThan(800);
    expect(annotations.filter((a) => a.startsWith('::error ')).length).toBeLessThanOrEqual(10);
    for (const pid of readers) expect(result.stdout).not.toMatch(new RegExp(`\\b${pid}\\b`));
  });

  it('--format markdown on stdout is the same summary', async () => {
    const result = await runCli(['check', '--url', url(), '--table', 'orders', '--format', 'markdown']);
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')[0]).toMatch(/^## pgpreflight: ❌ FAIL/);
    expect(result.stdout).toContain(`SELECT pg_terminate_backend(${holder});`);
  });
});

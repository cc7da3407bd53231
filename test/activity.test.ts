// `pgpreflight activity` on a real server, as a subprocess: an idle server reads as idle; a
// hot row updated by 20 sessions behind an idle-in-transaction holder reads as Lock with the
// statement on top; a role without pg_monitor counts the others' sessions as hidden; a CPU
// load reads as CPU; the live chart's frame fits an 80×24 pseudo-terminal.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, expectOneLineFailure, runCli, runMain, session, useCluster, waitFor } from './helpers.js';
import { findPgbench, startCpuLoad } from './support/pgbench.js';

const cluster = useCluster({ settings: { autovacuum: false } });
const open: pg.Client[] = [];
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

interface ActivityJson {
  aas: number;
  byClass: Record<string, number>;
  cpus: number | null;
  cpusSource: string;
  hidden: number;
  window: { samples: number; intervalMs: number };
  hypothesis: { kind: string; class: string | null; line: string };
  topWaitEvents: { class: string; event: string; share: number }[];
  topStatements: { query: string | null; share: number; classes: Record<string, number>; applications: { name: string }[]; users: { name: string }[] }[];
}

async function activityJson(args: string[], user?: string): Promise<ActivityJson> {
  const result = await runCli(['activity', '--url', cluster().url(user ? { user } : {}), '--format', 'json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ActivityJson;
}

/** Runs the CLI in a pseudo-terminal of the given size (script(1)) and returns what it drew. */
function inTerminal(args: string[], columns: number, rows: number, env: Record<string, string>): Promise<string> {
  const command = `stty cols ${columns} rows ${rows}; exec ${process.execPath} ${CLI} ${args.map((a) => `'${a}'`).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TERM: 'xterm-256color', ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${out}`))));
  });
}

/** The last frame drawn on the alternate screen: what was on it when the watch ended. */
function lastFrame(output: string): string[] {
  const screen = output.slice(output.lastIndexOf('\x1b[H\x1b[2J') + '\x1b[H\x1b[2J'.length, output.indexOf('\x1b[?1049l'));
  return screen.replace(/\r/g, '').split('\n');
}

beforeAll(async () => {
  await cluster().sql(`
    CREATE ROLE watcher LOGIN;
    CREATE TABLE hot (id int PRIMARY KEY, v int);
    INSERT INTO hot VALUES (1, 0);`);
});

afterAll(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

describe('activity', () => {
  it('an idle server reads as idle', async () => {
    const report = await activityJson(['--duration', '1s']);
    expect(report.hypothesis.kind).toBe('idle');
    expect(report.aas).toBeLessThan(0.1);
    expect(report.window.samples).toBeGreaterThanOrEqual(3);
    expect(report.cpus).toBeNull();
    expect(report.cpusSource).toBe('unknown');
  });

  it('refuses what it cannot do, in one line', async () => {
    expectOneLineFailure(await runMain(['activity', '--watch', '--format', 'markdown']), /markdown/);
    expectOneLineFailure(await runMain(['activity', '--interval', '1ms']), /--interval/);
    expectOneLineFailure(await runMain(['activity', '--cpus', 'four']), /--cpus/);
  });
});

describe('activity during a lock pile-up', () => {
  beforeAll(async () => {
    const holder = await session(cluster(), 'act-holder');
    open.push(holder);
    await holder.query('BEGIN; UPDATE hot SET v = v + 1 WHERE id = 1');
    for (let i = 0; i < 20; i += 1) {
      const waiter = await session(cluster(), 'act-pile-up');
      open.push(waiter);
      void waiter.query('UPDATE hot SET v = v + 1 WHERE id = 1').catch(() => undefined);
    }
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'act-pile-up' AND wait_event_type = 'Lock' HAVING count(*) = 20");
  });

  it('Lock is the top class, the UPDATE the top statement with its application, and the hypothesis says contention', async () => {
    const report = await activityJson(['--duration', '1s', '--cpus', '2']);
    expect(report.hypothesis).toMatchObject({ kind: 'contention', class: 'Lock' });
    expect(report.byClass.Lock).toBeGreaterThanOrEqual(19);
    expect(report.topWaitEvents[0]?.class).toBe('Lock');
    const top = report.topStatements[0];
    expect(top?.query).toBe('UPDATE hot SET v = v + ? WHERE id = ?');
    expect(top?.classes.Lock).toBe(1);
    expect(top?.applications[0]?.name).toBe('act-pile-up');
    expect(top?.users[0]?.name).toBe('postgres');
    expect(report).toMatchObject({ cpus: 2, cpusSource: '--cpus', hidden: 0 });
  });

  it('a role without pg_monitor counts the other roles\' sessions as hidden and does not call the server idle', async () => {
    const report = await activityJson(['--duration', '500ms'], 'watcher');
    expect(report.hidden).toBeGreaterThanOrEqual(21);
    expect(report.hypothesis.kind).toBe('hidden');
    expect(report.aas).toBe(0);
  });

  it('the table and the Markdown summary carry the same reading, plain when piped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-activity-'));
    writeFileSync(join(dir, 'pgpreflight.config.json'), JSON.stringify({ thresholds: { load: { cpus: 3 } } }));
    const table = await runCli(['activity', '--url', cluster().url(), '--duration', '300ms', '--config', join(dir, 'pgpreflight.config.json')]);
    expect(table.code).toBe(0);
    expect(table.stdout).not.toMatch(ANSI);
    expect(table.stdout).toMatch(/^Hypothesis: mostly Lock/m);
    expect(table.stdout).toMatch(/3 CPUs \(.*thresholds\.load\.cpus\)/);
    const markdown = await runCli(['activity', '--url', cluster().url(), '--duration', '300ms', '--format', 'markdown']);
    expect(markdown.stdout).toMatch(/^\| Lock \| \d+\.\d \| 100% \|/m);
    expect(markdown.stdout).toMatch(/^\*\*mostly Lock/m);
  });

  it('--watch piped: a plain line per second; --format json: one document per second', async () => {
    const plain = await runCli(['activity', '--url', cluster().url(), '--watch', '--duration', '2s']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(ANSI);
    const lines = plain.stdout.trim().split('\n');
    expect(lines[0]?.split(/\s+/)).toEqual(expect.arrayContaining(['AAS', 'CPU', 'Lock', 'hidden']));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    const json = await runCli(['activity', '--url', cluster().url(), '--watch', '--duration', '2s', '--format', 'json']);
    const seconds = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { byClass: Record<string, number>; samples: number });
    expect(seconds.length).toBeGreaterThanOrEqual(1);
    expect(seconds.every((s) => s.byClass.Lock !== undefined && s.samples > 0)).toBe(true);
    expect(Math.max(...seconds.map((s) => s.byClass.Lock ?? 0))).toBeGreaterThanOrEqual(19);
  });

  it('--watch on an 80×24 terminal: every frame fits, glyphs without colour, colours with it, the summary stays after', async () => {
    const output = await inTerminal(['activity', '--url', cluster().url(), '--watch', '--duration', '3s', '--cpus', '2'], 80, 24, { NO_COLOR: '1' });
    const frame = lastFrame(output);
    expect(frame.length).toBeLessThanOrEqual(24);
    for (const line of frame) expect([...line.replace(ANSI, '')].length).toBeLessThanOrEqual(80);
    const text = frame.join('\n');
    expect(text).not.toMatch(/\x1b\[3\dm/);
    expect(text).toMatch(/L Lock/);
    expect(text).toMatch(/LL/);
    expect(text).toMatch(/─ 2 CPUs/);
    expect(text).toMatch(/^mostly Lock/m);
    // After the alternate screen: the summary of what was watched.
    expect(output.slice(output.indexOf('\x1b[?1049l'))).toMatch(/Hypothesis: mostly Lock/);

    const colored = lastFrame(await inTerminal(['activity', '--url', cluster().url(), '--watch', '--duration', '2s', '--cpus', '2'], 80, 24, {}));
    expect(colored.length).toBeLessThanOrEqual(24);
    for (const line of colored) expect([...line.replace(ANSI, '')].length).toBeLessThanOrEqual(80);
    expect(colored.join('\n')).toContain('\x1b[31m█');
  });

  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
    await waitFor(cluster(), "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name IN ('act-pile-up', 'act-holder'))");
  });
});

describe('activity under CPU load', () => {
  it('pgbench -c 4 running a select-only statement reads as CPU', async (context) => {
    const pgbench = findPgbench(cluster());
    if (!pgbench) {
      console.log('pgbench not found (PGBENCH, PATH, pg_config --bindir): CPU load test skipped');
      context.skip();
      return;
    }
    const load = startCpuLoad(pgbench, cluster(), 4, 'act-cpu');
    try {
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'act-cpu' HAVING count(*) = 4");
      const report = await activityJson(['--duration', '2s', '--cpus', '1']);
      expect(report.hypothesis.class).toBe('CPU');
      expect(report.topWaitEvents[0]?.class).toBe('CPU');
      expect(report.topStatements[0]?.applications[0]?.name).toBe('act-cpu');
      expect(report.topStatements[0]?.query).toBe('SELECT sum(g * g) FROM generate_series(?, ?) g');
    } finally {
      await load.stop();
    }
  });
});

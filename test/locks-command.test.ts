// `pgpreflight locks`: the blocking tree, --watch and --terminate, against real
// lock queues on a throwaway server.
import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/cli.js';
import type { Io } from '../src/cli/commands/types.js';
import type { BlockingTree, TreeNode } from '../src/incident/blocking-tree.js';
import { CLI, runCli, sleep, taggedSession, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const cluster = useCluster({ settings: { max_prepared_transactions: 5 } });
const open: pg.Client[] = [];
const pending: Promise<unknown>[] = [];

afterEach(async () => {
  await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'lk-%'");
  await Promise.allSettled(pending.splice(0));
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await cluster().sql("SELECT gid FROM pg_prepared_xacts").then(async ({ rows }) => {
    for (const row of rows as { gid: string }[]) await cluster().sql(`ROLLBACK PREPARED '${row.gid}'`);
  });
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

/** Starts a statement that will wait for a lock, and returns once it does. */
async function queued(app: string, sql: string): Promise<{ pid: number; done: Promise<unknown> }> {
  const { client, pid } = await tagged(app);
  const done = client.query(sql);
  done.catch(() => undefined);
  pending.push(done);
  await waitUntilWaiting(cluster(), app);
  return { pid, done };
}

/** An idle-in-transaction holder of orders, an ALTER queued behind it and two readers behind the ALTER. */
async function stageOrdersQueue(): Promise<{ holder: number; alter: number; readers: number[]; alterDone: Promise<unknown> }> {
  const holder = await tagged('lk-holder');
  await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
  const alter = await queued('lk-alter', 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text');
  const r1 = await queued('lk-reader-1', 'SELECT count(*) FROM orders');
  const r2 = await queued('lk-reader-2', 'SELECT count(*) FROM orders');
  return { holder: holder.pid, alter: alter.pid, readers: [r1.pid, r2.pid], alterDone: alter.done };
}

/** A running statement holding an exclusive lock on other, with a reader queued behind it. */
async function stageActiveRoot(): Promise<{ active: number; waiter: number }> {
  const active = await tagged('lk-active');
  await active.client.query('BEGIN; LOCK TABLE other IN ACCESS EXCLUSIVE MODE');
  const sleeping = active.client.query('SELECT pg_sleep(60)');
  sleeping.catch(() => undefined);
  pending.push(sleeping);
  await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'lk-active' AND state = 'active'");
  const waiter = await queued('lk-other-waiter', 'SELECT count(*) FROM other');
  return { active: active.pid, waiter: waiter.pid };
}

function treeOf(stdout: string): BlockingTree {
  return JSON.parse(stdout) as BlockingTree;
}

const rootOf = (tree: BlockingTree, pid: number): TreeNode | undefined => tree.roots.find((r) => r.pid === pid);

async function alive(pid: number): Promise<boolean> {
  const { rows } = await cluster().sql('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
  return rows.length > 0;
}

/** An in-process Io whose streams can pretend to be a terminal. */
function fakeIo(options: { tty: boolean; input?: string }): { io: Io; output: () => string; stdout: PassThrough & { columns: number; rows: number } } {
  let text = '';
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty, columns: 100, rows: 40 });
  stdout.on('data', (d: Buffer) => (text += d.toString()));
  const stderr = Object.assign(new PassThrough(), { isTTY: options.tty });
  stderr.on('data', (d: Buffer) => (text += d.toString()));
  const stdin = Object.assign(new PassThrough(), { isTTY: options.tty });
  stdin.end(options.input ?? '');
  return { io: { stdout, stderr, stdin, env: { NO_COLOR: '1' } }, output: () => text, stdout };
}

describe('pgpreflight locks', () => {
  beforeAll(async () => {
    await cluster().sql(
      'CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE other (id int); CREATE TABLE prep_t (id int PRIMARY KEY, v int);' +
        'INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; INSERT INTO prep_t VALUES (1, 0); ANALYZE orders, other, prep_t',
    );
  });

  it('shows no queue on a quiet server', async () => {
    const result = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--format', 'json']);
    expect(result.code).toBe(0);
    const tree = treeOf(result.stdout);
    expect(tree.roots).toEqual([]);
    expect(tree.waiting).toBe(0);
    expect(tree.tables).toEqual(['public.orders']);
  });

  it('puts the idle-in-transaction root first with everything queued behind it, and the exact fix', async () => {
    const staged = await stageOrdersQueue();
    const other = await stageActiveRoot();
    const result = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--format', 'json']);
    expect(result.code).toBe(0);
    const tree = treeOf(result.stdout);
    // Only the tree that touches orders, not the one on other.
    expect(tree.roots.map((r) => r.pid)).toEqual([staged.holder]);
    const root = tree.roots[0] as TreeNode;
    expect(root).toMatchObject({ kind: 'session', state: 'idle in transaction', application: 'lk-holder', user: 'postgres', waitingBehind: 3, waitingFor: null });
    expect(root.remediation?.sql).toBe(`SELECT pg_terminate_backend(${staged.holder});`);
    expect(root.oldestWaitSeconds).toBeGreaterThanOrEqual(0);
    expect(root.blocks.map((b) => b.pid)).toEqual([staged.alter]);
    const alter = root.blocks[0] as TreeNode;
    expect(alter.waitingFor).toMatchObject({ mode: 'AccessExclusiveLock', lockType: 'relation', relation: 'orders' });
    expect(alter.query).toContain('ALTER TABLE orders');
    expect(alter.remediation).toBeNull();
    expect(alter.blocks.map((b) => b.pid).sort()).toEqual([...staged.readers].sort());
    expect(alter.blocks.every((b) => b.waitingFor?.mode === 'AccessShareLock')).toBe(true);

    const whole = treeOf((await runCli(['locks', '--url', cluster().url(), '--format', 'json'])).stdout);
    expect(whole.tables).toEqual([]);
    expect(rootOf(whole, staged.holder)?.waitingBehind).toBe(3);
    // A running statement is cancelled, not terminated.
    expect(rootOf(whole, other.active)).toMatchObject({ state: 'active', waitingBehind: 1 });
    expect(rootOf(whole, other.active)?.remediation?.sql).toBe(`SELECT pg_cancel_backend(${other.active});`);
    expect(rootOf(whole, other.active)?.blocks[0]).toMatchObject({ pid: other.waiter, waitingFor: { relation: 'other' } });
    expect(whole.roots[0]?.pid).toBe(staged.holder);

    const text = await runCli(['locks', '--url', cluster().url(), '--table', 'orders']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`SELECT pg_terminate_backend(${staged.holder});`);
    // Every session once: the ALTER on its line, the readers behind it on theirs.
    expect(text.stdout).toMatch(/^ {2}↳ +1 × ALTER TABLE orders/m);
    expect(text.stdout.match(new RegExp(`behind pid ${staged.alter}\\b`, 'g'))?.length).toBe(2);
    expect(text.stdout).not.toContain('pg_cancel_backend');
  });

  it('waiters running one statement with other values are one group, shown by its shape', async () => {
    const holder = await tagged('lk-holder');
    await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await queued('lk-alter', 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS note text');
    const readers = [];
    for (const id of [7, 42, 99]) readers.push(await queued('lk-reader', `SELECT total FROM orders WHERE id = ${id} AND total > -${id}`));
    const result = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--format', 'json']);
    const [root] = treeOf(result.stdout).rootCauses;
    const group = root?.waiters.find((g) => g.application === 'lk-reader');
    expect(group).toMatchObject({ count: 3, query: 'SELECT total FROM orders WHERE id = ? AND total > ?' });
    expect([...(group?.pids ?? [])].sort()).toEqual(readers.map((r) => r.pid).sort());
    const text = await runCli(['locks', '--url', cluster().url(), '--table', 'orders']);
    expect(text.stdout).toMatch(/3 × SELECT total FROM orders WHERE id = \? AND total > \?/);
  });

  it('names the prepared transaction a waiter is blocked by (pg_blocking_pids says 0)', async () => {
    const preparer = await tagged('lk-preparer');
    await preparer.client.query("BEGIN; UPDATE prep_t SET v = v + 1 WHERE id = 1; PREPARE TRANSACTION 'lk-gid'");
    const waiter = await queued('lk-prep-waiter', 'ALTER TABLE prep_t ADD COLUMN IF NOT EXISTS y int');
    for (const args of [['--table', 'prep_t'], []]) {
      const tree = treeOf((await runCli(['locks', '--url', cluster().url(), '--format', 'json', ...args])).stdout);
      const root = tree.roots.find((r) => r.kind === 'prepared');
      expect(root).toMatchObject({ kind: 'prepared', pid: null, gid: 'lk-gid', state: 'prepared', waitingBehind: 1 });
      expect(root?.remediation?.sql).toContain("ROLLBACK PREPARED 'lk-gid'");
      expect(root?.remediation?.sql).toContain("COMMIT PREPARED 'lk-gid'");
      expect(root?.blocks[0]).toMatchObject({ pid: waiter.pid, waitingFor: { mode: 'AccessExclusiveLock', relation: 'prep_t' } });
    }
  });

  it('--watch --format json emits one document per refresh and ends cleanly on Ctrl-C', async () => {
    const staged = await stageOrdersQueue();
    const child = spawn(process.execPath, [CLI, 'locks', '--url', cluster().url(), '--table', 'orders', '--watch', '200ms', '--format', 'json'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (stdout.split('\n').filter(Boolean).length < 3 && Date.now() < deadline) await sleep(50);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const docs = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as BlockingTree);
    expect(docs.length).toBeGreaterThanOrEqual(3);
    for (const doc of docs) expect(doc.roots[0]).toMatchObject({ pid: staged.holder, waitingBehind: 3 });
  });

  it('--watch prints plain snapshots when not on a terminal, and redraws with sparklines on one', async () => {
    await stageOrdersQueue();
    const plain = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--watch', '100ms', '--refreshes', '2']);
    expect(plain.code).toBe(0);
    expect(plain.stdout.match(/^Blocking tree/gm)?.length).toBe(2);
    expect(plain.stdout).not.toContain('\x1b[');

    const { io, output } = fakeIo({ tty: true });
    const code = await main(['locks', '--url', cluster().url(), '--table', 'orders', '--watch', '100ms', '--refreshes', '3'], io);
    expect(code).toBe(0);
    expect(output().split('\x1b[H\x1b[2J').length - 1).toBe(3);
    expect(output()).toMatch(/queue\s+[▁▂▃▄▅▆▇█]{3} 3 waiting/);
    // On the alternate screen, left at the end: no frame stays in the scrollback.
    expect(output().startsWith('\x1b[?1049h')).toBe(true);
    expect(output()).toContain('\x1b[?1049l');
  });

  it('--watch redraws at once, at the new size, when the terminal is resized', async () => {
    await stageOrdersQueue();
    const { io, output, stdout } = fakeIo({ tty: true });
    const frames = (): string[] => output().split('\x1b[H\x1b[2J').slice(1);
    const running = main(['locks', '--url', cluster().url(), '--table', 'orders', '--watch', '3s', '--refreshes', '2'], io);
    while (frames().length < 1) await sleep(20);
    Object.assign(stdout, { columns: 50, rows: 10 });
    stdout.emit('resize');
    expect(frames()).toHaveLength(2);
    const small = (frames()[1] as string).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split('\n');
    expect(small.length).toBeLessThanOrEqual(10);
    for (const line of small) expect([...line].length).toBeLessThanOrEqual(50);
    expect(await running).toBe(0);
  });

  it('--terminate refuses without a terminal and without --yes, and leaves young or running roots alone', async () => {
    const staged = await stageOrdersQueue();
    const other = await stageActiveRoot();
    await sleep(300);
    const refused = await runCli(['locks', '--url', cluster().url(), '--terminate', 'idle', '--older-than', '100ms']);
    expect(refused.code).toBe(2);
    expect(await alive(staged.holder)).toBe(true);

    const tooYoung = await runCli(['locks', '--url', cluster().url(), '--terminate', 'idle', '--older-than', '1h', '--yes']);
    expect(tooYoung.code).toBe(0);
    expect(await alive(staged.holder)).toBe(true);

    const idle = await runCli(['locks', '--url', cluster().url(), '--terminate', 'idle', '--older-than', '100ms', '--yes']);
    expect(idle.code).toBe(0);
    expect(idle.stdout).toContain(`terminated pid ${staged.holder}`);
    expect(await alive(staged.holder)).toBe(false);
    // The queue drains: the ALTER gets its lock and finishes.
    await staged.alterDone;
    // The running statement's session is not idle: left alone by --terminate idle.
    expect(await alive(other.active)).toBe(true);
    expect(idle.stdout).not.toContain(`terminated pid ${other.active}`);

    const all = await runCli(['locks', '--url', cluster().url(), '--terminate', 'all', '--older-than', '100ms', '--yes']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain(`terminated pid ${other.active}`);
    expect(await alive(other.active)).toBe(false);
    expect(await alive(other.waiter)).toBe(true);
  });

  it('without pg_monitor: shows the hidden root by pid and role, and --terminate leaves it alone', async () => {
    await cluster().sql("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lk_plain') THEN CREATE ROLE lk_plain LOGIN; END IF; END $$");
    const staged = await stageOrdersQueue();
    await sleep(300);
    const url = cluster().url({ user: 'lk_plain' });
    const tree = treeOf((await runCli(['locks', '--url', url, '--table', 'orders', '--format', 'json'])).stdout);
    expect(tree.roots[0]).toMatchObject({ pid: staged.holder, hidden: true, state: null, user: 'postgres', query: null, waitingBehind: 3 });
    const result = await runCli(['locks', '--url', url, '--table', 'orders', '--terminate', 'all', '--older-than', '100ms', '--yes']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`left alone: pid ${staged.holder}`);
    expect(result.stdout).not.toContain('terminated pid');
    expect(await alive(staged.holder)).toBe(true);
  });

  it('--terminate asks on a terminal and acts on yes', async () => {
    const staged = await stageOrdersQueue();
    await sleep(300);
    const declined = fakeIo({ tty: true, input: 'n\n' });
    expect(await main(['locks', '--url', cluster().url(), '--table', 'orders', '--terminate', 'idle', '--older-than', '100ms'], declined.io)).toBe(1);
    expect(await alive(staged.holder)).toBe(true);
    const accepted = fakeIo({ tty: true, input: 'y\n' });
    expect(await main(['locks', '--url', cluster().url(), '--table', 'orders', '--terminate', 'idle', '--older-than', '100ms'], accepted.io)).toBe(0);
    expect(accepted.output()).toContain(`terminated pid ${staged.holder}`);
    expect(await alive(staged.holder)).toBe(false);
  });
});

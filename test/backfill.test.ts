// `pgpreflight backfill` and `wait-for-replicas` against a real primary with a streaming
// standby, the built CLI run as a subprocess. Each scenario has its own table, so the
// scenarios share one cluster and stay independent.
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForReplicas } from '../src/index.js';
import type { Cluster } from '../src/clusters/cluster.js';
import { findPgBouncer, startPgBouncer, type PgBouncer } from './support/pgbouncer.js';
import { CLI, expectOneLineFailure, runCli, runMain, taggedSession, useCluster, waitFor, type CliResult } from './helpers.js';

const cluster = useCluster();
let standby: Cluster;
const open: pg.Client[] = [];

type Event = Record<string, unknown> & { event: string };

interface LiveCli {
  child: ChildProcess;
  events: Event[];
  stderr: () => string;
  /** Resolves with the first event matching, polling the NDJSON read so far. */
  event: (match: (e: Event) => boolean, what: string) => Promise<Event>;
  done: Promise<CliResult>;
}

/** Starts the built CLI with --format json and collects its NDJSON events as they come. */
function startCli(args: string[]): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args, '--format', 'json'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: Event[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString();
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') events.push(JSON.parse(line) as Event);
  });
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  let exited = false;
  void done.then(() => (exited = true));
  const event = async (match: (e: Event) => boolean, what: string): Promise<Event> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const found = events.find(match);
      if (found) return found;
      if (exited || Date.now() > deadline) throw new Error(`no ${what} event; events: ${events.map((e) => e.event).join(', ')}; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, events, stderr: () => stderr, event, done };
}

/** A --set whose UPDATE waits while the test holds advisory lock 424242, its table locks already taken. */
const GATED_SET = 'v = (SELECT 1 FROM pg_advisory_xact_lock_shared(424242)), touched = touched + 1';
const BATCH_AT_GATE = "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgpreflight-backfill' AND wait_event_type = 'Lock' AND wait_event = 'advisory'";

const count = async (sql: string): Promise<number> => Number((await cluster().sql<{ n: string }>(sql)).rows[0]?.n);

beforeAll(async () => {
  // Status every second instead of ten: the primary learns of replay progress from these.
  standby = await cluster().startStandby({ settings: { wal_receiver_status_interval: '1s' } });
  await cluster().sql(`
    CREATE TABLE orders (id bigint PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0, pad text);
    INSERT INTO orders (id, pad) SELECT g, 'x' FROM generate_series(1, 200000) g;
    CREATE TABLE queued (id int PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0);
    INSERT INTO queued (id) SELECT generate_series(1, 4000);
    CREATE TABLE prequeued (id int PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0);
    INSERT INTO prequeued (id) SELECT generate_series(1, 100);
    CREATE TABLE interrupted (id int PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0);
    INSERT INTO interrupted (id) SELECT generate_series(1, 3000);
    CREATE TABLE slow (id int PRIMARY KEY, v int, touched int NOT NULL DEFAULT 0);
    INSERT INTO slow (id) SELECT generate_series(1, 200);
    CREATE TABLE regions (region text, id int, v int, touched int NOT NULL DEFAULT 0, PRIMARY KEY (region, id));
    INSERT INTO regions (region, id) SELECT 'r' || (g % 3), g FROM generate_series(1, 3000) g;
    CREATE TABLE keyless (id int, email text NOT NULL UNIQUE, v int);
    INSERT INTO keyless SELECT g, 'u' || g || '@example.com' FROM generate_series(1, 500) g;
    CREATE TABLE parted (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
    CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (1) TO (1000);
    CREATE TABLE nothing_unique (id int, v int);
    INSERT INTO nothing_unique SELECT generate_series(1, 10);
    ANALYZE;
  `);
});

afterAll(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

describe('backfill', () => {
  it('--dry-run prints the plan: the first batch reads a range of the primary key, nothing changes', async () => {
    const result = await runCli(['backfill', '--url', cluster().url(), '--table', 'orders', '--set', 'v = 1', '--where', 'v IS NULL', '--batch-size', '5000', '--dry-run', '--format', 'json']);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout) as Record<string, any>;
    expect(plan).toMatchObject({ table: 'public.orders', key: ['id'], keySource: 'primary key orders_pkey', estimatedRows: 200000, estimatedBatches: 40, blockers: [] });
    expect(plan.firstBatch).toMatchObject({ from: null, to: '5000', params: ['5000'] });
    expect(plan.scan).toMatchObject({ ok: true });
    expect(plan.keyScan).toMatchObject({ ok: true });
    const explain = (plan.explain as string[]).join('\n');
    expect(explain).toMatch(/Index Scan using orders_pkey on orders/);
    expect(explain).toMatch(/Index Cond: \(id <= '5000'::bigint\)/);
    expect(explain).not.toMatch(/Seq Scan/);
    expect(plan.replicas).toHaveLength(1);
    expect(plan.replicas[0]).toMatchObject({ kind: 'physical', state: 'streaming', notWatched: null });
    expect(plan.lockKey).toEqual([1885827174, Number((await cluster().sql("SELECT 'orders'::regclass::oid AS oid")).rows[0]?.oid)]);
    expect(await count('SELECT count(*) AS n FROM orders WHERE v IS NOT NULL')).toBe(0);
  });

  it('pauses while replay is paused on the standby, stays paused, then completes with every row updated once', async () => {
    await standby.sql('SELECT pg_wal_replay_pause()');
    await waitFor(standby, "SELECT 1 WHERE pg_get_wal_replay_pause_state() = 'paused'");
    const maxLag = 4 * 1024 * 1024;
    const run = startCli(['backfill', '--url', cluster().url(), '--table', 'orders', '--set', 'v = 1, touched = touched + 1', '--where', 'v IS NULL', '--batch-size', '2000', '--max-lag', '4MB', '--progress-interval', '200ms']);
    const paused = await run.event((e) => e.event === 'pause' && e.reason === 'replica-lag', 'pause');
    expect(String(paused.detail)).toMatch(/standby_\d+: replay lag .* > --max-lag 4\.0 MB/);
    const batchesBefore = run.events.filter((e) => e.event === 'batch');
    const updatedAtPause = await count('SELECT count(*) AS n FROM orders WHERE v IS NOT NULL');
    expect(updatedAtPause).toBe(batchesBefore.at(-1)?.rowsUpdated);
    expect(updatedAtPause).toBeLessThan(200000);
    // Stays stopped: three more looks at the replica, and not one more row.
    const pauseIndex = run.events.indexOf(paused);
    await run.event((e) => e.event === 'waiting' && run.events.indexOf(e) > pauseIndex + 2, 'third waiting');
    expect(await count('SELECT count(*) AS n FROM orders WHERE v IS NOT NULL')).toBe(updatedAtPause);
    expect(run.events.filter((e) => e.event === 'batch')).toHaveLength(batchesBefore.length);

    // The throttle on its own, from the CLI and the library, sees the same lag.
    const cli = await runCli(['wait-for-replicas', '--url', cluster().url(), '--max-lag', '4MB', '--timeout', '500ms', '--interval', '100ms']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/^timed out after .*: standby_\d+: replay lag/);
    const library = await waitForReplicas({ url: cluster().url(), maxLag: '4MB', timeout: 300, interval: 100 });
    expect(library).toMatchObject({ ok: false, aborted: false });
    expect(library.verdict.lagging[0]?.reason).toMatch(/> --max-lag/);

    await standby.sql('SELECT pg_wal_replay_resume()');
    const result = await run.done;
    expect(result.code).toBe(0);
    const batches = run.events.filter((e) => e.event === 'batch');
    // Never a batch started while a replica was over the limit.
    for (const batch of batches) expect(Number(batch.lagBytes)).toBeLessThanOrEqual(maxLag);
    const summary = run.events.at(-1);
    expect(summary).toMatchObject({ event: 'summary', status: 'done', rowsUpdated: 200000, resume: null });
    expect((summary?.pauses as Record<string, number>)['replica-lag']).toBeGreaterThanOrEqual(1);
    expect(await count('SELECT count(*) AS n FROM orders WHERE touched <> 1 OR v IS NULL')).toBe(0);

    const caughtUp = await runCli(['wait-for-replicas', '--url', cluster().url(), '--max-lag', '4MB', '--timeout', '60s', '--interval', '100ms', '--format', 'json']);
    expect(caughtUp.code).toBe(0);
    expect(JSON.parse(caughtUp.stdout)).toMatchObject({ status: 'ok', lagging: [] });
  });

  it('lets a queued ALTER TABLE through, and a second backfill of the table is refused or waits its turn', async () => {
    const args = ['backfill', '--url', cluster().url(), '--table', 'queued', '--where', 'v IS NULL', '--batch-size', '1000', '--lock-timeout', '2min', '--statement-timeout', '2min'];
    // Each batch's UPDATE waits at the gate the test holds, with its locks on the table taken.
    const gate = await taggedSession(cluster(), 'test-gate', open);
    await gate.client.query('SELECT pg_advisory_lock(424242)');
    const run = startCli([...args, '--set', GATED_SET]);
    await waitFor(cluster(), BATCH_AT_GATE);
    const backfillPid = Number((await cluster().sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgpreflight-backfill'")).rows[0]?.pid);

    const second = await runCli([...args, '--set', 'touched = touched + 100']);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`another backfill of public\\.queued holds its advisory lock .*pid ${backfillPid} \\(app pgpreflight-backfill`));
    expect(second.stdout).toContain('nothing was changed');
    const waiting = startCli([...args, '--set', 'touched = touched + 100', '--wait-for-lock', '2min']);
    await waiting.event((e) => e.event === 'pause' && e.reason === 'advisory-lock', 'pause for the advisory lock');

    const { client: deploy, pid: deployPid } = await taggedSession(cluster(), 'deploy-alter', open);
    await deploy.query("SET lock_timeout = '2min'");
    await deploy.query('ALTER TABLE queued ADD COLUMN note text');
    await run.event((e) => e.event === 'yield', 'yield');
    await gate.client.query('SELECT pg_advisory_unlock(424242)');

    const result = await run.done;
    expect(result.code).toBe(0);
    const yielded = run.events.find((e) => e.event === 'yield');
    expect(yielded?.waiters).toEqual([expect.objectContaining({ pid: deployPid, application: 'deploy-alter', mode: 'AccessExclusiveLock', relation: 'queued' })]);
    expect(run.events.at(-1)).toMatchObject({ event: 'summary', status: 'done', rowsUpdated: 4000, yields: 1 });

    const waited = await waiting.done;
    expect(waited.code).toBe(0);
    expect(waiting.events.at(-1)).toMatchObject({ event: 'summary', status: 'done', rowsUpdated: 0, pauses: expect.objectContaining({ 'advisory-lock': 1 }) });
    expect(await count('SELECT count(*) AS n FROM queued WHERE touched <> 1')).toBe(0);
  });

  it('does not start while an ALTER TABLE waits for the table, and starts once it is done', async () => {
    const { client: reader } = await taggedSession(cluster(), 'prequeued-reader', open);
    await reader.query('BEGIN; SELECT * FROM prequeued LIMIT 1');
    const { client: deploy, pid: deployPid } = await taggedSession(cluster(), 'prequeued-alter', open);
    const altered = deploy.query("SET lock_timeout = '2min'; ALTER TABLE prequeued ADD COLUMN note text").then(() => 'altered', (error: Error) => error.message);
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'prequeued-alter' AND wait_event_type = 'Lock'");
    const dry = await runCli(['backfill', '--url', cluster().url(), '--table', 'prequeued', '--set', 'v = 1', '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(new RegExp(`A run would not start now: pid ${deployPid} \\(app prequeued-alter, AccessExclusiveLock.* waits for public\\.prequeued`));
    const run = startCli(['backfill', '--url', cluster().url(), '--table', 'prequeued', '--set', 'v = 1, touched = touched + 1', '--where', 'v IS NULL', '--lock-timeout', '2min']);
    const paused = await run.event((e) => e.event === 'pause', 'pause');
    expect(paused).toMatchObject({ reason: 'lock-queue', waiters: [expect.objectContaining({ pid: deployPid, application: 'prequeued-alter', mode: 'AccessExclusiveLock' })] });
    // (Reading the table here would queue behind the ALTER too.)
    expect(run.events.filter((e) => e.event === 'batch' || e.event === 'start')).toEqual([]);
    await reader.query('ROLLBACK');
    expect(await altered).toBe('altered');
    expect((await run.done).code).toBe(0);
    expect(run.events.at(-1)).toMatchObject({ event: 'summary', status: 'done', rowsUpdated: 100, pauses: expect.objectContaining({ 'lock-queue': 1 }) });
    expect(await count('SELECT count(*) AS n FROM prequeued WHERE touched <> 1')).toBe(0);
  });

  it('stops after the current batch on Ctrl-C, prints the resume command, and the rerun completes', async () => {
    const base = ['backfill', '--url', cluster().url(), '--table', 'interrupted', '--where', 'v IS NULL', '--batch-size', '300', '--lock-timeout', '2min', '--statement-timeout', '2min'];
    const gate = await taggedSession(cluster(), 'test-gate', open);
    await gate.client.query('SELECT pg_advisory_lock(424242)');
    const run = startCli([...base, '--set', GATED_SET]);
    await waitFor(cluster(), BATCH_AT_GATE);
    run.child.kill('SIGINT');
    await run.event((e) => e.event === 'stopping', 'stopping');
    await gate.client.query('SELECT pg_advisory_unlock(424242)');
    const result = await run.done;
    expect(result.code).toBe(130);
    const summary = run.events.at(-1) as Event;
    expect(summary).toMatchObject({ event: 'summary', status: 'interrupted', batches: 1, rowsUpdated: 300, lastKey: '300' });
    const resume = `pgpreflight backfill --table interrupted --set '${GATED_SET}' --where 'v IS NULL' --batch-size 300 --lock-timeout 2min --statement-timeout 2min --format json --start-after 300`;
    expect(summary.resume).toBe(resume);
    expect(result.stderr).toContain(`stopped after key 300; resume with: ${resume}`);
    expect(await count('SELECT count(*) AS n FROM interrupted WHERE touched <> (CASE WHEN id <= 300 THEN 1 ELSE 0 END)')).toBe(0);

    const resumed = await runCli([...base, '--set', GATED_SET, '--start-after', '300', '--format', 'json']);
    expect(resumed.code).toBe(0);
    expect(await count('SELECT count(*) AS n FROM interrupted WHERE touched <> 1')).toBe(0);
  });

  it('rolls the current batch back on a second Ctrl-C', async () => {
    await cluster().sql('UPDATE interrupted SET v = NULL, touched = 0');
    const run = startCli(['backfill', '--url', cluster().url(), '--table', 'interrupted', '--where', 'v IS NULL', '--batch-size', '300', '--set', 'v = (SELECT 1 FROM pg_sleep(30)), touched = touched + 1']);
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgpreflight-backfill' AND wait_event = 'PgSleep'");
    run.child.kill('SIGINT');
    await run.event((e) => e.event === 'stopping', 'stopping');
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(run.events.at(-1)).toMatchObject({ event: 'summary', status: 'interrupted', batches: 0, rowsUpdated: 0, lastKey: null });
    expect(await count('SELECT count(*) AS n FROM interrupted WHERE touched <> 0')).toBe(0);
    await waitFor(cluster(), "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pgpreflight-backfill%')");
  });

  it('retries a batch that hits lock_timeout, naming the holder, and halves a batch that hits statement_timeout', async () => {
    const args = ['backfill', '--url', cluster().url(), '--table', 'slow', '--set', 'v = (SELECT 1 FROM pg_sleep(0.005 + slow.id * 0)), touched = touched + 1', '--where', 'v IS NULL', '--batch-size', '200', '--lock-timeout', '200ms', '--statement-timeout', '500ms'];
    const { client: holder, pid: holderPid } = await taggedSession(cluster(), 'slow-holder', open);
    // A table lock stops even the plan: the first batch's EXPLAIN needs the UPDATE's lock.
    await holder.query('BEGIN; LOCK TABLE slow IN SHARE MODE');
    expectOneLineFailure(await runCli([...args, '--retries', '0', '--dry-run']), new RegExp(`cannot plan the first batch: public\\.slow stayed locked .*held by pid ${holderPid} \\(app slow-holder, ShareLock`));
    await holder.query('ROLLBACK');
    // A row lock lets the plan through and stops the batch's UPDATE at row 1.
    await holder.query('BEGIN; SELECT * FROM slow WHERE id = 1 FOR UPDATE');
    // 5 ms per row: a batch of 200 takes 1 s, over the 500 ms statement_timeout.
    const run = startCli(args);
    const retry = await run.event((e) => e.event === 'retry', 'retry');
    expect(retry).toMatchObject({ reason: 'lock-timeout', attempt: 1, after: null });
    expect(retry.blockers).toEqual([expect.objectContaining({ pid: holderPid, application: 'slow-holder' })]);
    await holder.query('ROLLBACK');
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(run.events.find((e) => e.event === 'shrink')).toMatchObject({ from: 200, to: 100 });
    expect(run.events.at(-1)).toMatchObject({ event: 'summary', status: 'done', rowsUpdated: 200 });
    expect(await count('SELECT count(*) AS n FROM slow WHERE touched <> 1')).toBe(0);
  });

  it('walks a composite primary key, and resumes after a composite key', async () => {
    const base = ['backfill', '--url', cluster().url(), '--table', 'regions', '--set', 'v = 1, touched = touched + 1', '--where', 'v IS NULL', '--batch-size', '250'];
    const dry = await runCli([...base, '--dry-run', '--start-after', '["r1", 1000]', '--format', 'json']);
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as Record<string, any>;
    expect(plan).toMatchObject({ key: ['region', 'id'], keySource: 'primary key regions_pkey', startAfter: '["r1","1000"]', scan: { ok: true }, keyScan: { ok: true } });
    expect(plan.explain.join('\n')).toMatch(/Index Cond: \(\(ROW\(region, id\) > ROW\('r1'::text, 1000\)\) AND \(ROW\(region, id\) <= ROW\('r1'::text, \d+\)\)\)/);

    const partial = await runCli([...base, '--start-after', '["r1", 1000]']);
    expect(partial.code).toBe(0);
    expect(await count("SELECT count(*) AS n FROM regions WHERE touched <> (CASE WHEN (region, id) > ('r1', 1000) THEN 1 ELSE 0 END)")).toBe(0);
    const rest = await runCli(base);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toMatch(/^public\.regions: done\. 1,334 rows updated/);
    expect(await count('SELECT count(*) AS n FROM regions WHERE touched <> 1')).toBe(0);
  });

  it('refuses a table without a usable key and says which --key to pass', async () => {
    const keyless = await runCli(['backfill', '--url', cluster().url(), '--table', 'keyless', '--set', 'v = 1']);
    expectOneLineFailure(keyless, /public\.keyless has no usable key: it has no primary key; pass --key naming a unique NOT NULL key: email \(unique index keyless_email_key\)/);
    // The variants in-process (main(), no spawn): the same code path, less time.
    const none = await runMain(['backfill', '--url', cluster().url(), '--table', 'nothing_unique', '--set', 'v = 1']);
    expectOneLineFailure(none, /has no usable key: it has no primary key; add a primary key or a unique index on NOT NULL columns/);
    const wrong = await runMain(['backfill', '--url', cluster().url(), '--table', 'keyless', '--set', 'v = 1', '--key', 'id']);
    expectOneLineFailure(wrong, /--key id: no unique index covers exactly id; usable keys: email/);
    expectOneLineFailure(await runMain(['backfill', '--url', cluster().url(), '--table', 'parted', '--set', 'v = 1']), /public\.parted is partitioned: backfill each partition on its own/);
    const byEmail = await runCli(['backfill', '--url', cluster().url(), '--table', 'keyless', '--set', 'v = 1', '--key', 'email', '--batch-size', '100']);
    expect(byEmail.code).toBe(0);
    expect(await count('SELECT count(*) AS n FROM keyless WHERE v IS NULL')).toBe(0);
  });

  it('refuses a standby', async () => {
    expectOneLineFailure(await runCli(['backfill', '--url', standby.url(), '--table', 'orders', '--set', 'v = 2']), /is a standby \(in recovery\): a backfill writes, so run it against the primary/);
    expectOneLineFailure(await runMain(['wait-for-replicas', '--url', standby.url()]), /is a standby \(in recovery\)/);
  });

  it('rejects --where with a syntax error or an unknown column before touching a row', async () => {
    await cluster().sql('UPDATE nothing_unique SET v = NULL');
    await cluster().sql('ALTER TABLE nothing_unique ADD PRIMARY KEY (id)');
    const base = ['backfill', '--url', cluster().url(), '--table', 'nothing_unique', '--set', 'v = 1'];
    expectOneLineFailure(await runCli([...base, '--where', 'v IS NUL']), /--set\/--where: syntax error at or near "NUL"/);
    expectOneLineFailure(await runMain([...base, '--where', 'nope IS NULL']), /--set\/--where: column "nope" does not exist .*nothing was changed/);
    expect(await count('SELECT count(*) AS n FROM nothing_unique WHERE v IS NOT NULL')).toBe(0);
    expect(await count("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'")).toBe(0);
  });
});

const bouncer = findPgBouncer();
if ('reason' in bouncer) console.warn(`backfill pgbouncer test skipped: ${bouncer.reason}`);

describe.skipIf('reason' in bouncer)('backfill through PgBouncer (transaction pooling)', () => {
  let pool: PgBouncer | undefined;
  afterAll(async () => {
    await pool?.stop();
  });

  it('refuses to run (a session-level advisory lock would stay on a pooled server connection) and leaves nothing behind', async () => {
    if (!('binary' in bouncer)) return;
    pool = await startPgBouncer(bouncer.binary, cluster());
    await cluster().sql('UPDATE keyless SET v = NULL');
    // The pool with one server connection: whatever the backfill left there, the next client gets.
    const single = pool.url({ database: 'single' });
    const args = ['backfill', '--url', single, '--table', 'keyless', '--key', 'email', '--set', 'v = 1'];
    expectOneLineFailure(await runCli(args), /pools transactions \((two connections both ran on backend \d+|one connection ran on backends .*)\): a session-level advisory lock would stay on a pooled server connection/);
    expect(await count('SELECT count(*) AS n FROM keyless WHERE v IS NOT NULL')).toBe(0);
    const dry = await runCli([...args, '--dry-run', '--format', 'json']);
    expect(dry.code).toBe(1);
    expect((JSON.parse(dry.stdout) as { blockers: string[] }).blockers).toEqual([expect.stringMatching(/the connection pools transactions/)]);
    // The throttle holds no session state: it works through the pooler.
    expect((await runCli(['wait-for-replicas', '--url', single, '--timeout', '30s', '--interval', '100ms'])).code).toBe(0);
    const client = new pg.Client({ connectionString: single });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT current_setting('statement_timeout') AS timeout, current_setting('lock_timeout') AS lock, (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory') AS advisory");
      expect(rows).toEqual([{ timeout: '0', lock: '0', advisory: 0 }]);
    } finally {
      await client.end();
    }
  });
});

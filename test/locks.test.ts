import type pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkOf, findingsOf, gate, runCli, sleep, taggedSession, useCluster, waitFor, waitUntilWaiting } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await cluster().sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'locks-%'");
  const { rows } = await cluster().sql<{ gid: string }>('SELECT gid FROM pg_prepared_xacts');
  for (const { gid } of rows) await cluster().sql(`ROLLBACK PREPARED '${gid}'`);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

beforeAll(async () => {
  await cluster().sql(`
    CREATE TABLE orders (id int PRIMARY KEY, note text);
    INSERT INTO orders SELECT g, repeat('x', 10) FROM generate_series(1, 100) g;
    CREATE TABLE other (id int);
    CREATE TABLE events (id int, at date NOT NULL) PARTITION BY RANGE (at);
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (at);
    CREATE TABLE events_2025_h1 PARTITION OF events_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01');
    CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    ANALYZE;`);
});

describe('locks', () => {
  it('passes with no locks on the target', async () => {
    const report = await gate(cluster(), { only: ['locks'] });
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(findingsOf(report, 'locks')).toEqual([]);
  });

  it('fails on a real lock queue and shows the chain root first, without joining the queue itself', async () => {
    const holder = await tagged('locks-holder');
    await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const alter = await tagged('locks-alter');
    const pending = alter.client.query('ALTER TABLE orders ADD COLUMN extra int').catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'locks-alter');
    const reader = await tagged('locks-reader');
    const read = reader.client.query('SELECT count(*) FROM orders').catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'locks-reader');

    // If the checker opened the table it would queue behind the ALTER and hit its own lock_timeout.
    const report = await gate(cluster(), { only: ['locks'] });
    const check = checkOf(report, 'locks');
    expect(check.status).toBe('fail');
    const findings = check.findings;
    const root = findings.find((f) => f.pid === holder.pid);
    expect(root).toMatchObject({ kind: 'lock-holder', severity: 'fail', granted: true, lockMode: 'AccessShareLock', application: 'locks-holder' });
    expect(root?.details?.waitingBehind).toBe(2);
    expect(root?.remediation?.sql).toBe(`SELECT pg_terminate_backend(${holder.pid});`);
    const alterFinding = findings.find((f) => f.pid === alter.pid);
    expect(alterFinding).toMatchObject({ kind: 'lock-waiter', severity: 'fail', granted: false, lockMode: 'AccessExclusiveLock', blockedBy: [holder.pid] });
    // The reader arrived after the ALTER: it waits for the ALTER (queue order), not for the holder.
    const readerFinding = findings.find((f) => f.pid === reader.pid);
    expect(readerFinding).toMatchObject({ kind: 'lock-waiter', lockMode: 'AccessShareLock', blockedBy: [alter.pid] });
    expect(readerFinding?.chain).toEqual([reader.pid, alter.pid, holder.pid]);
    expect(readerFinding?.details?.rootBlocker).toBe(holder.pid);
    expect(findings.indexOf(root as never)).toBeLessThan(findings.indexOf(alterFinding as never));

    await holder.client.query('ROLLBACK');
    await pending;
    await read;
  });

  it('marks every holder a waiter is blocked by as a root, not only the first', async () => {
    const first = await tagged('locks-root-a');
    await first.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const second = await tagged('locks-root-b');
    await second.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const alter = await tagged('locks-two-roots');
    const pending = alter.client.query('ALTER TABLE orders ADD COLUMN extra3 int').catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'locks-two-roots');
    const report = await gate(cluster(), { only: ['locks'], flags: { 'lock-warn': '1h', 'lock-fail': '1h' } });
    const holders = findingsOf(report, 'locks', 'lock-holder');
    for (const holder of [first, second]) {
      expect(holders.find((f) => f.pid === holder.pid)).toMatchObject({ severity: 'fail', details: { waitingBehind: 1 } });
    }
    expect([...(findingsOf(report, 'locks', 'lock-waiter').find((f) => f.pid === alter.pid)?.blockedBy ?? [])].sort()).toEqual([first.pid, second.pid].sort());
    await first.client.query('ROLLBACK');
    await second.client.query('ROLLBACK');
    await pending;
  });

  it('fails on an old conflicting holder, warns on a younger one, passes on a fresh one', async () => {
    const holder = await tagged('locks-old');
    await holder.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    await sleep(400);
    const failing = await gate(cluster(), { only: ['locks'], flags: { 'lock-warn': '100ms', 'lock-fail': '300ms' } });
    expect(checkOf(failing, 'locks').status).toBe('fail');
    expect(findingsOf(failing, 'locks', 'lock-holder').find((f) => f.pid === holder.pid)).toMatchObject({ severity: 'fail', details: { conflicting: true } });
    const warning = await gate(cluster(), { only: ['locks'], flags: { 'lock-warn': '100ms', 'lock-fail': '1h' } });
    expect(checkOf(warning, 'locks').status).toBe('warn');
    const passing = await gate(cluster(), { only: ['locks'], flags: { 'lock-warn': '1h', 'lock-fail': '1h' } });
    expect(checkOf(passing, 'locks').status).toBe('pass');
    expect(findingsOf(passing, 'locks', 'lock-holder').find((f) => f.pid === holder.pid)?.severity).toBe('info');
  });

  it('does not count readers and writers against ShareUpdateExclusiveLock (CREATE INDEX CONCURRENTLY)', async () => {
    const reader = await tagged('locks-sue-reader');
    await reader.client.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const writer = await tagged('locks-sue-writer');
    await writer.client.query('BEGIN; UPDATE orders SET note = note WHERE id = 1');
    await sleep(300);
    const report = await gate(cluster(), { only: ['locks'], lockMode: 'ShareUpdateExclusiveLock', flags: { 'lock-warn': '100ms', 'lock-fail': '200ms' } });
    expect(checkOf(report, 'locks').status).toBe('pass');
    const holders = findingsOf(report, 'locks', 'lock-holder');
    expect(holders.find((f) => f.pid === writer.pid)).toMatchObject({ severity: 'info', lockMode: 'RowExclusiveLock', details: { conflicting: false } });
    // The same writer does block an ALTER TABLE.
    const strict = await gate(cluster(), { only: ['locks'], flags: { 'lock-warn': '100ms', 'lock-fail': '200ms' } });
    expect(checkOf(strict, 'locks').status).toBe('fail');
  });

  it('blames a holder of one partition, two levels down, when the parent is the target', async () => {
    const holder = await tagged('locks-partition');
    await holder.client.query("BEGIN; SELECT * FROM events_2025_h1 LIMIT 1");
    await sleep(300);
    const report = await gate(cluster(), { tables: ['events'], only: ['locks'], flags: { 'lock-fail': '100ms' } });
    expect(checkOf(report, 'locks').status).toBe('fail');
    const finding = findingsOf(report, 'locks', 'lock-holder').find((f) => f.pid === holder.pid);
    expect(finding).toMatchObject({ severity: 'fail', relation: 'events_2025_h1', target: 'public.events' });
    // A query on another partition's sibling table does not touch events_2026's own target.
    const sibling = await gate(cluster(), { tables: ['events_2026'], only: ['locks'], flags: { 'lock-fail': '100ms' } });
    expect(checkOf(sibling, 'locks').status).toBe('pass');
  });

  it('names a prepared transaction holding a lock, with its gid and the ROLLBACK/COMMIT PREPARED choice', async () => {
    const preparer = await tagged('locks-prepare');
    await preparer.client.query("BEGIN; SELECT * FROM orders LIMIT 1; PREPARE TRANSACTION 'locks-gid-1'");
    await sleep(300);
    const report = await gate(cluster(), { only: ['locks'], flags: { 'lock-fail': '100ms' } });
    const finding = findingsOf(report, 'locks', 'lock-holder').find((f) => f.details?.gid === 'locks-gid-1');
    expect(finding).toMatchObject({ severity: 'fail', pid: null, lockMode: 'AccessShareLock' });
    expect(finding?.remediation?.sql).toContain("ROLLBACK PREPARED 'locks-gid-1'");
    expect(finding?.remediation?.sql).toContain("COMMIT PREPARED 'locks-gid-1'");

    const alter = await tagged('locks-after-prepared');
    const pending = alter.client.query("SET lock_timeout = '20s'; ALTER TABLE orders ADD COLUMN extra2 int").catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'locks-after-prepared');
    const queued = await gate(cluster(), { only: ['locks'] });
    expect(findingsOf(queued, 'locks', 'lock-waiter').find((f) => f.pid === alter.pid)?.blockedBy).toEqual([0]);
    await cluster().sql("ROLLBACK PREPARED 'locks-gid-1'");
    await pending;
  });
});

/** Polls pg_locks until a row matching `where` exists. */
async function untilLock(where: string): Promise<void> {
  await waitFor(cluster(), `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE ${where}`);
}

describe('locks: row-level waits are not a table lock queue', () => {
  // Thresholds no staged session reaches on a loaded machine: these tests are about which
  // waits count, not about ages.
  const CALM = { 'lock-warn': '1min', 'lock-fail': '2min', 'idle-warn': '1min', 'idle-fail': '2min', 'long-query-warn': '1min', 'long-query-fail': '2min' };

  it('a young holder with a writer waiting for its row passes: the row waiter is not in the queue the migration joins', async () => {
    const holder = await tagged('locks-row-holder');
    await holder.client.query('BEGIN; UPDATE orders SET note = note WHERE id = 2');
    const waiter = await tagged('locks-row-waiter');
    const pending = waiter.client.query('UPDATE orders SET note = note WHERE id = 2').catch((e: Error) => e);
    await untilLock(`a.application_name = 'locks-row-waiter' AND l.locktype = 'transactionid' AND NOT l.granted`);
    const report = await gate(cluster(), { only: ['locks', 'ddl-in-progress', 'long-running-queries', 'idle-in-transaction'], flags: CALM });
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(findingsOf(report, 'locks', 'lock-holder').find((f) => f.pid === holder.pid)).toMatchObject({ severity: 'info', details: { conflicting: true, waitingBehind: 0 } });
    expect(findingsOf(report, 'locks', 'lock-waiter')).toEqual([]);
    expect(checkOf(report, 'ddl-in-progress').status).toBe('pass');
    expect(report.verdict).toBe('pass');
    // Nor is the holder a root blocker: nobody queues for a lock on the table behind it.
    expect(report.rootCauses).toEqual([]);
    // The built CLI, as a pipeline runs it: exit 0, and no root blocker (with a kill fix) shown.
    const cli = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--only', 'locks,ddl-in-progress', ...Object.entries(CALM).flatMap(([k, v]) => [`--${k}`, v])]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).not.toMatch(/Root blocker/);
    expect(cli.stdout).not.toMatch(new RegExp(`pg_(cancel|terminate)_backend\\(${holder.pid}\\)`));
    const locks = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--format', 'json']);
    expect((JSON.parse(locks.stdout) as { roots: unknown[] }).roots).toEqual([]);
    await holder.client.query('ROLLBACK');
    await pending;
  });

  it('a waiting `tuple` lock (two writers behind one row) is neither a lock queue nor DDL in progress', async () => {
    const holder = await tagged('locks-tuple-holder');
    await holder.client.query('BEGIN; UPDATE orders SET note = note WHERE id = 3');
    const first = await tagged('locks-tuple-first');
    const firstPending = first.client.query('UPDATE orders SET note = note WHERE id = 3').catch((e: Error) => e);
    await untilLock(`a.application_name = 'locks-tuple-first' AND l.locktype = 'transactionid' AND NOT l.granted`);
    const second = await tagged('locks-tuple-second');
    const secondPending = second.client.query('UPDATE orders SET note = note WHERE id = 3').catch((e: Error) => e);
    // The second writer waits for the tuple lock the first holds: a `tuple` row carrying orders' oid.
    await untilLock(`a.application_name = 'locks-tuple-second' AND l.locktype = 'tuple' AND NOT l.granted AND l.relation = 'orders'::regclass`);
    const report = await gate(cluster(), { only: ['locks', 'ddl-in-progress'], flags: CALM });
    expect(findingsOf(report, 'locks', 'lock-waiter')).toEqual([]);
    expect(checkOf(report, 'locks').status).toBe('pass');
    expect(checkOf(report, 'ddl-in-progress').status).toBe('pass');
    // A tuple wait carries the table's oid, but it is no queue for a table lock: no root blocker.
    expect(report.rootCauses).toEqual([]);
    await holder.client.query('ROLLBACK');
    await Promise.all([firstPending, secondPending]);
  });

  it('sibling: SELECT ... FOR UPDATE waiting on a row (a tuple lock in AccessExclusiveLock mode) is not DDL either', async () => {
    const holder = await tagged('locks-forupdate-holder');
    await holder.client.query('BEGIN; SELECT * FROM orders WHERE id = 4 FOR UPDATE');
    const first = await tagged('locks-forupdate-first');
    const firstPending = first.client.query('SELECT * FROM orders WHERE id = 4 FOR UPDATE').catch((e: Error) => e);
    await untilLock(`a.application_name = 'locks-forupdate-first' AND l.locktype = 'transactionid' AND NOT l.granted`);
    const second = await tagged('locks-forupdate-second');
    const secondPending = second.client.query('SELECT * FROM orders WHERE id = 4 FOR UPDATE').catch((e: Error) => e);
    await untilLock(`a.application_name = 'locks-forupdate-second' AND l.locktype = 'tuple' AND NOT l.granted AND l.mode = 'AccessExclusiveLock'`);
    const report = await gate(cluster(), { only: ['locks', 'ddl-in-progress'], flags: CALM });
    expect(checkOf(report, 'ddl-in-progress').status).toBe('pass');
    expect(findingsOf(report, 'locks', 'lock-waiter')).toEqual([]);
    await holder.client.query('ROLLBACK');
    await Promise.all([firstPending, secondPending]);
  });

  it('a real table lock queue still fails, however young its root, with row waiters around it', async () => {
    const holder = await tagged('locks-mixed-holder');
    await holder.client.query('BEGIN; UPDATE orders SET note = note WHERE id = 5');
    const rowWaiter = await tagged('locks-mixed-row');
    const rowPending = rowWaiter.client.query('UPDATE orders SET note = note WHERE id = 5').catch((e: Error) => e);
    await untilLock(`a.application_name = 'locks-mixed-row' AND l.locktype = 'transactionid' AND NOT l.granted`);
    const alter = await tagged('locks-mixed-alter');
    const alterPending = alter.client.query('ALTER TABLE orders ADD COLUMN mixed int').catch((e: Error) => e);
    await waitUntilWaiting(cluster(), 'locks-mixed-alter');
    const report = await gate(cluster(), { only: ['locks'], flags: CALM });
    expect(checkOf(report, 'locks').status).toBe('fail');
    expect(findingsOf(report, 'locks', 'lock-waiter').map((f) => f.pid)).toEqual([alter.pid]);
    // Both writers hold RowExclusiveLock and the ALTER waits for both: each is a root of one waiter.
    expect(findingsOf(report, 'locks', 'lock-holder').find((f) => f.pid === holder.pid)).toMatchObject({ severity: 'fail', details: { waitingBehind: 1 } });
    // The queue on the table has roots: the holder is one (the row waiter, a holder of
    // RowExclusiveLock that the ALTER also waits for, may be another).
    expect(report.rootCauses.map((r) => r.pid)).toContain(holder.pid);
    await holder.client.query('ROLLBACK');
    await Promise.allSettled([rowPending, alterPending]);
    await cluster().sql('ALTER TABLE orders DROP COLUMN IF EXISTS mixed');
  });
});

// The major this run is on (PGPREFLIGHT_PG_MAJOR, every one of 14–18 under
// `npm run test:matrix`): the server is recognised as tested, every check's SQL
// variant runs on it with a real lock queue, a prepared transaction and a standby,
// and the version gate refuses what it cannot trust.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { EMBEDDED_VERSIONS, resolveBinDir, SUPPORTED_MAJORS } from '../src/clusters/cluster.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { resolveConnection } from '../src/core/connection.js';
import { PreflightError } from '../src/core/errors.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce, type RunResult } from '../src/gate/runner.js';
import { NEWEST_TESTED_MAJOR, versionSupport } from '../src/gate/snapshot.js';
import { findingsOf, session, stageLockQueue, useCluster } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];
const THRESHOLDS = { 'idle-warn': '50ms', 'idle-fail': '100ms', 'lock-warn': '50ms', 'lock-fail': '100ms', 'long-query-warn': '50ms', 'long-query-fail': '100ms', 'prepared-warn': '50ms' };

function run(url: string): Promise<RunResult> {
  return runOnce({
    connection: resolveConnection(url, {}),
    tables: parseTables(['orders'], 'AccessExclusiveLock'),
    checks: CHECKS,
    options: resolveCheckOptions(CHECKS, THRESHOLDS),
    timeoutMs: 10_000,
  });
}

describe('version gate', () => {
  it('refuses 13 and older, trusts 14 to 18, notes anything newer', () => {
    expect(versionSupport(130_022)).toBe('unsupported');
    expect(versionSupport(90_624)).toBe('unsupported');
    expect(versionSupport(139_999)).toBe('unsupported');
    expect(versionSupport(140_000)).toBe('tested');
    expect(versionSupport(180_004)).toBe('tested');
    expect(versionSupport(190_000)).toBe('untested');
    expect(versionSupport(200_001)).toBe('untested');
    expect(NEWEST_TESTED_MAJOR).toBe(Math.max(...SUPPORTED_MAJORS));
  });

  it('pins an npm build for every supported major', () => {
    for (const major of SUPPORTED_MAJORS) expect(Number.parseInt(EMBEDDED_VERSIONS[major] ?? '', 10)).toBe(major);
  });
});

describe(`on the PostgreSQL major under test`, () => {
  beforeAll(async () => {
    await cluster().sql(
      `CREATE TABLE orders (id int PRIMARY KEY, total int); CREATE TABLE other (id int);
       INSERT INTO orders SELECT g, g FROM generate_series(1, 1000) g; ANALYZE orders, other`,
    );
    // A prepared transaction holding a lock on orders, whose lock rows have no pid.
    const preparer = await session(cluster(), 'compat-prepared');
    await preparer.query("BEGIN; SELECT * FROM orders WHERE id = 1 FOR SHARE; PREPARE TRANSACTION 'compat_gid'");
    await preparer.end();
    await stageLockQueue(cluster(), 'compat', open);
  });

  afterAll(async () => {
    for (const client of open.splice(0)) await client.end().catch(() => undefined);
    await cluster().sql("ROLLBACK PREPARED 'compat_gid'").catch(() => undefined);
  });

  it('the cluster runs the requested major, and resolveBinDir reads it back from the binaries', () => {
    const requested = process.env.PGPREFLIGHT_PG_MAJOR;
    if (requested !== undefined && process.env.PGPREFLIGHT_PG_BIN === undefined) expect(cluster().major).toBe(Number(requested));
    // A container's binaries are inside the image; its major comes from the server itself.
    if (cluster().backend === 'embedded') expect(resolveBinDir({ binDir: cluster().binDir }).major).toBe(cluster().major);
  });

  it('is recognised as a tested major, with no version note', async () => {
    const { report } = await run(cluster().url());
    expect(Math.floor((report.server?.versionNum ?? 0) / 10000)).toBe(cluster().major);
    expect(versionSupport(report.server?.versionNum ?? 0)).toBe('tested');
    expect(report.notes.filter((n) => /newer than/.test(n))).toEqual([]);
  });

  it("every check's SQL runs on this major and finds the staged situation", async () => {
    const { report, snapshot } = await run(cluster().url());
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    const pid = async (app: string): Promise<number> => (await cluster().sql('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0]?.pid as number;
    const holderPid = await pid('compat-holder');
    const waiterPid = await pid('compat-waiter');
    // pg_locks.waitstart (14+) gives the waiter an age; granted rows have none.
    const waiting = snapshot.locks.find((l) => l.pid === waiterPid && !l.granted);
    expect(waiting?.waitSeconds).toBeGreaterThan(0);
    expect(waiting?.blockingPids).toContain(holderPid);
    expect(snapshot.locks.filter((l) => l.pid === null).length).toBeGreaterThan(0);
    expect(snapshot.prepared.map((p) => p.gid)).toContain('compat_gid');
    expect(findingsOf(report, 'locks').map((f) => f.pid)).toEqual(expect.arrayContaining([holderPid]));
    expect(findingsOf(report, 'idle-in-transaction', 'idle-in-transaction').find((f) => f.application === 'compat-holder')).toMatchObject({ severity: 'fail', pid: holderPid });
    expect(report.verdict).toBe('fail');
  });

  it('a standby of this major (pg_backup_start, or pg_start_backup on 14) is refused with exit 2', async () => {
    const standby = await cluster().startStandby();
    const { rows } = await standby.sql('SELECT pg_is_in_recovery() AS recovery');
    expect(rows).toEqual([{ recovery: true }]);
    const refusal = await run(standby.url()).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(PreflightError);
    expect((refusal as PreflightError).exitCode).toBe(2);
    expect((refusal as PreflightError).message).toMatch(/standby/);
    await standby.stop();
  });
});

// Hot standbys given with --replica-url, staged for real: a streaming standby with a 30 s
// query on the target (reported with the setting that decides its fate, and really
// cancelled when the migration's lock is replayed), replay paused ("paused" named as
// such), and standbys that cannot be read (an error, never a pass).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { freePort, type Cluster } from '../src/clusters/cluster.js';
import { parseTables } from '../src/cli/commands/shared.js';
import { resolveConnection } from '../src/core/connection.js';
import type { Report } from '../src/core/types.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import { checkOf, expectOneLineFailure, findingsOf, gate, runCli, runMain, session, useCluster, waitFor, reportFrom } from './helpers.js';

const ID = 'hot-standby';
const cluster = useCluster();
let standby: Cluster;
const open: pg.Client[] = [];
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-hot-standby-'));

async function gateWithReplicas(replicaUrls: string[], flags: Record<string, string> = {}): Promise<Report> {
  const checks = CHECKS.filter((c) => c.id === ID);
  const { report } = await runOnce({
    connection: resolveConnection(cluster().url(), {}),
    tables: parseTables(['orders'], 'AccessExclusiveLock'),
    checks,
    options: resolveCheckOptions(checks, flags),
    timeoutMs: 10_000,
    replicas: replicaUrls.map((url) => resolveConnection(url, {})),
  });
  return report;
}

/** Sets a standby's setting and waits until it is in effect. */
async function setOnStandby(name: string, value: string): Promise<void> {
  await standby.sql(`ALTER SYSTEM SET ${name} = '${value}'`);
  await standby.sql('SELECT pg_reload_conf()');
  await waitFor(standby, 'SELECT 1 FROM pg_settings WHERE name = $1 AND setting = $2', [name, value === '30s' ? '30000' : value === '1s' ? '1000' : value]);
}

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g');
  standby = await cluster().startStandby({ settings: { max_standby_streaming_delay: '30s' } });
}, 60_000);

afterAll(async () => {
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
  await standby?.stop();
});

describe('hot-standby', () => {
  it('skips without --replica-url, saying a standby streams from the primary', async () => {
    const report = await gate(cluster(), { only: [ID] });
    expect(checkOf(report, ID)).toMatchObject({ status: 'skip', findings: [] });
    expect(checkOf(report, ID).summary).toMatch(/1 standby\(s\) stream from this server.*--replica-url/);
  });

  it('reports a 30 s query on the target with the setting that decides its fate; the replayed lock really cancels it', async () => {
    const reader = await session(standby, 'hs-reader');
    open.push(reader);
    const running = reader.query('SELECT count(*) FROM orders, pg_sleep(30)').then(
      () => 'finished',
      (error: Error) => error.message,
    );
    await waitFor(standby, "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.application_name = 'hs-reader' AND a.state = 'active' AND l.relation = 'orders'::regclass");
    const { rows } = await standby.sql<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'hs-reader'");
    const pid = rows[0]?.pid;

    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--only', ID, '--replica-url', standby.url(), '--standby-query-warn', '50ms', '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = reportFrom(result.stdout);
    expect(checkOf(report, ID).status).toBe('warn');
    const [finding] = findingsOf(report, ID, 'standby-reader');
    expect(finding).toMatchObject({ severity: 'warn', pid, application: 'hs-reader', relation: 'orders', details: expect.objectContaining({ maxStandbyStreamingDelayMs: 30_000, hotStandbyFeedback: false, delaySetting: 'max_standby_streaming_delay' }) });
    expect(finding?.message).toContain('max_standby_streaming_delay = 30s');
    expect(finding?.remediation).toBeUndefined();

    // With -1 the standby would hold replay for as long as the query runs: that blocks.
    await setOnStandby('max_standby_streaming_delay', '-1');
    const stalls = await gateWithReplicas([standby.url()], { 'standby-query-warn': '50ms', 'standby-query-fail': '100ms' });
    expect(findingsOf(stalls, ID, 'standby-reader')[0]).toMatchObject({ severity: 'fail', details: expect.objectContaining({ maxStandbyStreamingDelayMs: -1 }) });
    expect(findingsOf(stalls, ID, 'standby-reader')[0]?.message).toMatch(/= -1 the standby waits for it/);

    // What the finding says happens, happens: replaying an ACCESS EXCLUSIVE lock cancels the query after the delay.
    await setOnStandby('max_standby_streaming_delay', '1s');
    await cluster().sql('ALTER TABLE orders ADD COLUMN note text');
    expect(await running).toMatch(/conflict with recovery/);
    await setOnStandby('max_standby_streaming_delay', '30s');
  });

  it('names paused replay as paused', async () => {
    await standby.sql('SELECT pg_wal_replay_pause()');
    try {
      const deadline = Date.now() + 20_000;
      for (;;) {
        await cluster().sql('INSERT INTO orders (id, total) SELECT max(id) + 1, 0 FROM orders');
        const { rows } = await standby.sql<{ state: string }>('SELECT pg_get_wal_replay_pause_state() AS state');
        if (rows[0]?.state === 'paused') break;
        if (Date.now() > deadline) throw new Error('replay never paused');
        await new Promise((r) => setTimeout(r, 50));
      }
      const report = await gateWithReplicas([standby.url()]);
      expect(checkOf(report, ID).status).toBe('warn');
      const [paused] = findingsOf(report, ID, 'replay-paused');
      expect(paused).toMatchObject({ severity: 'warn', details: expect.objectContaining({ pauseState: 'paused' }) });
      expect(paused?.message).toMatch(/replay is paused on standby/);
    } finally {
      await standby.sql('SELECT pg_wal_replay_resume()');
    }
  });

  it('a caught-up standby with no reader passes, with its own view of replay', async () => {
    await waitFor(cluster(), 'SELECT 1 FROM pg_stat_replication WHERE replay_lsn >= pg_current_wal_lsn()');
    const report = await gateWithReplicas([standby.url()]);
    expect(checkOf(report, ID).status).toBe('pass');
    expect(findingsOf(report, ID, 'standby')).toEqual([expect.objectContaining({ severity: 'info', details: expect.objectContaining({ pauseState: 'not paused', streaming: true }) })]);
  });

  it('a standby that cannot be reached is an error on one line, with no password shown (built CLI, exit 2)', async () => {
    const port = await freePort();
    const result = await runCli(['check', '--url', cluster().url(), '--table', 'orders', '--only', ID, '--replica-url', `postgresql://postgres:Sb-s3cret@127.0.0.1:${port}/postgres`]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/ERROR.*hot-standby/);
    expect(result.stdout).toMatch(new RegExp(`cannot connect to standby postgres@127\\.0\\.0\\.1:${port}/postgres: connection refused`));
    expect(result.stdout + result.stderr).not.toContain('Sb-s3cret');
  });

  it('refuses a --replica-url that is not a standby of this primary', async () => {
    const report = await gateWithReplicas([cluster().url()]);
    expect(checkOf(report, ID).status).toBe('error');
    expect(findingsOf(report, ID, 'standby-mismatch')[0]?.message).toMatch(/is not a standby/);
  });

  it('--replica-url belongs to one primary; the config file names standbys by variable', async () => {
    const several = await runMain(['check', '--url', cluster().url(), '--url', cluster().url({ database: 'template1' }), '--replica-url', standby.url(), '--table', 'orders']);
    expectOneLineFailure(several, /--replica-url names the standbys of one primary, but 2 databases are checked/);

    const config = join(dir, 'pgpreflight.config.json');
    writeFileSync(config, JSON.stringify({ replicas: [{ urlEnv: 'HS_REPLICA_URL' }] }));
    const shown = await runMain(['config', '--config', config, '--url', cluster().url(), '--json'], { HS_REPLICA_URL: standby.url() });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout).settings).toContainEqual({ key: `replica of 127.0.0.1:${cluster().port}/postgres`, value: `postgres@127.0.0.1:${standby.port}/postgres`, source: expect.stringMatching(/: replicas$/) });
    const unset = await runMain(['check', '--config', config, '--url', cluster().url(), '--table', 'orders']);
    expectOneLineFailure(unset, /reads its URL from HS_REPLICA_URL, which is not set/);

    writeFileSync(config, JSON.stringify({ databases: [{ name: 'a', urlEnv: 'A_URL' }], replicas: [{ urlEnv: 'HS_REPLICA_URL' }] }));
    expectOneLineFailure(await runMain(['config', '--config', config]), /replicas: belongs to the one database/);
  });
});

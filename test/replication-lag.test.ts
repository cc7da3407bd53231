import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../src/clusters/cluster.js';
import { checkOf, findingsOf, gate, useCluster, waitFor } from './helpers.js';

const cluster = useCluster();
let standby: Cluster | undefined;

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, payload text); ANALYZE orders');
});

afterAll(async () => {
  await standby?.stop();
});

describe('replication-lag', () => {
  it('passes with no replicas and says so', async () => {
    const report = await gate(cluster(), { only: ['replication-lag'] });
    const check = checkOf(report, 'replication-lag');
    expect(check.status).toBe('pass');
    expect(check.findings).toEqual([]);
    expect(check.summary).toContain('no streaming replicas');
  });

  it('passes on a caught-up streaming standby', async () => {
    standby = await cluster().startStandby();
    await cluster().sql("INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 10) g");
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_replication WHERE replay_lsn = pg_current_wal_lsn()");
    const report = await gate(cluster(), { only: ['replication-lag'] });
    expect(checkOf(report, 'replication-lag').status).toBe('pass');
    const [replica] = findingsOf(report, 'replication-lag', 'replica');
    expect(replica).toMatchObject({ severity: 'info', state: 'streaming' });
    // Caught up, give or take the few WAL records a live server writes in between (autovacuum, checkpoints).
    expect(Number(replica?.details?.replayLagBytes)).toBeLessThan(64 * 1024);
  });

  it('warns and fails on real replay lag while replay is paused on the standby', async () => {
    await standby?.sql('SELECT pg_wal_replay_pause()');
    await cluster().sql("INSERT INTO orders SELECT g, repeat('y', 500) FROM generate_series(100, 8000) g");
    await waitFor(cluster(), 'SELECT 1 FROM pg_stat_replication WHERE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) > 2 * 1024 * 1024 AND flush_lsn = pg_current_wal_lsn()');
    const warn = await gate(cluster(), { only: ['replication-lag'], flags: { 'lag-bytes-warn': '1MB' } });
    expect(checkOf(warn, 'replication-lag').status).toBe('warn');
    const fail = await gate(cluster(), { only: ['replication-lag'], flags: { 'lag-bytes-warn': '1MB', 'lag-bytes-fail': '2MB' } });
    expect(checkOf(fail, 'replication-lag').status).toBe('fail');
    const [replica] = findingsOf(fail, 'replication-lag', 'replica');
    expect(replica?.severity).toBe('fail');
    expect(Number(replica?.details?.replayLagBytes)).toBeGreaterThan(2 * 1024 * 1024);
    await standby?.sql('SELECT pg_wal_replay_resume()');
  });

  it('warns on an inactive replication slot retaining WAL', async () => {
    await cluster().sql("SELECT pg_create_physical_replication_slot('forgotten_slot', true)");
    await cluster().sql("INSERT INTO orders SELECT g, 'z' FROM generate_series(9000, 9100) g");
    const report = await gate(cluster(), { only: ['replication-lag'] });
    expect(checkOf(report, 'replication-lag').status).toBe('warn');
    const slot = findingsOf(report, 'replication-lag', 'inactive-slot').find((f) => f.details?.slot === 'forgotten_slot');
    expect(slot?.severity).toBe('warn');
    expect(Number(slot?.details?.retainedBytes)).toBeGreaterThan(0);
    await cluster().sql("SELECT pg_drop_replication_slot('forgotten_slot')");
  });

  it('reports error, not pass, when the role cannot see the replica', async () => {
    await cluster().sql('CREATE ROLE lag_limited LOGIN');
    const report = await gate(cluster(), { only: ['replication-lag'], user: 'lag_limited' });
    expect(checkOf(report, 'replication-lag').status).toBe('error');
    expect(findingsOf(report, 'replication-lag', 'replica-hidden')).toHaveLength(1);
  });
});

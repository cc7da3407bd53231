import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { checkOf, findingsOf, gate, taggedSession, useCluster, waitFor } from './helpers.js';

// Throwaway clusters run autovacuum with a 1 s naptime. Every table here starts with
// autovacuum_enabled = off; each test turns on exactly the vacuum it stages.
const cluster = useCluster();
const open: pg.Client[] = [];
const running: Promise<unknown>[] = [];

afterEach(async () => {
  await cluster().sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'av-%' AND state = 'active'");
  await Promise.allSettled(running.splice(0));
  for (const client of open.splice(0)) await client.end().catch(() => undefined);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, open);

/** Consumes transaction IDs until age(relfrozenxid) of `table` reaches `target`. */
async function burnXidsUntil(table: string, target: number): Promise<void> {
  const { rows } = await cluster().sql('SELECT age(relfrozenxid)::int AS age FROM pg_class WHERE oid = $1::regclass', [table]);
  const needed = target - Number((rows[0] as { age: number }).age);
  if (needed > 0) await cluster().sql('CALL burn_xids($1)', [needed]);
}

// A vacuum that sleeps 100 ms after every page: seconds of work on a table of some thousand pages.
const SLOW = 'autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1';

describe('autovacuum', () => {
  beforeAll(async () => {
    await cluster().sql(`
      CREATE TABLE quiet (id int) WITH (autovacuum_enabled = off);
      CREATE TABLE big (id int, pad text) WITH (autovacuum_enabled = off);
      INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 60000) g;
      CREATE TABLE av (id int, pad text) WITH (autovacuum_enabled = off, ${SLOW});
      INSERT INTO av SELECT g, repeat('x', 200) FROM generate_series(1, 60000) g;
      -- Forced (anti-wraparound) vacuum after only 100,000 transactions; it ignores autovacuum_enabled.
      CREATE TABLE wrap (id int, pad text) WITH (autovacuum_enabled = off, autovacuum_freeze_max_age = 100000, ${SLOW});
      INSERT INTO wrap SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
      CREATE PROCEDURE burn_xids(n int) LANGUAGE plpgsql AS $$
        BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$`);
  });

  it('passes on a table with no vacuum running, far from wraparound', async () => {
    const report = await gate(cluster(), { tables: ['quiet'], only: ['autovacuum'] });
    expect(checkOf(report, 'autovacuum').status).toBe('pass');
    expect(findingsOf(report, 'autovacuum')).toEqual([]);
  });

  it('fails on a real manual VACUUM in progress on the table', async () => {
    const { client, pid } = await tagged('av-manual');
    await client.query("SET vacuum_cost_delay = '50ms'; SET vacuum_cost_limit = 1");
    running.push(client.query('VACUUM big').catch(() => undefined));
    await waitFor(cluster(), 'SELECT 1 FROM pg_stat_progress_vacuum WHERE pid = $1', [pid]);
    const report = await gate(cluster(), { tables: ['big'], only: ['autovacuum'] });
    expect(checkOf(report, 'autovacuum').status).toBe('fail');
    const finding = findingsOf(report, 'autovacuum', 'manual-vacuum')[0];
    expect(finding).toMatchObject({ severity: 'fail', pid, application: 'av-manual', target: 'public.big', relation: 'big', details: { antiWraparound: false } });
    expect(finding?.remediation?.sql).toBe(`SELECT pg_cancel_backend(${pid});`);
  });

  it('passes a real ordinary autovacuum of the table as information (the migration cancels it), saying so; and a lock that does not conflict', async () => {
    await cluster().sql('ALTER TABLE av SET (autovacuum_enabled = on)');
    try {
      await waitFor(cluster(), "SELECT 1 FROM pg_stat_progress_vacuum v JOIN pg_stat_activity a USING (pid) WHERE v.relid = 'av'::regclass AND a.backend_type = 'autovacuum worker'", [], 30_000);
      const report = await gate(cluster(), { tables: ['av'], only: ['autovacuum'] });
      expect(checkOf(report, 'autovacuum').status).toBe('pass');
      const finding = findingsOf(report, 'autovacuum', 'autovacuum')[0];
      expect(finding).toMatchObject({ severity: 'info', relation: 'av', details: { antiWraparound: false, conflicts: true } });
      expect(checkOf(report, 'autovacuum').summary).toMatch(/autovacuum is running on the target/);
      expect(finding?.query).toMatch(/^autovacuum: VACUUM/);
      const reads = await gate(cluster(), { tables: ['av'], only: ['autovacuum'], lockMode: 'RowExclusiveLock' });
      expect(checkOf(reads, 'autovacuum').status).toBe('pass');
      expect(findingsOf(reads, 'autovacuum', 'autovacuum')[0]).toMatchObject({ severity: 'info', details: { conflicts: false } });
    } finally {
      // Conflicts with the worker's lock, so it also cancels the running autovacuum.
      await cluster().sql('ALTER TABLE av SET (autovacuum_enabled = off)');
    }
  });

  it('warns when the table nears autovacuum_freeze_max_age, then fails on the real anti-wraparound vacuum', async () => {
    await burnXidsUntil('wrap', 92_000);
    const near = await gate(cluster(), { tables: ['wrap'], only: ['autovacuum'] });
    expect(checkOf(near, 'autovacuum').status).toBe('warn');
    const warning = findingsOf(near, 'autovacuum', 'wraparound-near')[0];
    expect(warning).toMatchObject({ severity: 'warn', target: 'public.wrap', relation: 'wrap', details: { freezeMaxAge: 100_000 } });
    expect(Number(warning?.details?.xidAge)).toBeGreaterThanOrEqual(92_000);
    expect(Number(warning?.details?.percent)).toBeGreaterThanOrEqual(90);
    expect(warning?.remediation?.sql).toBe('VACUUM (FREEZE, VERBOSE) wrap;');

    await burnXidsUntil('wrap', 100_500);
    await waitFor(cluster(), "SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND query LIKE '%wrap%(to prevent wraparound)'", [], 30_000);
    const report = await gate(cluster(), { tables: ['wrap'], only: ['autovacuum'] });
    expect(checkOf(report, 'autovacuum').status).toBe('fail');
    const finding = findingsOf(report, 'autovacuum', 'anti-wraparound-vacuum')[0];
    expect(finding).toMatchObject({ severity: 'fail', relation: 'wrap', details: { antiWraparound: true } });
    expect(finding?.query).toMatch(/\(to prevent wraparound\)$/);
    // The verdict is real: an ALTER TABLE does not get its lock while it runs.
    const { client } = await tagged('av-alter');
    await expect(client.query("SET lock_timeout = '1500ms'; ALTER TABLE wrap ADD COLUMN note text")).rejects.toThrow(/lock timeout/);
  });
});

// The lock-mode table (src/migration/lock-table.ts) against pg_locks on a real server.
// For every kind it knows: parse an example with the analyzer, run it in a transaction from
// a tagged session and read that session's locks from another; statements that cannot run
// in a transaction are started behind a blocker and their requested lock is read while they
// wait (and they are shown to fail inside BEGIN). Run with PGPREFLIGHT_PG_MAJOR=<major>
// for each installed major.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_MODES, type LockMode } from '../src/core/lock-modes.js';
import { analyzeSources, type MigrationStatement } from '../src/migration/index.js';
import { LOCK_RULES, type LockRule, type LockRuleKind } from '../src/migration/lock-table.js';
import { taggedSession, useCluster, waitUntilWaiting } from './helpers.js';
import { EXAMPLES, HISTORY, SETUP, type Example } from './support/lock-examples.js';

const cluster = useCluster();

interface Observed {
  oid: number;
  name: string;
  relkind: string;
  mode: LockMode;
}

const strongest = (modes: LockMode[]): LockMode => modes.reduce((a, b) => (LOCK_MODES.indexOf(a) >= LOCK_MODES.indexOf(b) ? a : b));

/** The strongest mode the session holds or awaits per relation of the public schema. */
async function locksOf(pid: number): Promise<Map<number, Observed>> {
  const { rows } = await cluster().sql<{ oid: number; name: string; relkind: string; mode: LockMode }>(
    `SELECT c.oid::int AS oid, c.relname AS name, c.relkind::text AS relkind, l.mode
       FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
      WHERE l.pid = $1 AND l.locktype = 'relation' AND c.relnamespace IN ('public'::regnamespace, 'other'::regnamespace)`,
    [pid],
  );
  const out = new Map<number, Observed>();
  for (const row of rows) {
    const seen = out.get(row.oid);
    out.set(row.oid, { ...row, mode: seen ? strongest([seen.mode, row.mode]) : row.mode });
  }
  return out;
}

async function oidOf(canonical: string): Promise<number | null> {
  const { rows } = await cluster().sql<{ oid: number | null }>('SELECT to_regclass($1)::oid::int AS oid', [canonical]);
  return rows[0]?.oid ?? null;
}

async function tableOfIndex(indexOid: number): Promise<number> {
  const { rows } = await cluster().sql<{ oid: number }>('SELECT indrelid::int AS oid FROM pg_index WHERE indexrelid = $1', [indexOid]);
  return rows[0]?.oid as number;
}

async function analyze(sql: string, history = false): Promise<MigrationStatement[]> {
  return (await analyzeSources([...(history ? [{ file: 'history.sql', text: HISTORY, history: true, noTransaction: false }] : []), { file: 'example.sql', text: sql }])).statements;
}

const clients: pg.Client[] = [];
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, clients);

/**
 * DETACH ... FINALIZE needs a detach that was interrupted: DETACH CONCURRENTLY commits its
 * first step, then waits for a reader of the partition, and is cancelled while it waits.
 */
async function interruptDetach(): Promise<void> {
  const { client: reader } = await tagged('finalize-reader');
  await reader.query('BEGIN; SELECT count(*) FROM events_9');
  const { client: detacher, pid } = await tagged('finalize-detacher');
  const running = detacher.query('ALTER TABLE events DETACH PARTITION events_9 CONCURRENTLY').then(() => null, (e: { code?: string }) => e.code);
  await waitUntilWaiting(cluster(), 'finalize-detacher');
  await cluster().sql('SELECT pg_cancel_backend($1)', [pid]);
  expect(await running).toBe('57014');
  await reader.query('ROLLBACK');
}

describe('lock-mode table against pg_locks', () => {
  beforeAll(async () => {
    await cluster().sql(SETUP);
  });

  it('has an example for every kind it knows', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(LOCK_RULES).sort());
  });

  for (const [kind, example] of Object.entries(EXAMPLES) as [LockRuleKind, Example][]) {
    it(`${kind}: ${example.sql.slice(0, 80)}`, async (context) => {
      if (example.since !== undefined && cluster().major < example.since) context.skip(`${kind} needs PostgreSQL ${example.since}`);
      const row: LockRule = LOCK_RULES[kind];
      if (example.prepare === 'interrupted-detach') await interruptDetach();
      const statements = await analyze(example.sql, example.history);
      const last = statements.at(-1) as MigrationStatement;
      expect(last.kinds).toContain(kind);
      expect(last.unknown).toBe(false);
      expect(last.mayRunInTransaction).toBe(row.inTransaction);
      // The claim: strongest mode per relation over the example's statements.
      const claimed = new Map<string, { mode: LockMode; role: string }>();
      for (const s of statements) {
        for (const r of s.relations) {
          const seen = claimed.get(r.canonical);
          claimed.set(r.canonical, { mode: seen ? strongest([seen.mode, r.mode]) : r.mode, role: r.role });
        }
      }
      const claimedOids = new Map<number, { canonical: string; mode: LockMode; role: string }>();
      for (const [canonical, claim] of claimed) {
        const oid = await oidOf(canonical);
        expect(oid, `${canonical} exists before the statement`).not.toBeNull();
        claimedOids.set(oid as number, { canonical, ...claim });
      }
      const before = new Set((await cluster().sql<{ oid: number }>("SELECT oid::int AS oid FROM pg_class WHERE relnamespace = 'public'::regnamespace")).rows.map((r) => r.oid));
      const app = `locks-${kind}`;

      let observed: Map<number, Observed>;
      if (example.blockOn === undefined) {
        const { client, pid } = await tagged(app);
        const tables = [...claimedOids].filter(([, c]) => c.role === 'table').map(([oid]) => oid);
        const filenodes = async (): Promise<string> =>
          JSON.stringify((await client.query<{ relfilenode: number }>('SELECT relfilenode FROM pg_class WHERE oid = ANY($1::oid[]) ORDER BY oid', [tables])).rows);
        // The scan column: the statement's own relations are read in full (a sequential scan), or not.
        const scanned = [...claimedOids].filter(([, c]) => c.role === 'table' || c.role === 'partition' || c.role === 'source').map(([oid]) => oid);
        const seqScans = async (): Promise<number> =>
          Number((await client.query<{ n: string }>('SELECT COALESCE(sum(seq_scan), 0) AS n FROM pg_stat_xact_user_tables WHERE relid = ANY($1::oid[])', [scanned])).rows[0]?.n ?? 0);
        await client.query('BEGIN');
        try {
          for (const earlier of statements.slice(0, -1)) await client.query(earlier.sql);
          const storageBefore = await filenodes();
          const scansBefore = await seqScans();
          await client.query(last.sql);
          observed = await locksOf(pid);
          const scansAfter = await seqScans();
          // Query-dependent rows (a WHERE may use an index), plain VACUUM/ANALYZE (not counted as a
          // scan) and TRUNCATE (new storage; its statistics are reset) are not checked.
          if (!row.rewrite && scanned.length > 0 && !['write-rows', 'read-rows', 'vacuum', 'analyze', 'truncate'].includes(kind)) expect(scansAfter > scansBefore, `${kind} reads every row`).toBe(row.scan);
          // The rewrite column: a rewrite gives the table new storage (a new relfilenode). TRUNCATE
          // does too without copying a row, and DROP leaves no row to compare.
          if (tables.length > 0 && kind !== 'truncate' && kind !== 'drop-table') expect((await filenodes()) !== storageBefore, `${kind} rewrites`).toBe(row.rewrite);
        } finally {
          await client.query('ROLLBACK');
        }
      } else {
        // Inside BEGIN it is refused: the "may run in a transaction" column is false for a reason.
        const { client: probe } = await tagged(`${app}-tx`);
        await probe.query('BEGIN');
        const refused = await probe.query(example.sql).then(() => null, (e: { code?: string }) => e.code);
        await probe.query('ROLLBACK');
        expect(refused).toBe('25001');
        const { client: blocker } = await tagged(`${app}-blocker`);
        // SHARE conflicts with ShareUpdateExclusive and stronger but lets the catalog lookups (AccessShareLock) through.
        await blocker.query(`BEGIN; LOCK TABLE ${example.blockOn} IN SHARE MODE`);
        const { client, pid } = await tagged(app);
        const running = client.query(example.sql).then(() => null, (e: { code?: string }) => e.code);
        try {
          await waitUntilWaiting(cluster(), app);
          observed = await locksOf(pid);
          await cluster().sql('SELECT pg_cancel_backend($1)', [pid]);
          expect(await running).toBe('57014');
        } finally {
          await blocker.query('ROLLBACK');
        }
      }

      for (const [oid, claim] of claimedOids) {
        const seen = observed.get(oid);
        if (claim.role === 'index') {
          const table = await tableOfIndex(oid);
          expect(observed.get(table)?.mode, `${kind}: the table of ${claim.canonical}`).toBe(row.indexTableLock);
        }
        // Behind the blocker only the first lock is requested; the others come after it.
        if (example.blockOn !== undefined && claim.role !== 'table' && !seen) continue;
        expect(seen?.mode, `${kind}: ${claim.canonical}`).toBe(claim.mode);
      }
      const indexTables = new Set<number>();
      for (const [oid, claim] of claimedOids) if (claim.role === 'index') indexTables.add(await tableOfIndex(oid));
      // Every other pre-existing table it locks must be claimed; reading a table (AccessShareLock) is tolerated.
      const unclaimed = [...observed.values()].filter(
        (o) => before.has(o.oid) && ['r', 'p', 'm'].includes(o.relkind) && !claimedOids.has(o.oid) && !indexTables.has(o.oid) && o.mode !== 'AccessShareLock',
      );
      expect(unclaimed.map((o) => `${o.name} ${o.mode}`)).toEqual([]);
    });
  }
});

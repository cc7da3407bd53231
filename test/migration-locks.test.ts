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

const cluster = useCluster();

const SETUP = `
  CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total int, note text);
  INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
  INSERT INTO orders SELECT g, 1 + g % 50, g, 'n' FROM generate_series(1, 200) g;
  CREATE INDEX orders_total_idx ON orders (total);
  CREATE UNIQUE INDEX orders_total_uidx ON orders (total);
  ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0);
  ALTER TABLE orders ADD CONSTRAINT orders_total_pos CHECK (total > 0) NOT VALID;
  CREATE TABLE scratch (id int PRIMARY KEY, body text);
  CREATE TABLE events (id int, kind int) PARTITION BY LIST (kind);
  CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
  CREATE TABLE events_2 (id int, kind int);
  CREATE MATERIALIZED VIEW order_totals AS SELECT id, total FROM orders;
  CREATE UNIQUE INDEX order_totals_id ON order_totals (id);
  CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
  CREATE TRIGGER orders_noop BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION noop();
  ANALYZE;
`;

interface Example {
  sql: string;
  /** Cannot run in a transaction: start it behind a ShareLock on this table and read what it requests. */
  blockOn?: string;
}

const EXAMPLES: Record<LockRuleKind, Example> = {
  'add-column': { sql: 'ALTER TABLE orders ADD COLUMN extra int DEFAULT 0' },
  'add-column-rewrite': { sql: 'ALTER TABLE orders ADD COLUMN noise float8 DEFAULT random()' },
  'drop-column': { sql: 'ALTER TABLE orders DROP COLUMN note' },
  'alter-column-type': { sql: 'ALTER TABLE orders ALTER COLUMN customer_id TYPE bigint' },
  'set-not-null': { sql: 'ALTER TABLE orders ALTER COLUMN total SET NOT NULL' },
  'set-not-null-proven': {
    sql: 'ALTER TABLE orders ADD CONSTRAINT total_nn CHECK (total IS NOT NULL) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT total_nn; ALTER TABLE orders ALTER COLUMN total SET NOT NULL',
  },
  'drop-not-null': { sql: 'ALTER TABLE customers ALTER COLUMN name DROP NOT NULL' },
  'set-default': { sql: 'ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0' },
  'add-check': { sql: 'ALTER TABLE orders ADD CONSTRAINT total_small CHECK (total < 1000000)' },
  'add-check-not-valid': { sql: 'ALTER TABLE orders ADD CONSTRAINT total_small CHECK (total < 1000000) NOT VALID' },
  'add-foreign-key': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)' },
  'add-foreign-key-not-valid': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID' },
  'add-index-constraint': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_total_key UNIQUE (total)' },
  'add-constraint-using-index': { sql: 'ALTER TABLE orders ADD CONSTRAINT orders_total_key UNIQUE USING INDEX orders_total_uidx' },
  'validate-constraint': { sql: 'ALTER TABLE orders VALIDATE CONSTRAINT orders_total_pos' },
  'drop-constraint': { sql: 'ALTER TABLE orders DROP CONSTRAINT orders_total_check' },
  rename: { sql: 'ALTER TABLE orders RENAME COLUMN note TO remark' },
  'rename-index': { sql: 'ALTER INDEX orders_total_idx RENAME TO orders_total_idx2' },
  'set-statistics': { sql: 'ALTER TABLE orders ALTER COLUMN total SET STATISTICS 500' },
  'set-storage-parameters': { sql: 'ALTER TABLE orders SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01)' },
  'alter-table-metadata': { sql: 'ALTER TABLE orders ALTER COLUMN note SET STORAGE EXTERNAL' },
  'alter-table-rewrite': { sql: 'ALTER TABLE scratch SET UNLOGGED' },
  'enable-disable-trigger': { sql: 'ALTER TABLE orders DISABLE TRIGGER orders_noop' },
  'attach-partition': { sql: 'ALTER TABLE events ATTACH PARTITION events_2 FOR VALUES IN (2)' },
  'detach-partition': { sql: 'ALTER TABLE events DETACH PARTITION events_1' },
  'detach-partition-concurrently': { sql: 'ALTER TABLE events DETACH PARTITION events_1 CONCURRENTLY', blockOn: 'events' },
  'create-index': { sql: 'CREATE INDEX orders_customer_idx ON orders (customer_id)' },
  'create-index-concurrently': { sql: 'CREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id)', blockOn: 'orders' },
  'drop-index': { sql: 'DROP INDEX orders_total_idx' },
  'drop-index-concurrently': { sql: 'DROP INDEX CONCURRENTLY orders_total_idx', blockOn: 'orders' },
  reindex: { sql: 'REINDEX TABLE orders' },
  'reindex-concurrently': { sql: 'REINDEX TABLE CONCURRENTLY orders', blockOn: 'orders' },
  'drop-table': { sql: 'DROP TABLE scratch' },
  truncate: { sql: 'TRUNCATE scratch' },
  'vacuum-full': { sql: 'VACUUM FULL scratch', blockOn: 'scratch' },
  vacuum: { sql: 'VACUUM scratch', blockOn: 'scratch' },
  analyze: { sql: 'ANALYZE orders' },
  cluster: { sql: 'CLUSTER orders USING orders_pkey' },
  'create-trigger': { sql: 'CREATE TRIGGER orders_noop2 BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION noop()' },
  'drop-trigger': { sql: 'DROP TRIGGER orders_noop ON orders' },
  comment: { sql: "COMMENT ON COLUMN orders.note IS 'free text'" },
  'create-table': { sql: 'CREATE TABLE invoices (id int PRIMARY KEY, customer_id int REFERENCES customers (id))' },
  'create-partition': { sql: 'CREATE TABLE events_3 PARTITION OF events FOR VALUES IN (3)' },
  'lock-table': { sql: 'LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE' },
  'refresh-materialized-view': { sql: 'REFRESH MATERIALIZED VIEW order_totals' },
  'refresh-materialized-view-concurrently': { sql: 'REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals' },
  'write-rows': { sql: 'UPDATE orders SET total = total WHERE id = 1' },
  'read-rows': { sql: 'SELECT count(*) FROM orders' },
};

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
      WHERE l.pid = $1 AND l.locktype = 'relation' AND c.relnamespace = 'public'::regnamespace`,
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

async function analyze(sql: string): Promise<MigrationStatement[]> {
  return (await analyzeSources([{ file: 'example.sql', text: sql }])).statements;
}

const clients: pg.Client[] = [];
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
});

const tagged = (app: string): Promise<{ client: pg.Client; pid: number }> => taggedSession(cluster(), app, clients);

describe('lock-mode table against pg_locks', () => {
  beforeAll(async () => {
    await cluster().sql(SETUP);
  });

  it('has an example for every kind it knows', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(LOCK_RULES).sort());
  });

  for (const [kind, example] of Object.entries(EXAMPLES) as [LockRuleKind, Example][]) {
    it(`${kind}: ${example.sql.slice(0, 80)}`, async () => {
      const row: LockRule = LOCK_RULES[kind];
      const statements = await analyze(example.sql);
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
        await client.query('BEGIN');
        try {
          const storageBefore = await filenodes();
          await client.query(example.sql);
          observed = await locksOf(pid);
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

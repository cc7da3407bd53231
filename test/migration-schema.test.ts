// What PostgreSQL rewrites, checked on a real server against the analyzer's answer: each
// ALTER COLUMN ... TYPE and ADD COLUMN ... DEFAULT runs in a rolled-back transaction while the
// table's relfilenode and seq_scan are read, and the analyzer judges the same statement three
// ways: offline from the CREATE TABLE it was given as history, offline without it (then an
// unknown must be assumed, never a pass), and online from the server's catalogs.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { resolveConnection } from '../src/core/connection.js';
import { resolveCheckOptions } from '../src/gate/check-options.js';
import { runOnce } from '../src/gate/runner.js';
import { analyzeSources, mergeTableRequests } from '../src/migration/index.js';
import type { Finding } from '../src/core/types.js';
import { stageLockQueue, taggedSession, useCluster } from './helpers.js';

const cluster = useCluster();
const open: pg.Client[] = [];
afterAll(async () => {
  for (const c of open) await c.end().catch(() => undefined);
});

const CREATE = `CREATE TABLE wide (
  id int PRIMARY KEY, v20 varchar(20), n105 numeric(10,5), ts timestamp, tsi timestamp, tstz timestamptz, ts3 timestamp(3),
  net cidr, inet_col inet, ch5 char(5), arr varchar(20)[], i int, seq int, vb varbit(5), iv interval(0), tx text, tm time(0));
CREATE INDEX wide_tsi ON wide (tsi);
CREATE INDEX wide_seq ON wide (seq);
CREATE INDEX wide_v20 ON wide (v20);`;

/** [change, timezone] — the session TimeZone matters for timestamp ↔ timestamptz. */
const CHANGES: [string, string][] = [
  ['i TYPE int', 'UTC'],
  ['v20 TYPE varchar(40)', 'UTC'],
  ['v20 TYPE varchar(10)', 'UTC'],
  ['v20 TYPE text', 'UTC'],
  ['v20 TYPE varchar', 'UTC'],
  ['v20 TYPE text USING v20::text', 'UTC'],
  ['tx TYPE varchar(30)', 'UTC'],
  ['tx TYPE varchar', 'UTC'],
  ['n105 TYPE numeric(12,5)', 'UTC'],
  ['n105 TYPE numeric(10,6)', 'UTC'],
  ['n105 TYPE numeric', 'UTC'],
  ['ts TYPE timestamptz', 'UTC'],
  ['ts TYPE timestamptz', 'America/New_York'],
  ['tstz TYPE timestamp', 'UTC'],
  ['tsi TYPE timestamptz', 'UTC'],
  ['ts3 TYPE timestamp(6)', 'UTC'],
  ['ts3 TYPE timestamp(0)', 'UTC'],
  ['tstz TYPE timestamptz(3)', 'UTC'],
  ['tm TYPE time(3)', 'UTC'],
  ['iv TYPE interval(3)', 'UTC'],
  ['net TYPE inet', 'UTC'],
  ['inet_col TYPE cidr', 'UTC'],
  ['ch5 TYPE char(6)', 'UTC'],
  ['ch5 TYPE text', 'UTC'],
  ['arr TYPE varchar(30)[]', 'UTC'],
  ['i TYPE bigint', 'UTC'],
  ['seq TYPE oid', 'UTC'],
  ['vb TYPE varbit(9)', 'UTC'],
  ['i TYPE bigint USING i * 2', 'UTC'],
];

const DEFAULTS = ["timezone('utc', now())", "date_trunc('day', now())", "md5('x')", 'pi()', "to_char(now(), 'YYYY')", 'now()', 'gen_random_uuid()', 'clock_timestamp()', 'random()', "timeofday()"];

interface Observed {
  rewrite: boolean;
  scan: boolean;
}

async function observe(sql: string, timezone = 'UTC'): Promise<Observed> {
  const { client } = await taggedSession(cluster(), 'schema-observe', open);
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL timezone = '${timezone}'`);
    const before = await client.query<{ heap: string; indexes: string; scans: string }>(
      "SELECT (SELECT relfilenode FROM pg_class WHERE relname = 'wide')::text AS heap, (SELECT string_agg(relfilenode::text, ',' ORDER BY relname) FROM pg_class WHERE relname LIKE 'wide\\_%' AND relkind = 'i') AS indexes, (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'wide')::text AS scans",
    );
    await client.query(sql);
    const after = await client.query<{ heap: string; indexes: string; scans: string }>(
      "SELECT (SELECT relfilenode FROM pg_class WHERE relname = 'wide')::text AS heap, (SELECT string_agg(relfilenode::text, ',' ORDER BY relname) FROM pg_class WHERE relname LIKE 'wide\\_%' AND relkind = 'i') AS indexes, (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'wide')::text AS scans",
    );
    const [b, a] = [before.rows[0], after.rows[0]];
    return { rewrite: b?.heap !== a?.heap, scan: b?.indexes !== a?.indexes || Number(a?.scans ?? 0) > Number(b?.scans ?? 0) };
  } finally {
    await client.query('ROLLBACK');
  }
}

/** The analyzer's answer, offline: rewrite / index rebuild (a scan) / none, and whether it was assumed. */
async function offline(sql: string, timezone: string, withHistory: boolean): Promise<{ rewrite: boolean; scan: boolean; assumed: boolean }> {
  const files = [
    ...(withHistory ? [{ file: 'history.sql', text: CREATE, history: true, noTransaction: false }] : []),
    { file: 'change.sql', text: `SET lock_timeout = '5s';\nSET timezone = '${timezone}';\n${sql};\n`, history: false, noTransaction: false },
  ];
  const statement = (await analyzeSources(files)).statements.at(-1);
  const dangers = statement?.dangers.filter((d) => d.sizeDependent) ?? [];
  return { rewrite: dangers.some((d) => d.kind === 'rewrite'), scan: dangers.some((d) => d.kind === 'scan-under-lock'), assumed: dangers.some((d) => Boolean(d.assumed)) };
}

/** The analyzer's answer on the server's schema (check --migration online), as migration-risk findings. */
async function online(sql: string): Promise<Finding[]> {
  const analysis = await analyzeSources([{ file: 'change.sql', text: `SET lock_timeout = '5s';\n${sql};\n` }]);
  const checks = CHECKS.filter((c) => c.id === 'migration-risk');
  const { report } = await runOnce({
    connection: resolveConnection(cluster().url(), {}),
    tables: mergeTableRequests([], analysis.tables),
    checks,
    // Every rewrite or scan fails at 1 row: the finding's kind is what is compared.
    options: resolveCheckOptions(checks, { 'rewrite-rows-fail': '1' }),
    timeoutMs: 15_000,
    migration: analysis,
  });
  return report.checks[0]?.findings.filter((f) => f.severity !== 'info') ?? [];
}

describe('ALTER COLUMN TYPE and ADD COLUMN DEFAULT: the analyzer against relfilenode and seq_scan', () => {
  beforeAll(async () => {
    await cluster().sql(`${CREATE}
      INSERT INTO wide (id, v20, n105, ts, tsi, tstz, ts3, net, inet_col, ch5, arr, i, seq, vb, iv, tx, tm)
        SELECT g, 'v' || g, g, now(), now(), now(), now(), '10.0.0.0/8', '10.0.0.1', 'abc', ARRAY['x'], g, g, B'101', '1 day', 't', '12:00'
          FROM generate_series(1, 2000) g;
      ANALYZE wide;
      ALTER DATABASE postgres SET timezone = 'UTC';`);
  });

  for (const [change, timezone] of CHANGES) {
    it(`${change} (TimeZone ${timezone})`, async () => {
      const sql = `ALTER TABLE wide ALTER COLUMN ${change}`;
      const truth = await observe(sql, timezone);
      // Offline with the CREATE TABLE: exactly what PostgreSQL does.
      const known = await offline(sql, timezone, true);
      expect({ rewrite: known.rewrite, scan: known.scan && !known.rewrite }).toEqual({ rewrite: truth.rewrite, scan: truth.scan && !truth.rewrite });
      // Offline without it: never a pass for what PostgreSQL rewrites or scans.
      const blind = await offline(sql, timezone, false);
      if (truth.rewrite || truth.scan) expect(blind.rewrite || blind.scan).toBe(true);
      if (blind.rewrite !== truth.rewrite) expect(blind.assumed).toBe(true);
    });
  }

  it('online, the server\'s schema decides the same way (the server TimeZone is UTC)', async () => {
    for (const [change, timezone] of CHANGES.filter(([, tz]) => tz === 'UTC')) {
      const sql = `ALTER TABLE wide ALTER COLUMN ${change}`;
      const truth = await observe(sql, timezone);
      const kinds = (await online(sql)).map((f) => f.kind).filter((k) => k === 'rewrite' || k === 'scan-under-lock');
      expect({ change, kinds }).toEqual({ change, kinds: truth.rewrite ? ['rewrite'] : truth.scan ? ['scan-under-lock'] : [] });
    }
  });

  for (const expr of DEFAULTS) {
    it(`ADD COLUMN ... DEFAULT ${expr}`, async () => {
      const sql = `ALTER TABLE wide ADD COLUMN extra text DEFAULT ${expr}`;
      const truth = await observe(sql);
      const judged = await offline(sql, 'UTC', false);
      expect(judged.rewrite).toBe(truth.rewrite);
    });
  }

  it('online: a CHECK (col IS NOT NULL) validated on the server proves SET NOT NULL; a NOT VALID one does not', async () => {
    await cluster().sql('ALTER TABLE wide ADD CONSTRAINT wide_i_nn CHECK (i IS NOT NULL) NOT VALID');
    expect((await online('ALTER TABLE wide ALTER COLUMN i SET NOT NULL')).map((f) => f.kind)).toContain('scan-under-lock');
    // The server's NOT VALID CHECK, validated by the migration itself before SET NOT NULL (strong_migrations' recipe).
    expect((await online('ALTER TABLE wide VALIDATE CONSTRAINT wide_i_nn;\nALTER TABLE wide ALTER COLUMN i SET NOT NULL')).map((f) => f.kind)).not.toContain('scan-under-lock');
    await cluster().sql('ALTER TABLE wide VALIDATE CONSTRAINT wide_i_nn');
    expect((await online('ALTER TABLE wide ALTER COLUMN i SET NOT NULL')).map((f) => f.kind)).not.toContain('scan-under-lock');
    expect((await observe('ALTER TABLE wide ALTER COLUMN i SET NOT NULL')).scan).toBe(false);
  });

  it('online: a function created on the server is judged by its pg_proc.provolatile', async () => {
    // PL/pgSQL: a SQL function this simple would be inlined, and PostgreSQL would judge its body instead.
    await cluster().sql("CREATE FUNCTION stable_default() RETURNS text STABLE LANGUAGE plpgsql AS $$ BEGIN RETURN 'x'; END $$; CREATE FUNCTION volatile_default() RETURNS text VOLATILE LANGUAGE plpgsql AS $$ BEGIN RETURN 'x'; END $$;");
    expect((await online('ALTER TABLE wide ADD COLUMN a text DEFAULT stable_default()')).map((f) => f.kind)).not.toContain('rewrite');
    expect((await online('ALTER TABLE wide ADD COLUMN a text DEFAULT volatile_default()')).map((f) => f.kind)).toContain('rewrite');
    expect((await observe('ALTER TABLE wide ADD COLUMN a text DEFAULT stable_default()')).rewrite).toBe(false);
    expect((await observe('ALTER TABLE wide ADD COLUMN a text DEFAULT volatile_default()')).rewrite).toBe(true);
  });

  it('reads the schema from the catalogs without queueing behind an ALTER that waits for the table', async () => {
    const queue: pg.Client[] = [];
    try {
      await stageLockQueue(cluster(), 'schema-queue', queue, 'wide');
      // A widening the server's schema proves harmless: judged from the catalogs while the queue stands.
      expect((await online('ALTER TABLE wide ALTER COLUMN v20 TYPE varchar(50)')).map((f) => f.kind)).not.toContain('rewrite');
    } finally {
      for (const c of queue) await c.end().catch(() => undefined);
    }
  });

  it('online: PRIMARY KEY USING INDEX scans on a nullable column, not on a NOT NULL one', async () => {
    await cluster().sql('CREATE UNIQUE INDEX wide_i_key ON wide (i); CREATE UNIQUE INDEX wide_id_key ON wide (id)');
    await cluster().sql('ALTER TABLE wide DROP CONSTRAINT wide_i_nn');
    const nullable = 'ALTER TABLE wide DROP CONSTRAINT wide_pkey, ADD CONSTRAINT wide_pk2 PRIMARY KEY USING INDEX wide_i_key';
    expect((await observe(nullable)).scan).toBe(true);
    expect((await online(nullable)).map((f) => f.kind)).toContain('scan-under-lock');
    const notNull = 'ALTER TABLE wide DROP CONSTRAINT wide_pkey, ADD CONSTRAINT wide_pk2 PRIMARY KEY USING INDEX wide_id_key';
    expect((await online(notNull)).map((f) => f.kind)).not.toContain('scan-under-lock');
  });
});

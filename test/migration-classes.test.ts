// Issue 17's classes on the analyzer alone (no server: these are claims about the analyzer's
// reading; what PostgreSQL does is checked on a server by migration-locks.test.ts and
// migration-schema.test.ts). Each class has the examples and a sibling it did not name.
import { describe, expect, it } from 'vitest';
import { analyzeSources, judgeWithOverlay, type AnalyzeOptions, type MigrationStatement } from '../src/migration/index.js';

type Source = { file: string; text: string; history?: boolean; noTransaction?: boolean };

async function judged(sources: Source[] | string, options: AnalyzeOptions = {}): Promise<MigrationStatement[]> {
  const list = typeof sources === 'string' ? [{ file: 'm.sql', text: sources }] : sources;
  return (await analyzeSources(list.map((s) => ({ history: false, noTransaction: false, ...s })), options)).statements;
}

/** The danger kinds per statement, keyed by the statement's first words. */
function dangersOf(statements: MigrationStatement[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const s of statements) {
    const kinds = s.dangers.map((d) => d.kind).filter((k) => k !== 'lock-timeout-missing');
    if (kinds.length > 0) out[`${s.line}: ${s.excerpt.slice(0, 40)}`] = kinds;
  }
  return out;
}

const sizeDangers = (statements: MigrationStatement[]): string[] =>
  statements.flatMap((s) => s.dangers.filter((d) => d.sizeDependent).map((d) => `${s.line}:${d.kind}`));

const T = "SET lock_timeout = '5s';\n";

describe('1. locks accumulate until COMMIT', () => {
  it('VALIDATE after ADD ... NOT VALID in one transaction scans under ACCESS EXCLUSIVE; in two transactions it does not', async () => {
    const together = await judged(`${T}BEGIN;\nALTER TABLE app_email ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES app_user (id) NOT VALID;\nALTER TABLE app_email VALIDATE CONSTRAINT fk_user;\nCOMMIT;\n`);
    expect(sizeDangers(together)).toEqual(['4:scan-under-lock']);
    expect(together[3]?.dangers[0]?.message).toMatch(/ShareRowExclusiveLock on app_email \(taken at line 3\)/);
    const apart = await judged(`${T}ALTER TABLE app_email ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES app_user (id) NOT VALID;\nALTER TABLE app_email VALIDATE CONSTRAINT fk_user;\n`);
    expect(sizeDangers(apart)).toEqual([]);
  });

  it('a backfill after ADD COLUMN in the same transaction runs under ACCESS EXCLUSIVE (the Rails runner wraps the file)', async () => {
    const sql = `${T}ALTER TABLE users ADD COLUMN some_column text;\nUPDATE users SET some_column = 'default_value';\n`;
    expect(sizeDangers(await judged(sql, { runner: 'rails' }))).toEqual(['3:scan-under-lock']);
    expect(sizeDangers(await judged(sql, { inTransaction: true }))).toEqual(['3:scan-under-lock']);
    // psql -f: each statement commits on its own.
    expect(sizeDangers(await judged(sql))).toEqual([]);
    expect(sizeDangers(await judged(`${T}BEGIN;\nALTER TABLE users ADD COLUMN some_column text;\nUPDATE users SET some_column = 'x';\nCOMMIT;\n`))).toEqual(['4:scan-under-lock']);
  });

  it('a full read after an ALTER in the same transaction, and VALIDATE plus DROP COLUMN in one ALTER', async () => {
    expect(sizeDangers(await judged(`${T}BEGIN;\nALTER TABLE authors ADD COLUMN email text;\nSELECT count(*) FROM authors;\nCOMMIT;\n`))).toEqual(['4:scan-under-lock']);
    expect(sizeDangers(await judged(`${T}ALTER TABLE prices VALIDATE CONSTRAINT check_new_price_not_null, DROP COLUMN price;\n`))).toEqual(['2:scan-under-lock']);
  });

  it('sibling: a scan of another table extends the lock held on the first (eugene E10)', async () => {
    const statements = await judged(`${T}BEGIN;\nALTER TABLE authors ADD COLUMN meta jsonb;\nINSERT INTO archive SELECT * FROM prices;\nCOMMIT;\n`);
    expect(statements[3]?.dangers.map((d) => d.message)).toEqual([expect.stringMatching(/INSERT \.\.\. SELECT reads prices while holding AccessExclusiveLock on authors \(taken at line 3\)/)]);
  });

  it('SET LOCAL ends at COMMIT; set_config(..., false) lasts the session', async () => {
    const local = await judged("BEGIN;\nSET LOCAL lock_timeout = '5s';\nALTER TABLE a ADD COLUMN x int;\nCOMMIT;\nALTER TABLE b ADD COLUMN y int;\n");
    expect(local.map((s) => s.lockTimeoutSet)).toEqual([false, true, true, false, false]);
    expect(local[4]?.dangers.map((d) => d.kind)).toEqual(['lock-timeout-missing']);
    const config = await judged("SELECT set_config('lock_timeout', '5s', false);\nALTER TABLE a ADD COLUMN x int;\n");
    expect(config[1]).toMatchObject({ lockTimeoutSet: true, dangers: [] });
    // SET LOCAL outside a transaction does nothing.
    expect((await judged("SET LOCAL lock_timeout = '5s';\nALTER TABLE a ADD COLUMN x int;\n"))[1]?.lockTimeoutSet).toBe(false);
  });

  it('runners: Prisma and golang-migrate send a file as one query (implicit transaction); CREATE INDEX CONCURRENTLY must be alone', async () => {
    const mixed = `${T}CREATE INDEX CONCURRENTLY i ON t (a);\n`;
    for (const runner of ['prisma', 'golang-migrate']) {
      expect(dangersOf(await judged(mixed, { runner }))).toEqual({ '2: CREATE INDEX CONCURRENTLY i ON t (a)': ['concurrently-in-transaction'] });
      expect(dangersOf(await judged('CREATE INDEX CONCURRENTLY i ON t (a);\n', { runner }))).toEqual({});
    }
    // sqlx's -- no-transaction and goose's NO TRANSACTION opt a file out of the runner's transaction.
    expect(dangersOf(await judged(`-- no-transaction\n${mixed}`, { runner: 'sqlx' }))).toEqual({});
    expect(dangersOf(await judged(`-- +goose NO TRANSACTION\n-- +goose Up\n${mixed}`, { runner: 'goose' }))).toEqual({});
    expect(dangersOf(await judged(mixed, { runner: 'sqlx' }))).toEqual({ '2: CREATE INDEX CONCURRENTLY i ON t (a)': ['concurrently-in-transaction'] });
  });

  it('a COMMIT in a runner-wrapped file ends its transaction (squawk: COMMIT; CREATE INDEX CONCURRENTLY; BEGIN)', async () => {
    const sql = `${T}COMMIT;\nCREATE UNIQUE INDEX CONCURRENTLY field_name_idx ON table_name (field_name);\nBEGIN;\nALTER TABLE table_name ADD CONSTRAINT field_name_id UNIQUE USING INDEX field_name_idx;\n`;
    expect(dangersOf(await judged(sql, { runner: 'transaction' }))).toEqual({});
    // Sent as one query string, the COMMIT starts a new implicit transaction: still refused.
    expect(Object.values(dangersOf(await judged(sql, { runner: 'prisma' })))).toEqual([['concurrently-in-transaction']]);
  });

  it('sibling: Alembic runs every pending file in one transaction, so a lock of file 1 is held during file 2', async () => {
    const files = [
      { file: '1.sql', text: `${T}ALTER TABLE users ADD COLUMN flag boolean;\n` },
      { file: '2.sql', text: `${T}UPDATE users SET flag = false;\n` },
    ];
    expect(sizeDangers(await judged(files, { runner: 'alembic' }))).toEqual(['2:scan-under-lock']);
    expect(sizeDangers(await judged(files, { runner: 'transaction' }))).toEqual([]);
  });

  it('auto-detects the runner from the layout', async () => {
    const analysis = await analyzeSources([{ file: 'migrations/20240101_init/migration.sql', text: 'SELECT 1;' }]);
    expect(analysis.runner.name).toBe('prisma');
    expect((await analyzeSources([{ file: 'db/1_init.up.sql', text: 'SELECT 1;' }])).runner.name).toBe('golang-migrate');
    expect((await analyzeSources([{ file: 'db/V1__init.sql', text: 'SELECT 1;' }])).runner.name).toBe('flyway');
    expect((await analyzeSources([{ file: 'db/0001_init.sql', text: 'SELECT 1;' }])).runner.name).toBe('psql');
    await expect(analyzeSources([{ file: 'a.sql', text: 'SELECT 1;' }], { runner: 'nope' })).rejects.toThrow(/--runner nope: unknown/);
  });
});

const HISTORY = {
  file: '0001_create.sql',
  history: true,
  text: `CREATE TABLE users (id bigint PRIMARY KEY, name varchar(20), country varchar(20), credit numeric(10,5), deleted_at timestamp,
    ip cidr, code char(5), tags varchar(20)[], created timestamptz, score int, amount int);
CREATE INDEX users_deleted_at ON users (deleted_at);\n`,
};

async function typeDanger(change: string, prefix = ''): Promise<string[]> {
  const statements = await judged([HISTORY, { file: '0002.sql', text: `${T}${prefix}ALTER TABLE users ALTER COLUMN ${change};\n` }]);
  return statements.at(-1)?.dangers.map((d) => d.kind) ?? [];
}

describe('2. what PostgreSQL does not rewrite or scan, and what it does', () => {
  it('ALTER COLUMN TYPE: binary-coercible and widening changes keep the table', async () => {
    expect(await typeDanger('id TYPE bigint')).toEqual([]);
    expect(await typeDanger('name TYPE varchar(200)')).toEqual([]);
    expect(await typeDanger('name TYPE text')).toEqual([]);
    expect(await typeDanger('name TYPE text USING name::text')).toEqual([]);
    expect(await typeDanger('credit TYPE numeric(12,5)')).toEqual([]);
    expect(await typeDanger('ip TYPE inet')).toEqual([]);
    // TemporalSimplify: the maximum precision is no change, a lower one rewrites.
    expect(await typeDanger('created TYPE timestamptz(6)')).toEqual([]);
    expect(await typeDanger('created TYPE timestamptz(3)')).toEqual(['rewrite']);
  });

  it('timestamp ↔ timestamptz keeps the table only under TimeZone UTC, and rebuilds an index on the column', async () => {
    // deleted_at is indexed: no rewrite, but the index is rebuilt under ACCESS EXCLUSIVE.
    expect(await typeDanger('deleted_at TYPE timestamptz', "SET timezone = 'UTC';\n")).toEqual(['scan-under-lock']);
    expect(await typeDanger('created TYPE timestamp', "SET timezone = 'UTC';\n")).toEqual([]);
    expect(await typeDanger('created TYPE timestamp', "SET timezone = 'America/Los_Angeles';\n")).toEqual(['rewrite']);
    // Unknown TimeZone offline: assumed to rewrite.
    expect(await typeDanger('created TYPE timestamp')).toEqual(['rewrite']);
  });

  it('what does rewrite: narrowing, int → bigint, char(n), and (sibling) arrays of a widened type', async () => {
    expect(await typeDanger('country TYPE varchar(19)')).toEqual(['rewrite']);
    expect(await typeDanger('score TYPE bigint')).toEqual(['rewrite']);
    expect(await typeDanger('code TYPE char(6)')).toEqual(['rewrite']);
    expect(await typeDanger('tags TYPE varchar(30)[]')).toEqual(['rewrite']);
    expect(await typeDanger('amount TYPE bigint USING amount * 100')).toEqual(['rewrite']);
  });

  it('a type change on a column the migration never saw is assumed to rewrite, and says so', async () => {
    const [statement] = await judged('ALTER TABLE core_recipe ALTER COLUMN edits TYPE text USING edits::text;\n');
    expect(statement?.dangers[0]).toMatchObject({ kind: 'rewrite', assumed: expect.stringMatching(/current type is unknown/) });
  });

  it('defaults: stable and immutable functions by volatility, not by a short allowlist', async () => {
    const add = async (expr: string): Promise<string[]> => sizeDangers(await judged(`${T}ALTER TABLE t ADD COLUMN c timestamptz DEFAULT ${expr};\n`));
    for (const stable of ["timezone('utc', now())", "date_trunc('day', now())", "now() - interval '100 years'", "to_char(now(), 'YYYY')::timestamptz", "md5('x')::timestamptz", 'CURRENT_TIMESTAMP', "('2020-01-01'::date + pi()::int)"]) expect(await add(stable), stable).toEqual([]);
    for (const volatile of ['clock_timestamp()', "now() + random() * interval '1 day'", "timeofday()::timestamptz"]) expect(await add(volatile), volatile).toEqual(['2:rewrite']);
    // A function of the migration's own: its declared volatility decides; one nobody declared is assumed volatile.
    expect(sizeDangers(await judged(`${T}CREATE FUNCTION epoch() RETURNS timestamptz IMMUTABLE LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;\nALTER TABLE t ADD COLUMN c timestamptz DEFAULT epoch();\n`))).toEqual([]);
    expect((await judged(`${T}ALTER TABLE t ADD COLUMN c jsonb DEFAULT myjsonb();\n`))[1]?.dangers[0]).toMatchObject({ kind: 'rewrite', assumed: expect.stringMatching(/myjsonb\(\) is volatile is unknown/) });
  });

  it('ADD COLUMN ... REFERENCES: no scan without a default, a scan with one; CREATE INDEX ON ONLY reads nothing', async () => {
    expect(sizeDangers(await judged(`${T}ALTER TABLE emails ADD COLUMN user_id int REFERENCES users (id);\n`))).toEqual([]);
    expect(sizeDangers(await judged(`${T}ALTER TABLE emails ADD COLUMN user_id int DEFAULT 1 REFERENCES users (id);\n`))).toEqual(['2:scan-under-lock']);
    expect(sizeDangers(await judged(`${T}CREATE INDEX measurements_at ON ONLY measurements (at);\n`))).toEqual([]);
  });

  it('PRIMARY KEY USING INDEX scans when a column may be NULL, not when it is NOT NULL', async () => {
    const base = 'CREATE TABLE authors (name text);\nCREATE UNIQUE INDEX CONCURRENTLY authors_name_key ON authors (name);\n';
    const history = { file: '1.sql', text: base, history: true };
    expect(sizeDangers(await judged([history, { file: '2.sql', text: `${T}ALTER TABLE authors ADD CONSTRAINT authors_pkey PRIMARY KEY USING INDEX authors_name_key;\n` }]))).toEqual(['2:scan-under-lock']);
    expect(sizeDangers(await judged([history, { file: '2.sql', text: `${T}ALTER TABLE authors ALTER COLUMN name SET NOT NULL;\n` }, { file: '3.sql', text: `${T}ALTER TABLE authors ADD CONSTRAINT authors_pkey PRIMARY KEY USING INDEX authors_name_key;\n` }]))).toEqual(['2:scan-under-lock']);
  });

  it('statements with no table name that still lock or scan tables fail closed', async () => {
    for (const sql of ['CLUSTER;', 'REINDEX SCHEMA public;', 'REINDEX DATABASE app;', 'VACUUM FULL;', 'ALTER DOMAIN positive ADD CONSTRAINT p CHECK (VALUE > 0);', 'ALTER DOMAIN positive SET NOT NULL;', 'ALTER DOMAIN positive VALIDATE CONSTRAINT p;', "DO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN x int', 't'); END $$;"]) {
      expect((await judged(`${T}${sql}\n`))[1]?.dangers.map((d) => d.kind), sql).toContain('unknown-statement');
    }
    expect((await judged(`${T}ALTER DOMAIN positive ADD CONSTRAINT p CHECK (VALUE > 0) NOT VALID;\n`))[1]?.dangers).toEqual([]);
    // REINDEX INDEX names no table, but reads the index's whole table under ShareLock.
    expect(sizeDangers(await judged(`${T}REINDEX INDEX users_pkey;\n`))).toEqual(['2:scan-under-lock']);
  });

  it('a DO block is judged from its statements (PL/pgSQL parser), every branch assumed to run; one that builds SQL at run time fails closed', async () => {
    const idempotent = await judged(`${T}DO $$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'flag') THEN\n    ALTER TABLE users ADD COLUMN flag boolean;\n    UPDATE users SET flag = false;\n  END IF;\n  EXECUTE 'CREATE INDEX CONCURRENTLY IF NOT EXISTS users_flag ON users (flag)';\nEND $$;\n`);
    expect(idempotent[1]).toMatchObject({ unknown: false, relations: [expect.objectContaining({ name: 'users', mode: 'AccessExclusiveLock' })] });
    expect(idempotent[1]?.dangers.map((d) => d.kind)).toEqual(['scan-under-lock']);
    expect((await judged(`${T}DO $$ BEGIN ALTER TABLE users ADD COLUMN note text; END $$;\n`))[1]?.dangers).toEqual([]);
    expect((await judged(`${T}DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables LOOP EXECUTE 'ALTER TABLE ' || t || ' ADD COLUMN x int'; END LOOP; END $$;\n`))[1]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
    expect((await judged(`${T}DO LANGUAGE plpython3u $$ plpy.execute('VACUUM FULL') $$;\n`))[1]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
  });

  it('option values: CONCURRENTLY false/off/0 is not concurrent, FULL false/off/0/\'false\' is not FULL', async () => {
    for (const value of ['false', 'off', '0']) expect(sizeDangers(await judged(`${T}REINDEX (CONCURRENTLY ${value}) TABLE users;\n`)), value).toEqual(['2:scan-under-lock']);
    expect(sizeDangers(await judged(`${T}REINDEX (CONCURRENTLY) TABLE users;\n`))).toEqual([]);
    for (const value of ['false', 'off', '0', "'false'", 'no']) expect((await judged(`VACUUM (FULL ${value}) users;\n`))[0]?.kinds, value).toEqual(['vacuum']);
    expect((await judged('VACUUM (FULL 1) users;\n'))[0]?.kinds).toEqual(['vacuum-full']);
  });
});

describe('3. statements the analyzer knows instead of calling them unknown', () => {
  it('harmless common statements get their real locks and no unknown-statement', async () => {
    const statements = await judged(`${T}DROP VIEW v_users;\nDROP FUNCTION f(int);\nDROP TYPE mood;\nGRANT SELECT ON users TO reporting;\nALTER TYPE mood ADD VALUE 'sad';\nALTER SEQUENCE users_id_seq RESTART 100;\nCREATE POLICY p ON users USING (true);\nCREATE STATISTICS s ON a, b FROM users;\nALTER INDEX parent_idx ATTACH PARTITION child_idx;\nALTER TABLE events DETACH PARTITION events_1 FINALIZE;\nCREATE MATERIALIZED VIEW mv AS SELECT * FROM users;\nCREATE TABLE snapshot AS SELECT * FROM orders;\nREVOKE ALL ON users FROM public;\nCOMMENT ON VIEW v_users IS 'x';\n`);
    expect(statements.filter((s) => s.unknown).map((s) => s.excerpt)).toEqual([]);
    const relationModes = (line: number): string[] => statements.find((s) => s.line === line)?.relations.map((r) => `${r.display}:${r.mode}`) ?? [];
    expect(relationModes(5)).toEqual([]);
    expect(relationModes(8)).toEqual(['users:AccessExclusiveLock']);
    expect(relationModes(9)).toEqual(['users:ShareUpdateExclusiveLock']);
    expect(relationModes(12)).toEqual(['users:AccessShareLock']);
  });

  it('CREATE MATERIALIZED VIEW / CREATE TABLE AS lock their sources with ACCESS SHARE and never target the new relation', async () => {
    const analysis = await analyzeSources([{ file: 'm.sql', text: `${T}CREATE MATERIALIZED VIEW mv AS SELECT * FROM users JOIN orders USING (id);\nCREATE TABLE snapshot AS SELECT * FROM orders;\nCREATE INDEX mv_id ON mv (id);\n` }]);
    expect(analysis.tables.map((t) => [t.input, t.lockMode, t.ifExists ?? false])).toEqual([
      ['users', 'AccessShareLock', false],
      ['orders', 'AccessShareLock', false],
      ['mv', 'ShareLock', true],
    ]);
    expect(analysis.statements.flatMap((s) => s.dangers)).toEqual([]);
  });

  it('sibling: a SELECT of a function the analyzer cannot see into fails closed; catalog functions do not', async () => {
    expect((await judged(`${T}SELECT create_hypertable('events', 'at');\n`))[1]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
    expect((await judged(`${T}SELECT setval('users_id_seq', 100);\nSELECT pg_advisory_lock(1);\n`)).flatMap((s) => s.dangers)).toEqual([]);
    // diesel's helper is known: it creates a trigger.
    expect((await judged(`${T}SELECT diesel_manage_updated_at('users');\n`))[1]).toMatchObject({ kinds: ['create-trigger'], dangers: [] });
    // EXPLAIN ANALYZE runs the statement: judged as that statement.
    expect((await judged(`${T}EXPLAIN (ANALYZE) DELETE FROM users;\n`))[1]?.kinds).toEqual(['write-rows']);
  });
});

describe('4. state across files', () => {
  it('a CHECK (col IS NOT NULL) validated in an earlier file proves NOT NULL later (strong_migrations, eugene E2)', async () => {
    const statements = await judged([
      { file: '1.sql', text: `${T}ALTER TABLE users ADD CONSTRAINT users_some_column_null CHECK (some_column IS NOT NULL) NOT VALID;\n` },
      { file: '2.sql', text: `${T}ALTER TABLE users VALIDATE CONSTRAINT users_some_column_null;\n` },
      { file: '3.sql', text: `${T}ALTER TABLE users ALTER COLUMN some_column SET NOT NULL;\nALTER TABLE users DROP CONSTRAINT users_some_column_null;\n` },
    ]);
    expect(dangersOf(statements)).toEqual({});
    expect(statements.find((s) => s.kinds.includes('set-not-null-proven'))?.notes[0]).toMatch(/already proven NOT NULL/);
  });

  it('the schema carries forward: a type widened in history is judged from the widened type', async () => {
    const files = [
      { file: '1.sql', text: 'CREATE TABLE t (c varchar(10));\n', history: true },
      { file: '2.sql', text: 'ALTER TABLE t ALTER COLUMN c TYPE varchar(100);\n', history: true },
      { file: '3.sql', text: `${T}ALTER TABLE t ALTER COLUMN c TYPE varchar(50);\n` },
    ];
    expect(sizeDangers(await judged(files))).toEqual(['2:rewrite']);
  });

  it('a table created in history is not new: work on it is judged; created in the pending files it is', async () => {
    const history = { file: '1.sql', text: 'CREATE TABLE orders (id int, total int);\n', history: true };
    expect(sizeDangers(await judged([history, { file: '2.sql', text: `${T}CREATE INDEX orders_total ON orders (total);\n` }]))).toEqual(['2:scan-under-lock']);
    expect(sizeDangers(await judged([{ ...history, history: false }, { file: '2.sql', text: `${T}CREATE INDEX orders_total ON orders (total);\n` }]))).toEqual([]);
  });
});

describe('5. input as it comes', () => {
  it('zero-byte files, a byte order mark, COPY data, psql meta-commands and down sections', async () => {
    const analysis = await analyzeSources([
      { file: 'empty.sql', text: '' },
      { file: 'bom.sql', text: `\uFEFF${T}ALTER TABLE a ADD COLUMN x int;\n` },
      { file: 'dump.sql', text: `\\set ON_ERROR_STOP on\n${T}COPY a (id, v) FROM stdin;\n1\tx;y\n2\t\\N\n\\.\nALTER TABLE a ADD COLUMN y int;\n\\echo done\n` },
      { file: 'dbmate.sql', text: `-- migrate:up\n${T}ALTER TABLE a ADD COLUMN z int;\n-- migrate:down\nALTER TABLE a ALTER COLUMN z TYPE bigint;\n` },
    ]);
    expect(analysis.statements.map((s) => `${s.file}:${s.line}:${s.column}`)).toEqual(['bom.sql:1:2', 'bom.sql:2:1', 'dump.sql:2:1', 'dump.sql:3:1', 'dump.sql:7:1', 'dbmate.sql:2:1', 'dbmate.sql:3:1']);
    expect(analysis.skipped.map((s) => `${s.file}:${s.line} ${s.what.replace(/ \(.*$/, '')}`)).toEqual([
      'bom.sql:1 a UTF-8 byte order mark',
      'dump.sql:1 psql meta-command \\set ON_ERROR_STOP on',
      'dump.sql:4 the data lines of COPY ... FROM stdin',
      'dump.sql:8 psql meta-command \\echo done',
      'dbmate.sql:4 the dbmate down section',
    ]);
    expect(analysis.statements.flatMap((s) => s.dangers)).toEqual([]);
  });

  it('sibling: \\gexec runs what a query returns, so that query cannot be judged', async () => {
    const statements = await judged("SELECT format('ALTER TABLE %I ADD COLUMN x int', tablename) FROM pg_tables \\gexec\n");
    expect(statements[0]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
  });

  it('positions stay exact on a large file with multibyte text (one pass, not a rescan per statement)', async () => {
    const lines = Array.from({ length: 20000 }, (_, i) => (i % 2 === 0 ? `INSERT INTO t VALUES (${i}, 'é€${i}');` : `UPDATE t SET v = 'ü' WHERE id = ${i};`));
    const statements = await judged(lines.join('\n'));
    expect(statements).toHaveLength(20000);
    expect(statements.at(-1)).toMatchObject({ line: 20000, column: 1, excerpt: "UPDATE t SET v = 'ü' WHERE id = 19999" });
  });
});

describe('a trace overlay replaces the static facts of the statements it answers for', () => {
  it('a DO block that builds its SQL is unknown statically; traced as a rewrite of orders it is judged as one', async () => {
    const analysis = await analyzeSources([{ file: 'm.sql', text: `${T}DO $$ BEGIN EXECUTE format('ALTER TABLE %I ALTER COLUMN total TYPE bigint', 'orders'); END $$;\nSELECT 1;\n` }]);
    expect(analysis.statements[1]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
    const orders = { schema: null, name: 'orders', display: 'orders', canonical: '"orders"', mode: 'AccessExclusiveLock' as const, role: 'table' as const };
    const traced = judgeWithOverlay(analysis, (_statement, { index }) => (index === 1 ? { locks: [orders], rewritten: ['"orders"'], scanned: ['"orders"'] } : undefined));
    expect(traced[1]).toMatchObject({ source: 'trace', unknown: false, relations: [expect.objectContaining({ name: 'orders', mode: 'AccessExclusiveLock' })] });
    expect(traced[1]?.dangers.map((d) => d.kind)).toEqual(['rewrite']);
    expect(traced[2]?.source).toBe('static');
  });
});

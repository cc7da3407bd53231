// The analyzer on its own (no server needed): positions, transaction blocks, lock_timeout,
// the NOT NULL proof, tables the migration creates, and statements it does not know.
import { describe, expect, it } from 'vitest';
import { analyzeSources, mergeTableRequests, type MigrationStatement } from '../src/migration/index.js';

async function analyze(text: string, file = 'm.sql'): Promise<MigrationStatement[]> {
  return (await analyzeSources([{ file, text }])).statements;
}

const dangerKinds = (s: MigrationStatement | undefined): string[] => s?.dangers.map((d) => d.kind) ?? [];

describe('migration analyzer', () => {
  it('points at the first token of each statement, after comments and multibyte text', async () => {
    const [first, second] = await analyze("-- führt 😀 ein\nSELECT 'é';\n  /* x */ ALTER TABLE orders\n  DROP COLUMN note;\n");
    expect(first).toMatchObject({ line: 2, column: 1, endLine: 2, excerpt: "SELECT 'é'" });
    expect(second).toMatchObject({ line: 3, column: 11, endLine: 4, excerpt: 'ALTER TABLE orders DROP COLUMN note', kinds: ['drop-column'] });
  });

  it('a lock_timeout of 0 does not count; SET LOCAL does', async () => {
    const zero = await analyze("SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN a int;\n");
    expect(dangerKinds(zero[1])).toEqual(['lock-timeout-missing']);
    const local = await analyze("BEGIN;\nSET LOCAL lock_timeout = '3s';\nALTER TABLE orders ADD COLUMN a int;\nCOMMIT;\n");
    expect(local[2]).toMatchObject({ lockTimeoutSet: true, inTransactionBlock: true, dangers: [] });
  });

  it('warns about lock_timeout only once, at the first write-blocking lock', async () => {
    const statements = await analyze('CREATE INDEX CONCURRENTLY i ON orders (a);\nALTER TABLE orders ADD COLUMN b int;\nALTER TABLE orders ADD COLUMN c int;\n');
    expect(statements.map(dangerKinds)).toEqual([[], ['lock-timeout-missing'], []]);
  });

  it('knows SET NOT NULL skips its scan after a validated CHECK (col IS NOT NULL), and only then', async () => {
    const proven = await analyze(
      "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT nn CHECK (customer_id IS NOT NULL) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT nn;\nALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n",
    );
    expect(proven[3]).toMatchObject({ kinds: ['set-not-null-proven'], scansUnderLock: false, dangers: [] });
    const unvalidated = await analyze(
      "SET lock_timeout = '5s';\nALTER TABLE orders ADD CONSTRAINT nn CHECK (customer_id IS NOT NULL) NOT VALID;\nALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL;\n",
    );
    expect(unvalidated[2]).toMatchObject({ kinds: ['set-not-null'], scansUnderLock: true });
    expect(dangerKinds(unvalidated[2])).toEqual(['scan-under-lock']);
  });

  it('takes the strongest mode per table across statements, and --table combines', async () => {
    const analysis = await analyzeSources([{ file: 'm.sql', text: "SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY i ON billing.orders (a);\nALTER TABLE billing.orders ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES \"Customers\" (id) NOT VALID;\n" }]);
    expect(analysis.concurrently).toBe(true);
    expect(analysis.tables).toEqual([
      { input: 'billing.orders', canonical: '"billing"."orders"', lockMode: 'ShareRowExclusiveLock', fromMigration: true },
      { input: '"Customers"', canonical: '"Customers"', lockMode: 'ShareRowExclusiveLock', fromMigration: true },
    ]);
    const merged = mergeTableRequests([{ input: 'Customers', canonical: '"Customers"', lockMode: 'AccessExclusiveLock' }], analysis.tables);
    expect(merged.map((t) => [t.canonical, t.lockMode])).toEqual([
      ['"Customers"', 'AccessExclusiveLock'],
      ['"billing"."orders"', 'ShareRowExclusiveLock'],
    ]);
  });

  it('a table the migration creates is gated only if the server has it; work on it is not size-dependent offline', async () => {
    const analysis = await analyzeSources([
      { file: '001.sql', text: "SET lock_timeout = '5s';\nCREATE TABLE invoices (id int, customer_id int REFERENCES customers (id));\n" },
      { file: '002.sql', text: "SET lock_timeout = '5s';\nCREATE INDEX invoices_c ON invoices (customer_id);\nALTER TABLE invoices ALTER COLUMN id TYPE bigint;\n" },
    ]);
    expect(analysis.tables).toEqual([
      { input: 'customers', canonical: '"customers"', lockMode: 'ShareRowExclusiveLock', fromMigration: true },
      { input: 'invoices', canonical: '"invoices"', lockMode: 'AccessExclusiveLock', fromMigration: true, ifExists: true },
    ]);
    expect(analysis.statements.flatMap((s) => s.dangers)).toEqual([]);
  });

  it('knows GRANT locks no table; a DO block that builds its SQL at run time cannot be judged and fails closed', async () => {
    const [, grant, block] = await analyze("SET lock_timeout = '5s';\nGRANT SELECT ON orders TO reporting;\nDO $$ BEGIN EXECUTE format('ALTER TABLE %I ADD COLUMN x int', 'orders'); END $$;\n");
    expect(grant).toMatchObject({ unknown: false, relations: [], dangers: [] });
    expect(block).toMatchObject({ unknown: true, kinds: ['unknown'] });
    expect(dangerKinds(block)).toEqual(['unknown-statement']);
  });

  it('flags CONCURRENTLY and VACUUM inside a transaction block, not outside', async () => {
    const statements = await analyze('BEGIN;\nVACUUM orders;\nCOMMIT;\nVACUUM orders;\n');
    expect(dangerKinds(statements[1])).toEqual(['concurrently-in-transaction']);
    expect(dangerKinds(statements[3])).toEqual([]);
  });
});

// The trace against the static lock table: every kind of src/migration/lock-table.ts traced
// on a real server (the examples of test/support/lock-examples.ts, each in a fresh copy of
// the same schema) and compared with what the analyzer says about the same statement. Where
// PostgreSQL does something the table does not say, TRUTH pins what the server does (so
// the trace is held to the server, and the table may be corrected without breaking this
// test); everywhere else the trace must equal the table. Run on 14 and 18 by .ci/run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LockMode } from '../src/core/lock-modes.js';
import { analyzeSources, type MigrationStatement } from '../src/migration/index.js';
import { LOCK_RULES, type LockRule, type LockRuleKind } from '../src/migration/lock-table.js';
import { traceOn, type TracedStatement, type TraceTarget } from '../src/trace/index.js';
import { useCluster } from './helpers.js';
import { EXAMPLES, SETUP } from './support/lock-examples.js';

const cluster = useCluster();

/** What one statement does, in the static table's terms: relation → mode, a rewrite, a scan. */
interface Answer {
  locks: Record<string, LockMode>;
  rewrite: boolean;
  /** Reads every row (null: not measured, for statements that cannot run in a transaction). */
  scan: boolean | null;
}

/**
 * Where PostgreSQL (14–18) differs from the lock table, observed: relation modes, rewrite or
 * scan that replace the table's. `why` says what the table means or misses.
 */
const TRUTH: Partial<Record<LockRuleKind, Partial<Answer> & { why: string }>> = {
  'validate-constraint': { scan: true, why: 'VALIDATE reads every row, under ShareUpdateExclusiveLock (reads and writes go on): the table claims no scan because it only counts scans under a write-blocking lock' },
  'write-rows': { scan: true, why: 'the example UPDATE ... WHERE id = 1 reads the table sequentially on a 200-row table (the planner prefers it to the index)' },
  'read-rows': { scan: true, why: 'SELECT count(*) reads every row' },
  'refresh-materialized-view-concurrently': { scan: true, why: 'reads the old and the new contents to compare them, under ExclusiveLock (reads go on)' },
};

const PREEXISTING_KINDS = new Set(['table', 'partitioned table', 'materialized view']);

/** The schema before the migration: relation names by oid (a template's copies keep its oids), and each index's table. */
interface Schema {
  names: Map<number, string>;
  tableOf: Map<number, number>;
  oidOf: Map<string, number>;
}

const sorted = (locks: Record<string, LockMode>): Record<string, LockMode> => Object.fromEntries(Object.entries(locks).sort(([a], [b]) => a.localeCompare(b)));

function staticAnswer(statement: MigrationStatement, row: LockRule, schema: Schema): Answer {
  const locks: Record<string, LockMode> = {};
  for (const r of statement.relations) {
    const oid = schema.oidOf.get(r.name);
    if (oid === undefined) throw new Error(`${r.display} is not in the example schema`);
    locks[r.name] = r.mode;
    const table = schema.tableOf.get(oid);
    if (r.role === 'index' && table !== undefined && row.indexTableLock) locks[schema.names.get(table) as string] = row.indexTableLock;
  }
  return { locks: sorted(locks), rewrite: row.rewrite, scan: row.inTransaction ? row.scan : null };
}

/** The trace in the same terms: its locks on the relations the static answer names, plus any other pre-existing table it locks more than AccessShare. */
function tracedAnswer(traced: TracedStatement, claimed: Answer, row: LockRule, schema: Schema): Answer {
  const locks: Record<string, LockMode> = {};
  for (const lock of traced.locks ?? []) {
    const name = schema.names.get(lock.oid);
    if (name === undefined || lock.createdByMigration) continue;
    if (!(name in claimed.locks) && !(PREEXISTING_KINDS.has(lock.kind) && lock.mode !== 'AccessShareLock')) continue;
    // Sampled while it ran, a non-transactional statement shows each phase's lock: the table's mode must be among them.
    const claim = claimed.locks[name];
    locks[name] = traced.transaction === 'none' && claim !== undefined && lock.held.some((h) => h.mode === claim) ? claim : lock.mode;
  }
  // Behind the trace's blocker only the first request of a non-transactional statement is sure to be seen.
  if (traced.transaction === 'none') for (const name of Object.keys(claimed.locks)) if (!(name in locks)) locks[name] = claimed.locks[name] as LockMode;
  const rewrite = traced.rewritten.some((r) => !r.createdByMigration);
  const scan = traced.scans === null ? null : rewrite ? row.scan : traced.scans.some((s) => !s.createdByMigration);
  return { locks: sorted(locks), rewrite, scan };
}

const disagreements: string[] = [];
let serial = 0;
let schema: Schema;

describe('trace against the static lock table', () => {
  beforeAll(async () => {
    await cluster().sql('CREATE DATABASE trace_setup');
    const setup = await cluster().connect({ database: 'trace_setup' });
    try {
      await setup.query(SETUP);
      const { rows } = await setup.query<{ oid: number; name: string; table: number | null }>(
        "SELECT c.oid::int AS oid, c.relname AS name, i.indrelid::int AS table FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relnamespace = 'public'::regnamespace",
      );
      schema = {
        names: new Map(rows.map((r) => [r.oid, r.name])),
        tableOf: new Map(rows.filter((r) => r.table !== null).map((r) => [r.oid, r.table as number])),
        oidOf: new Map(rows.map((r) => [r.name, r.oid])),
      };
    } finally {
      await setup.end();
    }
  });

  afterAll(() => {
    if (disagreements.length > 0) process.stdout.write(`\nwhere the trace disagrees with the static lock table (PostgreSQL ${cluster().major}):\n${disagreements.map((d) => `  ${d}`).join('\n')}\n`);
  });

  it('has an example for every kind of the lock table', () => {
    expect(Object.keys(EXAMPLES).sort()).toEqual(Object.keys(LOCK_RULES).sort());
  });

  // Each kind in its own database: a few at a time.
  for (const [kind, example] of Object.entries(EXAMPLES) as [LockRuleKind, (typeof EXAMPLES)[LockRuleKind]][]) {
    it.concurrent(`${kind}: ${example.sql.slice(0, 70)}`, async (context) => {
      // A statement of a newer major, or one that needs a staged state (an interrupted detach): test/migration-locks.test.ts covers it.
      if ((example.since !== undefined && cluster().major < example.since) || example.prepare !== undefined) context.skip(`${kind} needs PostgreSQL ${example.since ?? ''} or a staged state`);
      serial += 1;
      const database = `trace_${serial}`;
      await cluster().sql(`CREATE DATABASE ${database} TEMPLATE trace_setup`);
      try {
        const target: TraceTarget = {
          kind: 'throwaway',
          display: `test cluster, database ${database}`,
          serverVersion: String(cluster().major),
          major: cluster().major,
          connect: (applicationName) => cluster().connect({ database, applicationName }),
          close: async () => undefined,
        };
        const pending = [{ file: `${kind}.sql`, text: `${example.sql};\n` }];
        const analysis = await analyzeSources(pending);
        const result = await traceOn(target, { pending, analysis, history: [], options: { inTransaction: false, settings: [], statementTimeoutMs: 30_000, lockTimeoutMs: 10_000 } });
        const traced = result.statements.at(-1) as TracedStatement;
        const statement = analysis.statements.at(-1) as MigrationStatement;
        expect(traced.error, `${kind} ran`).toBeNull();
        expect(traced.outcome).toBe('traced');
        const row = LOCK_RULES[kind];
        expect(traced.transaction).toBe(row.inTransaction ? 'own' : 'none');
        const claimed = staticAnswer(statement, row, schema);
        const seen = tracedAnswer(traced, claimed, row, schema);
        if (kind === 'truncate' || kind === 'drop-table') seen.rewrite = claimed.rewrite;
        const truth = TRUTH[kind];
        const expected: Answer = { locks: sorted({ ...claimed.locks, ...truth?.locks }), rewrite: truth?.rewrite ?? claimed.rewrite, scan: truth?.scan === undefined ? claimed.scan : truth.scan };
        for (const key of ['locks', 'rewrite', 'scan'] as const) {
          if (JSON.stringify(seen[key]) !== JSON.stringify(claimed[key])) disagreements.push(`${kind}: ${key} static ${JSON.stringify(claimed[key])}, traced ${JSON.stringify(seen[key])}${truth ? ` (${truth.why})` : ''}`);
        }
        expect(seen).toEqual(expected);
      } finally {
        await cluster().sql(`DROP DATABASE ${database}`);
      }
    });
  }
});

// The overlay `check --trace` gives the analysis: a pure function of the trace's result, and
// the analysis judged with it (judgeWithOverlay) after a real trace.
import { describe, expect, it } from 'vitest';
import type { LockMode } from '../src/core/lock-modes.js';
import { analyzeSources, judgeWithOverlay } from '../src/migration/index.js';
import { traceOn, type TraceTarget } from '../src/trace/index.js';
import { traceCoverage, traceOverlay } from '../src/trace/overlay.js';
import type { TracedLock, TracedRelation, TracedStatement, TraceResult } from '../src/trace/types.js';
import { useCluster } from './helpers.js';

const cluster = useCluster();

const relation = (name: string, extra: Partial<TracedRelation> = {}): TracedRelation => ({ oid: 1, schema: 'public', name, relation: name, kind: 'table', createdByMigration: false, ...extra });

const lock = (name: string, modes: [LockMode, boolean][], extra: Partial<TracedRelation> = {}): TracedLock => ({
  ...relation(name, extra),
  mode: modes[0]?.[0] as LockMode,
  held: modes.map(([mode, carried]) => ({ mode, since: 'm.sql:1', carried })),
  granted: true,
  since: 'm.sql:1',
  carried: modes[0]?.[1] as boolean,
});

const statement = (line: number, index: number, extra: Partial<TracedStatement>): TracedStatement => ({
  file: 'm.sql',
  line,
  column: 1,
  index,
  excerpt: '',
  outcome: 'traced',
  transaction: 'own',
  locks: [],
  rewritten: [],
  indexesRebuilt: [],
  truncated: [],
  created: [],
  dropped: [],
  scans: [],
  error: null,
  note: null,
  durationMs: 1,
  ...extra,
});

const trace = (statements: TracedStatement[]): TraceResult => ({
  version: 1,
  target: { kind: 'throwaway', display: 'test', serverVersion: '17.9', major: 17 },
  history: { files: [], statements: 0 },
  files: ['m.sql'],
  statements,
  summary: { statements: statements.length, traced: 0, errors: 0, notRun: 0, rewrites: 0, scans: 0 },
  notes: [],
  durationMs: 1,
});

describe('traceOverlay', () => {
  const result = trace([
    statement(1, 0, {
      excerpt: "DO $$ ... ALTER TABLE orders ALTER COLUMN total TYPE bigint ... $$",
      locks: [
        lock('orders', [['AccessExclusiveLock', false]]),
        lock('orders_pkey', [['AccessExclusiveLock', false]], { kind: 'index', table: 'orders' }),
        lock('customers_pkey', [['AccessShareLock', false]], { kind: 'index', table: 'customers' }),
        lock('audit', [['AccessExclusiveLock', false]], { createdByMigration: true }),
        lock('invoices', [['ShareLock', false]], { schema: 'billing', relation: 'billing.invoices' }),
      ],
      rewritten: [relation('orders'), relation('audit', { createdByMigration: true })],
      scans: [{ ...relation('orders'), seqScans: 3, rowsRead: 10 }, { ...relation('customers'), seqScans: 1, rowsRead: 5 }],
    }),
    statement(2, 1, { outcome: 'error', locks: null, error: { code: '42P01', message: 'relation "x" does not exist' } }),
    statement(4, 2, {
      transaction: 'trace-transaction',
      locks: [lock('orders', [['AccessExclusiveLock', true], ['RowExclusiveLock', false]]), lock('customers', [['ShareLock', true]])],
    }),
    statement(5, 3, { outcome: 'transaction-control', locks: null }),
    statement(7, 5, {
      transaction: 'none',
      excerpt: 'REINDEX SCHEMA CONCURRENTLY public',
      scans: null,
      locks: [lock('orders', [['ShareUpdateExclusiveLock', false]])],
      indexesRebuilt: [relation('orders_pkey', { kind: 'index', table: 'orders' }), relation('audit_pkey', { kind: 'index', table: 'audit' })],
      created: [relation('audit', { createdByMigration: true }), relation('events_idx', { kind: 'index', table: 'billing.events', createdByMigration: true })],
    }),
    statement(6, 4, { outcome: 'not-run', locks: null, transaction: 'none', note: 'cannot run inside a transaction' }),
  ]);
  const overlay = traceOverlay(result);

  it('gives the traced locks of pre-existing relations, rewrites and scans, in the analysis names', () => {
    const facts = overlay({ line: 1 }, { file: 'm.sql', index: 0 });
    expect(facts?.locks.map((l) => [l.canonical, l.mode, l.role])).toEqual([
      ['"orders"', 'AccessExclusiveLock', 'table'],
      ['"billing"."invoices"', 'ShareLock', 'table'],
    ]);
    expect(facts?.locks[1]).toMatchObject({ schema: 'billing', name: 'invoices', display: 'billing.invoices' });
    expect(facts?.rewritten).toEqual(['"orders"']);
    expect(facts?.scanned).toEqual(['"customers"']);
  });

  it('leaves a mode carried over from an earlier transaction out (a shadow trace)', () => {
    expect(overlay({ line: 4 }, { file: 'm.sql', index: 2 })?.locks.map((l) => [l.name, l.mode])).toEqual([['orders', 'RowExclusiveLock']]);
  });

  it('counts an index build as a read of its table, where the counters were not read (outside a transaction) too, except on a new table', () => {
    expect(overlay({ line: 7 }, { file: 'm.sql', index: 5 })?.scanned).toEqual(['"orders"', '"billing"."events"']);
  });

  it('has nothing for a statement the trace did not observe, or that is not the one at that position', () => {
    expect(overlay({ line: 2 }, { file: 'm.sql', index: 1 })).toBeUndefined();
    expect(overlay({ line: 6 }, { file: 'm.sql', index: 4 })).toBeUndefined();
    expect(overlay({ line: 9 }, { file: 'm.sql', index: 0 })).toBeUndefined();
    expect(overlay({ line: 1 }, { file: 'other.sql', index: 0 })).toBeUndefined();
  });

  it('says which statements were traced and why the others were not', () => {
    expect(traceCoverage(result)).toEqual({
      traced: ['m.sql:1', 'm.sql:4', 'm.sql:7'],
      untraced: ['m.sql:2 (failed on the throwaway server: relation "x" does not exist)', 'm.sql:6 (cannot run inside a transaction)'],
    });
  });
});

describe('the analysis judged with a real trace (judgeWithOverlay)', () => {
  it('a DO block that builds its SQL: unknown statically, a rewrite of orders once traced; the other statements keep the static answer', async () => {
    await cluster().sql('CREATE DATABASE overlay_e2e');
    try {
      const history = [{ file: '1_orders.sql', text: 'CREATE TABLE orders (id int PRIMARY KEY, total int);\nINSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;\n' }];
      const pending = [{ file: '2_widen.sql', text: "SET lock_timeout = '5s';\nDO $$ BEGIN EXECUTE format('ALTER TABLE %I ALTER COLUMN total TYPE bigint', 'orders'); END $$;\nSELECT 1;\n" }];
      const analysis = await analyzeSources([...history.map((h) => ({ ...h, history: true })), ...pending]);
      expect(analysis.statements[1]?.dangers.map((d) => d.kind)).toEqual(['unknown-statement']);
      const target: TraceTarget = {
        kind: 'throwaway',
        display: 'test cluster, database overlay_e2e',
        serverVersion: String(cluster().major),
        major: cluster().major,
        connect: (applicationName) => cluster().connect({ database: 'overlay_e2e', applicationName }),
        close: async () => undefined,
      };
      const result = await traceOn(target, { pending, analysis, history, options: { inTransaction: false, settings: [], statementTimeoutMs: 30_000, lockTimeoutMs: 10_000 } });
      expect(result.statements.map((s) => [s.index, s.outcome])).toEqual([
        [0, 'traced'],
        [1, 'traced'],
        [2, 'traced'],
      ]);
      const judged = judgeWithOverlay(analysis, traceOverlay(result));
      expect(judged[1]).toMatchObject({ source: 'trace', unknown: false, rewrites: true, relations: [expect.objectContaining({ name: 'orders', mode: 'AccessExclusiveLock' })] });
      expect(judged[1]?.dangers.map((d) => d.kind)).toContain('rewrite');
      expect(judged[1]?.dangers.map((d) => d.kind)).not.toContain('unknown-statement');
    } finally {
      await cluster().sql('DROP DATABASE overlay_e2e');
    }
  });
});

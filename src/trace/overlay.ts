// `check --trace`: the trace's facts in the analysis' terms. Pure: a TraceResult in, the
// analysis' overlay out — per statement (keyed by file and position in the file), the locks
// its backend held, the relations it rewrote and the ones it read in full. The analysis
// judges them as it judges its own (transactions, live sizes, thresholds): `judgeWithOverlay`
// (src/migration/) takes this overlay; a statement the trace did not observe keeps the static answer.
import { canonicalName, parseQualifiedName } from '../core/identifiers.js';
import { LOCK_MODES, type LockMode } from '../core/lock-modes.js';
import type { LockedRelation, TracedFacts } from '../migration/index.js';
import type { TracedLock, TracedRelation, TracedStatement, TraceResult } from './types.js';

/** The analysis' Overlay (`judgeWithOverlay`); it reads only the statement's line. */
export type TraceOverlay = (statement: { line: number }, position: { file: string; index: number }) => TracedFacts | undefined;

const PLAIN = /^[a-z_][a-z0-9_$]*$/;
const part = (name: string): string => (PLAIN.test(name) ? name : `"${name.replace(/"/g, '""')}"`);

/** The analysis' names: unqualified in public (as a migration usually writes them), qualified elsewhere. */
function canonicalOf(relation: TracedRelation): string {
  return canonicalName(relation.schema === 'public' ? { name: relation.name } : { schema: relation.schema, name: relation.name });
}

function named(relation: TracedRelation, mode: LockMode): LockedRelation {
  const qualified = relation.schema !== 'public';
  return {
    schema: qualified ? relation.schema : null,
    name: relation.name,
    display: qualified ? `${part(relation.schema)}.${part(relation.name)}` : part(relation.name),
    canonical: canonicalOf(relation),
    mode,
    role: relation.kind === 'index' ? 'index' : 'table',
  };
}

const rank = (mode: LockMode): number => LOCK_MODES.indexOf(mode);

/**
 * The locks that count for the statement: its transaction's, on relations that exist before
 * the migration. A mode carried over from an earlier transaction (only on a shadow, where the
 * trace runs everything in one) is left out; an index only counts where it is locked more
 * strongly than its table, and never for AccessShareLock (planning a query on a table takes it on
 * every index of the table).
 */
function locksOf(locks: readonly TracedLock[]): LockedRelation[] {
  const own = locks
    .filter((l) => !l.createdByMigration)
    .map((l) => ({ lock: l, modes: l.held.filter((h) => !h.carried).map((h) => h.mode) }))
    .filter((l) => l.modes.length > 0)
    .map(({ lock, modes }) => ({ lock, mode: modes.reduce((a, b) => (rank(a) >= rank(b) ? a : b)) }));
  return own
    .filter(({ lock, mode }) => {
      if (lock.kind !== 'index') return true;
      if (mode === 'AccessShareLock') return false;
      const table = own.find((o) => o.lock.relation === lock.table);
      return !table || rank(table.mode) < rank(mode);
    })
    .map(({ lock, mode }) => named(lock, mode));
}

/**
 * The tables whose indexes the statement built or rebuilt: an index build reads every row of
 * its table. Counted even where the scan counters were not read (outside a transaction:
 * REINDEX SCHEMA, CREATE INDEX CONCURRENTLY), unless the table is new.
 */
function indexedTables(statement: TracedStatement): string[] {
  const indexes = [...statement.indexesRebuilt, ...statement.created.filter((r) => r.kind === 'index')];
  const tables: string[] = [];
  for (const index of indexes) {
    if (index.table === undefined) continue;
    const newTable = (statement.locks ?? []).some((l) => l.relation === index.table && l.createdByMigration) || statement.created.some((r) => r.relation === index.table);
    const name = parseQualifiedName(index.table);
    if (!newTable && typeof name !== 'string') tables.push(canonicalName(name));
  }
  return tables;
}

export function tracedFacts(statement: TracedStatement): TracedFacts | undefined {
  if (statement.outcome !== 'traced' || statement.locks === null) return undefined;
  const rewritten = statement.rewritten.filter((r) => !r.createdByMigration).map(canonicalOf);
  const measured = (statement.scans ?? []).filter((s) => !s.createdByMigration).map(canonicalOf);
  return {
    locks: locksOf(statement.locks),
    rewritten,
    scanned: [...new Set([...measured, ...indexedTables(statement)])].filter((c) => !rewritten.includes(c)),
  };
}

/** The overlay: a statement's traced facts, when the trace observed the statement at that file, position and line. */
export function traceOverlay(trace: TraceResult): TraceOverlay {
  const byPosition = new Map<string, TracedStatement>(trace.statements.map((s) => [`${s.file}\u0000${s.index}`, s]));
  return (statement, position) => {
    const traced = byPosition.get(`${position.file}\u0000${position.index}`);
    return traced && traced.line === statement.line ? tracedFacts(traced) : undefined;
  };
}

/** For the report: which statements were traced, and why the others were not. */
export function traceCoverage(trace: TraceResult): { traced: string[]; untraced: string[] } {
  const real = trace.statements.filter((s) => s.outcome !== 'transaction-control');
  return {
    traced: real.filter((s) => s.outcome === 'traced').map((s) => `${s.file}:${s.line}`),
    untraced: real
      .filter((s) => s.outcome !== 'traced')
      .map((s) => `${s.file}:${s.line} (${s.outcome === 'error' ? `failed on the throwaway server: ${s.error?.message ?? ''}` : (s.note ?? 'not run')})`),
  };
}

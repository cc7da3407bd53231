// How big a target is, from what can be read without opening it: pg_class.relpages and
// reltuples (the planner's statistics, as of the last VACUUM/ANALYZE/CREATE INDEX) and the
// cumulative statistics (n_live_tup, n_tup_ins, ...). The size functions are never used:
// they open the relation and would queue behind the very lock the gate looks for.
//
// A missing number is never read as zero. After a bulk load or a restore, reltuples is -1
// and relpages 0 until autovacuum gets to the table; the cumulative statistics have counted
// every row inserted since they began. When neither knows, the estimate says so (rows null)
// and the decisions that depend on size fail closed.
import type { Target, TargetRelation } from './types.js';

export type RowSource = 'pg_class.reltuples' | 'n_live_tup' | 'n_tup_ins - n_tup_del' | 'no insert counted since the statistics began';

export interface HeapEstimate {
  name: string;
  /** null: no estimate anywhere (never analyzed, and the statistics cannot vouch for a zero). */
  rows: number | null;
  source: RowSource | null;
  /** Heap bytes: relpages × block size, scaled when the rows grew since the pages were counted; null when unknown. */
  bytes: number | null;
  /** When bytes are unknown: at most one page per row version (a tuple never spans pages). */
  bytesAtMost: number | null;
  neverAnalyzed: boolean;
}

export interface TableEstimate {
  /** Sum over the heaps (a partitioned table's rows are its leaves'); null when any heap has no estimate. */
  rows: number | null;
  /** Every source the rows came from, e.g. ['pg_class.reltuples', 'n_live_tup']. */
  sources: RowSource[];
  heapBytes: number | null;
  indexBytes: number;
  toastBytes: number | null;
  /** Heap + indexes + TOAST; null when the heap or TOAST size is unknown. */
  bytes: number | null;
  /** An upper bound on heap + TOAST bytes when `bytes` is null (indexes not included); null when not even that is known. */
  bytesAtMost: number | null;
  heaps: HeapEstimate[];
  /** Heaps with no row estimate at all: ANALYZE them. */
  unknown: string[];
  neverAnalyzed: string[];
}

const isHeap = (r: TargetRelation): boolean => (r.kind === 'table' || r.kind === 'partition' || r.kind === 'child') && r.relkind !== 'p';

/** A TOAST chunk is at most about a quarter page (TOAST_MAX_CHUNK_SIZE): four fit in a block. */
const TOAST_CHUNKS_PER_PAGE = 4;

function statsRows(rel: TargetRelation, statsReset: boolean): { rows: number; source: RowSource } | null {
  const stats = rel.stats;
  if (!stats) return null;
  if (stats.live > 0) return { rows: stats.live, source: 'n_live_tup' };
  if (stats.inserted - stats.deleted > 0) return { rows: stats.inserted - stats.deleted, source: 'n_tup_ins - n_tup_del' };
  // All zero: an empty table, or counts that were lost (a reset, a crash, PostgreSQL 14, where
  // whether the relation has an entry cannot be asked). Only the first is an estimate.
  if (stats.tracked === true && !statsReset) return { rows: 0, source: 'no insert counted since the statistics began' };
  return null;
}

export function estimateHeap(rel: TargetRelation, blockSize: number, statsReset: boolean): HeapEstimate {
  const catalog = rel.tuples >= 0 ? rel.tuples : null;
  const counted = statsRows(rel, statsReset);
  let rows: number | null = null;
  let source: RowSource | null = null;
  if (catalog !== null) {
    rows = catalog;
    source = 'pg_class.reltuples';
  }
  if (counted && (rows === null || counted.rows > rows)) {
    rows = counted.rows;
    source = counted.source;
  }
  const pagesBytes = rel.pages * blockSize;
  let bytes: number | null = null;
  let bytesAtMost: number | null = null;
  if (rows === 0) bytes = pagesBytes;
  else if (rows !== null && catalog !== null && catalog > 0 && rel.pages > 0) bytes = Math.round(pagesBytes * Math.max(1, rows / catalog));
  else if (rows !== null) {
    // Every row version takes at most a page. Without statistics the rows are the catalog's, and
    // VACUUM/ANALYZE set relpages with them, so pagesBytes already bounds the heap.
    const versions = rel.stats ? rows + rel.stats.dead : rows;
    bytesAtMost = Math.max(pagesBytes, versions * blockSize);
  }
  return { name: rel.name, rows, source, bytes, bytesAtMost, neverAnalyzed: rel.tuples < 0 };
}

function toastBytesOf(rel: TargetRelation, blockSize: number): number | null {
  if (rel.relkind === 'i') return rel.pages * blockSize;
  if (rel.pages > 0 && rel.tuples >= 0) return rel.pages * blockSize;
  const stats = rel.stats;
  if (stats && stats.live + stats.dead > 0) return Math.max(rel.pages * blockSize, Math.ceil((stats.live + stats.dead) / TOAST_CHUNKS_PER_PAGE) * blockSize);
  if (stats && stats.tracked === true) return rel.pages * blockSize;
  // A TOAST table nothing has counted: empty unless the counts were lost, and then its
  // heap has no estimate either, which already makes the whole size unknown.
  return rel.pages * blockSize;
}

export function estimateTarget(target: Target, blockSize: number): TableEstimate {
  const heaps = target.relations.filter(isHeap).map((r) => estimateHeap(r, blockSize, target.statsReset));
  const indexBytes = target.relations.filter((r) => r.kind === 'index').reduce((sum, r) => sum + r.pages * blockSize, 0);
  const toasts = target.relations.filter((r) => r.kind === 'toast').map((r) => toastBytesOf(r, blockSize));
  const toastBytes = toasts.some((b) => b === null) ? null : toasts.reduce<number>((sum, b) => sum + (b as number), 0);
  const unknown = heaps.filter((h) => h.rows === null).map((h) => h.name);
  const rows = unknown.length > 0 ? null : heaps.reduce((sum, h) => sum + (h.rows as number), 0);
  const heapBytes = heaps.some((h) => h.bytes === null) ? null : heaps.reduce((sum, h) => sum + (h.bytes as number), 0);
  const bytes = heapBytes !== null && toastBytes !== null ? heapBytes + indexBytes + toastBytes : null;
  const bounds = heaps.map((h) => h.bytes ?? h.bytesAtMost);
  const bytesAtMost = bytes !== null || bounds.some((b) => b === null) || toastBytes === null ? null : bounds.reduce<number>((sum, b) => sum + (b as number), 0) + toastBytes;
  return {
    rows,
    sources: [...new Set(heaps.map((h) => h.source).filter((s): s is RowSource => s !== null))],
    heapBytes,
    indexBytes,
    toastBytes,
    bytes,
    bytesAtMost,
    heaps,
    unknown,
    neverAnalyzed: heaps.filter((h) => h.neverAnalyzed).map((h) => h.name),
  };
}

// Invalid indexes on the table: what a failed or cancelled CREATE INDEX CONCURRENTLY or
// REINDEX CONCURRENTLY leaves behind (indisvalid = false). The planner ignores them
// but every write still maintains them, a unique one still rejects duplicates, and a
// retried migration trips over the name
// (https://www.postgresql.org/docs/current/sql-createindex.html#SQL-CREATEINDEX-CONCURRENTLY).
import type { Finding } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';

/**
 * Invalid indexes on the target's relations ($1: table, partitions, TOAST), with
 * whether a build is still running on them (an index under CREATE INDEX CONCURRENTLY is
 * invalid until it finishes; that is the ddl-in-progress check's business). pg_index
 * and pg_class only: never opens the table.
 * https://www.postgresql.org/docs/current/catalog-pg-index.html
 */
export const INVALID_INDEXES_SQL = `
SELECT i.indexrelid::int8 AS oid, i.indrelid::int8 AS table_oid,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index,
       i.indrelid::regclass::text AS "table", c.relkind, i.indisunique AS is_unique, i.indisready AS is_ready,
       c.relpages::int8 AS pages,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) AS being_built
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE i.indrelid = ANY($1::oid[]) AND NOT i.indisvalid
 ORDER BY 3`;

export default defineCheck<never>({
  id: 'invalid-indexes',
  title: 'Invalid indexes',
  why: 'A failed CREATE INDEX CONCURRENTLY leaves an invalid index: queries cannot use it, yet every write pays to maintain it, a unique one still rejects duplicates, and re-running the migration fails on its name.',
  privileges: 'none (pg_index and pg_class are readable by every role)',
  options: {},
  queries: [{ name: 'invalid-indexes', sql: INVALID_INDEXES_SQL, params: (context) => [context.relationOids] }],
  evaluate(snapshot) {
    const findings: Finding[] = [];
    for (const row of snapshot.extra['invalid-indexes'] ?? []) {
      const target = snapshot.targets.find((t) => t.relations.some((r) => r.oid === Number(row.table_oid)));
      if (!target) continue;
      const index = String(row.index);
      const partitioned = row.relkind === 'I';
      const building = row.being_built === true;
      findings.push({
        kind: building ? 'index-being-built' : 'invalid-index',
        severity: building ? 'info' : 'warn',
        target: target.qualifiedName,
        relation: index,
        message: building
          ? `${index} on ${String(row.table)} is invalid because a build is still running on it`
          : partitioned
            ? `partitioned index ${index} on ${String(row.table)} is invalid: some partition has no matching index attached`
            : `${index} on ${String(row.table)} is invalid (left by a failed or cancelled concurrent build)${row.is_unique === true ? '; being unique, it still rejects duplicate values on every write' : ''}`,
        remediation: building
          ? undefined
          : partitioned
            ? { sql: partitionsWithoutIndexSql(String(row.table), index), note: `lists the partitions with no index attached to ${index}: CREATE INDEX CONCURRENTLY on each, then ALTER INDEX ${index} ATTACH PARTITION <that index>; the partitioned index becomes valid once every partition has one attached. DROP INDEX (not CONCURRENTLY) removes it instead, but takes AccessExclusiveLock on the table` }
            : { sql: `DROP INDEX CONCURRENTLY ${index};`, note: 'takes only ShareUpdateExclusiveLock; run it outside a transaction block, then rebuild the index if it is still wanted' },
        details: { unique: row.is_unique === true, ready: row.is_ready === true, pages: Number(row.pages), beingBuilt: building },
      });
    }
    const status = statusOf(findings);
    const invalid = findings.filter((f) => f.kind === 'invalid-index').length;
    return { status, summary: invalid > 0 ? `${invalid} invalid index(es) on the target` : 'no invalid indexes on the target', findings };
  },
});

const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** Runnable: the partitions of `table` that have no index attached to the partitioned `index`. */
function partitionsWithoutIndexSql(table: string, index: string): string {
  return `SELECT c.oid::regclass AS partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ${literal(table)}::regclass AND NOT EXISTS (SELECT 1 FROM pg_inherits x JOIN pg_index ix ON ix.indexrelid = x.inhrelid WHERE x.inhparent = ${literal(index)}::regclass AND ix.indrelid = c.oid);`;
}

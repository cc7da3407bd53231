// What the backfill reads about the server and the table before it touches a row.
//
// None of these queries opens the table: to_regclass() resolves the name without a lock
// and the rest is pg_catalog, so a queued ALTER TABLE on the target never makes the
// backfill queue while it plans (../shared/postgres-facts.md, "without queueing").
// Functions are schema-qualified: the backfill runs the operator's --set/--where under
// the session's own search_path (as psql would), so pg_catalog is not pinned first.

/** Server facts: a standby is refused, and the backend pid is the one the lock-queue watcher looks for. */
export const SERVER_SQL = `
SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
       pg_catalog.current_setting('server_version_num')::int AS version_num,
       pg_catalog.pg_backend_pid() AS backend_pid,
       current_user AS "user",
       pg_catalog.current_database() AS database`;

/**
 * The table behind --table ($1, its canonical quoted form). reltuples is the planner's
 * estimate (-1: never analyzed, 14+), good enough for progress and batch counts and
 * free to read. Inheritance children are reported because every statement says ONLY.
 */
export const TABLE_SQL = `
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
       c.reltuples::float8 AS reltuples,
       EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhparent = c.oid) AS has_children
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = pg_catalog.to_regclass($1)`;

/**
 * Every unique index of the table ($1, oid) with what decides whether the batches can walk
 * it in order: a btree on plain NOT NULL columns, not partial, valid, in one direction,
 * with the columns' default operator class and collation — only then does
 * "WHERE (k) > ($1) ORDER BY k LIMIT 1 OFFSET n" read the index instead of sorting the table.
 * indkey also lists INCLUDE columns after the indnkeyatts key columns; indclass,
 * indcollation and indoption list key columns only.
 */
export const UNIQUE_INDEXES_SQL = `
SELECT ic.relname AS index_name,
       i.indisprimary AS is_primary,
       (i.indisvalid AND i.indisready AND i.indislive) AS ready,
       i.indpred IS NULL AS whole_table,
       am.amname AS access_method,
       k.columns,
       k.plain_columns,
       k.not_null,
       k.default_opclass,
       k.default_collation,
       k.one_direction
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_catalog.pg_am am ON am.oid = ic.relam
 CROSS JOIN LATERAL (
       SELECT pg_catalog.array_agg(a.attname::text ORDER BY u.ord) AS columns,
              pg_catalog.bool_and(u.attnum > 0) AS plain_columns,
              pg_catalog.bool_and(COALESCE(a.attnotnull, false)) AS not_null,
              pg_catalog.bool_and(COALESCE(o.opcdefault, false)) AS default_opclass,
              pg_catalog.bool_and(u.coll = COALESCE(a.attcollation, 0)) AS default_collation,
              pg_catalog.count(DISTINCT u.opt & 1) = 1 AS one_direction
         FROM unnest(i.indkey::int2[], i.indclass::oid[], i.indcollation::oid[], i.indoption::int2[])
              WITH ORDINALITY AS u(attnum, opclass, coll, opt, ord)
         LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum
         LEFT JOIN pg_catalog.pg_opclass o ON o.oid = u.opclass
        WHERE u.ord <= i.indnkeyatts
       ) k
 WHERE i.indrelid = $1::oid AND i.indisunique
 ORDER BY i.indisprimary DESC, pg_catalog.array_length(k.columns, 1), ic.relname`;

/** The table's columns, to tell a --key typo from a column that has no usable index. */
export const COLUMNS_SQL = `
SELECT a.attname::text AS name, a.attnotnull AS not_null
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum`;

// The queries every run makes, inside one read-only transaction.
//
// None of them opens a user table: pg_total_relation_size() and friends take an
// AccessShareLock on the relation and would queue behind the very ALTER TABLE the
// gate is meant to spot (../shared/postgres-facts.md), so sizes come from
// pg_class.relpages and partitions are walked through pg_inherits, not
// pg_partition_tree(), which locks every partition.
import { sqlFor, type VersionedSql } from '../core/sql-versions.js';

/** Server facts and the checker's own privileges. */
export const SERVER_INFO_SQL = `
SELECT current_setting('server_version_num')::int AS version_num,
       current_setting('server_version') AS version,
       pg_is_in_recovery() AS in_recovery,
       current_user AS current_user,
       current_database() AS database,
       r.rolsuper AS is_superuser,
       -- pg_read_all_stats (part of pg_monitor) is what lets a role see other roles' sessions:
       -- https://www.postgresql.org/docs/current/predefined-roles.html
       (r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) AS can_read_all_stats,
       pg_backend_pid() AS backend_pid,
       current_setting('block_size')::int AS block_size,
       statement_timestamp() AS taken_at
  FROM pg_roles r
 WHERE r.rolname = current_user`;

/**
 * Resolves each --table ($1, canonical quoted names) with to_regclass, which looks the
 * name up without locking it, then lists every relation a lock on which counts
 * against the table: itself, its partitions and inheritance children at every level,
 * their indexes, and their TOAST tables and TOAST indexes.
 *
 * Row counts come from two places, neither of which opens the table: the planner's
 * pg_class.reltuples (-1 until the first VACUUM/ANALYZE) and the cumulative statistics
 * (the counters behind pg_stat_all_tables: n_live_tup, n_tup_ins, ...), which count rows
 * from the first insert. `tracked` says the statistics system has an entry for the
 * relation (pg_stat_have_stats, 15+; NULL on 14), `stats_reset` whether this database's
 * counters were ever reset (then a zero may be a lost count, not an empty table).
 */
function targetsSql(tracked: string): string {
  return `
WITH RECURSIVE input AS (
  SELECT u.ord::int AS ord, u.name, to_regclass(u.name) AS oid
    FROM unnest($1::text[]) WITH ORDINALITY AS u(name, ord)
), tree AS (
  SELECT i.ord, i.oid AS relid, 0 AS depth FROM input i WHERE i.oid IS NOT NULL
  UNION ALL
  SELECT t.ord, h.inhrelid::regclass, t.depth + 1
    FROM tree t JOIN pg_inherits h ON h.inhparent = t.relid
   WHERE t.depth < 64
), heap AS (
  SELECT t.ord, c.oid, c.relkind, c.relispartition, t.depth, c.reltoastrelid, c.relpages, c.reltuples
    FROM tree t JOIN pg_class c ON c.oid = t.relid
), related AS (
  SELECT ord, oid, relkind,
         CASE WHEN depth = 0 THEN 'table' WHEN relispartition THEN 'partition' ELSE 'child' END AS kind,
         relpages, reltuples
    FROM heap
  UNION ALL
  SELECT h.ord, x.indexrelid, 'i', 'index', c.relpages, c.reltuples
    FROM heap h JOIN pg_index x ON x.indrelid = h.oid JOIN pg_class c ON c.oid = x.indexrelid
  UNION ALL
  SELECT h.ord, c.oid, c.relkind, 'toast', c.relpages, c.reltuples
    FROM heap h JOIN pg_class c ON c.oid = h.reltoastrelid
  UNION ALL
  SELECT h.ord, x.indexrelid, 'i', 'toast', c.relpages, c.reltuples
    FROM heap h JOIN pg_index x ON x.indrelid = h.reltoastrelid JOIN pg_class c ON c.oid = x.indexrelid
   WHERE h.reltoastrelid <> 0
)
SELECT i.ord, i.name AS input, i.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified,
       (SELECT d.stats_reset IS NOT NULL FROM pg_stat_database d WHERE d.datname = current_database()) AS stats_reset,
       COALESCE((SELECT json_agg(json_build_object(
                   'oid', r.oid::int8, 'name', r.oid::regclass::text, 'kind', r.kind, 'relkind', r.relkind,
                   'pages', r.relpages, 'tuples', r.reltuples,
                   'stats', CASE WHEN r.relkind IN ('r', 'm', 't') THEN json_build_object(
                     'live', pg_stat_get_live_tuples(r.oid), 'dead', pg_stat_get_dead_tuples(r.oid),
                     'inserted', pg_stat_get_tuples_inserted(r.oid), 'updated', pg_stat_get_tuples_updated(r.oid),
                     'deleted', pg_stat_get_tuples_deleted(r.oid), 'tracked', ${tracked}) END) ORDER BY r.kind, r.oid)
                   FROM related r WHERE r.ord = i.ord), '[]') AS relations
  FROM input i
  LEFT JOIN pg_class c ON c.oid = i.oid
  LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
 ORDER BY i.ord`;
}

export const TARGETS_SQL: VersionedSql = [
  { since: 140000, sql: targetsSql('NULL::bool') },
  { since: 150000, sql: targetsSql("pg_stat_have_stats('relation', (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()), r.oid)") },
  // 18 takes the object id as int8.
  { since: 180000, sql: targetsSql("pg_stat_have_stats('relation', (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()), r.oid::int8)") },
];

/** For a role that may not call pg_stat_have_stats (only superusers can, by default): the entry's existence is not asked. */
export const TARGETS_WITHOUT_HAVE_STATS_SQL = targetsSql('NULL::bool');

/**
 * The targets query for this connection: pg_stat_have_stats only where the role may call it.
 * Its EXECUTE is the superuser's by default (pg_monitor does not have it), and the query goes
 * out in the first batch, before the server has answered anything: the server_version and
 * is_superuser it reported at startup decide. Elsewhere `tracked` is NULL, as on 14.
 */
export function targetsSqlFor(versionNum: number | undefined, superuser: boolean): string {
  return versionNum !== undefined && versionNum >= 150000 && superuser ? sqlFor(TARGETS_SQL, versionNum) : TARGETS_WITHOUT_HAVE_STATS_SQL;
}

/**
 * The run's one look at pg_locks and pg_stat_activity, in a single statement. They are
 * still not one snapshot (../shared/postgres-facts.md, "Under load"): pg_locks is read when
 * the first output column's subquery runs, pg_stat_activity after it, once, and then kept
 * for the rest of the transaction. That order matters: a transaction seen in
 * pg_stat_activity was already open when pg_locks was read, or began after it, so a lock
 * is never blamed on an older transaction than the one that held it; a holder whose
 * transaction ended in between shows as idle (checks/support.ts, holderState). Filtering happens here, not in Node, so a server with
 * tens of thousands of locks sends only what matters: locks on the target relations
 * ($1), every waiting lock (with pg_blocking_pids, called for waiters only), and the
 * transaction-id locks of prepared transactions, whose locks have no pid
 * (https://www.postgresql.org/docs/current/view-pg-locks.html).
 * Ages use statement_timestamp() so a session that began after this transaction
 * does not get a negative age; they stay NULL where the role may not see the start
 * time (GREATEST would turn NULL into 0 and make a hidden holder look brand new).
 */
export const ACTIVITY_AND_LOCKS_SQL = `
WITH db AS (
  SELECT oid FROM pg_database WHERE datname = current_database()
), locks AS (
  SELECT l.pid, l.virtualtransaction AS virtual_transaction, l.locktype AS lock_type,
         l.relation::int8 AS relation, l.transactionid::text AS transaction_id, l.mode, l.granted,
         EXTRACT(EPOCH FROM statement_timestamp() - l.waitstart)::float8 AS wait_seconds,
         CASE WHEN NOT l.granted AND l.pid IS NOT NULL THEN pg_blocking_pids(l.pid) END AS blocking_pids
    FROM pg_locks l
   WHERE (l.locktype = 'relation' AND l.relation = ANY($1::oid[]) AND l.database = (SELECT oid FROM db))
      OR NOT l.granted
      OR (l.pid IS NULL AND l.locktype = 'transactionid')
), sessions AS (
  SELECT a.pid, a.leader_pid, a.datname AS database, a.usename AS "user", a.application_name AS application,
         CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) || ':' || a.client_port
              WHEN a.client_port = -1 THEN 'local' END AS client,
         a.backend_type, a.state, left(a.query, 2000) AS query, a.wait_event_type, a.wait_event,
         CASE WHEN a.xact_start IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - a.xact_start), 0)::float8 END AS xact_age_seconds,
         CASE WHEN a.query_start IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - a.query_start), 0)::float8 END AS query_age_seconds,
         CASE WHEN a.state_change IS NOT NULL THEN GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - a.state_change), 0)::float8 END AS state_age_seconds,
         a.backend_xid::text AS backend_xid, a.backend_xmin::text AS backend_xmin,
         age(a.backend_xmin)::int8 AS xmin_age,
         a.query = '<insufficient privilege>' AS hidden
    FROM pg_stat_activity a
   WHERE a.pid <> pg_backend_pid()
     AND (a.state IS DISTINCT FROM 'idle'
          OR a.pid IN (SELECT pid FROM locks WHERE pid IS NOT NULL)
          -- an idle session can still block through a session-level advisory lock
          OR a.pid IN (SELECT unnest(blocking_pids) FROM locks))
), prepared AS (
  SELECT p.gid, p.owner, p.database, p.transaction::text AS transaction_id,
         GREATEST(EXTRACT(EPOCH FROM statement_timestamp() - p.prepared), 0)::float8 AS age_seconds,
         (SELECT l.virtual_transaction FROM locks l
           WHERE l.pid IS NULL AND l.lock_type = 'transactionid' AND l.transaction_id = p.transaction::text
           LIMIT 1) AS virtual_transaction
    FROM pg_prepared_xacts p
)
SELECT (SELECT COALESCE(json_agg(locks), '[]') FROM locks) AS locks,
       (SELECT COALESCE(json_agg(sessions), '[]') FROM sessions) AS sessions,
       (SELECT COALESCE(json_agg(prepared), '[]') FROM prepared) AS prepared,
       -- Sessions that could queue behind the migration; another role's show a NULL backend_type without pg_read_all_stats.
       (SELECT count(*) FROM pg_stat_activity a
         WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
           AND (a.backend_type = 'client backend' OR a.backend_type IS NULL))::int AS client_sessions`;

/** pg_catalog first on this transaction's search_path (see pinCatalogSearchPath in src/gate/snapshot.ts). One round trip; every function and operator is schema-qualified, since nothing is pinned yet. */
export const PIN_CATALOG_SEARCH_PATH_SQL = `
SELECT pg_catalog.set_config('search_path',
         CASE WHEN pg_catalog.btrim(pg_catalog.current_setting('search_path')) OPERATOR(pg_catalog.=) ''
              THEN 'pg_catalog'
              ELSE 'pg_catalog, ' OPERATOR(pg_catalog.||) pg_catalog.current_setting('search_path') END,
         true)`;

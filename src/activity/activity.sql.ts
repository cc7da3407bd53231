// What `pgpreflight activity` and the load check read: pg_stat_activity, one statement per
// sample. Shared memory only: no table is opened, no lock is taken that a migration or a
// query could wait on. Every name is schema-qualified, so the caller's search_path cannot
// put another pg_stat_activity or another `=` in front of the catalog's.

/** How many characters of each active session's query a sample carries. */
export const QUERY_CHARS = 300;

/**
 * One sample: every active session other than this one (state active or fastpath, not
 * waiting in the idle Activity class), and how many sessions of other roles the role may
 * not see (their state and query read NULL and `<insufficient privilege>` without
 * pg_read_all_stats; auxiliary processes, which have no database, are not counted).
 * query_id is NULL unless compute_query_id is on (auto: when pg_stat_statements is loaded).
 * One row, the sessions as JSON, so a sample is one message however many sessions are active.
 */
export const ACTIVITY_SAMPLE_SQL = `
SELECT EXTRACT(EPOCH FROM pg_catalog.clock_timestamp())::float8 * 1000 AS at,
       (pg_catalog.count(*) FILTER (WHERE a.query OPERATOR(pg_catalog.=) '<insufficient privilege>' AND a.datname IS NOT NULL))::int AS hidden,
       COALESCE(pg_catalog.json_agg(pg_catalog.json_build_object(
                  'pid', a.pid, 'leader', a.leader_pid, 'db', a.datname, 'user', a.usename, 'app', a.application_name,
                  'type', a.backend_type, 'wt', a.wait_event_type, 'we', a.wait_event,
                  'qid', a.query_id::text, 'q', pg_catalog.left(a.query, ${QUERY_CHARS})))
                FILTER (WHERE a.state IN ('active', 'fastpath function call') AND a.wait_event_type IS DISTINCT FROM 'Activity'),
                '[]') AS sessions
  FROM pg_catalog.pg_stat_activity a
 WHERE a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()`;

/** Who is looking, at what: read once when `activity` connects. */
export const ACTIVITY_SERVER_SQL = `
SELECT pg_catalog.current_setting('server_version_num')::int AS version_num,
       pg_catalog.current_setting('server_version') AS version,
       pg_catalog.pg_is_in_recovery() AS in_recovery,
       CURRENT_USER AS current_user,
       pg_catalog.current_database() AS database,
       (r.rolsuper OR pg_catalog.pg_has_role(CURRENT_USER, 'pg_read_all_stats', 'USAGE')) AS can_read_all_stats
  FROM pg_catalog.pg_roles r
 WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER`;

/**
 * A sample as one round trip on an open connection outside any transaction: a read-only
 * transaction with its own statement_timeout and lock_timeout and pg_catalog alone on the
 * search_path, the sample, and the end of the transaction, sent as one simple-protocol
 * message. Timeouts are whole milliseconds the caller computed, never user text.
 */
export function sampleBatch(statementTimeoutMs: number): string {
  const timeout = Math.max(1, Math.floor(statementTimeoutMs));
  return `BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SELECT pg_catalog.set_config('search_path', 'pg_catalog', true),
       pg_catalog.set_config('statement_timeout', '${timeout}', true),
       pg_catalog.set_config('lock_timeout', '${Math.min(timeout, 2000)}', true);
${ACTIVITY_SAMPLE_SQL};
COMMIT`;
}

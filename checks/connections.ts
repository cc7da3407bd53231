// Connection headroom. While a migration waits for its lock, every query on the table
// queues behind it holding a connection, and applications open more to compensate: a
// server already near max_connections runs out, and then even the fix (a psql session
// to cancel the migration) may only get in through the superuser-reserved slots.
import type { Finding } from '../src/core/types.js';
import { defineCheck, statusOf } from './types.js';

const COUNT_SQL_HEAD = `
SELECT count(*) FILTER (WHERE a.pid <> pg_backend_pid()
                          AND (a.backend_type = 'client backend' OR a.backend_type IS NULL))::int AS in_use,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,`;

/**
 * Client backends in use (other than this one; another role's sessions show a NULL
 * backend_type without pg_read_all_stats and are counted too) against max_connections
 * minus the reserved slots. Autovacuum workers, background workers and WAL senders have
 * slots of their own. PostgreSQL 16 added reserved_connections (for pg_use_reserved_connections).
 * https://www.postgresql.org/docs/current/runtime-config-connection.html#GUC-MAX-CONNECTIONS
 */
export const CONNECTIONS_SQL = [
  { since: 140000, sql: `${COUNT_SQL_HEAD}\n       0 AS reserved\n  FROM pg_stat_activity a` },
  { since: 160000, sql: `${COUNT_SQL_HEAD}\n       current_setting('reserved_connections')::int AS reserved\n  FROM pg_stat_activity a` },
] as const;

type Option = 'warn' | 'fail';

export default defineCheck<Option>({
  id: 'connections',
  title: 'Connection headroom',
  why: 'While the migration waits for its lock, queued queries hold their connections and applications open more: a server near max_connections runs out, and new connections, deploys and health checks fail.',
  privileges: 'none (pg_stat_activity rows and settings are visible to every role)',
  options: {
    warn: { kind: 'count', percent: true, atMost: 'fail', default: '80', flag: 'connections-warn', description: 'warn when this percentage of the usable connection slots (max_connections minus reserved) is in use' },
    fail: { kind: 'count', percent: true, default: '95', flag: 'connections-fail', description: 'fail when this percentage of the usable connection slots is in use' },
  },
  queries: [{ name: 'connections', sql: CONNECTIONS_SQL }],
  evaluate(snapshot, { options }) {
    const row = snapshot.extra.connections?.[0];
    if (!row) return { status: 'error', summary: 'the connection count could not be read', findings: [] };
    const inUse = Number(row.in_use);
    const max = Number(row.max_connections);
    const reserved = Number(row.superuser_reserved) + Number(row.reserved);
    const usable = Math.max(max - reserved, 1);
    const percent = (100 * inUse) / usable;
    const severity = options.fail !== null && percent >= options.fail ? 'fail' : options.warn !== null && percent >= options.warn ? 'warn' : 'info';
    const findings: Finding[] = [
      {
        kind: 'connections', severity,
        message: `${inUse} of ${usable} usable connections in use (${Math.floor(percent)}%; max_connections ${max} minus ${reserved} reserved; not counting this check's own)${severity === 'info' ? '' : `: a lock queue during the migration would exhaust the ${Math.max(usable - inUse, 0)} left; run it when fewer connections are in use, with a short lock_timeout, or put a pooler in front`}`,
        details: { inUse, usable, maxConnections: max, reserved, percent: Math.floor(percent) },
      },
    ];
    const status = statusOf(findings);
    return { status, summary: `${inUse}/${usable} usable connections in use (${Math.floor(percent)}%)`, findings };
  },
});

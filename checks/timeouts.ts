// Timeouts that turn a blocked migration into an outage or keep it harmless.
// lock_timeout = 0 lets the migration wait forever for its lock while every query that
// arrives after it queues behind it; idle_in_transaction_session_timeout = 0 lets a
// forgotten BEGIN hold locks forever. The value a new session gets comes from
// pg_db_role_setting (role in database, then role, then database) and otherwise the
// server's own setting (https://www.postgresql.org/docs/current/sql-alterrole.html).
import type { Finding } from '../src/core/types.js';
import { formatDuration, parseDuration } from '../src/core/units.js';
import { defineCheck, statusOf, type CheckQuery } from './types.js';

/**
 * One row per (role, database) that has client sessions open, plus one for the
 * connecting role in this database (is_me): the lock_timeout and
 * idle_in_transaction_session_timeout that ALTER ROLE/ALTER DATABASE ... SET give a new
 * session there, most specific first, and the server's reset values. pg_db_role_setting
 * is readable by every role; a SET inside a session is invisible from outside.
 * https://www.postgresql.org/docs/current/catalog-pg-db-role-setting.html
 */
export const TIMEOUT_SETTINGS_SQL = `
WITH pairs AS (
  SELECT a.usesysid AS role_oid, a.datid AS db_oid, count(*)::int AS sessions, false AS is_me
    FROM pg_stat_activity a
   WHERE a.pid <> pg_backend_pid() AND a.usesysid IS NOT NULL AND a.datid IS NOT NULL
     AND (a.backend_type = 'client backend' OR a.backend_type IS NULL)
   GROUP BY a.usesysid, a.datid
  UNION ALL
  SELECT r.oid, d.oid, 0, true FROM pg_roles r, pg_database d
   WHERE r.rolname = current_user AND d.datname = current_database()
), settings AS (
  SELECT s.setrole, s.setdatabase, split_part(o, '=', 1) AS name, substr(o, strpos(o, '=') + 1) AS value
    FROM pg_db_role_setting s, unnest(s.setconfig) o
)
SELECT p.is_me, r.rolname AS role, quote_ident(r.rolname) AS role_ident, d.datname AS database, p.sessions,
       lt.value AS lock_timeout, lt.source AS lock_timeout_source,
       it.value AS idle_timeout, it.source AS idle_timeout_source,
       (SELECT reset_val FROM pg_settings WHERE name = 'lock_timeout') AS reset_lock_timeout,
       (SELECT reset_val FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout') AS reset_idle_timeout
  FROM pairs p
  JOIN pg_roles r ON r.oid = p.role_oid
  JOIN pg_database d ON d.oid = p.db_oid
  LEFT JOIN LATERAL (
    SELECT s.value, CASE WHEN s.setrole = 0 THEN 'database' WHEN s.setdatabase = 0 THEN 'role' ELSE 'role in database' END AS source
      FROM settings s
     WHERE s.name = 'lock_timeout' AND (s.setrole, s.setdatabase) IN ((p.role_oid, p.db_oid), (p.role_oid, 0::oid), (0::oid, p.db_oid))
     ORDER BY s.setrole = 0, s.setdatabase = 0 LIMIT 1) lt ON true
  LEFT JOIN LATERAL (
    SELECT s.value, CASE WHEN s.setrole = 0 THEN 'database' WHEN s.setdatabase = 0 THEN 'role' ELSE 'role in database' END AS source
      FROM settings s
     WHERE s.name = 'idle_in_transaction_session_timeout' AND (s.setrole, s.setdatabase) IN ((p.role_oid, p.db_oid), (p.role_oid, 0::oid), (0::oid, p.db_oid))
     ORDER BY s.setrole = 0, s.setdatabase = 0 LIMIT 1) it ON true
 ORDER BY p.is_me DESC, r.rolname, d.datname`;

/** One query for both checks that read it (timeouts, migration-risk): the snapshot reads it once, by name. */
export const TIMEOUT_SETTINGS_QUERY: CheckQuery = { name: 'timeout-settings', sql: TIMEOUT_SETTINGS_SQL };

/** A timeout as written in a setting: a bare number is milliseconds (their unit); null when unreadable. */
export function timeoutMs(value: string): number | null {
  const text = value.trim().replace(/^'(.*)'$/, '$1').replace(/\s+/g, '');
  if (/^\d+$/.test(text)) return Number(text);
  return parseDuration(text) ?? null;
}

interface Effective {
  ms: number | null;
  /** Where the value comes from: role, database, role in database, server. */
  source: string;
}

export default defineCheck<never>({
  id: 'timeouts',
  title: 'Timeouts',
  why: 'With lock_timeout = 0 a blocked migration waits forever and every query on the table queues behind it; with idle_in_transaction_session_timeout = 0 a forgotten BEGIN holds its locks forever.',
  privileges: 'none (pg_db_role_setting and pg_settings are readable by every role); a SET inside a session cannot be seen from outside',
  unchangedByWaiting: true,
  options: {},
  queries: [TIMEOUT_SETTINGS_QUERY],
  evaluate(snapshot, { migrationSession }) {
    const findings: Finding[] = [];
    const rows = snapshot.extra['timeout-settings'] ?? [];
    const me = rows.find((r) => r.is_me === true);
    // Our own reset value is the server's setting unless our role or database sets it.
    const serverIdle = me && me.idle_timeout === null ? timeoutMs(String(me.reset_idle_timeout)) : null;
    const effective = (value: unknown, source: unknown, server: number | null): Effective =>
      value === null || value === undefined ? { ms: server, source: 'server' } : { ms: timeoutMs(String(value)), source: String(source) };

    if (me && migrationSession) {
      // `run` gives the migration's own session its lock_timeout through PGOPTIONS: that is the session to judge.
      findings.push({
        kind: 'lock-timeout', severity: 'info', user: String(me.role),
        message: `the migration's session gets lock_timeout = ${formatDuration(migrationSession.lockTimeoutMs)} and statement_timeout = ${formatDuration(migrationSession.statementTimeoutMs)} from run (PGOPTIONS), whatever the role's own setting`,
        details: { setting: 'lock_timeout', valueMs: migrationSession.lockTimeoutMs, source: 'run (PGOPTIONS)', database: String(me.database) },
      });
    } else if (me) {
      // Our reset_val already folds in everything a new session of this role gets here.
      const lock: Effective = { ms: timeoutMs(String(me.reset_lock_timeout)), source: me.lock_timeout_source === null ? 'server' : String(me.lock_timeout_source) };
      const role = String(me.role);
      findings.push({
        kind: 'lock-timeout', severity: lock.ms === 0 ? 'warn' : 'info', user: role,
        message:
          lock.ms === 0
            ? `role ${role} gets lock_timeout = 0 in ${String(me.database)} (from the ${lock.source} setting): a migration run as this role that cannot get its lock waits forever, and every query on the table queues behind it. Unless the migration sets lock_timeout itself, set one`
            : `role ${role} gets lock_timeout = ${lock.ms === null ? 'an unreadable value' : formatDuration(lock.ms)} in ${String(me.database)} (from the ${lock.source} setting)`,
        remediation: lock.ms === 0 ? { sql: `ALTER ROLE ${String(me.role_ident)} SET lock_timeout = '4s';`, note: 'applies to new sessions of the role; or run SET lock_timeout = \'4s\' at the start of the migration and retry on timeout' } : undefined,
        details: { setting: 'lock_timeout', valueMs: lock.ms, source: lock.source, database: String(me.database) },
      });
    }
    const unguarded: string[] = [];
    for (const row of rows) {
      if (row.is_me === true || Number(row.sessions) === 0) continue;
      const idle = effective(row.idle_timeout, row.idle_timeout_source, serverIdle);
      const role = String(row.role);
      const database = String(row.database);
      const sessions = Number(row.sessions);
      if (idle.ms === null) {
        findings.push({
          kind: 'idle-timeout-unknown', severity: 'info', user: role,
          message: `role ${role} has ${sessions} session(s) in ${database}; the server-wide idle_in_transaction_session_timeout is hidden by ${String(me?.role ?? 'the checking role')}'s own setting, so its value there is unknown`,
          details: { setting: 'idle_in_transaction_session_timeout', database, sessions },
        });
        continue;
      }
      if (idle.ms !== 0) continue;
      unguarded.push(role);
      findings.push({
        kind: 'idle-timeout-off', severity: 'warn', user: role,
        message: `role ${role} has ${sessions} session(s) open in ${database} with idle_in_transaction_session_timeout = 0 (from the ${idle.source} setting, unless the sessions SET it themselves): a forgotten BEGIN in one holds its locks, and blocks the migration, forever`,
        remediation: { sql: `ALTER ROLE ${String(row.role_ident)} SET idle_in_transaction_session_timeout = '1min';`, note: 'applies to new sessions of the role; pick a value above the longest legitimate pause inside a transaction' },
        details: { setting: 'idle_in_transaction_session_timeout', valueMs: 0, source: idle.source, database, sessions },
      });
    }
    const status = statusOf(findings);
    const lockOff = findings.some((f) => f.kind === 'lock-timeout' && f.severity === 'warn');
    const roles = [...new Set(unguarded)];
    const unknown = [...new Set(findings.filter((f) => f.kind === 'idle-timeout-unknown').map((f) => String(f.user)))];
    const lockSource = migrationSession ? 'lock_timeout is set for the migration\'s session (run)' : 'lock_timeout is set for the connecting role';
    const summary =
      [
        lockOff ? `lock_timeout is 0 for ${String(me?.role)}` : null,
        roles.length > 0 ? `no idle_in_transaction_session_timeout for role(s) ${roles.join(', ')}` : null,
        unknown.length > 0 ? `idle_in_transaction_session_timeout unknown for role(s) ${unknown.join(', ')}` : null,
      ].filter(Boolean).join('; ') || `${lockSource}; every role with open sessions has an idle-in-transaction timeout`;
    return { status, summary, findings };
  },
});

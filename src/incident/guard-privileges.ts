// May the guard cancel the migration's backend? pg_cancel_backend() lets a role signal a
// backend of a role whose privileges it has (the same role, or one it is a member of with
// INHERIT), any non-superuser backend when it has pg_signal_backend, and anything as a
// superuser; a superuser's backend only as a superuser
// (https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL).
// `run` finds this out before the migration starts, from the gate role's rights and the
// role the command will connect as (when it can tell), and again when the guard first sees
// the migration's backend, from the role it really uses.
import type pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { isConninfo, isConnectionUri, parseConninfo } from '../core/conninfo.js';
import { describeConnectionError, sqlName } from '../core/errors.js';

/** The application_name of the guard's connection (and of this check before the start). */
export const GUARD_APPLICATION_NAME = 'pgpreflight-guard';

/** The guard role's own rights, and those it has over `$1` (the migration's role), when given. */
const SIGNAL_RIGHTS_SQL = `
SELECT current_user AS role, me.rolsuper AS superuser,
       pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal_backend,
       t.rolname AS target, t.rolsuper AS target_superuser,
       CASE WHEN t.oid IS NOT NULL THEN pg_has_role(current_user, t.oid, 'USAGE') END AS has_target_privileges
  FROM pg_roles me
  LEFT JOIN pg_roles t ON t.rolname = $1
 WHERE me.rolname = current_user`;

export interface GuardRights {
  role: string;
  superuser: boolean;
  signalBackend: boolean;
  /** The migration's role, when known and present on the server. */
  target: { role: string; superuser: boolean; hasPrivileges: boolean } | null;
}

export async function readGuardRights(client: pg.Client, migrationRole: string | undefined): Promise<GuardRights> {
  const { rows } = await client.query<Record<string, unknown>>(SIGNAL_RIGHTS_SQL, [migrationRole ?? null]);
  const row = rows[0] ?? {};
  return {
    role: String(row.role ?? '?'),
    superuser: row.superuser === true,
    signalBackend: row.signal_backend === true,
    target: row.target === null || row.target === undefined ? null : { role: String(row.target), superuser: row.target_superuser === true, hasPrivileges: row.has_target_privileges === true },
  };
}

/** What the guard can do about the migration's backend: yes, no, or cannot tell (role unknown). */
export interface GuardVerdict {
  canCancel: boolean | 'unknown';
  /** One sentence for the operator. */
  text: string;
}

const fix = (rights: GuardRights): string => `GRANT pg_signal_backend TO ${sqlName(rights.role)}`;

export function judgeGuard(rights: GuardRights, migrationRole: string | undefined): GuardVerdict {
  const me = sqlName(rights.role);
  if (rights.superuser) return { canCancel: true, text: `the guard runs as ${me}, a superuser: it can cancel the migration's statement whatever role it uses` };
  const target = rights.target;
  if (target) {
    const them = sqlName(target.role);
    if (target.superuser) {
      return { canCancel: false, text: `the migration connects as ${them}, a superuser, and the guard (${me}) is not one: it cannot cancel the migration's statement, which then waits up to lock_timeout. Run the gate as a superuser, or the migration as a non-superuser` };
    }
    if (target.role === rights.role) return { canCancel: true, text: `the guard and the migration both connect as ${me}: the guard can cancel the migration's statement` };
    if (target.hasPrivileges) return { canCancel: true, text: `the guard (${me}) has the privileges of ${them}, the role the migration connects as: it can cancel the migration's statement` };
    if (rights.signalBackend) return { canCancel: true, text: `the guard (${me}) has pg_signal_backend: it can cancel the migration's statement (as ${them})` };
    return {
      canCancel: false,
      text: `the migration connects as ${them}; the guard (${me}) has neither its privileges nor pg_signal_backend, so it cannot cancel the migration's statement, which then waits up to lock_timeout. Fix: ${fix(rights)};`,
    };
  }
  if (rights.signalBackend) {
    return { canCancel: true, text: `the guard (${me}) has pg_signal_backend: it can cancel the migration's statement unless the migration connects as a superuser` };
  }
  const role = migrationRole === undefined ? 'pgpreflight cannot tell which role the migration connects as' : `the migration's role ${sqlName(migrationRole)} does not exist on the server`;
  return {
    canCancel: 'unknown',
    text: `${role}; the guard (${me}) can cancel only sessions of roles whose privileges it has, so if the migration uses another role its statement waits up to lock_timeout. Fix: ${fix(rights)}; or connect the gate as the migration's role`,
  };
}

/** The user in a connection URL or keyword/value string, if it names one. */
function userOf(connection: string): string | undefined {
  try {
    if (isConnectionUri(connection)) return (parseConnectionString(connection.trim()).user as string | undefined) || undefined;
    if (isConninfo(connection)) return parseConninfo(connection, 'the command').user || undefined;
  } catch {
    // not a connection string after all
  }
  return undefined;
}

/**
 * The role the migration command will most likely connect as, from what libpq tools and
 * frameworks read: a -U/--username or a connection string among its arguments, else
 * DATABASE_URL or PGUSER in its environment. Undefined when nothing says.
 */
export function migrationRoleOf(command: readonly string[], env: Record<string, string | undefined>): string | undefined {
  for (const [i, arg] of command.entries()) {
    if ((arg === '-U' || arg === '--username') && command[i + 1]) return command[i + 1];
    const attached = /^(?:-U|--username=)(.+)$/.exec(arg);
    if (attached) return attached[1];
    const user = arg.startsWith('--dbname=') ? userOf(arg.slice('--dbname='.length)) : userOf(arg);
    if (user) return user;
  }
  const fromUrl = env.DATABASE_URL ? userOf(env.DATABASE_URL) : undefined;
  return fromUrl ?? (env.PGUSER || undefined);
}

/** Connects as the guard will and judges, before the migration starts. */
export async function guardVerdictBeforeStart(connection: ConnectionSpec, migrationRole: string | undefined, timeoutMs: number): Promise<GuardVerdict> {
  const client = await connect(connection, { applicationName: GUARD_APPLICATION_NAME, timeoutMs });
  try {
    return judgeGuard(await readGuardRights(client, migrationRole), migrationRole);
  } catch (error) {
    throw describeConnectionError(error, connection.display, connection.user);
  } finally {
    await client.end().catch(() => undefined);
  }
}

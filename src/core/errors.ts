// Errors a person can act on: one line naming the problem and the fix, exit code 2.

/**
 * Keeps a message on one line and harmless for a terminal: control characters that
 * came from user input (a --table with a newline or an escape sequence) or from a
 * server message are shown escaped, as \n or \u001b.
 */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export class PreflightError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(oneLine(message), options);
    this.name = 'PreflightError';
  }
}

/** Removes every secret (passwords, whole connection URLs) from a text before it is shown. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:@/\s]*):[^@\s]*@/gi, '$1:***@');
  for (const secret of secrets) {
    if (secret.length >= 1) out = out.split(secret).join('***');
  }
  return out;
}

interface PgLikeError {
  code?: string;
  message?: string;
  errno?: number;
  syscall?: string;
  hostname?: string;
}

/** Turns a connection or query failure into a one-line message with the fix. */
export function describeConnectionError(error: unknown, where: string, role?: string): PreflightError {
  if (error instanceof PreflightError) return error;
  const e = (error ?? {}) as PgLikeError;
  const message = e.message ?? String(error);
  const code = e.code ?? '';
  const map: Record<string, string> = {
    ECONNREFUSED: `cannot connect to ${where}: connection refused. Is the server running and listening there? Check --url, DATABASE_URL or PGHOST/PGPORT`,
    ENOTFOUND: `cannot connect to ${where}: unknown host. Check the host name in --url, DATABASE_URL or PGHOST`,
    EAI_AGAIN: `cannot connect to ${where}: the host name could not be resolved right now. Check DNS and the host in --url`,
    ECONNRESET: `the connection to ${where} was reset. Check that the port belongs to PostgreSQL and that the server is up`,
    EHOSTUNREACH: `cannot connect to ${where}: host unreachable. Check the network path and the host in --url`,
    ETIMEDOUT: `cannot connect to ${where}: timed out. Check the host, port and firewall, or raise --timeout`,
    '28P01': `authentication failed for ${where}: wrong password or user. Check the password in --url, PGPASSWORD or ~/.pgpass`,
    '28000': `the server at ${where} refused the login (${stripPrefix(message)}). Check pg_hba.conf, the role's LOGIN attribute and the user name`,
    '3D000': `${stripPrefix(message)} on ${where}. Check the database name in --url or PGDATABASE`,
    '57P01': `the server terminated the checker's connection (${where}): an administrator or a restart ended it. Run the check again`,
    '57P02': `the server at ${where} is restarting (crash recovery). Run the check again once it is up`,
    '57P03': `the server at ${where} is starting up or shutting down and does not accept connections yet. Try again shortly`,
    '57014': `a catalog query on ${where} was cancelled by the checker's statement_timeout (its --timeout budget): the server is overloaded or a system catalog is locked. Raise --timeout or try again`,
    '55P03': `a catalog query on ${where} hit the checker's lock_timeout. Something holds a lock on a system catalog; try again`,
    '53300': `${where} has no free connection slots (too many clients). The gate cannot look; free connections or use a reserved role`,
    '42501': permissionDenied(stripPrefix(message), where, role),
  };
  const mapped = map[code];
  if (mapped) return new PreflightError(mapped, { cause: error });
  if (/does not support SSL/i.test(message)) {
    return new PreflightError(`the server at ${where} does not support SSL, but sslmode requires it. Use sslmode=prefer or disable, or enable ssl on the server`, { cause: error });
  }
  if (/self[- ]signed|unable to verify|certificate|Hostname\/IP does not match|ERR_TLS/i.test(message) || /^ERR_TLS|CERT/.test(code)) {
    return new PreflightError(`TLS verification of ${where} failed: ${message}. Check sslrootcert and the host name (sslmode=verify-full checks both)`, { cause: error });
  }
  if (/timeout|timed out/i.test(message)) {
    return new PreflightError(`${where} did not answer in time (${message}). Check that the host and port are a PostgreSQL server, or raise --timeout`, { cause: error });
  }
  if (/Connection terminated/i.test(message)) {
    return new PreflightError(`the connection to ${where} ended unexpectedly (${message}): the server closed it, restarted, or is not PostgreSQL. Run the check again`, { cause: error });
  }
  return new PreflightError(`cannot check ${where}: ${message}`, { cause: error });
}

/** A name as SQL needs it: bare when it is a plain lower-case identifier, else double-quoted. */
export function sqlName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * The fix for a permission error, by the object PostgreSQL names: USAGE on a schema,
 * CONNECT on a database, SELECT or EXECUTE on a table or function. The role is the real
 * one whenever it is known; pg_monitor is never the guess for a privilege it does not give.
 */
export function permissionDenied(message: string, where: string, role: string | undefined): string {
  const to = role === undefined ? 'the connecting role' : sqlName(role);
  const match = /permission denied for (schema|database|table|view|relation|materialized view|sequence|function|procedure) (.+)$/i.exec(message.trim());
  const kind = match?.[1]?.toLowerCase();
  // PostgreSQL quotes some names ("permission denied for database \"app\"") and not others.
  const object = (match?.[2]?.trim() ?? '').replace(/^"(.*)"$/, '$1');
  const fix =
    kind === 'schema'
      ? `GRANT USAGE ON SCHEMA ${sqlName(object)} TO ${to}`
      : kind === 'database'
        ? `GRANT CONNECT ON DATABASE ${sqlName(object)} TO ${to}`
        : kind === 'function' || kind === 'procedure'
          ? `GRANT EXECUTE ON FUNCTION ${object} TO ${to}`
          : kind !== undefined
            ? `GRANT SELECT ON ${object} TO ${to}, or GRANT pg_monitor TO ${to} for the statistics views`
            : `GRANT pg_monitor TO ${to} if the object is a statistics view (docs/privileges.md lists what each command needs)`;
  return `permission denied on ${where}: ${message}. Fix: ${fix}`;
}

function stripPrefix(message: string): string {
  return message.replace(/^error:\s*/i, '');
}

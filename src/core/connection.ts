// Where to connect and how, the way libpq users expect, setting by setting: psql's explicit
// options (-h, -p, -U, -d), else the connection string (--url, else DATABASE_URL; a URL or a
// keyword/value string), else libpq's environment (PGHOST, PGPORT, PGUSER, PGPASSWORD,
// PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, PGSSLKEY, PGPASSFILE) and ~/.pgpass,
// else libpq's defaults. An explicitly empty value is an error, never the defaults.
// sslmode semantics: https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP, Socket } from 'node:net';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import pg from 'pg';
import { parse as parseConnectionString } from 'pg-connection-string';
import { isConninfo, isConnectionUri, parseConninfo } from './conninfo.js';
import { describeConnectionError, PreflightError } from './errors.js';

const require = createRequire(import.meta.url);

export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

export interface ConnectionSpec {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  sslMode: SslMode;
  sslRootCert: string | undefined;
  sslCert: string | undefined;
  sslKey: string | undefined;
  /** user@host:port/database: safe to print, never carries the password. */
  display: string;
  /** Strings that must never reach any output. */
  secrets: string[];
  /** Where the password came from (--url, DATABASE_URL, PGPASSWORD); undefined: none given, the password file is asked. */
  passwordSource?: string;
  /** The password file: passfile in the connection string, else PGPASSFILE, else ~/.pgpass. */
  passfile?: string;
}

type Env = Record<string, string | undefined>;

function isSocketHost(host: string): boolean {
  return host.startsWith('/');
}

function defaultHost(port: number): string {
  for (const dir of ['/var/run/postgresql', '/tmp']) {
    if (existsSync(join(dir, `.s.PGSQL.${port}`))) return dir;
  }
  return 'localhost';
}

function strictPort(value: string, source: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new PreflightError(`${source} must be a port number from 1 to 65535, got "${value}"`);
  }
  return Number(value);
}

function strictSslMode(value: string, source: string): SslMode {
  if (!(SSL_MODES as readonly string[]).includes(value)) {
    throw new PreflightError(`${source} must be one of ${SSL_MODES.join(', ')}, got "${value}"`);
  }
  return value as SslMode;
}

const SSL_PARAMETERS = new Set(['sslmode', 'sslrootcert', 'sslcert', 'sslkey']);

/**
 * Takes the ssl* query parameters out of a URL before pg-connection-string sees it: it
 * would read the certificate files itself, treat prefer/require/verify-ca as verify-full
 * and print a warning on stderr. tlsFor() applies libpq's meaning of each mode instead.
 */
function splitSslParameters(url: string): { rest: string; ssl: Record<string, string> } {
  const question = url.indexOf('?');
  if (question < 0) return { rest: url, ssl: {} };
  const ssl: Record<string, string> = {};
  const kept: string[] = [];
  for (const pair of url.slice(question + 1).split('&')) {
    const equals = pair.indexOf('=');
    const key = decodeURIComponent(equals < 0 ? pair : pair.slice(0, equals));
    if (SSL_PARAMETERS.has(key)) ssl[key] = decodeURIComponent(equals < 0 ? '' : pair.slice(equals + 1));
    else if (pair !== '') kept.push(pair);
  }
  return { rest: kept.length > 0 ? `${url.slice(0, question)}?${kept.join('&')}` : url.slice(0, question), ssl };
}

/** Connection options given on the command line as psql spells them (-h, -p, -U, -d): they win over everything. */
export interface ExplicitConnection {
  host?: string;
  port?: string;
  user?: string;
  database?: string;
}

const EXPLICIT_FLAGS: Record<keyof ExplicitConnection, string> = { host: '-h/--host', port: '-p/--port', user: '-U/--username', database: '-d/--dbname' };

/** What a connection string or URL said, by the names used below. */
function connectionStringValues(text: string, source: string): Record<string, string | undefined> {
  if (isConninfo(text)) {
    const values = parseConninfo(text, source);
    // libpq skips blanks after "=", so `host= dbname=app` (an empty variable) reads host as "dbname=app".
    for (const key of ['host', 'port', 'user', 'dbname'] as const) {
      const value = values[key];
      if (value !== undefined && (value.trim() === '' || /^\w+=/.test(value))) {
        throw new PreflightError(`${source}: ${key}= is empty in the connection string (an unset variable?): give a value or leave the keyword out`);
      }
    }
    const { dbname, ...rest } = values;
    if (rest.host?.includes(',')) throw new PreflightError(`${source}: several hosts (host=a,b) are not supported: name the primary the migration runs on`);
    return { ...rest, database: dbname };
  }
  if (!isConnectionUri(text)) {
    throw new PreflightError(`${source} is neither a PostgreSQL URL nor a keyword/value string: expected postgresql://user@host:5432/database or "host=db port=5432 dbname=app"`);
  }
  try {
    const { rest, ssl } = splitSslParameters(text.trim());
    const parsed = parseConnectionString(rest) as Record<string, unknown>;
    const values: Record<string, string | undefined> = {
      ...Object.fromEntries(
        Object.entries(parsed)
          .filter(([, v]) => typeof v === 'string' || typeof v === 'number')
          .map(([k, v]) => [k, String(v)]),
      ),
      ...ssl,
    };
    if (values.host?.includes(',')) throw new PreflightError(`${source}: several hosts are not supported: name the primary the migration runs on`);
    return values;
  } catch (error) {
    if (error instanceof PreflightError) throw error;
    // The parser's message may echo the URL, password included: say only what is wrong.
    throw new PreflightError(`${source} is not a valid PostgreSQL URL: expected postgresql://user@host:5432/database`);
  }
}

/** `user@host:port/database`, an IPv6 address in brackets; never a password. */
export function displayAddress(user: string, host: string, port: number, database: string): string {
  return `${user}@${isIP(host) === 6 ? `[${host}]` : host}:${port}/${database}`;
}

/**
 * Builds the connection spec the way libpq users expect, field by field: explicit options
 * (-h, -p, -U, -d) > the connection string (--url, else DATABASE_URL; a URL or libpq
 * keyword/value string) > the PG* environment > libpq's defaults.
 * An explicitly empty value anywhere (--url '', DATABASE_URL='', -h '') is an error, never
 * "use the defaults": a missing secret must not quietly check localhost:5432 instead.
 */
export function resolveConnection(url: string | undefined, env: Env = process.env, explicit: ExplicitConnection = {}): ConnectionSpec {
  for (const [key, flag] of Object.entries(EXPLICIT_FLAGS) as [keyof ExplicitConnection, string][]) {
    const value = explicit[key];
    if (value !== undefined && value.trim() === '') throw new PreflightError(`${flag} is empty (an unset variable?): give a value or leave the option out`);
  }
  if (url !== undefined && url.trim() === '') {
    throw new PreflightError('--url is empty (an unset variable or a missing secret?): give the connection URL, or leave --url out. pgpreflight never falls back to the default server when a URL was meant');
  }
  const databaseUrl = env.DATABASE_URL;
  const databaseUrlSet = databaseUrl !== undefined && databaseUrl.trim() !== '';
  if (url === undefined && databaseUrl !== undefined && !databaseUrlSet && explicit.host === undefined) {
    throw new PreflightError(EMPTY_DATABASE_URL);
  }
  const source = url !== undefined ? '--url' : databaseUrlSet ? 'DATABASE_URL' : undefined;
  const text = url ?? (databaseUrlSet ? databaseUrl : undefined);
  const fromUrl = text !== undefined && source !== undefined ? connectionStringValues(text, source) : {};
  const pick = (key: string, envKey: string | undefined): string | undefined => {
    const given = (explicit as Record<string, string | undefined>)[key];
    if (given !== undefined) return given;
    const v = fromUrl[key];
    if (v !== undefined && v !== '') return v;
    const e = envKey === undefined ? undefined : env[envKey];
    return e !== undefined && e !== '' ? e : undefined;
  };
  const sourceOf = (key: string, envKey: string): string =>
    (explicit as Record<string, string | undefined>)[key] !== undefined ? EXPLICIT_FLAGS[key as keyof ExplicitConnection] : fromUrl[key] ? `the ${key} in ${source}` : envKey;
  const portText = pick('port', 'PGPORT');
  const port = portText === undefined ? 5432 : strictPort(portText, sourceOf('port', 'PGPORT'));
  const host = pick('host', 'PGHOST') ?? defaultHost(port);
  const user = pick('user', 'PGUSER') ?? safeUserName();
  const database = pick('database', 'PGDATABASE') ?? user;
  const fromString = fromUrl.password !== undefined && fromUrl.password !== '';
  const password = pick('password', 'PGPASSWORD');
  const sslModeText = pick('sslmode', 'PGSSLMODE');
  const sslMode = sslModeText === undefined ? (isSocketHost(host) ? 'disable' : 'prefer') : strictSslMode(sslModeText, fromUrl.sslmode ? `sslmode in ${source}` : 'PGSSLMODE');
  const secrets = [password, text, env.PGPASSWORD, env.DATABASE_URL].filter((s): s is string => typeof s === 'string' && s.trim().length > 0);
  return {
    host,
    port,
    user,
    database,
    password,
    passwordSource: password === undefined ? undefined : fromString ? source : 'PGPASSWORD',
    passfile: pick('passfile', 'PGPASSFILE'),
    sslMode,
    sslRootCert: pick('sslrootcert', 'PGSSLROOTCERT'),
    sslCert: pick('sslcert', 'PGSSLCERT'),
    sslKey: pick('sslkey', 'PGSSLKEY'),
    display: displayAddress(user, host, port, database),
    secrets,
  };
}

/** The one message for DATABASE_URL='' (a misspelled CI secret): shared with the settings that may allow it. */
export const EMPTY_DATABASE_URL =
  'DATABASE_URL is set but empty (a missing or misspelled secret?): set it to the connection URL, or unset it to use PGHOST/PGPORT/... . pgpreflight never falls back to the default server when a URL was meant';

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

function readOptional(path: string | undefined, fallback: string): string | undefined {
  const file = path ?? join(homedir(), '.postgresql', fallback);
  if (path !== undefined && !existsSync(path)) throw new PreflightError(`the SSL file ${path} does not exist. Check sslrootcert/sslcert/sslkey`);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** The TLS options of an encrypted attempt, by sslmode. */
function tlsFor(spec: ConnectionSpec): TlsOptions {
  const cert = readOptional(spec.sslCert, 'postgresql.crt');
  const key = readOptional(spec.sslKey, 'postgresql.key');
  const clientCert = cert && key ? { cert, key } : {};
  const verify = spec.sslMode === 'verify-ca' || spec.sslMode === 'verify-full' || (spec.sslMode === 'require' && spec.sslRootCert !== undefined);
  if (!verify) return { rejectUnauthorized: false, ...clientCert };
  // As libpq (16+): sslrootcert=system trusts the system's certificate authorities;
  // otherwise verifying needs a root certificate file, ~/.postgresql/root.crt by default.
  const systemRoots = spec.sslRootCert === 'system';
  const ca = systemRoots ? undefined : readOptional(spec.sslRootCert, 'root.crt');
  if (!systemRoots && ca === undefined) {
    throw new PreflightError(
      `sslmode=${spec.sslMode} needs a root certificate: set sslrootcert in the URL or PGSSLROOTCERT (a file, or "system" for the system's certificate authorities)`,
    );
  }
  return {
    rejectUnauthorized: true,
    ...(ca === undefined ? {} : { ca }),
    ...clientCert,
    // verify-full checks the name against the certificate. An IP address is checked by
    // Node against the socket's host (an IP may not be sent as TLS server name, RFC 6066).
    ...(spec.sslMode === 'verify-full' ? (isIP(spec.host) === 0 ? { servername: spec.host } : {}) : { checkServerIdentity: () => undefined }),
  };
}

type PgpassLookup = (info: Record<string, unknown>, cb: (password: string | undefined) => void) => void;

/** The password file libpq would read: passfile, else PGPASSFILE, else ~/.pgpass. */
function passFileOf(spec: ConnectionSpec, env: Env): string {
  return spec.passfile ?? env.PGPASSFILE ?? join(env.HOME ?? homedir(), '.pgpass');
}

async function passwordFor(spec: ConnectionSpec, env: Env): Promise<string | undefined> {
  if (spec.password !== undefined) return spec.password;
  const pgpass = require('pgpass') as PgpassLookup & { warnTo?: (stream: NodeJS.WritableStream | null) => unknown };
  const saved = process.env.PGPASSFILE;
  process.env.PGPASSFILE = passFileOf(spec, env);
  try {
    return await new Promise<string | undefined>((resolvePassword) =>
      pgpass({ host: spec.host, port: spec.port, database: spec.database, user: spec.user }, (pass) => resolvePassword(pass ?? undefined)),
    );
  } finally {
    if (saved === undefined) delete process.env.PGPASSFILE;
    else process.env.PGPASSFILE = saved;
  }
}

/** Why the password file gave no password, for the "no password" message. */
function passFileState(spec: ConnectionSpec, env: Env): string {
  const file = passFileOf(spec, env);
  const shown = spec.passfile !== undefined ? `passfile ${file}` : env.PGPASSFILE !== undefined ? `PGPASSFILE ${file}` : file;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return `${shown} is not a plain file`;
    if ((stat.mode & 0o077) !== 0) return `${shown} is ignored: it is readable by group or others (chmod 600 it)`;
    return `${shown} has no line for ${spec.host}:${spec.port}:${spec.database}:${spec.user}`;
  } catch {
    return `${shown} does not exist`;
  }
}

/** The server asked for a password and none was found anywhere. */
function noPasswordError(spec: ConnectionSpec, env: Env, cause: unknown): PreflightError {
  return new PreflightError(
    `no password found for ${spec.display}, and the server asks for one: pgpreflight looks in --url (or DATABASE_URL), PGPASSWORD, and the password file (passfile, else PGPASSFILE, else ~/.pgpass); ${passFileState(spec, env)}`,
    { cause },
  );
}

export interface ConnectOptions {
  applicationName: string;
  timeoutMs: number;
  /** Epoch ms by which every attempt (prefer/allow try twice) must be done; defaults to now + timeoutMs. */
  deadline?: number;
  env?: Env;
}

/** The 8-byte SSLRequest: length 8, then the code 1234.5679 (https://www.postgresql.org/docs/current/protocol-message-formats.html). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** What one socket became after the SSLRequest: encrypted ('S'), or plain because the server said 'N'. */
interface Negotiated {
  stream: Socket;
  tls: boolean;
}

/** A socket error or the --timeout budget, whichever ends the wait first. */
function untilDeadline<T>(socket: Socket, deadline: number, work: (done: (error: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | null, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
      } else resolve(value as T);
    };
    const onError = (error: Error): void => finish(error);
    // pg says "timeout expired" for its own connect timeout; connect() turns it into the --timeout message.
    const timer = setTimeout(() => finish(new Error('timeout expired')), Math.max(1, deadline - Date.now()));
    const onClose = (): void => finish(new Error('Connection terminated unexpectedly'));
    socket.on('error', onError);
    socket.on('close', onClose);
    work(finish);
  });
}

/**
 * Opens the TCP connection and sends the SSLRequest on it, as libpq does for sslmode
 * prefer and stronger. 'S': the same socket is wrapped in TLS. 'N' (a server without TLS):
 * with `plainOnN` (prefer) the socket stays plain and the startup goes on over it, as libpq
 * continues on the same connection; otherwise (require and stronger, allow's second try)
 * it is refused. pg itself would close the socket on 'N' and need a second connection.
 */
async function negotiateTls(spec: ConnectionSpec, tls: TlsOptions, deadline: number, plainOnN: boolean): Promise<Negotiated> {
  // node:tls loads only when it will be used: from the start (overlapping the connect) when
  // sslmode insists on TLS, after 'S' under prefer, where a server without TLS never needs it.
  // A legitimate server sends nothing between 'S' and our TLS hello.
  const early = plainOnN ? undefined : import('node:tls');
  early?.catch(() => undefined);
  const socket = new Socket();
  socket.setNoDelay(true);
  await untilDeadline<void>(socket, deadline, (done) => {
    socket.once('connect', () => done(null));
    socket.connect(spec.port, spec.host);
  });
  const answer = await untilDeadline<string>(socket, deadline, (done) => {
    socket.once('data', (chunk: Buffer) => {
      const code = String.fromCharCode(chunk[0] ?? 0);
      if (code !== 'S' && code !== 'N') return done(new Error('There was an error establishing an SSL connection'));
      // Bytes after the one-byte answer were not encrypted: someone in the path injected them (CVE-2021-23222).
      if (chunk.length > 1) return done(new Error('received unencrypted data after SSL response'));
      done(null, code);
    });
    socket.write(SSL_REQUEST);
  });
  if (answer === 'N') {
    if (!plainOnN) {
      socket.destroy();
      throw new Error('The server does not support SSL connections');
    }
    return { stream: socket, tls: false };
  }
  // As pg does: SNI only for a host name (RFC 6066), the identity checked against `host`.
  const { connect: tlsConnect } = await (early ?? import('node:tls'));
  const secure = tlsConnect({ socket, host: spec.host, ...(isIP(spec.host) === 0 ? { servername: spec.host } : {}), ...tls });
  // The raw socket's own errors surface on the TLS socket; this keeps them from being unhandled.
  socket.on('error', () => undefined);
  return { stream: secure, tls: true };
}

/**
 * Hands pg a socket that is already connected (and past the SSL negotiation): pg calls
 * connect() on its stream and waits for 'connect', so that call only reports it.
 */
function preconnected(stream: Socket): Socket {
  stream.connect = function connectDone(this: Socket): Socket {
    process.nextTick(() => this.emit('connect'));
    return this;
  } as Socket['connect'];
  return stream;
}

const PARAMETERS = new WeakMap<pg.Client, Map<string, string>>();

/** A setting the server reported at startup (ParameterStatus: server_version, in_hot_standby, ...); pg keeps none of them. */
export function serverParameter(client: pg.Client, name: string): string | undefined {
  return PARAMETERS.get(client)?.get(name);
}

/**
 * server_version_num from the server_version reported at startup ("16.4 (Debian ...)",
 * "18beta1"), so the first batch can pick its version-specific SQL without asking; the
 * snapshot checks it against current_setting('server_version_num'). Undefined when absent.
 */
export function reportedVersionNum(client: pg.Client): number | undefined {
  const match = /^(\d+)(?:\.(\d+))?/.exec(serverParameter(client, 'server_version') ?? '');
  if (!match) return undefined;
  const major = Number(match[1]);
  return major >= 10 ? major * 10000 + Number(match[2] ?? 0) : undefined;
}

/** One connection attempt: plain, or TLS negotiated on a socket of our own. */
type Attempt = 'plain' | 'tls';

/**
 * Opens one connection, with libpq's prefer/allow fallbacks: one TCP connection, except
 * where libpq makes a second (the TLS login refused under prefer, the plain one under
 * allow). Errors are one line for people. The client pipelines: queries issued together
 * go out together (src/gate/batch.ts).
 */
export async function connect(spec: ConnectionSpec, options: ConnectOptions): Promise<pg.Client> {
  const env = options.env ?? process.env;
  const socket = isSocketHost(spec.host);
  const attempts: Attempt[] =
    socket || spec.sslMode === 'disable' ? ['plain'] : spec.sslMode === 'prefer' ? ['tls', 'plain'] : spec.sslMode === 'allow' ? ['plain', 'tls'] : ['tls'];
  // Looked up only when the server asks for a password (trust, cert and peer logins never
  // do), once for every attempt: the password file is not read, nor its parser loaded, before.
  let password: string | undefined;
  let lookup: Promise<string | undefined> | undefined;
  const askedPassword = async (): Promise<string> => {
    lookup ??= passwordFor(spec, env).then((found) => (password = found));
    return (await lookup) ?? '';
  };
  // One budget for all attempts: a port that accepts and stays silent must not cost
  // the TLS attempt's timeout and then the plain attempt's timeout again.
  const deadline = options.deadline ?? Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (let index = 0; index < attempts.length; index += 1) {
    const remainingMs = deadline - Date.now();
    if (remainingMs <= 0) break;
    let usedTls = false;
    let client: pg.Client | undefined;
    try {
      const negotiated = attempts[index] === 'tls' ? await negotiateTls(spec, tlsFor(spec), deadline, spec.sslMode === 'prefer') : undefined;
      usedTls = negotiated?.tls ?? false;
      // The server said 'N': the plain attempt has just happened on this socket, no second one.
      if (negotiated && !negotiated.tls) attempts.splice(index + 1);
      const parameters = new Map<string, string>();
      client = new pg.Client({
        host: spec.host,
        port: spec.port,
        user: spec.user,
        database: spec.database,
        // A function keeps pg from reading ~/.pgpass itself, which it warns is deprecated.
        password: askedPassword,
        ssl: false,
        ...(negotiated ? { stream: () => preconnected(negotiated.stream) } : {}),
        application_name: options.applicationName,
        connectionTimeoutMillis: Math.max(1, Math.ceil(deadline - Date.now())),
        pipeline: true,
      });
      PARAMETERS.set(client, parameters);
      (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('parameterStatus', (message: { parameterName: string; parameterValue: string }) =>
        parameters.set(message.parameterName, message.parameterValue),
      );
      // Errors after connect (server restart, pg_terminate_backend) surface on the next query.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    } catch (error) {
      // A wrong password says more than the fallback attempt's "no pg_hba.conf entry".
      if ((lastError as { code?: string } | undefined)?.code !== '28P01') lastError = error;
      await client?.end().catch(() => undefined);
      // As libpq: prefer makes a plain connection when the server refused the TLS login
      // (pg_hba.conf hostnossl); allow makes a TLS one when the plain login is refused.
      const code = (error as { code?: string }).code;
      const loginRefused = code === '28000' || code === '28P01';
      const retry = index < attempts.length - 1 && loginRefused && (usedTls || attempts[index] === 'plain');
      if (!retry) break;
    }
  }
  // pg reports its own connect timeout as "timeout expired": the --timeout budget ran out.
  if (lastError === undefined || (lastError instanceof Error && lastError.message === 'timeout expired')) {
    throw new PreflightError(`${spec.display} did not answer within --timeout ${options.timeoutMs} ms. Check the host, port and firewall, or raise --timeout`);
  }
  // SCRAM refuses an empty password before asking the server (pg's "client password must be
  // a non-empty string"); md5 and password methods reject it as a wrong password (28P01).
  const lastCode = (lastError as { code?: string }).code;
  if (password === undefined && (lastCode === '28P01' || /client password must be a (non-empty )?string/i.test((lastError as Error).message ?? ''))) {
    throw noPasswordError(spec, env, lastError);
  }
  throw describeConnectionError(lastError, spec.display, spec.user);
}

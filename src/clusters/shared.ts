// What both cluster backends share: ports, settings, the readiness wait and the client side.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';
import type { Cluster, ConnectOptions } from './types.js';

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

export function confValue(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `'${value.replace(/'/g, "''")}'`;
}

export function confLines(settings: Record<string, string | number | boolean>): string {
  return `${Object.entries(settings)
    .map(([key, value]) => `${key} = ${confValue(value)}`)
    .join('\n')}\n`;
}

/** Fast, small, throwaway: what every test server runs with before the test's own settings. */
export const BASE_SETTINGS: Record<string, string | number | boolean> = {
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

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls until the server on 127.0.0.1:port accepts a login. `gone` says why waiting is
 * pointless (the process or container exited), and ends the wait with that reason.
 */
export async function waitForServer(options: { port: number; password?: string; logFile: string; gone: () => Promise<string | undefined> | string | undefined; timeoutMs?: number }): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = await options.gone();
    if (reason) throw new Error(`PostgreSQL ${reason} during start-up:\n${tail(options.logFile)}`);
    const client = new pg.Client({ host: '127.0.0.1', port: options.port, user: 'postgres', password: options.password, database: 'postgres', connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${timeoutMs} ms:\n${tail(options.logFile)}`);
    await pause(100);
  }
}

/** url(), connect() and sql() for a server on 127.0.0.1:port, the same for both backends. */
export function clientSide(port: number, superuserPassword: string | undefined): Pick<Cluster, 'url' | 'connect' | 'sql'> {
  const connectConfig = (options: ConnectOptions = {}): pg.ClientConfig => ({
    host: '127.0.0.1',
    port,
    user: options.user ?? 'postgres',
    password: options.password ?? (options.user === undefined ? superuserPassword : undefined),
    database: options.database ?? 'postgres',
    application_name: options.applicationName ?? 'pgpreflight-test',
  });
  const side: Pick<Cluster, 'url' | 'connect' | 'sql'> = {
    url(options: ConnectOptions = {}): string {
      const user = encodeURIComponent(options.user ?? 'postgres');
      const password = options.password ?? (options.user === undefined ? superuserPassword : undefined);
      const auth = password === undefined ? user : `${user}:${encodeURIComponent(password)}`;
      return `postgresql://${auth}@127.0.0.1:${port}/${encodeURIComponent(options.database ?? 'postgres')}`;
    },
    async connect(options?: ConnectOptions): Promise<pg.Client> {
      const client = new pg.Client(connectConfig(options));
      // A test that terminates this session on purpose must not crash the runner.
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
      const client = await side.connect();
      try {
        return await client.query<R>(text, params);
      } finally {
        await client.end();
      }
    },
  };
  return side;
}

/** Waits until the primary sees the standby streaming, so callers can rely on pg_stat_replication. */
export async function waitStreaming(primary: Pick<Cluster, 'sql'>, appName: string, logFile: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await primary.sql("SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'", [appName]);
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`standby did not start streaming within 30 s:\n${tail(logFile)}`);
    await pause(100);
  }
}

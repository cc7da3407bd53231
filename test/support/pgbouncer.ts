// Debian's PgBouncer on loopback in front of a throwaway cluster, in transaction
// pooling mode (the mode that breaks session state). Installed with apt-get when
// missing and we are root; when that is impossible, findPgBouncer() says why.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chownTree, freePort, runAs, serverOsUser, type Cluster } from '../../src/clusters/cluster.js';

export interface PgBouncer {
  readonly port: number;
  url(options?: { user?: string; database?: string }): string;
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/bin/pgbouncer'];

function located(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

/** The pgbouncer binary, installing Debian's package if needed; a string is the reason it is unavailable. */
export function findPgBouncer(): { binary: string } | { reason: string } {
  const found = located();
  if (found) return { binary: found };
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return { reason: 'pgbouncer is not installed and apt-get cannot install it here (not root or not Debian)' };
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env, timeout: 180_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { stdio: 'ignore', env, timeout: 180_000 });
  } catch (error) {
    return { reason: `apt-get install pgbouncer failed: ${(error as Error).message.split('\n')[0]}` };
  }
  const installed = located();
  return installed ? { binary: installed } : { reason: 'apt-get installed pgbouncer but no binary was found' };
}

export async function startPgBouncer(binary: string, cluster: Cluster): Promise<PgBouncer> {
  const user = serverOsUser();
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-pgbouncer-'));
  const port = await freePort();
  const logFile = join(dir, 'pgbouncer.log');
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=127.0.0.1 port=${cluster.port}`,
      // One server connection only: whoever comes next gets the very backend the last client used.
      `single = host=127.0.0.1 port=${cluster.port} dbname=postgres pool_size=1`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 50',
      'default_pool_size = 5',
      // node-postgres sends these at start-up; PgBouncer refuses unknown parameters otherwise.
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${logFile}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'admin_users = postgres',
      '',
    ].join('\n'),
  );
  chownTree(dir, user);
  const fd = openSync(join(dir, 'stdout.log'), 'a');
  const { command, args } = runAs(user, binary, [join(dir, 'pgbouncer.ini')]);
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = (options: { user?: string; database?: string } = {}): string =>
    `postgresql://${options.user ?? 'postgres'}@127.0.0.1:${port}/${options.database ?? 'postgres'}?sslmode=disable`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : readFileSync(join(dir, 'stdout.log'), 'utf8');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`pgbouncer exited during start-up:\n${log.trim().split('\n').slice(-10).join('\n')}`);
    }
    const client = new pg.Client({ connectionString: url(), connectionTimeoutMillis: 2000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`pgbouncer did not accept connections within 20 s: ${(error as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    url,
    async stop(): Promise<void> {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

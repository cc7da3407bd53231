// The embedded backend: a throwaway server as a local process, from the binaries
// src/clusters/platform.ts finds. As root the server runs as an unprivileged OS user
// (src/clusters/os-user.ts); setpriv's --pdeathsig makes the postmaster die with the process
// that started it, so a killed test run leaves no server behind.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, cpSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binDirFor, chownTree, runAs, serverOsUser } from './os-user.js';
import { resolveBinDir } from './platform.js';
import { BASE_SETTINGS, clientSide, confLines, freePort, waitForServer, waitStreaming } from './shared.js';
import type { Cluster, ClusterOptions, OsUser } from './types.js';

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

interface ServerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
}

function spawnServer(binDir: string, dataDir: string, port: number, logFile: string, user: OsUser | undefined): ServerProcess {
  const fd = openSync(logFile, 'a');
  const { command, args } = runAs(user, join(binDir, 'postgres'), ['-D', dataDir, '-p', String(port)]);
  // cwd: the server's user may not be allowed into ours (a clone under root's home).
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], cwd: dataDir, env: { ...process.env, LC_ALL: 'C' } });
  closeSync(fd);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, exited };
}

async function waitReady(port: number, server: ServerProcess, logFile: string, password?: string): Promise<void> {
  let gone = false;
  void server.exited.then(() => {
    gone = true;
  });
  await waitForServer({ port, password, logFile, gone: () => (gone ? 'exited' : undefined) });
}

interface State {
  baseDir: string;
  dataDir: string;
  binDir: string;
  major: number;
  port: number;
  user: OsUser | undefined;
  superuserPassword: string | undefined;
  server: ServerProcess;
}

function makeCluster(state: State): Cluster {
  const logFile = join(state.baseDir, 'postgres.log');
  let entry = { child: state.server.child, baseDir: state.baseDir };
  live.add(entry);
  hookExit();
  const standbys: Cluster[] = [];

  const stopServer = async (): Promise<void> => {
    if (state.server.child.exitCode !== null || state.server.child.signalCode !== null) return;
    state.server.child.kill('SIGINT');
    const timer = setTimeout(() => state.server.child.kill('SIGKILL'), 15_000);
    await state.server.exited;
    clearTimeout(timer);
  };

  const cluster: Cluster = {
    backend: 'embedded',
    host: '127.0.0.1',
    port: state.port,
    major: state.major,
    binDir: state.binDir,
    dataDir: state.dataDir,
    logFile,
    ...clientSide(state.port, state.superuserPassword),
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
    async signal(pid, signal): Promise<void> {
      process.kill(pid, signal);
    },
  };
  return cluster;
}

function newBaseDir(user: OsUser | undefined): string {
  const baseDir = mkdtempSync(join(tmpdir(), 'pgpreflight-pg-'));
  chownTree(baseDir, user);
  return baseDir;
}

export async function startEmbeddedCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const source = resolveBinDir(options);
  const { major } = source;
  const user = serverOsUser();
  const binDir = binDirFor(user, source);
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
      execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: baseDir, env: { ...process.env, LC_ALL: 'C' } });
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`initdb failed: ${stderr.trim()}`);
    }
    appendFileSync(join(dataDir, 'postgresql.conf'), `\n# pgpreflight throwaway cluster\n${confLines({ ...BASE_SETTINGS, ...options.settings })}`);
    const hba = [...(options.hba ?? []), 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust'];
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
async function startStandbyOf(primary: Cluster, state: State, options: { slotName?: string; settings?: ClusterOptions['settings'] }): Promise<Cluster> {
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
  appendFileSync(
    join(dataDir, 'postgresql.auto.conf'),
    confLines({
      primary_conninfo: `host=127.0.0.1 port=${primary.port} user=postgres application_name=${appName}`,
      ...(options.slotName ? { primary_slot_name: options.slotName } : {}),
      ...options.settings,
    }),
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
  try {
    await waitStreaming(primary, appName, logFile);
  } catch (error) {
    await standby.stop();
    throw error;
  }
  return standby;
}

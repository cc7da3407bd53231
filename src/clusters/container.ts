// The testcontainers backend: a throwaway server in a container, for the check scenarios on
// real PostgreSQL images and for the faults only a container can stage (freeze, kill, cut
// the network). Selected with PGPREFLIGHT_TEST_BACKEND=testcontainers; the image is
// PGPREFLIGHT_TEST_IMAGE, else the official postgres:<major>.
//
// Any image with a `postgres` user and initdb, postgres and pg_basebackup (on PATH or in
// /usr/lib/postgresql/<major>/bin) works: the official images and the local Debian one
// scripts/build-test-image.sh makes. The image's own entrypoint is not used: a small shell
// script, run as the image's unprivileged postgres user, makes the cluster from files this
// process writes (settings, pg_hba.conf, the test's extra files), so both kinds of image
// behave the same. The server listens on 5432 inside, published on 127.0.0.1 only, on a port
// chosen here so that it stays the same across a restart. Its log goes to a host directory
// mounted into the container, so `logFile` is a file here as with the embedded backend.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, type WaitStrategy } from 'testcontainers';
import { HOST_DIR_PREFIX, ensureWatchdog, runLabels, sweepStale } from './container-cleanup.js';
import { containerHba, defaultImage, ENTRYPOINT, IN, OUT, PGDATA } from './container-spec.js';
import { BASE_SETTINGS, clientSide, confLines, freePort, waitForServer, waitStreaming } from './shared.js';
import type { Cluster, ClusterOptions, ContainerFaults } from './types.js';

/** testcontainers' wait strategies probe from inside the image; readiness is checked here, by logging in. */
class NoWait implements WaitStrategy {
  private timeoutMs = 120_000;
  async waitUntilReady(): Promise<void> {}
  withStartupTimeout(startupTimeoutMs: number): this {
    this.timeoutMs = startupTimeoutMs;
    return this;
  }
  isStartupTimeoutSet(): boolean {
    return true;
  }
  getStartupTimeout(): number {
    return this.timeoutMs;
  }
}

/** A GenericContainer whose port is published on 127.0.0.1 only, and which stops with a fast shutdown. */
class PostgresContainer extends GenericContainer {
  constructor(
    image: string,
    private readonly hostPort: number,
  ) {
    super(image);
  }
  protected override async beforeContainerCreated(): Promise<void> {
    this.hostConfig.PortBindings = { '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: String(this.hostPort) }] };
    // SIGTERM would be a smart shutdown, waiting for every client to leave.
    this.createOpts.StopSignal = 'SIGINT';
  }
}

/** The one-line reason the backend cannot run, and what to do about it. */
class BackendError extends Error {}

let prepared: Promise<Dockerode> | undefined;

/** Finds the Docker engine once per process, sweeps stale containers and starts the watchdog. */
function prepare(): Promise<Dockerode> {
  prepared ??= (async () => {
    // Ryuk is replaced by src/clusters/container-cleanup.ts; nothing may try to pull it.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
    let docker: Dockerode;
    try {
      docker = (await getContainerRuntimeClient()).container.dockerode;
    } catch (error) {
      throw new BackendError(
        `PGPREFLIGHT_TEST_BACKEND=testcontainers needs a Docker engine, and none answered (${(error as Error).message}): start dockerd (or Docker Desktop, colima), set DOCKER_HOST, or run the tests on the embedded backend`,
      );
    }
    await sweepStale(docker);
    ensureWatchdog(docker);
    return docker;
  })();
  return prepared;
}

interface Started {
  container: StartedTestContainer;
  dir: string;
  port: number;
  logFile: string;
}

async function startContainer(docker: Dockerode, image: string, dir: string, port: number): Promise<Started> {
  const logFile = join(dir, 'out', 'postgres.log');
  const container = new PostgresContainer(image, port)
    .withEntrypoint(['/bin/sh', '-c', ENTRYPOINT])
    .withCommand([])
    .withUser('postgres')
    .withExposedPorts({ container: 5432, host: port })
    .withBindMounts([
      { source: join(dir, 'in'), target: IN, mode: 'ro' },
      { source: join(dir, 'out'), target: OUT, mode: 'rw' },
    ])
    .withLabels(runLabels(dir))
    .withAutoCleanup(false)
    .withWaitStrategy(new NoWait());
  try {
    return { container: await container.start(), dir, port, logFile };
  } catch (error) {
    // A container that was created but did not start is still ours to remove.
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`pgpreflight.dir=${dir}`] } }).catch(() => []);
    for (const info of leftovers) await docker.getContainer(info.Id).remove({ force: true, v: true }).catch(() => undefined);
    const message = (error as Error).message;
    if (/pull|not found|No such image|manifest/i.test(message)) {
      throw new BackendError(`cannot start a container from image "${image}" (${message.split('\n')[0]}): pull it, build a local one with scripts/build-test-image.sh, or set PGPREFLIGHT_TEST_IMAGE`);
    }
    throw error;
  }
}

/** A host directory for one container: in/ (read-only inside) and out/ (the log), removed with it. */
function hostDir(): string {
  const dir = mkdtempSync(join(tmpdir(), `${HOST_DIR_PREFIX}${process.pid}-`));
  mkdirSync(join(dir, 'in', 'files'), { recursive: true });
  mkdirSync(join(dir, 'out'));
  // The image's postgres user (whatever its uid) writes the log; the parent stays private to us.
  chmodSync(join(dir, 'out'), 0o777);
  for (const sub of ['in', join('in', 'files')]) chmodSync(join(dir, sub), 0o755);
  return dir;
}

async function waitUp(docker: Dockerode, started: Started, password: string | undefined): Promise<void> {
  const gone = async (): Promise<string | undefined> => {
    const state = await docker
      .getContainer(started.container.getId())
      .inspect()
      .then((info) => info.State)
      .catch(() => undefined);
    if (!state) return 'container disappeared';
    return state.Running || state.Restarting ? undefined : `container exited with code ${state.ExitCode}`;
  };
  await waitForServer({ port: started.port, password, logFile: started.logFile, gone });
}

async function remove(docker: Dockerode, started: Started): Promise<void> {
  await docker
    .getContainer(started.container.getId())
    .remove({ force: true, v: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
  rmSync(started.dir, { recursive: true, force: true });
}

function makeCluster(docker: Dockerode, started: Started, state: { major: number; superuserPassword: string | undefined; image: string }): Cluster {
  const handle = docker.getContainer(started.container.getId());
  const standbys: Cluster[] = [];
  const faults: ContainerFaults = {
    id: started.container.getId(),
    pause: async () => void (await handle.pause()),
    unpause: async () => void (await handle.unpause()),
    kill: async () => void (await handle.kill({ signal: 'SIGKILL' })),
    async disconnect(): Promise<void> {
      for (const name of started.container.getNetworkNames()) {
        await docker.getNetwork(started.container.getNetworkId(name)).disconnect({ Container: handle.id, Force: true });
      }
    },
  };
  const cluster: Cluster = {
    backend: 'testcontainers',
    host: '127.0.0.1',
    port: started.port,
    major: state.major,
    binDir: readFileSync(join(started.dir, 'out', 'bindir'), 'utf8').trim(),
    dataDir: PGDATA,
    logFile: started.logFile,
    ...clientSide(started.port, state.superuserPassword),
    async startStandby(options = {}): Promise<Cluster> {
      const standby = await startStandbyOf(docker, cluster, started, state, options);
      standbys.push(standby);
      return standby;
    },
    async restart(): Promise<void> {
      await started.container.restart({ timeout: 15_000 });
      await waitUp(docker, started, state.superuserPassword);
    },
    async stop(): Promise<void> {
      for (const standby of standbys.splice(0)) await standby.stop();
      await remove(docker, started);
    },
    async signal(pid, signal): Promise<void> {
      const result = await started.container.exec(['/bin/sh', '-c', `kill -${signal.replace(/^SIG/, '')} ${Number(pid)}`]);
      if (result.exitCode !== 0) throw new Error(`kill -${signal} ${pid} in the container failed: ${result.output.trim()}`);
    },
    container: faults,
  };
  return cluster;
}

async function serverMajor(cluster: Pick<Cluster, 'sql'>): Promise<number> {
  const { rows } = await cluster.sql<{ v: number }>("SELECT current_setting('server_version_num')::int AS v");
  return Math.floor(Number(rows[0]?.v) / 10_000);
}

export async function startContainerCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const docker = await prepare();
  const image = defaultImage(options);
  const dir = hostDir();
  try {
    const settings = { ...BASE_SETTINGS, listen_addresses: '*', ...options.settings };
    writeFileSync(join(dir, 'in', 'postgresql.conf'), `\n# pgpreflight throwaway cluster\n${confLines(settings)}`, { mode: 0o644 });
    writeFileSync(join(dir, 'in', 'pg_hba.conf'), `${containerHba(options.hba ?? []).join('\n')}\n`, { mode: 0o644 });
    if (options.superuserPassword !== undefined) writeFileSync(join(dir, 'in', 'pwfile'), `${options.superuserPassword}\n`, { mode: 0o644 });
    options.beforeStart?.(join(dir, 'in', 'files'), { name: 'postgres', uid: -1, gid: -1 });
    for (const name of readdirSync(join(dir, 'in', 'files'))) chmodSync(join(dir, 'in', 'files', name), 0o644);
    const started = await startContainer(docker, image, dir, await freePort());
    try {
      await waitUp(docker, started, options.superuserPassword);
      const major = await serverMajor(clientSide(started.port, options.superuserPassword));
      return makeCluster(docker, started, { major, superuserPassword: options.superuserPassword, image });
    } catch (error) {
      await remove(docker, started);
      throw error;
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    if (error instanceof BackendError) throw new Error(error.message);
    throw error;
  }
}

/** A second container streaming from the first over the Docker network (pg_basebackup -R style). */
async function startStandbyOf(
  docker: Dockerode,
  primary: Cluster,
  primaryStarted: Started,
  state: { major: number; superuserPassword: string | undefined; image: string },
  options: { slotName?: string; settings?: ClusterOptions['settings'] },
): Promise<Cluster> {
  if (options.slotName) await primary.sql('SELECT pg_create_physical_replication_slot($1, true)', [options.slotName]);
  const network = primaryStarted.container.getNetworkNames()[0];
  if (!network) throw new Error('the primary container is on no network');
  const primaryIp = primaryStarted.container.getIpAddress(network);
  const dir = hostDir();
  const port = await freePort();
  const appName = `standby_${port}`;
  writeFileSync(join(dir, 'in', 'primary'), `${primaryIp} ${options.slotName ?? ''}\n`, { mode: 0o644 });
  writeFileSync(
    join(dir, 'in', 'postgresql.conf'),
    confLines({
      primary_conninfo: `host=${primaryIp} port=5432 user=postgres application_name=${appName}`,
      ...(options.slotName ? { primary_slot_name: options.slotName } : {}),
      ...options.settings,
    }),
    { mode: 0o644 },
  );
  try {
    const started = await startContainer(docker, state.image, dir, port);
    try {
      await waitUp(docker, started, state.superuserPassword);
      const standby = makeCluster(docker, started, state);
      await waitStreaming(primary, appName, started.logFile);
      return standby;
    } catch (error) {
      await remove(docker, started);
      throw error;
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

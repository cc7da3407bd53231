// The testcontainers backend itself: how it is selected, what it tells a person without a
// Docker engine, and that its containers run unprivileged, listen on 127.0.0.1 only, carry
// their labels and are removed even when the test process is killed. The engine-free parts
// run on every backend; the rest with PGPREFLIGHT_TEST_BACKEND=testcontainers.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendFromEnv, projectRoot, type Cluster } from '../src/clusters/cluster.js';
import { containerHba, defaultImage } from '../src/clusters/container-spec.js';
import { isOurHostDir, LABEL_DIR, LABEL_HOST, LABEL_PID, LABEL_RUN, LABEL_TEST, sweepStale } from '../src/clusters/container-cleanup.js';
import { sleep, TEST_BACKEND, useCluster } from './helpers.js';

const BUILT_CLUSTER = join(projectRoot, 'dist', 'src', 'clusters', 'cluster.js');

/** Runs a small ESM program with node and returns its exit code and output. */
function node(program: string, env: Record<string, string | undefined> = {}, wrap: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const argv = [...wrap, process.execPath, '--input-type=module', '-e', program];
    const merged: Record<string, string> = {};
    for (const [key, value] of Object.entries({ ...process.env, ...env })) if (value !== undefined) merged[key] = value;
    const child = spawn(argv[0] as string, argv.slice(1), { env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('choosing the backend', () => {
  it('PGPREFLIGHT_TEST_BACKEND: embedded when unset, either name, and a typo is an error', () => {
    expect(backendFromEnv({})).toBe('embedded');
    expect(backendFromEnv({ PGPREFLIGHT_TEST_BACKEND: 'testcontainers' })).toBe('testcontainers');
    expect(backendFromEnv({ PGPREFLIGHT_TEST_BACKEND: 'embedded' })).toBe('embedded');
    expect(() => backendFromEnv({ PGPREFLIGHT_TEST_BACKEND: 'docker' })).toThrow(/embedded, testcontainers/);
  });

  it('the image: an explicit one, else PGPREFLIGHT_TEST_IMAGE, else the official postgres:<major>', () => {
    expect(defaultImage({ image: 'mine:1' }, { PGPREFLIGHT_TEST_IMAGE: 'other:2' })).toBe('mine:1');
    expect(defaultImage({}, { PGPREFLIGHT_TEST_IMAGE: 'other:2' })).toBe('other:2');
    expect(defaultImage({}, { PGPREFLIGHT_PG_MAJOR: '14' })).toBe('postgres:14');
    expect(defaultImage({ major: 18 }, {})).toBe('postgres:18');
    expect(defaultImage({}, {})).toBe('postgres:17');
  });

  it("pg_hba.conf: 127.0.0.1/32 becomes any address, since the host's connections arrive from the bridge", () => {
    expect(containerHba(['host all all 127.0.0.1/32 scram-sha-256', 'hostssl all cert_user 127.0.0.1/32 cert'])).toEqual([
      'host all all all scram-sha-256',
      'hostssl all cert_user all cert',
      'host all all all trust',
      'host replication all all trust',
    ]);
  });

  const canHideDocker = process.getuid?.() === 0 && existsSync('/usr/bin/unshare') && spawnSync('/usr/bin/unshare', ['--mount', 'true']).status === 0;
  it.skipIf(!canHideDocker)('with no Docker engine, one line says what to do (no engine visible: /run hidden in a mount namespace)', async () => {
    const program = `import('${BUILT_CLUSTER}').then((m) => m.startCluster({ backend: 'testcontainers' })).then(() => process.exit(0), (e) => { process.stderr.write(e.message + '\\n'); process.exit(3); });`;
    const result = await node(program, { DOCKER_HOST: undefined, TESTCONTAINERS_HOST_OVERRIDE: undefined, HOME: '/nonexistent' }, ['/usr/bin/unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', 'mount -t tmpfs tmpfs /run && exec "$@"', 'sh']);
    expect(result.code).toBe(3);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^PGPREFLIGHT_TEST_BACKEND=testcontainers needs a Docker engine, and none answered .*start dockerd.*DOCKER_HOST.*embedded backend$/);
  });
});

describe.skipIf(TEST_BACKEND !== 'testcontainers')('containers', () => {
  const cluster = useCluster();
  let docker: Dockerode;

  beforeAll(async () => {
    const { getContainerRuntimeClient } = await import('testcontainers');
    docker = (await getContainerRuntimeClient()).container.dockerode;
  });

  const inspect = (c: Cluster): Promise<Dockerode.ContainerInspectInfo> => docker.getContainer(c.container?.id ?? '').inspect();

  it('runs the server as an unprivileged user, published on 127.0.0.1 only, and carries the run labels', async () => {
    const info = await inspect(cluster());
    expect(info.Config.User).toBe('postgres');
    expect(info.NetworkSettings.Ports['5432/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(cluster().port) }]);
    expect(info.Config.Labels).toMatchObject({ [LABEL_TEST]: 'true', [LABEL_HOST]: hostname(), [LABEL_PID]: String(process.pid) });
    expect(isOurHostDir(info.Config.Labels[LABEL_DIR])).toBe(true);
    const top = await docker.getContainer(info.Id).top({ ps_args: '-o user,pid,args' });
    const users = new Set(top.Processes.map((p: string[]) => p[0]));
    expect(users.has('root')).toBe(false);
  });

  it('the log is a file on this machine, as with the embedded backend', async () => {
    await cluster().sql("DO $$ BEGIN RAISE WARNING 'container-log-marker'; END $$");
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(cluster().logFile, 'utf8')).toContain('container-log-marker');
  });

  it('a test process killed with SIGKILL leaves no container and no directory behind (the watchdog)', async () => {
    const program = `const m = await import('${BUILT_CLUSTER}'); const c = await m.startCluster({ backend: 'testcontainers' }); console.log(JSON.stringify({ id: c.container.id, log: c.logFile })); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    const started = await new Promise<{ id: string; log: string }>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(JSON.parse(out) as { id: string; log: string });
      });
      child.on('close', (code) => reject(new Error(`child exited ${code} before starting a container`)));
    });
    expect((await docker.getContainer(started.id).inspect()).State.Running).toBe(true);
    child.kill('SIGKILL');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const gone = await docker
        .getContainer(started.id)
        .inspect()
        .then(() => false)
        .catch((error: { statusCode?: number }) => error.statusCode === 404);
      // The watchdog removes the container, then its host directory.
      if (gone && !existsSync(started.log)) break;
      if (Date.now() > deadline) throw new Error(`container ${started.id} (${gone ? 'gone' : 'still there'}) or its log ${started.log} still exists 30 s after its test process was killed`);
      await sleep(200);
    }
  });

  it('a container left by a process that is gone (its watchdog killed too) is swept when the next run starts', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    const image = (await inspect(cluster())).Config.Image;
    const stale = await docker.createContainer({ Image: image, Cmd: ['true'], Labels: { [LABEL_TEST]: 'true', [LABEL_RUN]: `${dead}-stale`, [LABEL_HOST]: hostname(), [LABEL_PID]: String(dead) } });
    const mine = (await inspect(cluster())).Id;
    await sweepStale(docker);
    await expect(docker.getContainer(stale.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // A live run's container is left alone.
    expect((await docker.getContainer(mine).inspect()).State.Running).toBe(true);
  });

  afterAll(async () => {
    // Nothing of this file may survive it: every container of this process is the cluster's.
    const left = await docker.listContainers({ all: true, filters: { label: [`${LABEL_PID}=${process.pid}`] } });
    expect(left.length).toBeLessThanOrEqual(1);
  });
});

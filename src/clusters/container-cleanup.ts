// Containers are always removed, even when the test run is killed. Ryuk, testcontainers'
// own reaper, is an image that cannot be pulled everywhere (not here), so it is disabled and
// replaced by three things:
//   1. labels on every container: pgpreflight.test, this process's run id, host and pid, and
//      the host directory it mounts;
//   2. a watchdog: a detached node process holding a pipe from this one. When this process
//      ends in any way (exit, crash, SIGKILL), the pipe closes and the watchdog removes the
//      run's containers and directories through the Docker API, then exits;
//   3. a sweep when the first container of a process starts: containers and directories left
//      by runs whose process is gone on this host (the watchdog killed too, a reboot).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type Dockerode from 'dockerode';

export const LABEL_TEST = 'pgpreflight.test';
export const LABEL_RUN = 'pgpreflight.run';
export const LABEL_HOST = 'pgpreflight.host';
export const LABEL_PID = 'pgpreflight.pid';
export const LABEL_DIR = 'pgpreflight.dir';

/** Host directories of container clusters: pgpreflight-ct-<pid>-XXXXXX in the temp dir. */
export const HOST_DIR_PREFIX = 'pgpreflight-ct-';
const HOST_DIR_PATTERN = /^pgpreflight-ct-(\d+)-[A-Za-z0-9]+$/;

export const RUN_ID = `${process.pid}-${randomBytes(4).toString('hex')}`;

export function runLabels(dir: string): Record<string, string> {
  return { [LABEL_TEST]: 'true', [LABEL_RUN]: RUN_ID, [LABEL_HOST]: hostname(), [LABEL_PID]: String(process.pid), [LABEL_DIR]: dir };
}

/** Whether a directory may be deleted on a label's word: only our own kind, in the temp dir. */
export function isOurHostDir(dir: string | undefined): dir is string {
  return typeof dir === 'string' && dir.startsWith(`${tmpdir()}/`) && HOST_DIR_PATTERN.test(dir.slice(tmpdir().length + 1));
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what runs on this host left behind when their process is gone. */
export async function sweepStale(docker: Dockerode): Promise<number> {
  let removed = 0;
  const stale = await docker.listContainers({ all: true, filters: { label: [`${LABEL_TEST}=true`, `${LABEL_HOST}=${hostname()}`] } });
  for (const info of stale) {
    if (alive(Number(info.Labels[LABEL_PID]))) continue;
    await docker
      .getContainer(info.Id)
      .remove({ force: true, v: true })
      .then(() => (removed += 1))
      .catch(() => undefined);
    const dir = info.Labels[LABEL_DIR];
    if (isOurHostDir(dir)) rmSync(dir, { recursive: true, force: true });
  }
  for (const name of readdirSync(tmpdir())) {
    const match = HOST_DIR_PATTERN.exec(name);
    if (match && !alive(Number(match[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return removed;
}

/**
 * The watchdog, run with `node -e`: waits for its stdin to close, then lists the run's
 * containers over the Docker API (a unix socket or plain TCP) and removes each with its
 * volumes, and the host directory its label names.
 */
const WATCHDOG = String.raw`
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const [endpointJson, runId] = process.argv.slice(1);
const endpoint = JSON.parse(endpointJson);
const pattern = /^pgpreflight-ct-\d+-[A-Za-z0-9]+$/;
function call(method, path) {
  return new Promise((resolve) => {
    const request = http.request({ ...endpoint, method, path, headers: { Host: 'docker' } }, (response) => {
      let body = '';
      response.on('data', (d) => (body += d));
      response.on('end', () => resolve(body));
    });
    request.on('error', () => resolve(''));
    request.setTimeout(30000, () => request.destroy());
    request.end();
  });
}
let reaping = false;
async function reap() {
  if (reaping) return;
  reaping = true;
  const filters = encodeURIComponent(JSON.stringify({ label: ['pgpreflight.run=' + runId] }));
  let list = [];
  try { list = JSON.parse(await call('GET', '/containers/json?all=1&filters=' + filters)); } catch {}
  await Promise.all((Array.isArray(list) ? list : []).map(async (c) => {
    await call('DELETE', '/containers/' + c.Id + '?force=1&v=1');
    const dir = (c.Labels || {})['pgpreflight.dir'];
    const tmp = os.tmpdir() + '/';
    if (typeof dir === 'string' && dir.startsWith(tmp) && pattern.test(dir.slice(tmp.length))) fs.rmSync(dir, { recursive: true, force: true });
  }));
  process.exit(0);
}
process.stdin.on('end', reap);
process.stdin.on('error', reap);
process.stdin.on('close', reap);
process.stdin.resume();
`;

/** Where the watchdog reaches the Docker API: dockerode's own endpoint, when it speaks plain HTTP. */
export function endpointOf(docker: Dockerode): Record<string, string | number> | undefined {
  const modem = (docker as unknown as { modem: { socketPath?: string; host?: string; port?: number | string; protocol?: string } }).modem;
  if (modem.socketPath) return { socketPath: modem.socketPath };
  if (modem.host && (modem.protocol ?? 'http') === 'http') return { host: modem.host, port: Number(modem.port ?? 2375) };
  return undefined;
}

let watchdog: ChildProcess | undefined;

/** Starts this process's watchdog once; false when the Docker endpoint is one it cannot speak to (TLS). */
export function ensureWatchdog(docker: Dockerode): boolean {
  if (watchdog) return true;
  const endpoint = endpointOf(docker);
  if (!endpoint) return false;
  // Its own process group, so a Ctrl-C aimed at the test run does not reach it first.
  watchdog = spawn(process.execPath, ['-e', WATCHDOG, JSON.stringify(endpoint), RUN_ID], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  watchdog.unref();
  (watchdog.stdin as Socket | null)?.unref();
  return true;
}

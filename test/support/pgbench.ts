// pgbench for the load tests: PGBENCH, else PATH, else `pg_config --bindir`, else the
// cluster's own bin directory. A CPU-bound load that holds on a busy 2-core runner: pgbench's
// built-in select-only script (-S) runs one-row lookups so short that its sessions sit idle
// between round trips most of the time when the runner is loaded, so the load here is a
// select-only script that computes for a few milliseconds per statement.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../src/clusters/cluster.js';

export function findPgbench(cluster: Cluster): string | null {
  if (process.env.PGBENCH && existsSync(process.env.PGBENCH)) return process.env.PGBENCH;
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  } catch {
    // no pg_config
  }
  return existsSync(join(cluster.binDir, 'pgbench')) ? join(cluster.binDir, 'pgbench') : null;
}

export interface Load {
  stop: () => Promise<void>;
}

/** `pgbench -c <clients>` running a select-only statement that keeps a CPU busy, tagged `application`. */
export function startCpuLoad(pgbench: string, cluster: Cluster, clients: number, application: string): Load {
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-cpu-'));
  const script = join(dir, 'cpu.sql');
  writeFileSync(script, 'SELECT sum(g * g) FROM generate_series(1, 20000) g;\n');
  const child: ChildProcess = spawn(pgbench, ['-n', '-c', String(clients), '-j', '2', '-T', '300', '-f', script, '-h', cluster.host, '-p', String(cluster.port), '-U', 'postgres', 'postgres'], {
    stdio: 'ignore',
    env: { ...process.env, PGAPPNAME: application, PGOPTIONS: '-c max_parallel_workers_per_gather=0' },
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
    },
  };
}

// `npm run bench -- network`: what a run costs at network distance, where round trips and
// connections are the price, not CPU. A delay proxy (bench/proxy.ts) stands in front of a
// quiet throwaway server; through it the built CLI runs `check`, `check --migration` and
// `locks`, alternating with a bare node script that connects with pg and runs SELECT 1.
// Reported per command and round-trip time: TCP connections, round trips after the TCP
// connect (startup and Terminate included), and wall time as a ratio to the bare script.
//
// Environment (defaults in brackets): BENCH_RUNS [15] alternating runs per pair,
// BENCH_RTTS [0,20,60] round-trip times in ms, BENCH_CLI [this checkout's bin] another
// build's bin/pgpreflight.js for a before/after.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot, startCluster } from '../src/clusters/cluster.js';
import { startDelayProxy, type DelayProxy, type ProxyCounts } from './proxy.js';

const env = process.env;
const RUNS = Number.parseInt(env.BENCH_RUNS ?? '15', 10);
const RTTS = (env.BENCH_RTTS ?? '0,20,60').split(',').map((s) => Number.parseInt(s.trim(), 10));
const CLI = env.BENCH_CLI ?? join(projectRoot, 'bin', 'pgpreflight.js');

/** The baseline: connect with pg, SELECT 1, end; a process of its own like the CLI. */
const BARE = `
const { default: pg } = await import(${JSON.stringify(join(projectRoot, 'node_modules', 'pg', 'lib', 'index.js'))});
const client = new pg.Client(process.argv[1]);
await client.connect();
await client.query('SELECT 1');
await client.end();
`;

interface Sample {
  ms: number;
  counts: ProxyCounts;
}

function spawnTimed(args: string[], proxy: DelayProxy): Promise<Sample> {
  proxy.reset();
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: env.PATH ?? '', HOME: env.HOME ?? '/root', NO_COLOR: '1' } });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === null || code > 1) reject(new Error(`exit ${code}: ${args.join(' ')}\n${stderr}`));
      // The proxy closes its side up to one RTT after the client: counts are final by then.
      else setTimeout(() => resolve({ ms, counts: proxy.counts() }), 5);
    });
  });
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

interface Row {
  command: string;
  rtt: number;
  connections: number;
  roundTrips: number;
  ms: number;
  bareMs: number;
  bareRoundTrips: number;
  load: string;
}

export async function runNetwork(): Promise<void> {
  const cluster = await startCluster({ settings: { autovacuum: false } });
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-bench-net-'));
  const proxy = await startDelayProxy({ host: '127.0.0.1', port: cluster.port });
  const rows: Row[] = [];
  try {
    await cluster.sql('CREATE TABLE orders (id bigserial PRIMARY KEY, total int); INSERT INTO orders (total) SELECT g FROM generate_series(1, 10000) g; ANALYZE orders');
    const migration = join(dir, 'migration.sql');
    writeFileSync(migration, 'ALTER TABLE orders ADD COLUMN note text;\nCREATE INDEX CONCURRENTLY orders_total ON orders (total);\n');
    // No sslmode: the default, prefer, against a server without TLS, as most CI jobs connect.
    const url = `postgresql://postgres@127.0.0.1:${proxy.port}/postgres`;
    const commands: Record<string, string[]> = {
      check: ['check', '--url', url, '--table', 'orders', '--format', 'json'],
      'check --migration': ['check', '--url', url, '--migration', migration, '--format', 'json'],
      locks: ['locks', '--url', url, '--format', 'json'],
    };
    const bare = ['--input-type=module', '-e', BARE, `${url}?sslmode=disable`];
    for (const rtt of RTTS) {
      proxy.setRtt(rtt);
      for (const [name, args] of Object.entries(commands)) {
        const cli = [CLI, ...args];
        const before = loadavg()[0] ?? 0;
        await spawnTimed(cli, proxy);
        await spawnTimed(bare, proxy);
        const a: Sample[] = [];
        const b: Sample[] = [];
        for (let i = 0; i < RUNS; i += 1) {
          a.push(await spawnTimed(cli, proxy));
          b.push(await spawnTimed(bare, proxy));
        }
        const after = loadavg()[0] ?? 0;
        rows.push({
          command: name,
          rtt,
          connections: median(a.map((s) => s.counts.connections)),
          roundTrips: median(a.map((s) => s.counts.roundTrips)),
          ms: median(a.map((s) => s.ms)),
          bareMs: median(b.map((s) => s.ms)),
          bareRoundTrips: median(b.map((s) => s.counts.roundTrips)),
          load: `${before.toFixed(1)} → ${after.toFixed(1)}`,
        });
        process.stderr.write(`bench network: ${name} at ${rtt} ms done\n`);
      }
    }
  } finally {
    await proxy.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const lines = [
    `pgpreflight bench network: ${RUNS} alternating runs each, medians; PostgreSQL ${cluster.major}, Node ${process.version}, ${cpus().length} x ${cpu}; CLI ${CLI === join(projectRoot, 'bin', 'pgpreflight.js') ? 'this checkout' : CLI}`,
    '',
    '| command | RTT ms | TCP connections | round trips | median ms | bare ms (round trips) | ratio | load avg (1 min) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| ${r.command} | ${r.rtt} | ${r.connections} | ${r.roundTrips} | ${r.ms.toFixed(0)} | ${r.bareMs.toFixed(0)} (${r.bareRoundTrips}) | ${(r.ms / r.bareMs).toFixed(2)} | ${r.load} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

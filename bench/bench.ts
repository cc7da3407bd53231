// `npm run bench`: how fast and how lean a check is, as ratios measured side by side
// in one run (alternating runs, medians), so the numbers hold on any machine.
//   1. check ÷ a bare node script that connects with pg and runs SELECT 1   (target <= 1.25)
//   2. check on a busy server (400 sessions, ~36,000 locks) ÷ on a quiet one (target <= 1.6)
//   3. check with an ALTER TABLE already queued on the target ÷ without     (target <= 1.2)
//   4. peak RSS of the check process at ~36,000 locks                       (target <= 128 MB)
// `npm run bench -- network` measures the same runs at network distance (bench/network.ts).
// `npm run bench -- noise` measures something else: the gate's verdicts under a real pgbench
// load, and how fast staged dangers fail it (bench/noise.ts).
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { projectRoot, startCluster, type Cluster } from '../src/clusters/cluster.js';
import { runNetwork } from './network.js';
import { runNoise } from './noise.js';

const RUNS = Number.parseInt(process.env.BENCH_RUNS ?? '15', 10);
const SESSIONS = 400;
const TABLES_PER_SESSION = 90;

interface Sample {
  ms: number;
  rssKb: number;
  code: number | null;
}

function run(args: string[]): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // The wrapper reports the child's own peak RSS on fd 3 after the CLI finished.
    const child = spawn(process.execPath, ['--input-type=module', '-e', WRAPPER, ...args], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', NO_COLOR: '1' },
    });
    let rss = '';
    let stderr = '';
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (rss += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === null || code > 1) reject(new Error(`run failed (${code}): ${args.join(' ')}\n${stderr}`));
      else resolve({ ms, rssKb: Number(rss.trim()) || 0, code });
    });
  });
}

// Runs a module the way the bin does, then writes maxRSS (kB) to fd 3.
const WRAPPER = `
import { writeSync } from 'node:fs';
const [target, ...args] = process.argv.slice(1);
if (target === 'bare') {
  const { default: pg } = await import(${JSON.stringify(join(projectRoot, 'node_modules', 'pg', 'lib', 'index.js'))});
  const client = new pg.Client(args[0]);
  await client.connect();
  await client.query('SELECT 1');
  await client.end();
} else {
  const { main } = await import(${JSON.stringify(join(projectRoot, 'dist', 'bundle', 'cli.js'))});
  process.exitCode = await main([target, ...args]);
}
process.on('exit', () => writeSync(3, String(process.resourceUsage().maxRSS)));
`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/** Alternates a and b RUNS times each and returns their medians. */
async function sideBySide(a: string[], b: string[]): Promise<{ a: Sample[]; b: Sample[] }> {
  const out = { a: [] as Sample[], b: [] as Sample[] };
  await run(a);
  await run(b);
  for (let i = 0; i < RUNS; i += 1) {
    out.a.push(await run(a));
    out.b.push(await run(b));
  }
  return out;
}

async function makeBusy(cluster: Cluster): Promise<pg.Client[]> {
  const tables = Array.from({ length: TABLES_PER_SESSION }, (_, i) => `busy_${i}`);
  await cluster.sql(tables.map((t) => `CREATE TABLE ${t} (id int);`).join('\n'));
  const clients: pg.Client[] = [];
  for (let i = 0; i < SESSIONS; i += 1) {
    const client = await cluster.connect({ applicationName: 'bench-busy' });
    await client.query(`BEGIN; LOCK TABLE ${tables.join(', ')} IN ACCESS SHARE MODE`);
    clients.push(client);
  }
  return clients;
}

async function main(): Promise<void> {
  // Two servers side by side, so busy and quiet runs alternate instead of following each other.
  const quiet = await startCluster({ settings: { autovacuum: false } });
  const busy = await startCluster({ settings: { max_connections: SESSIONS + 50, max_locks_per_transaction: 128, autovacuum: false } });
  const busySessions: pg.Client[] = [];
  const extra: pg.Client[] = [];
  try {
    const schema = (name: string): string => `CREATE TABLE ${name} (id bigserial PRIMARY KEY, total int); INSERT INTO ${name} (total) SELECT g FROM generate_series(1, 10000) g; ANALYZE ${name};`;
    await quiet.sql(schema('orders') + schema('orders_quiet'));
    await busy.sql(schema('orders'));
    const checkArgs = (cluster: Cluster, table: string): string[] => ['check', '--url', `${cluster.url()}?sslmode=disable`, '--table', table, '--format', 'json'];

    const baseline = await sideBySide(checkArgs(quiet, 'orders'), ['bare', `${quiet.url()}?sslmode=disable`]);

    const holder = await quiet.connect({ applicationName: 'bench-holder' });
    await holder.query('BEGIN; SELECT * FROM orders LIMIT 1');
    const alter = await quiet.connect({ applicationName: 'bench-alter' });
    extra.push(holder, alter);
    const pending = alter.query("SET lock_timeout = '10min'; ALTER TABLE orders ADD COLUMN note text").catch((e: Error) => e);
    for (;;) {
      const { rows } = await quiet.sql("SELECT 1 FROM pg_stat_activity WHERE application_name = 'bench-alter' AND wait_event_type = 'Lock'");
      if (rows.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const queue = await sideBySide(checkArgs(quiet, 'orders'), checkArgs(quiet, 'orders_quiet'));
    await holder.query('ROLLBACK');
    await pending;

    busySessions.push(...(await makeBusy(busy)));
    const { rows } = await busy.sql<{ locks: string }>('SELECT count(*) AS locks FROM pg_locks');
    const load = await sideBySide(checkArgs(busy, 'orders'), checkArgs(quiet, 'orders_quiet'));

    const ms = (samples: Sample[]): number => median(samples.map((s) => s.ms));
    const peakRssMb = Math.max(...load.a.map((s) => s.rssKb)) / 1024;
    const results = [
      ['check ÷ bare pg connect + SELECT 1', ms(baseline.a), ms(baseline.b), 1.25],
      [`busy (${SESSIONS} sessions, ${rows[0]?.locks} locks) ÷ quiet`, ms(load.a), ms(load.b), 1.6],
      ['ALTER TABLE queued on the target ÷ no queue', ms(queue.a), ms(queue.b), 1.2],
    ] as const;
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const lines = [
      `pgpreflight bench: ${RUNS} alternating runs each, medians; PostgreSQL ${quiet.major}, Node ${process.version}, ${cpus().length} x ${cpu}`,
      '',
      '| measurement | median ms | baseline ms | ratio | target |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...results.map(([name, a, b, target]) => `| ${name} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)} ${a / b <= target ? 'ok' : 'MISSED'} | <= ${target} |`),
      `| peak RSS of the check at ${rows[0]?.locks} locks | ${peakRssMb.toFixed(1)} MB | | ${peakRssMb <= 128 ? 'ok' : 'MISSED'} | <= 128 MB |`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const client of [...busySessions, ...extra]) await client.end().catch(() => undefined);
    await busy.stop();
    await quiet.stop();
  }
}

if (process.argv[2] === 'noise') await runNoise();
else if (process.argv[2] === 'network') await runNetwork();
else await main();

// `npm run bench` (second part), or `npm run bench:backfill`: backfill throughput and the
// replica lag it causes, on a primary with a streaming standby that replays normally.
//   1. one bare UPDATE ... WHERE v IS NULL over the whole table
//   2. a hand-written keyset batch loop in bash + psql (the same ranges, no lag check, no sleep)
//   3. pgpreflight backfill --batch-size <batch> --max-lag <max lag>
//   4. pgpreflight backfill --max-lag <max lag> (batch size adapting to 200 ms, the default)
// Each gets its own identical table. Replica lag (primary's current WAL position minus the
// standby's reported replay position) is sampled every 50 ms; the peak is reported.
// Sizes: BENCH_BACKFILL_ROWS (default 1000000), BENCH_BACKFILL_BATCH (10000),
// BENCH_BACKFILL_MAX_LAG (10MB). Numbers depend on the machine and on what else runs on it.
import { execFileSync, spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { projectRoot, startCluster, type Cluster } from '../src/clusters/cluster.js';
import { formatBytes, formatCount, parseSize } from '../src/core/units.js';

const ROWS = Number.parseInt(process.env.BENCH_BACKFILL_ROWS ?? '1000000', 10);
const BATCH = Number.parseInt(process.env.BENCH_BACKFILL_BATCH ?? '10000', 10);
const MAX_LAG = process.env.BENCH_BACKFILL_MAX_LAG ?? '10MB';

interface Result {
  name: string;
  seconds: number;
  rows: number;
  peakLagBytes: number;
  note?: string;
}

/** Samples the worst replay lag until stopped. */
function lagSampler(primary: Cluster): { stop: () => Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    const client = await primary.connect({ applicationName: 'bench-lag-sampler' });
    try {
      while (running) {
        const { rows } = await client.query<{ lag: number | null }>('SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8 AS lag FROM pg_stat_replication');
        peak = Math.max(peak, Number(rows[0]?.lag ?? 0));
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await client.end();
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peak;
    },
  };
}

async function caughtUp(primary: Cluster): Promise<void> {
  for (;;) {
    const { rows } = await primary.sql<{ lag: number | null }>('SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))::float8 AS lag FROM pg_stat_replication');
    if (Number(rows[0]?.lag ?? 0) < 64 * 1024) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function measure(primary: Cluster, name: string, table: string, work: () => Promise<void>, note?: string): Promise<Result> {
  await primary.sql('CHECKPOINT');
  await caughtUp(primary);
  const sampler = lagSampler(primary);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  const peakLagBytes = await sampler.stop();
  const { rows } = await primary.sql<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE v = 1`);
  const updated = Number(rows[0]?.n);
  if (updated !== ROWS) throw new Error(`${name}: ${updated} of ${ROWS} rows updated`);
  return { name, seconds, rows: updated, peakLagBytes, note };
}

function runProcess(command: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.slice(-2000)}`))));
  });
}

/**
 * The loop teams write by hand, the same keyset ranges as the backfill: find the batch's
 * upper key, update the range, one psql call each, until no key is left.
 */
const PSQL_LOOP = `
last=0
while :; do
  upper=$(psql "$URL" -X -Atq -v ON_ERROR_STOP=1 -c "SELECT id FROM t_loop WHERE id > $last ORDER BY id LIMIT 1 OFFSET $((BATCH - 1))")
  [ -z "$upper" ] && upper=$(psql "$URL" -X -Atq -v ON_ERROR_STOP=1 -c "SELECT max(id) FROM t_loop WHERE id > $last")
  [ -z "$upper" ] && break
  psql "$URL" -X -q -v ON_ERROR_STOP=1 -c "UPDATE t_loop SET v = 1 WHERE id > $last AND id <= $upper AND v IS NULL"
  last=$upper
done
`;

function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (parseSize(MAX_LAG) === undefined) throw new Error(`BENCH_BACKFILL_MAX_LAG must be a size such as 10MB, got ${MAX_LAG}`);
  const primary = await startCluster({ settings: { autovacuum: false, max_wal_size: '2GB' } });
  try {
    await primary.startStandby();
    const tables = ['t_bare', 't_loop', 't_fixed', 't_adaptive'];
    for (const table of tables) {
      await primary.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, v int, pad text); INSERT INTO ${table} SELECT g, NULL, md5(g::text) FROM generate_series(1, ${ROWS}) g`);
      await primary.sql(`VACUUM ANALYZE ${table}`);
    }
    const cli = join(projectRoot, 'bin', 'pgpreflight.js');
    const url = `${primary.url()}?sslmode=disable`;
    const results: Result[] = [];
    results.push(await measure(primary, 'one bare UPDATE ... WHERE v IS NULL', 't_bare', async () => void (await primary.sql('UPDATE t_bare SET v = 1 WHERE v IS NULL'))));
    if (hasPsql()) {
      results.push(await measure(primary, `hand-written psql loop, ${formatCount(BATCH)} keys per batch`, 't_loop', () => runProcess('bash', ['-c', PSQL_LOOP], { URL: url, BATCH: String(BATCH) }), 'no lag check, no sleep'));
    } else {
      results.push({ name: 'hand-written psql loop', seconds: Number.NaN, rows: 0, peakLagBytes: Number.NaN, note: 'skipped: no psql on PATH' });
    }
    const backfill = (table: string, extra: string[]) => () =>
      runProcess(process.execPath, [cli, 'backfill', '--url', url, '--table', table, '--set', 'v = 1', '--where', 'v IS NULL', '--max-lag', MAX_LAG, ...extra]);
    results.push(await measure(primary, `pgpreflight backfill --batch-size ${BATCH} --max-lag ${MAX_LAG}`, 't_fixed', backfill('t_fixed', ['--batch-size', String(BATCH)])));
    results.push(await measure(primary, `pgpreflight backfill --max-lag ${MAX_LAG} (adapts to 200ms)`, 't_adaptive', backfill('t_adaptive', [])));

    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const lines = [
      '',
      `pgpreflight backfill bench: ${formatCount(ROWS)} rows per table, PostgreSQL ${primary.major} with a streaming standby on the same machine, Node ${process.version}, ${cpus().length} x ${cpu}, load average ${loadavg()[0]?.toFixed(1)} at the end`,
      '',
      '| method | seconds | rows/s | peak replica lag | note |',
      '| --- | ---: | ---: | ---: | --- |',
      ...results.map((r) =>
        Number.isNaN(r.seconds)
          ? `| ${r.name} | | | | ${r.note ?? ''} |`
          : `| ${r.name} | ${r.seconds.toFixed(1)} | ${formatCount(r.rows / r.seconds)} | ${formatBytes(r.peakLagBytes)} | ${r.note ?? ''} |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await primary.stop();
  }
}

await main();

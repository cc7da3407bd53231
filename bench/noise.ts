// `npm run bench -- noise`: is the gate quiet when the server is healthy, and loud when it is
// not? pgbench drives a real OLTP load on a throwaway server while the built CLI checks two
// of its tables again and again; every non-pass is counted with its cause. Then, under the
// same load, each classic danger is staged and the time until the gate exits 1 is measured.
//
// Everything is configurable by environment, so the same script runs a quick look on a busy
// laptop and the full figures on a quiet machine:
//   BENCH_NOISE_RUNS=100          checks per table per load
//   BENCH_NOISE_LOADS=unthrottled,r500,select
//   BENCH_NOISE_SCALE=10          pgbench scale
//   BENCH_NOISE_DANGERS=forgotten-begin,long-query,queued-alter,prepared,replay-paused
//   BENCH_NOISE_DANGER_REPEATS=3  times each danger is staged
//   BENCH_NOISE_RUN_MIGRATIONS=20 guarded migrations (`run`) under the unthrottled load; 0 skips
//   BENCH_CLI=path/to/bin.js      the CLI to measure (default: this checkout's bin), e.g. an older build
//   PGBENCH=/path/to/pgbench      else PATH, else /usr/lib/postgresql/*/bin
// pgbench ships with the PostgreSQL client packages (Debian: postgresql-client).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { projectRoot, startCluster, type Cluster } from '../src/clusters/cluster.js';

const env = process.env;
const count = (name: string, fallback: number): number => {
  const value = Number.parseInt(env[name] ?? String(fallback), 10);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a whole number, got "${env[name]}"`);
  return value;
};
const RUNS = count('BENCH_NOISE_RUNS', 100);
const SCALE = count('BENCH_NOISE_SCALE', 10);
const RUN_MIGRATIONS = count('BENCH_NOISE_RUN_MIGRATIONS', 20);
const DANGER_REPEATS = Math.max(1, count('BENCH_NOISE_DANGER_REPEATS', 3));
const LOADS = (env.BENCH_NOISE_LOADS ?? 'unthrottled,r500,select').split(',').map((s) => s.trim()).filter(Boolean);
const DANGERS = (env.BENCH_NOISE_DANGERS ?? 'forgotten-begin,long-query,queued-alter,prepared,replay-paused').split(',').map((s) => s.trim()).filter(Boolean);
const CLI = env.BENCH_CLI ?? join(projectRoot, 'bin', 'pgpreflight.js');
const TABLES = ['pgbench_accounts', 'pgbench_branches'];
const DANGER_LIMIT_MS = 180_000;

const LOAD_ARGS: Record<string, { label: string; args: string[] }> = {
  unthrottled: { label: 'TPC-B, unthrottled, -c 8 -j 2', args: ['-c', '8', '-j', '2'] },
  r500: { label: 'TPC-B, -R 500, -c 8 -j 2', args: ['-c', '8', '-j', '2', '-R', '500'] },
  select: { label: 'select-only -S, unthrottled, -c 8 -j 2', args: ['-c', '8', '-j', '2', '-S'] },
};

function findPgbench(): string {
  if (env.PGBENCH) return env.PGBENCH;
  for (const dir of (env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'pgbench'))) return join(dir, 'pgbench');
  const lib = '/usr/lib/postgresql';
  if (existsSync(lib)) {
    for (const major of readdirSync(lib).sort().reverse()) if (existsSync(join(lib, major, 'bin', 'pgbench'))) return join(lib, major, 'bin', 'pgbench');
  }
  throw new Error('pgbench not found: install the PostgreSQL client tools (Debian: apt-get install postgresql-client) or set PGBENCH=/path/to/pgbench');
}

interface CheckRun {
  code: number | null;
  ms: number;
  verdict: string;
  /** `check-id: finding kind` of every finding at warn or worse, or the error line. */
  causes: string[];
}

interface ReportJson {
  verdict: string;
  checks: { id: string; status: string; summary: string; findings: { kind: string; severity: string }[] }[];
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: env.PATH ?? '', HOME: env.HOME ?? '/root', NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

async function check(url: string, table: string): Promise<CheckRun> {
  const result = await runCli(['check', '--url', url, '--table', table, '--format', 'json']);
  if (result.stdout.trim() === '') {
    // Exit 2 before a report: the one-line error is the cause.
    return { code: result.code, ms: result.ms, verdict: 'error', causes: [`exit ${String(result.code)}: ${result.stderr.trim().split('\n')[0]?.replace(/pid \d+/g, 'pid N').slice(0, 160) ?? ''}`] };
  }
  const report = (JSON.parse(result.stdout) as { databases: { report: ReportJson }[] }).databases[0]?.report as ReportJson;
  const causes: string[] = [];
  for (const c of report.checks) {
    if (c.status === 'pass' || c.status === 'skip') continue;
    const kinds = [...new Set(c.findings.filter((f) => f.severity !== 'info').map((f) => `${f.kind} (${f.severity})`))];
    causes.push(`${c.id}: ${kinds.join(', ') || `${c.status}: ${c.summary}`}`);
  }
  return { code: result.code, ms: result.ms, verdict: report.verdict, causes };
}

interface Load {
  stop: () => Promise<number | null>;
}

/** Starts pgbench for up to an hour; stop() ends it and returns its mean tps from the progress lines. */
function startLoad(pgbench: string, cluster: Cluster, args: string[]): Load {
  const child: ChildProcess = spawn(pgbench, [...args, '-n', '-T', '3600', '-P', '2', '-U', 'app', '-h', cluster.host, '-p', String(cluster.port), 'bench'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await closed;
      const tps = [...stderr.matchAll(/progress: [\d.]+ s, ([\d.]+) tps/g)].map((m) => Number(m[1]));
      return tps.length === 0 ? null : tps.reduce((a, b) => a + b, 0) / tps.length;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const load1 = (): string => loadavg()[0]?.toFixed(1) ?? '?';

interface NoiseRow {
  load: string;
  table: string;
  tps: number | null;
  runs: CheckRun[];
  loadavg: string;
}

function tally(causes: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const c of causes) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${n}× ${c}`).join('; ') || '—';
}

interface DangerResult {
  name: string;
  table: string;
  detected: boolean;
  msToFail: number | null;
  runs: number;
  causes: string;
  note: string;
}

/** Checks back to back from the moment the danger is in place until the gate exits 1. */
async function timeToFail(url: string, table: string, since: number): Promise<{ detected: boolean; msToFail: number | null; runs: number; causes: string[] }> {
  let runs = 0;
  while (performance.now() - since < DANGER_LIMIT_MS) {
    const result = await check(url, table);
    runs += 1;
    if (result.code === 1) return { detected: true, msToFail: performance.now() - since, runs, causes: result.causes };
  }
  return { detected: false, msToFail: null, runs, causes: [] };
}

async function stageDanger(name: string, cluster: Cluster, url: string): Promise<DangerResult> {
  const connect = (app: string): Promise<pg.Client> => cluster.connect({ user: 'app', database: 'bench', applicationName: app });
  const clients: pg.Client[] = [];
  const open = async (app: string): Promise<pg.Client> => {
    const c = await connect(app);
    clients.push(c);
    return c;
  };
  const result = (table: string, r: Awaited<ReturnType<typeof timeToFail>>, note: string): DangerResult => ({ name, table, detected: r.detected, msToFail: r.msToFail, runs: r.runs, causes: r.causes.join('; '), note });
  try {
    switch (name) {
      case 'forgotten-begin': {
        const c = await open('bench-forgotten');
        await c.query('BEGIN; SELECT abalance FROM pgbench_accounts WHERE aid = 1');
        const r = await timeToFail(url, 'pgbench_accounts', performance.now());
        await c.query('ROLLBACK');
        return result('pgbench_accounts', r, 'BEGIN; SELECT … WHERE aid = 1; then nothing');
      }
      case 'long-query': {
        const c = await open('bench-long-query');
        const running = c.query('SELECT pg_sleep(600), aid FROM pgbench_accounts LIMIT 1').catch(() => undefined);
        await waitUntil(cluster, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'bench-long-query' AND state = 'active' AND query LIKE '%pg_sleep%'");
        const r = await timeToFail(url, 'pgbench_accounts', performance.now());
        await cluster.sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-long-query'");
        await running;
        return result('pgbench_accounts', r, 'SELECT pg_sleep(600), aid FROM pgbench_accounts LIMIT 1 (active)');
      }
      case 'queued-alter': {
        const holder = await open('bench-holder');
        await holder.query('BEGIN; SELECT 1 FROM pgbench_branches LIMIT 1');
        const alter = await open('bench-alter');
        const pending = alter.query("SET lock_timeout = '10min'; ALTER TABLE pgbench_branches ADD COLUMN bench_note text").catch(() => undefined);
        await waitUntil(cluster, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'bench-alter' AND wait_event_type = 'Lock'");
        const r = await timeToFail(url, 'pgbench_branches', performance.now());
        await cluster.sql("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-alter'");
        await pending;
        await holder.query('ROLLBACK');
        return result('pgbench_branches', r, 'a fresh holder, and an ALTER TABLE queued behind it (traffic queues behind the ALTER)');
      }
      case 'prepared': {
        const c = await open('bench-prepared');
        await c.query("BEGIN; SELECT 1 FROM pgbench_accounts LIMIT 1; PREPARE TRANSACTION 'bench-prepared'");
        const r = await timeToFail(url, 'pgbench_accounts', performance.now());
        await c.query("ROLLBACK PREPARED 'bench-prepared'");
        return result('pgbench_accounts', r, 'PREPARE TRANSACTION after reading the table');
      }
      case 'replay-paused': {
        const standby = await cluster.startStandby();
        try {
          await standby.sql('SELECT pg_wal_replay_pause()');
          const r = await timeToFail(url, 'pgbench_accounts', performance.now());
          await standby.sql('SELECT pg_wal_replay_resume()');
          return result('pgbench_accounts', r, 'streaming standby, SELECT pg_wal_replay_pause() on it');
        } finally {
          await standby.stop();
        }
      }
      default:
        throw new Error(`unknown danger "${name}" in BENCH_NOISE_DANGERS`);
    }
  } finally {
    for (const c of clients) await c.end().catch(() => undefined);
  }
}

async function waitUntil(cluster: Cluster, sql: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { rows } = await cluster.sql(sql);
    if (rows.length > 0) return;
    if (Date.now() > deadline) throw new Error(`never happened: ${sql}`);
    await sleep(20);
  }
}

/** `run` under load: how many guarded migrations the gate kept from starting. */
async function guardedMigrations(cluster: Cluster, url: string): Promise<{ started: number; notStarted: number; exitCodes: Map<number | null, number>; causes: string[] }> {
  const psqlUrl = cluster.url({ user: 'app', database: 'bench' });
  const exitCodes = new Map<number | null, number>();
  const causes: string[] = [];
  let started = 0;
  let notStarted = 0;
  for (let i = 0; i < RUN_MIGRATIONS; i += 1) {
    const result = await runCli(['run', '--url', url, '--table', 'pgbench_branches', '--', 'psql', psqlUrl, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'ALTER TABLE pgbench_branches ALTER COLUMN filler SET DEFAULT NULL']);
    exitCodes.set(result.code, (exitCodes.get(result.code) ?? 0) + 1);
    // Started: some attempt got past its gate (whatever the command did then).
    const attempts = result.stderr.split('\n').filter((l) => /^pgpreflight run: attempt \d+\/\d+:/.test(l));
    if (attempts.some((l) => !/command not started|interrupted before/.test(l))) started += 1;
    else {
      notStarted += 1;
      const last = attempts.at(-1) ?? result.stderr.trim().split('\n').at(-1) ?? '';
      causes.push(last.replace(/^pgpreflight run: attempt \d+\/\d+: /, '').replace(/pids? [\d, .]+/g, 'pid N').slice(0, 200));
    }
  }
  return { started, notStarted, exitCodes, causes };
}

export async function runNoise(): Promise<void> {
  const pgbench = findPgbench();
  const cluster = await startCluster({ settings: { max_connections: 100 } });
  const lines: string[] = [];
  const say = (line = ''): void => {
    lines.push(line);
    process.stderr.write(`${line}\n`);
  };
  try {
    await cluster.sql(`
      CREATE ROLE app LOGIN;
      CREATE ROLE deploy LOGIN IN ROLE pg_monitor, pg_signal_backend;
      ALTER ROLE app SET lock_timeout = '4s';
      ALTER ROLE app SET idle_in_transaction_session_timeout = '1min';
      ALTER ROLE deploy SET lock_timeout = '4s';
      ALTER ROLE deploy SET idle_in_transaction_session_timeout = '1min';`);
    await cluster.sql('CREATE DATABASE bench OWNER app');
    await new Promise<void>((resolve, reject) => {
      const init = spawn(pgbench, ['-i', '-q', '-s', String(SCALE), '-U', 'app', '-h', cluster.host, '-p', String(cluster.port), 'bench'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      init.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      init.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench -i failed: ${err}`))));
    });
    const url = `${cluster.url({ user: 'deploy', database: 'bench' })}?sslmode=disable`;
    const header = `pgpreflight noise bench: PostgreSQL ${cluster.major}, pgbench scale ${SCALE}, ${RUNS} checks per table per load, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, CLI ${CLI === join(projectRoot, 'bin', 'pgpreflight.js') ? 'this checkout' : CLI}`;
    say(header);

    // The idle server right after the bulk load: what "not even on an idle server" was about.
    const idle: CheckRun[] = [];
    for (const table of TABLES) for (let i = 0; i < Math.min(RUNS, 10); i += 1) idle.push(await check(url, table));

    const rows: NoiseRow[] = [];
    for (const name of LOADS) {
      const spec = LOAD_ARGS[name];
      if (!spec) throw new Error(`unknown load "${name}" in BENCH_NOISE_LOADS: ${Object.keys(LOAD_ARGS).join(', ')}`);
      const load = startLoad(pgbench, cluster, spec.args);
      await sleep(3000);
      const before = load1();
      const perTable: Record<string, CheckRun[]> = Object.fromEntries(TABLES.map((t) => [t, []]));
      // Alternate the tables, as a deploy pipeline checking both would.
      for (let i = 0; i < RUNS; i += 1) for (const table of TABLES) perTable[table]?.push(await check(url, table));
      const after = load1();
      const tps = await load.stop();
      for (const table of TABLES) rows.push({ load: spec.label, table, tps, runs: perTable[table] ?? [], loadavg: `${before} → ${after}` });
      say(`${spec.label}: done (${tps === null ? '?' : Math.round(tps)} tps, load average ${before} → ${after})`);
    }

    const dangers: DangerResult[] = [];
    let migrations: Awaited<ReturnType<typeof guardedMigrations>> | null = null;
    if (DANGERS.length > 0 || RUN_MIGRATIONS > 0) {
      const load = startLoad(pgbench, cluster, (LOAD_ARGS.unthrottled as { args: string[] }).args);
      await sleep(3000);
      const before = load1();
      for (const name of DANGERS) {
        for (let i = 0; i < DANGER_REPEATS; i += 1) {
          dangers.push(
            await stageDanger(name, cluster, url).catch((error: Error) => ({ name, table: '?', detected: false, msToFail: null, runs: 0, causes: '', note: `staging failed: ${error.message}` })),
          );
          say(`danger ${name}: ${dangers.at(-1)?.detected ? `exit 1 after ${Math.round(dangers.at(-1)?.msToFail ?? 0)} ms` : 'NOT detected'}`);
          await sleep(2000);
        }
      }
      if (RUN_MIGRATIONS > 0) migrations = await guardedMigrations(cluster, url);
      const tps = await load.stop();
      say(`dangers and run under TPC-B unthrottled: ${tps === null ? '?' : Math.round(tps)} tps, load average ${before} → ${load1()}`);
    }

    const pct = (n: number, of: number): string => (of === 0 ? '—' : `${((100 * n) / of).toFixed(1)} %`);
    const out: string[] = [header, ''];
    const idleCounts = { pass: idle.filter((r) => r.verdict === 'pass').length, total: idle.length };
    out.push(`Idle server right after \`pgbench -i\`: ${idleCounts.pass}/${idleCounts.total} pass${idleCounts.pass < idleCounts.total ? ` (non-pass: ${tally(idle.flatMap((r) => r.causes))})` : ''}`, '');
    out.push('| load | table | tps | load avg (1 min) | runs | pass | warn | fail (exit 1) | error (exit 2) | blocked | median ms | causes of every non-pass |');
    out.push('| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const row of rows) {
      const by = (v: string): number => row.runs.filter((r) => r.verdict === v).length;
      const blocked = row.runs.filter((r) => r.code !== 0).length;
      const ms = [...row.runs.map((r) => r.ms)].sort((a, b) => a - b)[Math.floor(row.runs.length / 2)] ?? 0;
      out.push(`| ${row.load} | ${row.table} | ${row.tps === null ? '?' : Math.round(row.tps)} | ${row.loadavg} | ${row.runs.length} | ${by('pass')} | ${by('warn')} | ${by('fail')} | ${by('error')} | ${pct(blocked, row.runs.length)} | ${Math.round(ms)} | ${tally(row.runs.filter((r) => r.verdict !== 'pass').flatMap((r) => r.causes))} |`);
    }
    const all = rows.flatMap((r) => r.runs);
    const unthrottled = rows.filter((r) => r.load === LOAD_ARGS.unthrottled?.label).flatMap((r) => r.runs);
    out.push('');
    out.push(`Totals: ${all.filter((r) => r.verdict === 'pass').length}/${all.length} pass (${pct(all.filter((r) => r.verdict === 'pass').length, all.length)}; target ≥ 95 %); unthrottled TPC-B runs that exit 1 or 2: ${unthrottled.filter((r) => r.code !== 0).length} of ${unthrottled.length} (target 0).`);
    if (dangers.length > 0) {
      const seconds = (ms: number | null): string => (ms === null ? `> ${DANGER_LIMIT_MS / 1000}` : (ms / 1000).toFixed(2));
      out.push(
        '',
        `| staged danger (under TPC-B unthrottled), ${DANGER_REPEATS}× each | table | detected (exit 1) | time to exit 1, s (median; each) | checks until exit 1 (each) | what failed it (first time) | staged as |`,
        '| --- | --- | --- | ---: | ---: | --- | --- |',
      );
      for (const name of DANGERS) {
        const tries = dangers.filter((d) => d.name === name);
        const first = tries[0] as DangerResult;
        const times = tries.map((d) => d.msToFail);
        const known = times.filter((t): t is number => t !== null).sort((a, b) => a - b);
        const median = known.length === tries.length ? (known[Math.floor(known.length / 2)] ?? null) : null;
        out.push(
          `| ${name} | ${first.table} | ${tries.filter((d) => d.detected).length}/${tries.length} | ${seconds(median)} (${times.map(seconds).join(', ')}) | ${tries.map((d) => d.runs).join(', ')} | ${first.causes || '—'} | ${first.note} |`,
        );
      }
    }
    if (migrations) {
      out.push('', `\`run\` under TPC-B unthrottled, no blocker: ${migrations.notStarted}/${RUN_MIGRATIONS} migrations not started (target 0/${RUN_MIGRATIONS}); exit codes ${[...migrations.exitCodes].map(([code, n]) => `${String(code)}×${n}`).join(', ')}${migrations.causes.length > 0 ? `; not started because: ${tally(migrations.causes)}` : ''}.`);
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await cluster.stop();
  }
}

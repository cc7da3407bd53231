// Samples pg_stat_activity on one open connection: one round trip per sample (a read-only
// transaction with its own timeouts, sent as one message), at a fixed interval, until the
// window ends or the caller stops it.
import type pg from 'pg';
import { PreflightError } from '../core/errors.js';
import { ACTIVITY_SERVER_SQL, sampleBatch } from './activity.sql.js';
import { sampleFromRow, type ActivitySample } from './summary.js';

export interface ActivityServer {
  versionNum: number;
  version: string;
  inRecovery: boolean;
  currentUser: string;
  database: string;
  canReadAllStats: boolean;
}

type Row = Record<string, unknown>;

/** Who is looking at what; refuses servers older than 14 (pg_stat_activity.query_id). */
export async function readActivityServer(client: pg.Client): Promise<ActivityServer> {
  const { rows } = await client.query<Row>(ACTIVITY_SERVER_SQL);
  const row = rows[0];
  if (!row) throw new PreflightError('the server returned no row for the current role');
  const server: ActivityServer = {
    versionNum: Number(row.version_num),
    version: String(row.version),
    inRecovery: row.in_recovery === true,
    currentUser: String(row.current_user),
    database: String(row.database),
    canReadAllStats: row.can_read_all_stats === true,
  };
  if (server.versionNum < 140000) throw new PreflightError(`PostgreSQL ${server.version} is not supported: pgpreflight activity needs PostgreSQL 14 or newer`);
  return server;
}

/** One sample, one round trip. */
export async function readSample(client: pg.Client, statementTimeoutMs: number): Promise<ActivitySample> {
  const results = (await client.query(sampleBatch(statementTimeoutMs))) as unknown as pg.QueryResult<Row>[];
  const row = results.find((r) => r.command === 'SELECT' && r.rows[0] !== undefined && 'sessions' in (r.rows[0] as Row))?.rows[0];
  if (!row) throw new PreflightError('the activity sample returned no row');
  return sampleFromRow(row);
}

export interface SampleLoop {
  intervalMs: number;
  statementTimeoutMs: number;
  /** Stop once this long has passed since the first sample; null: until stopped. */
  durationMs: number | null;
  /** Resolves when the caller wants the loop to end (Ctrl-C). */
  stopped: Promise<void>;
  onSample: (sample: ActivitySample) => void;
}

const sleep = (ms: number, stopped: Promise<void>): Promise<void> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), stopped]).finally(() => clearTimeout(timer));
};

/** Samples every intervalMs (from the start of one read to the next; a slow read is not made up for). */
export async function sampleLoop(client: pg.Client, loop: SampleLoop): Promise<number> {
  let stop = false;
  void loop.stopped.then(() => (stop = true));
  const started = performance.now();
  let next = started;
  let count = 0;
  while (!stop) {
    loop.onSample(await readSample(client, loop.statementTimeoutMs));
    count += 1;
    next += loop.intervalMs;
    if (loop.durationMs !== null && next - started >= loop.durationMs) break;
    const now = performance.now();
    if (next < now) next = now;
    else await sleep(next - now, loop.stopped);
  }
  return count;
}

// The replica throttle: reads pg_stat_replication on the primary and says whether every
// watched replica is within --max-lag / --max-lag-time, and if not, which one and why.
// Used before each backfill batch, by `pgpreflight wait-for-replicas`, and from the
// library API (waitForReplicas) by backfills that live in application code.
//
// Rules (docs/backfill.md):
// - physical walsenders are watched; logical ones only with includeLogical (their
//   subscribers also apply the changes, but a CDC consumer that confirms in bursts
//   would stall a backfill for nothing); pg_basebackup's walsenders (state backup) never;
// - a replica that is not streaming (startup, catchup, stopping) is lagging, and so is one
//   that was seen before and has left pg_stat_replication: a replica that stops streaming
//   must not look like "no replicas";
// - byte lag NULL (no replay position reported yet) is lagging, never zero;
// - replay_lag (time) is only judged when bytes are outstanding: it is NULL on an idle
//   caught-up standby and stale for a while after it catches up. A NULL time lag is not
//   read as zero either: the byte limit alone decides then;
// - a replica whose state the role cannot see (no pg_monitor) fails the look (exit 2):
//   the throttle never passes without having looked.
import { connect, resolveConnection } from '../core/connection.js';
import { PreflightError } from '../core/errors.js';
import { formatBytes, formatDuration, parseDuration, parseSize } from '../core/units.js';
import { REPLICAS_SQL } from './replicas.sql.js';

/** Anything with pg's query(): a pg.Client, a pg.PoolClient or a pg.Pool. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface ReplicaLimits {
  maxLagBytes: number;
  /** null: no time limit. */
  maxLagMs: number | null;
  includeLogical: boolean;
  /** application_name (or client address) of replicas not to wait for. */
  ignore: readonly string[];
}

export const DEFAULT_MAX_LAG = '10MB';

export interface Replica {
  pid: number;
  /** application_name, else the client address, else pid N. */
  name: string;
  kind: 'physical' | 'logical';
  slot: string | null;
  client: string | null;
  state: string | null;
  syncState: string | null;
  lagBytes: number | null;
  /** replay_lag in seconds; 0 when no bytes are outstanding (a lingering value is stale). */
  lagSeconds: number | null;
  /** Why it is not watched, or null when it is. */
  notWatched: string | null;
  /** Why it holds the throttle, or null when it is within the limits (or not watched). */
  lagging: string | null;
}

export interface LagVerdict {
  ok: boolean;
  replicas: Replica[];
  /** Watched replicas that hold the throttle, and replicas seen before that are gone. */
  lagging: { name: string; reason: string }[];
  /** Largest byte lag among watched replicas, null when none reports one. */
  worstLagBytes: number | null;
}

interface ReplicaRow {
  pid: number;
  application: string | null;
  client: string | null;
  state: string | null;
  sync_state: string | null;
  slot: string | null;
  kind: string;
  replay_lag_bytes: number | null;
  replay_lag_seconds: number | null;
}

export function lagReason(replica: Pick<Replica, 'state' | 'lagBytes' | 'lagSeconds'>, limits: Pick<ReplicaLimits, 'maxLagBytes' | 'maxLagMs'>): string | null {
  if (replica.state !== 'streaming') return `not streaming (state ${replica.state ?? 'unknown'})`;
  if (replica.lagBytes === null) return 'no replay position reported yet';
  if (replica.lagBytes > limits.maxLagBytes) return `replay lag ${formatBytes(replica.lagBytes)} > --max-lag ${formatBytes(limits.maxLagBytes)}`;
  if (limits.maxLagMs !== null && replica.lagBytes > 0 && replica.lagSeconds !== null && replica.lagSeconds * 1000 > limits.maxLagMs) {
    return `replay lag ${formatDuration(replica.lagSeconds * 1000)} > --max-lag-time ${formatDuration(limits.maxLagMs)}`;
  }
  return null;
}

function toReplica(row: ReplicaRow, limits: ReplicaLimits): Replica {
  const name = row.application || row.client || `pid ${row.pid}`;
  const kind = row.kind === 'logical' ? 'logical' : 'physical';
  const bytes = row.replay_lag_bytes === null ? null : Math.max(0, Number(row.replay_lag_bytes));
  const seconds = bytes === 0 ? 0 : row.replay_lag_seconds === null ? null : Number(row.replay_lag_seconds);
  const ignored = limits.ignore.includes(name) || (row.client !== null && limits.ignore.includes(row.client));
  const notWatched = ignored
    ? 'ignored (--ignore-replica)'
    : row.state === 'backup'
      ? 'a base backup, not a replica'
      : kind === 'logical' && !limits.includeLogical
        ? `logical (slot ${row.slot ?? '?'}), not watched without --include-logical`
        : null;
  const replica: Replica = { pid: row.pid, name, kind, slot: row.slot, client: row.client, state: row.state, syncState: row.sync_state, lagBytes: bytes, lagSeconds: seconds, notWatched, lagging: null };
  if (notWatched === null) replica.lagging = lagReason(replica, limits);
  return replica;
}

/** Looks at the replicas again and again, remembering every replica it has seen. */
export class ReplicaWatch {
  private readonly seen = new Map<string, string>();
  constructor(readonly limits: ReplicaLimits) {}

  /**
   * One look. With statementTimeoutMs the read runs in its own transaction under SET LOCAL,
   * so no setting outlives it (a pooled server connection is shared); without, it is a
   * plain query that leaves a caller's session and transaction as they are.
   */
  async look(client: Queryable, statementTimeoutMs: number | null = null): Promise<LagVerdict> {
    if (statementTimeoutMs === null) return this.evaluate((await client.query(REPLICAS_SQL)).rows as ReplicaRow[]);
    const results = (await client.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = '${Math.round(statementTimeoutMs)}ms'; ${REPLICAS_SQL}; COMMIT`)) as unknown as { rows: unknown[] }[];
    return this.evaluate((results[2]?.rows ?? []) as ReplicaRow[]);
  }

  evaluate(rows: readonly ReplicaRow[]): LagVerdict {
    const replicas = rows.map((row) => toReplica(row, this.limits));
    const hidden = replicas.filter((r) => r.notWatched === null && r.state === null);
    if (hidden.length > 0) {
      const names = hidden.map((r) => r.name).join(', ');
      throw new PreflightError(
        `cannot see the replay position of replica ${names}: the role needs pg_monitor (GRANT pg_monitor TO <role>), or pass --ignore-replica ${hidden[0]?.name ?? ''} to not wait for it`,
      );
    }
    const lagging: { name: string; reason: string }[] = [];
    const present = new Set<string>();
    for (const r of replicas) {
      if (r.notWatched !== null) continue;
      const id = `${r.name}\u0000${r.client ?? ''}`;
      present.add(id);
      this.seen.set(id, r.name);
      if (r.lagging !== null) lagging.push({ name: r.name, reason: r.lagging });
    }
    for (const [id, name] of this.seen) {
      if (!present.has(id)) lagging.push({ name, reason: 'disconnected: it was replicating earlier and is no longer in pg_stat_replication' });
    }
    const lags = replicas.filter((r) => r.notWatched === null && r.lagBytes !== null).map((r) => r.lagBytes as number);
    return { ok: lagging.length === 0, replicas, lagging, worstLagBytes: lags.length > 0 ? Math.max(...lags) : null };
  }
}

/** `standby1: replay lag 25 MB > --max-lag 10 MB; standby2: not streaming (state catchup)`. */
export function describeLagging(verdict: LagVerdict): string {
  return verdict.lagging.map((l) => `${l.name}: ${l.reason}`).join('; ');
}

/** `standby1 (physical, streaming) 1.2 MB, 0.3s`. */
export function describeReplica(r: Replica): string {
  const lag = r.lagBytes === null ? 'replay position unknown' : `${formatBytes(r.lagBytes)}${r.lagSeconds === null ? '' : `, ${formatDuration(r.lagSeconds * 1000)}`}`;
  return `${r.name} (${r.kind}${r.slot ? ` slot ${r.slot}` : ''}, ${r.state ?? 'state hidden'}): ${r.notWatched ?? `replay lag ${lag}`}`;
}

function toBytes(value: number | string | undefined, fallback: string, flag: string): number {
  if (typeof value === 'number') return value;
  const text = value ?? fallback;
  const bytes = parseSize(text);
  if (bytes === undefined) throw new PreflightError(`${flag} must be a size such as 10MB, got "${text}"`);
  return bytes;
}

function toMs(value: number | string | null | undefined, flag: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  const ms = parseDuration(value);
  if (ms === undefined) throw new PreflightError(`${flag} must be a duration such as 10s, got "${value}"`);
  return ms;
}

export interface WaitForReplicasOptions {
  /** An open connection to the primary (pg.Client, pg.PoolClient or pg.Pool). */
  client?: Queryable;
  /** Otherwise a connection URL (else DATABASE_URL, else libpq's PG* environment). */
  url?: string;
  /** Bytes, or a size such as '10MB'. Default 10MB. */
  maxLag?: number | string;
  /** Milliseconds, or a duration such as '10s'. Default: no time limit. */
  maxLagTime?: number | string | null;
  /** How long to wait in all. Milliseconds or a duration; default 5m. */
  timeout?: number | string;
  /** Pause between looks. Milliseconds or a duration; default 1s. */
  interval?: number | string;
  includeLogical?: boolean;
  ignoreReplicas?: readonly string[];
  /** Ends the wait early; the result then says aborted. */
  signal?: AbortSignal;
  /** Called after each look that found a replica over the limits. */
  onWait?: (verdict: LagVerdict, waitedMs: number) => void;
}

export interface ReplicaWaitResult {
  /** Every watched replica is within the limits. */
  ok: boolean;
  aborted: boolean;
  waitedMs: number;
  looks: number;
  verdict: LagVerdict;
}

export function limitsOf(options: Pick<WaitForReplicasOptions, 'maxLag' | 'maxLagTime' | 'includeLogical' | 'ignoreReplicas'>): ReplicaLimits {
  return {
    maxLagBytes: toBytes(options.maxLag, DEFAULT_MAX_LAG, 'maxLag'),
    maxLagMs: toMs(options.maxLagTime, 'maxLagTime'),
    includeLogical: options.includeLogical ?? false,
    ignore: options.ignoreReplicas ?? [],
  };
}

/** Resolves after ms, or at once when the signal aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

const RECOVERY_SQL = 'SELECT pg_catalog.pg_is_in_recovery() AS in_recovery';

/**
 * Waits until every watched replica is within the limits, or the timeout passes. Throws a
 * PreflightError when it cannot look (a standby, hidden replica state, connection failure).
 */
export const WAIT_APPLICATION_NAME = 'pgpreflight-wait-for-replicas';
/** Connect timeout and statement_timeout of each look on a connection of our own. */
const LOOK_TIMEOUT_MS = 10_000;

export async function waitForReplicas(options: WaitForReplicasOptions = {}): Promise<ReplicaWaitResult> {
  const timeoutMs = toMs(options.timeout ?? '5m', 'timeout') as number;
  if (options.client) return waitOn(options.client, options, null);
  const client = await connect(resolveConnection(options.url), { applicationName: WAIT_APPLICATION_NAME, timeoutMs: Math.min(LOOK_TIMEOUT_MS, Math.max(1000, timeoutMs)) });
  try {
    return await waitOn(client, options, LOOK_TIMEOUT_MS);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The wait on an open connection; statementTimeoutMs bounds each look (on connections of our own). */
export async function waitOn(client: Queryable, options: WaitForReplicasOptions, statementTimeoutMs: number | null): Promise<ReplicaWaitResult> {
  const limits = limitsOf(options);
  const timeoutMs = toMs(options.timeout ?? '5m', 'timeout') as number;
  const intervalMs = toMs(options.interval ?? '1s', 'interval') as number;
  const started = Date.now();
  const { rows } = await client.query(RECOVERY_SQL);
  if ((rows[0] as { in_recovery?: boolean } | undefined)?.in_recovery === true) {
    throw new PreflightError('the server is a standby (in recovery): replica lag is read on the primary. Point it at the primary');
  }
  const watch = new ReplicaWatch(limits);
  for (let looks = 1; ; looks += 1) {
    const verdict = await watch.look(client, statementTimeoutMs);
    const waitedMs = Date.now() - started;
    if (verdict.ok) return { ok: true, aborted: false, waitedMs, looks, verdict };
    options.onWait?.(verdict, waitedMs);
    const remaining = started + timeoutMs - Date.now();
    if (remaining <= 0 || options.signal?.aborted) return { ok: false, aborted: options.signal?.aborted === true, waitedMs, looks, verdict };
    await pause(Math.min(intervalMs, remaining), options.signal);
    if (options.signal?.aborted) return { ok: false, aborted: true, waitedMs: Date.now() - started, looks, verdict };
  }
}

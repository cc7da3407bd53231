// One look at a --replica-url standby, taken after the primary's snapshot: its own view
// of replay, the settings that decide the fate of its queries when the migration's lock
// is replayed, and who on it reads the targets. Separate from the primary's transaction:
// its own connection, read-only, with its own short timeouts. It never throws: a standby
// that cannot be read comes back with a one-line error, which the hot-standby check
// reports as an error (fail closed). It connects only to the URL the user gave.
import type pg from 'pg';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { describeConnectionError, oneLine } from '../core/errors.js';
import type { ReplicaInfo, ReplicaSession, ReplicaSnapshot } from '../core/types.js';
import { REPLICA_SQL } from './replica-snapshot.sql.js';
import { PIN_CATALOG_SEARCH_PATH_SQL } from './snapshot.sql.js';

/** The most a standby may take, whatever is left of --timeout: a slow standby must not eat the primary's budget. */
export const REPLICA_TIMEOUT_MS = 5000;

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toSession(row: Row): ReplicaSession {
  return {
    pid: Number(row.pid),
    relation: Number(row.relation),
    mode: String(row.mode),
    granted: row.granted === true,
    user: str(row.user),
    application: str(row.application),
    client: str(row.client),
    backendType: str(row.backend_type),
    state: str(row.state),
    query: row.hidden === true ? null : str(row.query),
    xactAgeSeconds: num(row.xact_age_seconds),
    queryAgeSeconds: num(row.query_age_seconds),
    hidden: row.hidden === true,
  };
}

function toInfo(row: Row): ReplicaInfo {
  const receiver = str(row.receiver_status);
  return {
    version: String(row.version),
    versionNum: Number(row.version_num),
    database: String(row.database),
    inRecovery: row.in_recovery === true,
    systemIdentifier: str(row.system_identifier),
    canReadAllStats: row.can_read_all_stats === true,
    maxStandbyStreamingDelayMs: Number(row.streaming_delay_ms),
    maxStandbyArchiveDelayMs: Number(row.archive_delay_ms),
    hotStandbyFeedback: row.hot_standby_feedback === true,
    pauseState: str(row.pause_state),
    // Without pg_read_all_stats the receiver's row shows no status: unknown.
    streaming: receiver === null ? (row.can_read_all_stats === true ? false : null) : receiver === 'streaming',
    unreplayedBytes: num(row.unreplayed_bytes),
    lastReplayAgeSeconds: num(row.last_replay_age_seconds),
  };
}

function codesOf(error: unknown): string[] {
  const codes: string[] = [];
  for (let current = error, depth = 0; current !== null && current !== undefined && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function reasonOf(error: unknown, display: string, timeoutMs: number, timedOut: boolean): string {
  const message = error instanceof Error ? error.message : String(error);
  if (timedOut || /timeout expired|did not answer/.test(message)) return `standby ${display} did not answer within ${timeoutMs} ms: check the --replica-url and the standby's load`;
  if (codesOf(error).includes('ECONNREFUSED')) return `cannot connect to standby ${display}: connection refused. Is it running and listening there? Check the --replica-url`;
  return `standby: ${describeConnectionError(error, display).message}`;
}

export interface ReplicaRequest {
  /** Every target relation's oid on the primary; a physical standby has the same ones. */
  relationOids: readonly number[];
  /** Epoch ms by which the whole run must be done (--timeout). */
  deadline: number;
  applicationName: string;
}

/** Reads one standby. Never throws: failures come back as `error`. */
export async function takeReplicaSnapshot(spec: ConnectionSpec, request: ReplicaRequest): Promise<ReplicaSnapshot> {
  const timeoutMs = Math.max(500, Math.min(REPLICA_TIMEOUT_MS, request.deadline - Date.now()));
  const deadline = Date.now() + timeoutMs;
  let client: pg.Client | undefined;
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    (client as unknown as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
  }, timeoutMs + 250);
  try {
    client = await connect(spec, { applicationName: request.applicationName, timeoutMs, deadline });
    const statementMs = Math.max(100, deadline - Date.now());
    await client.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
       SET LOCAL statement_timeout = ${statementMs};
       SET LOCAL lock_timeout = ${Math.min(statementMs, 2000)};
       SET LOCAL idle_in_transaction_session_timeout = ${statementMs + 1000}`,
    );
    await client.query(PIN_CATALOG_SEARCH_PATH_SQL);
    const { rows } = await client.query<Row>(REPLICA_SQL, [request.relationOids]);
    await client.query('COMMIT');
    const row = rows[0];
    if (!row) return { display: spec.display, error: `standby ${spec.display}: the server returned no row for the checking role`, info: null, sessions: [] };
    return { display: spec.display, error: null, info: toInfo(row), sessions: (row.sessions as Row[]).map(toSession) };
  } catch (error) {
    return { display: spec.display, error: oneLine(reasonOf(error, spec.display, timeoutMs, timedOut)), info: null, sessions: [] };
  } finally {
    clearTimeout(watchdog);
    await client?.end().catch(() => undefined);
  }
}

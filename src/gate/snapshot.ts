// All the reading a run does, in one read-only transaction on one connection: the
// server facts, the targets, one look at pg_locks + pg_stat_activity, and the extra
// catalog queries the selected checks declared. Checks then evaluate this snapshot.
import type pg from 'pg';
import { resampledName, sampledName, type CheckDefinition, type CheckQuery, type QueryContext } from '../../checks/types.js';
import { PreflightError } from '../core/errors.js';
import { ACTIVITY_AND_LOCKS_SQL, PIN_CATALOG_SEARCH_PATH_SQL, SERVER_INFO_SQL, TARGETS_SQL } from './snapshot.sql.js';
import { sqlFor } from '../core/sql-versions.js';
import { assertSchemaUsage, missingTablesError } from './table-access.js';
import type { LockRow, PreparedTransaction, ServerInfo, Session, Snapshot, TableRequest, Target, TargetRelation } from '../core/types.js';

export type { TableRequest } from '../core/types.js';

export const OLDEST_SUPPORTED_VERSION_NUM = 140000;
export const NEWEST_TESTED_MAJOR = 18;

/**
 * How far a server version is trusted: older than 14 is refused (exit 2, the catalog
 * queries rely on 14+ columns such as pg_locks.waitstart); newer than the newest
 * tested major runs with a note in the report, since catalog views may have changed.
 */
export function versionSupport(versionNum: number): 'unsupported' | 'untested' | 'tested' {
  if (versionNum < OLDEST_SUPPORTED_VERSION_NUM) return 'unsupported';
  if (versionNum >= (NEWEST_TESTED_MAJOR + 1) * 10000) return 'untested';
  return 'tested';
}

export interface SnapshotRequest {
  tables: readonly TableRequest[];
  checks: readonly CheckDefinition[];
  options: QueryContext['options'];
  statementTimeoutMs: number;
  /** Extra reads a caller other than a check needs in the same transaction (e.g. the blocking tree). */
  queries?: readonly CheckQuery[];
}

type Row = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function toServerInfo(row: Row): ServerInfo {
  return {
    versionNum: num(row.version_num),
    version: String(row.version),
    inRecovery: row.in_recovery === true,
    currentUser: String(row.current_user),
    database: String(row.database),
    isSuperuser: row.is_superuser === true,
    canReadAllStats: row.can_read_all_stats === true,
    backendPid: num(row.backend_pid),
    blockSize: num(row.block_size),
    takenAt: row.taken_at instanceof Date ? row.taken_at.toISOString() : String(row.taken_at),
  };
}

function toSession(row: Row): Session {
  return {
    pid: num(row.pid),
    leaderPid: numOrNull(row.leader_pid),
    database: strOrNull(row.database),
    user: strOrNull(row.user),
    application: strOrNull(row.application),
    client: strOrNull(row.client),
    backendType: strOrNull(row.backend_type),
    state: strOrNull(row.state),
    query: row.hidden === true ? null : strOrNull(row.query),
    waitEventType: strOrNull(row.wait_event_type),
    waitEvent: strOrNull(row.wait_event),
    xactAgeSeconds: numOrNull(row.xact_age_seconds),
    queryAgeSeconds: numOrNull(row.query_age_seconds),
    stateAgeSeconds: numOrNull(row.state_age_seconds),
    backendXid: strOrNull(row.backend_xid),
    backendXmin: strOrNull(row.backend_xmin),
    xminAge: numOrNull(row.xmin_age),
    hidden: row.hidden === true,
  };
}

function toLock(row: Row): LockRow {
  return {
    pid: numOrNull(row.pid),
    virtualTransaction: String(row.virtual_transaction ?? ''),
    lockType: String(row.lock_type),
    relation: numOrNull(row.relation),
    transactionId: strOrNull(row.transaction_id),
    mode: String(row.mode),
    granted: row.granted === true,
    waitSeconds: numOrNull(row.wait_seconds),
    blockingPids: Array.isArray(row.blocking_pids) ? row.blocking_pids.map(num) : [],
  };
}

function toPrepared(row: Row): PreparedTransaction {
  return {
    gid: String(row.gid),
    owner: String(row.owner),
    database: String(row.database),
    transactionId: String(row.transaction_id),
    ageSeconds: num(row.age_seconds),
    virtualTransaction: strOrNull(row.virtual_transaction),
  };
}

/** Reads the server inside the caller's open transaction. */
export async function readServerInfo(client: pg.Client): Promise<ServerInfo> {
  const { rows } = await client.query<Row>(SERVER_INFO_SQL);
  if (!rows[0]) throw new PreflightError('the server returned no row for the current role');
  const server = toServerInfo(rows[0]);
  if (versionSupport(server.versionNum) === 'unsupported') {
    throw new PreflightError(`PostgreSQL ${server.version} is not supported: pgpreflight supports PostgreSQL 14 to ${NEWEST_TESTED_MAJOR}. Upgrade the server, or check it by hand`);
  }
  if (server.inRecovery) {
    throw new PreflightError(`${server.database} on this server is a standby (in recovery): migrations run on the primary, so point --url at the primary`);
  }
  return server;
}

async function resolveTargets(client: pg.Client, tables: readonly TableRequest[]): Promise<Target[]> {
  if (tables.length === 0) return [];
  await assertSchemaUsage(client, tables);
  const { rows } = await client.query<Row>(TARGETS_SQL, [tables.map((t) => t.canonical)]);
  const missing = rows.filter((r) => r.oid === null).map((r) => tables[num(r.ord) - 1] as TableRequest);
  if (missing.length > 0) throw await missingTablesError(client, missing);
  return rows.map((r) => {
    const request = tables[num(r.ord) - 1] as TableRequest;
    const relkind = String(r.relkind);
    if (!['r', 'p', 'm', 'f'].includes(relkind)) {
      throw new PreflightError(`"${request.input}" is not a table (relkind ${relkind}): pass the table the migration alters`);
    }
    const relations = (r.relations as Row[]).map(
      (rel): TargetRelation => ({
        oid: num(rel.oid),
        name: String(rel.name),
        kind: rel.kind as TargetRelation['kind'],
        relkind: String(rel.relkind),
        pages: num(rel.pages),
        tuples: num(rel.tuples),
      }),
    );
    const schema = String(r.schema);
    const name = String(r.name);
    return {
      input: request.input,
      oid: num(r.oid),
      schema,
      name,
      qualifiedName: String(r.qualified),
      relkind,
      lockMode: request.lockMode,
      relations,
    };
  });
}

/**
 * Puts pg_catalog first on the search_path for this transaction. Anyone who can set the
 * checker's search_path (ALTER DATABASE/ROLE ... SET search_path = evil, pg_catalog)
 * could otherwise shadow current_setting(), pg_blocking_pids() or even `=` with their own
 * and feed the gate a false pass (the CVE-2018-1058 pattern,
 * https://www.postgresql.org/docs/current/ddl-schemas.html#DDL-SCHEMAS-PATTERNS).
 * The rest of the user's path stays, so an unqualified --table resolves as before. Call it
 * inside an open transaction: the setting is transaction-local.
 */
export async function pinCatalogSearchPath(client: pg.Client): Promise<void> {
  await client.query(PIN_CATALOG_SEARCH_PATH_SQL);
}

/**
 * Reads the sampled queries (CheckQuery.sampleOver) together, every everyMs over the
 * longest window, inside the caller's transaction. Each read clears the statistics cache
 * first, which a transaction otherwise keeps (pg_stat_clear_snapshot); a query without
 * parameters does both in one round trip.
 */
async function sampleOverWindow(client: pg.Client, checks: readonly CheckDefinition[], context: QueryContext, versionNum: number, timeout: number, extra: Snapshot['extra']): Promise<void> {
  const sampled = checks
    .flatMap((check) => check.queries ?? [])
    .map((query) => ({ query, window: query.sampleOver?.(context) ?? null }))
    .filter((s): s is { query: CheckQuery; window: { windowMs: number; everyMs: number } } => s.window !== null && !(sampledName(s.query.name) in extra) && (s.query.when?.(context) ?? true));
  if (sampled.length === 0) return;
  const windowMs = Math.max(...sampled.map((s) => s.window.windowMs));
  const everyMs = Math.max(1, Math.min(...sampled.map((s) => s.window.everyMs)));
  if (windowMs + 1000 >= timeout) {
    throw new PreflightError(`sampling ${sampled.map((s) => s.query.name).join(', ')} for ${windowMs} ms does not fit in the ${timeout} ms left of --timeout: raise --timeout or shorten the sample`);
  }
  for (const { query } of sampled) extra[sampledName(query.name)] = [];
  const started = performance.now();
  for (let next = started; performance.now() - started < windowMs; next += everyMs) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else next = performance.now();
    for (const { query } of sampled) {
      const sql = sqlFor(query.sql, versionNum);
      const params = query.params?.(context) ?? [];
      let rows: Row[];
      if (params.length === 0) {
        const results = (await client.query(`SELECT pg_stat_clear_snapshot();\n${sql}`)) as unknown as pg.QueryResult<Row>[];
        rows = results[results.length - 1]?.rows ?? [];
      } else {
        await client.query('SELECT pg_stat_clear_snapshot()');
        rows = (await client.query<Row>(sql, params)).rows;
      }
      extra[sampledName(query.name)]?.push(...rows);
    }
  }
}

/** Opens the read-only transaction, takes the snapshot, and ends the transaction. */
export async function takeSnapshot(client: pg.Client, request: SnapshotRequest): Promise<Snapshot> {
  // SET LOCAL keeps every setting inside this transaction, so the checker behaves the
  // same through a transaction-pooling PgBouncer. The lock_timeout is a guard: none of
  // these reads should ever wait for a lock, and if one does it gives up fast.
  const timeout = Math.max(1, Math.floor(request.statementTimeoutMs));
  await client.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
     SET LOCAL statement_timeout = ${timeout};
     SET LOCAL lock_timeout = ${Math.min(timeout, 2000)};
     SET LOCAL idle_in_transaction_session_timeout = ${timeout + 1000}`,
  );
  try {
    await pinCatalogSearchPath(client);
    const server = await readServerInfo(client);
    const targets = await resolveTargets(client, request.tables);
    const relationOids = [...new Set(targets.flatMap((t) => t.relations.map((r) => r.oid)))];
    const { rows } = await client.query<Row>(ACTIVITY_AND_LOCKS_SQL, [relationOids]);
    const core = rows[0] ?? {};
    const extra: Snapshot['extra'] = {};
    const context: QueryContext = { targets, relationOids, options: request.options };
    for (const query of [...request.checks.flatMap((check) => check.queries ?? []), ...(request.queries ?? [])]) {
      if (query.name in extra || query.sampleOver || (query.when && !query.when(context))) continue;
      const result = await client.query<Row>(sqlFor(query.sql, server.versionNum), query.params?.(context) ?? []);
      extra[query.name] = result.rows;
    }
    const pauseStarted = performance.now();
    await sampleOverWindow(client, request.checks, context, server.versionNum, timeout, extra);
    for (const query of request.checks.flatMap((check) => check.queries ?? [])) {
      const pauseMs = query.resampleAfterMs?.(context) ?? null;
      if (pauseMs === null || resampledName(query.name) in extra || (query.when && !query.when(context))) continue;
      if (pauseMs + 1000 >= timeout) {
        throw new PreflightError(`reading ${query.name} twice ${pauseMs} ms apart does not fit in the ${timeout} ms left of --timeout: raise --timeout or shorten the sample`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pauseMs - (performance.now() - pauseStarted))));
      // Statistics views are cached for the rest of the transaction once read; clearing
      // the cache makes the second read see the counters as they are now
      // (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-STATS-VIEWS).
      await client.query('SELECT pg_stat_clear_snapshot()');
      const again = await client.query<Row>(sqlFor(query.sql, server.versionNum), query.params?.(context) ?? []);
      extra[resampledName(query.name)] = again.rows;
    }
    await client.query('COMMIT');
    return {
      server,
      targets,
      sessions: (core.sessions as Row[]).map(toSession),
      locks: (core.locks as Row[]).map(toLock),
      prepared: (core.prepared as Row[]).map(toPrepared),
      clientSessions: num(core.client_sessions ?? 0),
      extra,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

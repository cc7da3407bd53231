// All the reading a run does, in one read-only transaction on one connection: the
// server facts, the targets, one look at pg_locks + pg_stat_activity, and the extra
// catalog queries the selected checks declared. Checks then evaluate this snapshot.
//
// At network distance round trips are the cost, so the statements go out in batches
// (src/gate/batch.ts), at most two per look:
//   1. BEGIN, the SET LOCAL timeouts, the search_path pin, the server facts, and the
//      resolution of --table (the schema USAGE test, the targets with their partitions,
//      indexes and TOAST, and why a missing one is missing);
//   2. pg_locks + pg_stat_activity, every query the checks (and the caller) declared, COMMIT.
// A query's parameters and `when` may depend on the resolved targets, which is why the
// second batch waits for the first. When nothing depends on targets (no --table), or when a
// loop looks again on the same connection and assumes the targets of its last look
// (SnapshotMemory), both go out as one batch; the assumption is then checked against the
// targets this look resolved, and a look that assumed wrong is taken again from scratch.
// Version-specific SQL in a single batch uses the server_version reported at startup,
// checked the same way. `--sample` adds its second read after the pause: one more batch.
import type pg from 'pg';
import { resampledName, sampledName, type CheckDefinition, type CheckQuery, type QueryContext } from '../../checks/types.js';
import { reportedVersionNum, serverParameter } from '../core/connection.js';
import { PreflightError } from '../core/errors.js';
import { ACTIVITY_AND_LOCKS_SQL, PIN_CATALOG_SEARCH_PATH_SQL, SERVER_INFO_SQL, targetsSqlFor } from './snapshot.sql.js';
import { sqlFor } from '../core/sql-versions.js';
import { firstError, sendBatch, type Outcome, type Row, type Statement } from './batch.js';
import { anyQualified, missingTablesError, SCHEMA_USAGE_SQL, schemaUsageError, TABLE_DIAGNOSIS_SQL } from './table-access.js';
import type { LockRow, PreparedTransaction, RelationStats, ServerInfo, Session, Snapshot, TableRequest, Target, TargetRelation } from '../core/types.js';

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
  /** The analyzed --migration, for the queries that read the schema it names. */
  migration?: QueryContext['migration'];
}

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

function toStats(value: unknown): RelationStats | null {
  if (value === null || typeof value !== 'object') return null;
  const row = value as Row;
  return {
    live: num(row.live),
    dead: num(row.dead),
    inserted: num(row.inserted),
    updated: num(row.updated),
    deleted: num(row.deleted),
    tracked: typeof row.tracked === 'boolean' ? row.tracked : null,
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

/** Refuses a server the checker cannot judge: older than 14, or a standby. */
function assertCheckable(server: ServerInfo): void {
  if (versionSupport(server.versionNum) === 'unsupported') {
    throw new PreflightError(`PostgreSQL ${server.version} is not supported: pgpreflight supports PostgreSQL 14 to ${NEWEST_TESTED_MAJOR}. Upgrade the server, or check it by hand`);
  }
  if (server.inRecovery) {
    throw new PreflightError(`${server.database} on this server is a standby (in recovery): migrations run on the primary, so point --url at the primary`);
  }
}

function toTargets(rows: readonly Row[], tables: readonly TableRequest[]): Target[] {
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
        stats: toStats(rel.stats),
      }),
    );
    return {
      input: request.input,
      oid: num(r.oid),
      schema: String(r.schema),
      name: String(r.name),
      qualifiedName: String(r.qualified),
      relkind,
      lockMode: request.lockMode,
      relations,
      statsReset: r.stats_reset !== false,
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
 * longest window, inside the caller's transaction: one batch per tick. Each read clears
 * the statistics cache first, which a transaction otherwise keeps (pg_stat_clear_snapshot).
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
    // One round trip per tick for every sampled query, each read after clearing the cache.
    const outcomes = await sendBatch(
      client,
      sampled.flatMap(({ query }) => [{ text: 'SELECT pg_catalog.pg_stat_clear_snapshot()' }, { text: sqlFor(query.sql, versionNum), values: query.params?.(context) ?? [] }]),
    );
    throwFirstError(outcomes);
    sampled.forEach(({ query }, i) => extra[sampledName(query.name)]?.push(...rowsOf(outcomes[2 * i + 1])));
  }
}

/**
 * What a look on a kept connection remembers for the next one: the targets it resolved.
 * The next look assumes them, so that it needs a single batch (see the top of this file).
 */
export interface SnapshotMemory {
  targets?: readonly Target[];
  /** The --table requests those targets answer. */
  tablesKey?: string;
}

/** The one look at pg_locks and pg_stat_activity; its parameter is the relations the targets span. */
const ACTIVITY_QUERY: CheckQuery = { name: 'pgpreflight:activity-and-locks', sql: ACTIVITY_AND_LOCKS_SQL, params: (context) => [context.relationOids] };

/** A query as it will run: its text for this server and its parameters for these targets. */
interface PlannedQuery {
  query: CheckQuery;
  statement: Statement;
}

function contextOf(targets: readonly Target[], options: QueryContext['options'], migration?: QueryContext['migration']): QueryContext {
  return { targets, relationOids: [...new Set(targets.flatMap((t) => t.relations.map((r) => r.oid)))], options, ...(migration ? { migration } : {}) };
}

/** The queries to read, first the activity, then the checks' and the caller's in order; one per name, those whose `when` holds. */
function planQueries(queries: readonly CheckQuery[], context: QueryContext, versionNum: number): PlannedQuery[] {
  const planned: PlannedQuery[] = [];
  const names = new Set<string>();
  for (const query of [ACTIVITY_QUERY, ...queries]) {
    // A sampled query (sampleOver) is never read once: sampleOverWindow reads it.
    if (names.has(query.name) || query.sampleOver || (query.when && !query.when(context))) continue;
    names.add(query.name);
    planned.push({ query, statement: { text: sqlFor(query.sql, versionNum), values: query.params?.(context) ?? [] } });
  }
  return planned;
}

/** Whether two plans would send exactly the same statements. */
function samePlan(a: readonly PlannedQuery[], b: readonly PlannedQuery[]): boolean {
  return (
    a.length === b.length &&
    a.every((p, i) => p.query.name === b[i]?.query.name && p.statement.text === b[i]?.statement.text && JSON.stringify(p.statement.values) === JSON.stringify(b[i]?.statement.values))
  );
}

function tablesKeyOf(tables: readonly TableRequest[]): string {
  return JSON.stringify(tables.map((t) => [t.canonical, t.lockMode]));
}

/** The statements that open the look: the transaction, its timeouts, the pinned search_path, the server facts. One simple Query. */
function openingSql(timeoutMs: number): string {
  // SET LOCAL keeps every setting inside this transaction, so the checker behaves the
  // same through a transaction-pooling PgBouncer. The lock_timeout is a guard: none of
  // these reads should ever wait for a lock, and if one does it gives up fast.
  // pinCatalogSearchPath explains the pin; everything after it sees pg_catalog first.
  return [
    'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
    `SET LOCAL statement_timeout = ${timeoutMs}`,
    `SET LOCAL lock_timeout = ${Math.min(timeoutMs, 2000)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${timeoutMs + 1000}`,
    PIN_CATALOG_SEARCH_PATH_SQL.trim(),
    SERVER_INFO_SQL.trim(),
  ].join(';\n');
}

/** Throws the first real error among a batch's outcomes (not the "transaction is aborted" ones after it). */
function throwFirstError(outcomes: readonly Outcome[]): void {
  const error = firstError(outcomes);
  if (error !== undefined) throw error;
}

const rowsOf = (outcome: Outcome | undefined): Row[] => (outcome?.ok ? outcome.rows : []);

/** The rows of a query's outcome; its error when it failed. */
function rowsOrThrow(outcome: Outcome | undefined): Row[] {
  if (!outcome) throw new PreflightError('the server answered fewer statements than were sent');
  if (!outcome.ok) throw outcome.error;
  return outcome.rows;
}

/**
 * Opens the read-only transaction, takes the snapshot, and ends the transaction: one or
 * two batches (three with --sample). `memory` carries the targets between the looks of a
 * loop on one connection.
 */
export async function takeSnapshot(client: pg.Client, request: SnapshotRequest, memory?: SnapshotMemory): Promise<Snapshot> {
  return look(client, request, memory, true);
}

async function look(client: pg.Client, request: SnapshotRequest, memory: SnapshotMemory | undefined, mayAssume: boolean): Promise<Snapshot> {
  const timeout = Math.max(1, Math.floor(request.statementTimeoutMs));
  const queries = [...request.checks.flatMap((check) => check.queries ?? []), ...(request.queries ?? [])];
  const tablesKey = tablesKeyOf(request.tables);
  const reportedVersion = reportedVersionNum(client);
  // What the single batch assumes about the targets: none (no --table), or the last look's.
  const assumed =
    !mayAssume || reportedVersion === undefined
      ? undefined
      : request.tables.length === 0
        ? contextOf([], request.options, request.migration)
        : memory?.targets !== undefined && memory.tablesKey === tablesKey
          ? contextOf(memory.targets, request.options, request.migration)
          : undefined;
  if (memory) memory.targets = undefined;
  // Whether the transaction stays open after the reads: a check samples over a window or reads twice.
  const resampling = (context: QueryContext): boolean =>
    request.checks.some((c) => (c.queries ?? []).some((q) => ((q.resampleAfterMs?.(context) ?? null) !== null || (q.sampleOver?.(context) ?? null) !== null) && (!q.when || q.when(context))));
  let open = true;
  try {
    const first: Statement[] = [{ text: openingSql(timeout) }];
    const tableValues = [request.tables.map((t) => t.canonical)];
    let usageAt = -1;
    let targetsAt = -1;
    if (request.tables.length > 0) {
      if (anyQualified(request.tables)) usageAt = first.push({ text: SCHEMA_USAGE_SQL, values: tableValues }) - 1;
      targetsAt = first.push({ text: targetsSqlFor(reportedVersion, serverParameter(client, 'is_superuser') === 'on'), values: tableValues }) - 1;
      first.push({ text: TABLE_DIAGNOSIS_SQL, values: tableValues });
    }
    const guessed = assumed && reportedVersion !== undefined ? planQueries(queries, assumed, reportedVersion) : undefined;
    const guessedFrom = first.length;
    const closesFirst = guessed !== undefined && assumed !== undefined && !resampling(assumed);
    if (guessed) first.push(...guessed.map((p) => p.statement));
    if (closesFirst) first.push({ text: 'COMMIT' });
    const outcomes = await sendBatch(client, first);
    if (closesFirst) open = false;

    const opening = outcomes[0] as Outcome;
    if (!opening.ok) throw opening.error;
    const serverRow = opening.rows[0];
    if (!serverRow) throw new PreflightError('the server returned no row for the current role');
    const server = toServerInfo(serverRow);
    assertCheckable(server);
    let targets: Target[] = [];
    if (request.tables.length > 0) {
      const usage = schemaUsageError(rowsOf(outcomes[usageAt]), request.tables);
      if (usage) throw usage;
      const targetRows = rowsOrThrow(outcomes[targetsAt]);
      // A table the migration itself creates is only a target when it already exists.
      const missing = targetRows.filter((r) => r.oid === null && request.tables[num(r.ord) - 1]?.ifExists !== true).map((r) => request.tables[num(r.ord) - 1] as TableRequest);
      if (missing.length > 0) throw missingTablesError(missing, request.tables, rowsOf(outcomes[targetsAt + 1]));
      // A relation a migration only reads may be a view or a sequence: nothing to gate there.
      const gated = targetRows.filter((r) => r.oid !== null && !(request.tables[num(r.ord) - 1]?.fromMigration === true && !['r', 'p', 'm', 'f'].includes(String(r.relkind))));
      targets = toTargets(gated, request.tables);
    }
    const context = contextOf(targets, request.options, request.migration);
    const planned = planQueries(queries, context, server.versionNum);

    let results: Outcome[];
    if (guessed && samePlan(guessed, planned)) {
      results = outcomes.slice(guessedFrom, guessedFrom + guessed.length);
    } else {
      if (guessed) {
        // The targets or the version differ from what the batch assumed: look again, from scratch.
        if (open) await client.query('ROLLBACK');
        open = false;
        return await look(client, request, memory, false);
      }
      const closes = !resampling(context);
      results = await sendBatch(client, [...planned.map((p) => p.statement), ...(closes ? [{ text: 'COMMIT' }] : [])]);
      if (closes) open = false;
    }
    throwFirstError(results);
    const extra: Snapshot['extra'] = {};
    planned.forEach((p, i) => {
      if (p.query !== ACTIVITY_QUERY) extra[p.query.name] = rowsOf(results[i]);
    });
    const core = rowsOf(results[0])[0] ?? {};

    const pauseStarted = performance.now();
    if (open) await sampleOverWindow(client, request.checks, context, server.versionNum, timeout, extra);
    const again = open ? planned.filter((p) => (p.query.resampleAfterMs?.(context) ?? null) !== null && request.checks.some((c) => c.queries?.includes(p.query))) : [];
    if (open && again.length === 0) {
      throwFirstError(await sendBatch(client, [{ text: 'COMMIT' }]));
      open = false;
    }
    if (open) {
      const pauseMs = Math.max(...again.map((p) => p.query.resampleAfterMs?.(context) ?? 0));
      const sampled = again.find((p) => (p.query.resampleAfterMs?.(context) ?? 0) === pauseMs);
      if (pauseMs + 1000 >= timeout) {
        throw new PreflightError(`reading ${sampled?.query.name ?? 'a query'} twice ${pauseMs} ms apart does not fit in the ${timeout} ms left of --timeout: raise --timeout or shorten the sample`);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, pauseMs - (performance.now() - pauseStarted))));
      // Statistics views are cached for the rest of the transaction once read; clearing
      // the cache makes the second read see the counters as they are now
      // (https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-STATS-VIEWS).
      const second = await sendBatch(client, [{ text: 'SELECT pg_stat_clear_snapshot()' }, ...again.map((p) => p.statement), { text: 'COMMIT' }]);
      open = false;
      throwFirstError(second);
      again.forEach((p, i) => {
        extra[resampledName(p.query.name)] = rowsOf(second[i + 1]);
      });
    }
    if (memory) {
      memory.targets = targets;
      memory.tablesKey = tablesKey;
    }
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
    if (open) await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

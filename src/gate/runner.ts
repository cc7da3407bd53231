// One run: connect, snapshot, evaluate the selected checks, aggregate the verdict.
// Policy lives here (exit codes, --fail-on); reporters only format what it returns.
import type { CheckDefinition, MigrationSession } from '../../checks/types.js';
import type { ConnectionSpec } from '../core/connection.js';
import { describeConnectionError, PreflightError } from '../core/errors.js';
import { canonicalName, parseQualifiedName, quoteIdentifier } from '../core/identifiers.js';
import { overridesByTable, TABLE_OVERRIDES_QUERY } from './table-access.js';
import type { MigrationAnalysis } from '../migration/index.js';
import type { CheckOptionValues } from './check-options.js';
import { KeptConnections } from './connections.js';
import { takeReplicaSnapshot } from './replica-snapshot.js';
import { NEWEST_TESTED_MAJOR, takeSnapshot, versionSupport, type TableRequest } from './snapshot.js';
import { BLOCKING_TREE_QUERIES, buildBlockingTree } from '../incident/blocking-tree.js';
import { checksByPid, rootCausesOf, withoutWaiterFixes } from '../incident/root-causes.js';
import type { CheckResult, Report, RootCause, Snapshot, Status, Target } from '../core/types.js';
import { worstStatus } from '../core/types.js';

export const APPLICATION_NAME = 'pgpreflight';

export interface RunRequest {
  connection: ConnectionSpec;
  tables: readonly TableRequest[];
  checks: readonly CheckDefinition[];
  options: CheckOptionValues;
  /** Per-table option overrides by table name as the configuration file writes it, by check id; each must name a table. */
  tableOptions?: Readonly<Record<string, CheckOptionValues>>;
  /** Whole budget for connect and every query. */
  timeoutMs: number;
  concurrently?: boolean;
  /** The analyzed --migration statements, for the migration-risk check. */
  migration?: MigrationAnalysis;
  /** --replica-url standbys of this primary, read after it for the checks that use them. */
  replicas?: readonly ConnectionSpec[];
  /** Settings `run` gives the migration's session: the gate judges that session. */
  migrationSession?: MigrationSession;
  /** Connections kept open across runs (--wait's attempts); absent: one connection, closed after the run. */
  connections?: KeptConnections;
}

export interface RunResult {
  report: Report;
  snapshot: Snapshot;
}

/** A per-table override's name as the server resolves it (validated when the file was read). */
function canonicalOverrideName(key: string): string {
  const parsed = parseQualifiedName(key);
  return typeof parsed === 'string' ? quoteIdentifier(key) : canonicalName(parsed);
}
/** Checks that only look at the targets: with no target (a migration that only creates new relations) they have nothing to say. */
const TARGET_CHECKS: ReadonlySet<string> = new Set(['ddl-in-progress', 'idle-in-transaction', 'invalid-indexes', 'locks', 'long-running-queries', 'table-size', 'traffic']);

export function evaluateChecks(snapshot: Snapshot, request: Pick<RunRequest, 'checks' | 'options' | 'tableOptions' | 'concurrently' | 'migration' | 'migrationSession'>): CheckResult[] {
  return request.checks.map((check) => {
    if (snapshot.targets.length === 0 && request.migration && TARGET_CHECKS.has(check.id)) {
      return { id: check.id, title: check.title, status: 'skip' as Status, summary: 'no existing table to gate: the migration only touches relations it creates', findings: [] };
    }
    const options = request.options[check.id] ?? {};
    const optionsFor = (target: Target): Record<string, number | null> => {
      const override = request.tableOptions?.[target.qualifiedName]?.[check.id];
      return override ? { ...options, ...override } : options;
    };
    try {
      const outcome = check.evaluate(snapshot, { options, optionsFor, concurrently: request.concurrently ?? false, migration: request.migration, migrationSession: request.migrationSession });
      return { id: check.id, title: check.title, ...outcome };
    } catch (error) {
      return { id: check.id, title: check.title, status: 'error' as Status, summary: `the check failed to evaluate: ${(error as Error).message}`, findings: [] };
    }
  });
}

/**
 * The root blockers of the queues on the targets (none without a target), each session with
 * the checks that flagged it; waiting sessions lose their own fix to their root's.
 */
export function attributeRootCauses(snapshot: Snapshot, evaluated: CheckResult[]): { checks: CheckResult[]; rootCauses: RootCause[] } {
  if (snapshot.targets.length === 0) return { checks: evaluated, rootCauses: [] };
  const flagged = checksByPid(evaluated);
  const rootCauses = rootCausesOf(buildBlockingTree(snapshot).roots, (pid) => flagged.get(pid) ?? []);
  return { checks: withoutWaiterFixes(evaluated, rootCauses), rootCauses };
}

/** Runs the gate once. Throws PreflightError (exit 2) when it cannot look. */
export async function runOnce(request: RunRequest): Promise<RunResult> {
  const started = performance.now();
  const deadline = Date.now() + request.timeoutMs;
  const connections = request.connections ?? new KeptConnections(APPLICATION_NAME);
  try {
    const overrideKeys = Object.keys(request.tableOptions ?? {});
    const snapshot = await connections.look(request.connection, { timeoutMs: request.timeoutMs, deadline }, (client, memory) =>
      takeSnapshot(
        client,
        {
          tables: request.tables,
          checks: request.checks,
          options: request.options,
          statementTimeoutMs: Math.max(100, deadline - Date.now()),
          queries: [...BLOCKING_TREE_QUERIES, ...(overrideKeys.length === 0 ? [] : [{ ...TABLE_OVERRIDES_QUERY, params: () => [overrideKeys, overrideKeys.map(canonicalOverrideName)] }])],
          ...(request.migration ? { migration: request.migration } : {}),
        },
        memory,
      ),
    );
    // A single run is done with the server: say goodbye now, and do not wait for the
    // socket to close (a round trip) before evaluating and rendering.
    if (!request.connections) void connections.close({ detach: true });
    if (request.replicas && request.replicas.length > 0 && request.checks.some((c) => c.usesReplicas)) {
      const relationOids = [...new Set(snapshot.targets.flatMap((t) => t.relations.map((r) => r.oid)))];
      snapshot.replicas = await Promise.all(request.replicas.map((spec) => takeReplicaSnapshot(spec, { relationOids, deadline, applicationName: APPLICATION_NAME })));
    }
    const tableOptions =
      overrideKeys.length === 0
        ? undefined
        : overridesByTable(request.tableOptions ?? {}, snapshot.extra[TABLE_OVERRIDES_QUERY.name] ?? [], (oid) => snapshot.targets.find((t) => t.oid === oid)?.qualifiedName, request.connection.display);
    const { checks, rootCauses } = attributeRootCauses(snapshot, evaluateChecks(snapshot, { ...request, tableOptions }));
    const notes: string[] = [];
    if (versionSupport(snapshot.server.versionNum) === 'untested') {
      notes.push(`PostgreSQL ${snapshot.server.version} is newer than the newest tested major (${NEWEST_TESTED_MAJOR}); results may miss catalog changes`);
    }
    if (!snapshot.server.canReadAllStats && snapshot.sessions.some((s) => s.hidden)) {
      notes.push(`${snapshot.sessions.filter((s) => s.hidden).length} session(s) of other roles are hidden from ${snapshot.server.currentUser}: grant pg_monitor for a complete view`);
    }
    const report: Report = {
      verdict: worstStatus(checks.map((c) => c.status)),
      server: {
        version: snapshot.server.version,
        versionNum: snapshot.server.versionNum,
        database: snapshot.server.database,
        user: snapshot.server.currentUser,
        canReadAllStats: snapshot.server.canReadAllStats,
        address: request.connection.display,
      },
      targets: snapshot.targets.map((t) => ({ input: t.input, name: t.qualifiedName, oid: t.oid, lockMode: t.lockMode, relations: t.relations.length })),
      checks,
      rootCauses,
      notes,
      durationMs: Math.round(performance.now() - started),
    };
    return { report, snapshot };
  } catch (error) {
    throw describeConnectionError(error, request.connection.display, request.connection.user);
  } finally {
    if (!request.connections) void connections.close({ detach: true });
  }
}

export type FailOn = 'fail' | 'warn';

/**
 * A run's exit code from its verdict: like exitCodeFor, except that `skip` (every selected
 * check skipped itself, or none was selected) is 2: nothing was evaluated, so the gate
 * stays closed. exitCodeFor stays per check, where a skipped check blocks nothing.
 */
export function verdictExitCode(verdict: Status, failOn: FailOn = 'fail'): number {
  return verdict === 'skip' ? 2 : exitCodeFor(verdict, failOn);
}

/** 0: pass or warn; 1: a check failed (deploy blocked); 2: could not evaluate. */
export function exitCodeFor(verdict: Status, failOn: FailOn = 'fail'): number {
  if (verdict === 'error') return 2;
  if (verdict === 'fail') return 1;
  if (verdict === 'warn' && failOn === 'warn') return 1;
  return 0;
}

// One gate over several databases (a primary per shard, a fleet): each is checked with
// runOnce, a bounded number at a time, and the verdict is the worst across them.
// Policy lives here: which database blocks, what an unreachable one means (error, unless
// the config marks it optional) and which failures are worth retrying. Reporters only
// format the GateReport this returns.
import type { ConnectionSpec } from '../core/connection.js';
import { PreflightError } from '../core/errors.js';
import { ownVersion } from '../core/version.js';
import { exitCodeFor, verdictExitCode, runOnce, type FailOn, type RunRequest } from './runner.js';
import type { Report, Status } from '../core/types.js';
import { worstStatus } from '../core/types.js';

export interface GateDatabase {
  /** Shown in every output: the config's name, or host:port/database for --url. */
  name: string;
  connection: ConnectionSpec;
  /** An unreachable optional database is reported but does not close the gate. */
  optional: boolean;
  /** Why it cannot be checked at all (its URL variable is unset); it is then not contacted. */
  unavailable?: string;
  /** Its hot standbys (--replica-url), read after it. */
  replicas?: readonly ConnectionSpec[];
}

export interface DatabaseSection {
  name: string;
  /** user@host:port/database as connected to: never the password. */
  address: string;
  optional: boolean;
  /** This database's verdict; `error` when it could not be checked. */
  verdict: Status;
  /** The exit code this database alone would give. */
  exitCode: number;
  /** Ids of the checks whose status blocks the deploy under --fail-on. */
  blocking: string[];
  /** Null when the database could not be checked (see error). */
  report: Report | null;
  /** One line for people when it could not be checked. */
  error: string | null;
  /** The failure was transient (refused, reset, timed out, starting up): worth retrying. */
  retryable: boolean;
}

/** The version of the JSON document; version 1 (a Report for one database, a GateReport for several) is documented in docs/json.md. */
export const REPORT_VERSION = 2;

/**
 * The JSON document of a gate run, one shape for one or many databases (docs/json.md,
 * schema/report.schema.json): what `check --format json` prints and --report-file writes.
 */
export interface GateReport {
  version: typeof REPORT_VERSION;
  /** pgpreflight's own version. */
  pgpreflight: string;
  /** When the run finished (ISO 8601, UTC). */
  generatedAt: string;
  verdict: Status;
  /** The exit code of the run: 0 open, 1 blocked, 2 could not check. */
  exitCode: number;
  /** The lowest status that blocks (exit 1). */
  failOn: FailOn;
  /** Names of the databases that close the gate. */
  blockedBy: string[];
  databases: DatabaseSection[];
  durationMs: number;
}

/** The document's header: version, pgpreflight's version and the time. */
export function documentHeader(): Pick<GateReport, 'version' | 'pgpreflight' | 'generatedAt'> {
  return { version: REPORT_VERSION, pgpreflight: ownVersion(), generatedAt: new Date().toISOString() };
}

export interface GateResult {
  gate: GateReport;
  exitCode: number;
  /** Worth another attempt with --wait: it blocks only on findings or transient failures. */
  retryable: boolean;
}

export type GateRequest = Omit<RunRequest, 'connection'> & {
  databases: readonly GateDatabase[];
  failOn: FailOn;
  /** How many databases are checked at the same time. */
  concurrency: number;
};

// Error codes that say "try again shortly" rather than "fix your input":
// node's socket errors and PostgreSQL's admin-shutdown / cannot-connect-now / too-many-connections
// classes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EPIPE', '57P01', '57P02', '57P03', '53300', '57014', '55P03']);

/** Whether a failure to check is worth retrying: connection trouble, not bad input or auth. */
export function isTransientError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
    if (typeof message === 'string' && /Connection terminated|timeout expired|did not answer/i.test(message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Runs items with at most `limit` in flight, keeping their order in the result. */
async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

async function checkDatabase(database: GateDatabase, request: GateRequest): Promise<DatabaseSection> {
  const base = { name: database.name, address: database.connection.display, optional: database.optional };
  if (database.unavailable !== undefined) {
    return { ...base, verdict: 'error', exitCode: 2, blocking: [], report: null, error: database.unavailable, retryable: false };
  }
  try {
    const { report } = await runOnce({ ...request, connection: database.connection, replicas: database.replicas });
    const exitCode = verdictExitCode(report.verdict, request.failOn);
    const blocking = report.checks.filter((c) => exitCodeFor(c.status, request.failOn) !== 0).map((c) => c.id);
    // Another look helps only when a blocking check can change while we wait: not a table's
    // size, a role's settings or the migration's own statements.
    // A verdict of skip (nothing evaluated) blocks with no blocking check: another look evaluates nothing either.
    const retryable = exitCode === 0 || blocking.some((id) => request.checks.find((c) => c.id === id)?.unchangedByWaiting !== true);
    return { ...base, verdict: report.verdict, exitCode, blocking, report, error: null, retryable };
  } catch (error) {
    if (!(error instanceof PreflightError)) throw error;
    return { ...base, verdict: 'error', exitCode: 2, blocking: [], report: null, error: error.message, retryable: isTransientError(error) };
  }
}

/** Checks every database and decides the gate's verdict. */
export async function runGate(request: GateRequest): Promise<GateResult> {
  const started = performance.now();
  const sections = await mapBounded(request.databases, request.concurrency, (db) => checkDatabase(db, request));
  const counted = sections.filter((s) => !(s.optional && s.report === null));
  // Nothing checked at all (every database optional and unreachable) must not open the gate.
  const verdict: Status = counted.length === 0 ? 'error' : worstStatus(counted.map((s) => s.verdict));
  const blockedBy = counted.filter((s) => s.exitCode !== 0).map((s) => s.name);
  const exitCode = verdictExitCode(verdict, request.failOn);
  const closing = counted.length === 0 ? sections : counted.filter((s) => s.exitCode !== 0);
  const retryable = closing.every((s) => s.retryable);
  return {
    gate: { ...documentHeader(), verdict, exitCode, failOn: request.failOn, blockedBy, databases: sections, durationMs: Math.round(performance.now() - started) },
    exitCode,
    retryable,
  };
}

/** Every secret of every database, to redact all output with. */
export function secretsOf(databases: readonly GateDatabase[]): string[] {
  return databases.flatMap((d) => [...d.connection.secrets, ...(d.replicas ?? []).flatMap((r) => r.secrets)]);
}

/**
 * One database's Report as a one-section gate, for a caller with a plain Report (run's guard,
 * the demo). The run's exit code tells whether warnings blocked (--fail-on warn): 1 on a warn verdict.
 */
export function gateOfReport(report: Report, exitCode: number): GateReport {
  const failOn: FailOn = report.verdict === 'warn' && exitCode === 1 ? 'warn' : 'fail';
  const blocking = report.checks.filter((c) => exitCodeFor(c.status, failOn) !== 0).map((c) => c.id);
  const name = report.server ? report.server.database : 'database';
  return {
    ...documentHeader(),
    verdict: report.verdict,
    exitCode,
    failOn,
    blockedBy: exitCode === 0 ? [] : [name],
    databases: [
      {
        name,
        address: report.server ? report.server.address : name,
        optional: false,
        verdict: report.verdict,
        exitCode,
        blocking,
        report,
        error: null,
        retryable: true,
      },
    ],
    durationMs: report.durationMs,
  };
}

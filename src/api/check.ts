// The gate as one function: settings (flags > environment > config file > defaults),
// the migration's analysis, one or several databases, --wait. `pgpreflight check` and
// the library's check() both run runCheck(); they differ only in what they do with the
// result (the CLI formats and writes it, the library returns it).
import { loadConfig } from '../config/config-file.js';
import { optionValuesOf, resolveSettings, type Settings } from '../config/settings.js';
import { PreflightError, redact } from '../core/errors.js';
import type { Report, Status } from '../core/types.js';
import { runGate, secretsOf, type GateReport, type GateResult } from '../gate/gate.js';
import { KeptConnections } from '../gate/connections.js';
import { APPLICATION_NAME, verdictExitCode, type FailOn } from '../gate/runner.js';
import { waitForClearWindow } from '../gate/wait.js';
import type { ReporterName } from '../reporters/index.js';
import { parseTables } from '../core/identifiers.js';
import { didYouMean } from '../core/text.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What runCheck reads: the CLI's parsed flags (keyed by flag name) and its environment. */
export interface CheckRun {
  /** Flags by name, as yargs gives them: url, table, migration, offline, lock-mode, lock-fail, ... */
  args: Record<string, unknown>;
  env: Env;
  /** Where `--migration -` reads from. */
  stdin?: NodeJS.ReadableStream;
  /** Config file: undefined searches as the CLI does (--config, PGPREFLIGHT_CONFIG, then upwards); null uses none. */
  config?: null;
  /** Stops a --wait at once. */
  signal?: AbortSignal;
  /** One line per --wait attempt, already redacted. */
  log?: (line: string) => void;
  /** Wraps the single look of a run without --wait (the CLI shows a spinner for the table format). */
  around?: <T>(work: () => Promise<T>, context: { label: string; format: ReporterName }) => Promise<T>;
}

export type CheckRunResult =
  /** --offline: the migration's static verdict, no server contacted. */
  | { kind: 'offline'; report: Report; gate: GateReport; exitCode: number; settings: Settings; secrets: string[] }
  | { kind: 'gate'; gate: GateReport; exitCode: number; settings: Settings; secrets: string[] }
  /** The signal stopped a --wait; the gate stays closed. */
  | { kind: 'interrupted'; attempts: number; settings: Settings; secrets: string[] };

/** The configuration file in effect: --config, PGPREFLIGHT_CONFIG, or the usual search from the working directory. */
export async function loadCheckConfig(args: Record<string, unknown>, env: Env): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const explicit = (args.config as string | undefined) ?? (env.PGPREFLIGHT_CONFIG || undefined);
  return loadConfig(explicit === undefined ? {} : { explicitPath: explicit });
}

/** Runs the gate the way `pgpreflight check` does. Throws PreflightError (exit 2) on bad input. */
export async function runCheck(run: CheckRun): Promise<CheckRunResult> {
  const config = run.config === null ? null : await loadCheckConfig(run.args, run.env);
  const settings = resolveSettings({ args: run.args, env: run.env, config });
  let secrets: string[] = [];
  try {
    const migrationPaths = listOfPaths(run.args.migration);
    // The parser (WASM) loads only when a migration is given.
    const migrationModule = migrationPaths.length > 0 ? await import('../migration/index.js') : undefined;
    const history = listOfPaths(run.args.history);
    if (!migrationModule && (run.args.runner !== undefined || run.args['in-transaction'] !== undefined || run.args.since !== undefined || history.length > 0)) {
      throw new PreflightError('--runner, --in-transaction, --since and --history describe a migration: pass it with --migration <file or directory>');
    }
    if (!migrationModule && run.args.trace === true) throw new PreflightError('--trace needs --migration <file or directory>: it runs that migration on a throwaway server');
    const migrationOptions = {
      ...(run.args.runner !== undefined ? { runner: String(run.args.runner) } : {}),
      ...(run.args['in-transaction'] === true ? { inTransaction: true } : {}),
      ...(run.args.since !== undefined ? { since: String(run.args.since) } : {}),
      history,
    };
    const analysed = migrationModule ? await migrationModule.analyzeMigrations(migrationPaths, { ...(run.stdin ? { stdin: run.stdin } : {}), ...migrationOptions }) : undefined;
    // --trace: the statements judged by what they did on a throwaway server (src/trace/).
    const migration = analysed && run.args.trace === true ? await (await import('../trace/index.js')).traceAnalysis(analysed, migrationPaths, migrationOptions) : analysed;
    // A gate with no table to look at and no statement to judge has looked at nothing.
    if (migration && migration.statements.every((s) => ['VariableSetStmt', 'VariableShowStmt', 'TransactionStmt'].includes(s.nodeType)) && listOfTables(run.args.table).length === 0) {
      throw new PreflightError(`--migration ${migrationPaths.join(' ')}: no statement to judge (${migration.files.length} file(s), ${migration.statements.length} statement(s), all SET or transaction control) and no --table: there is nothing for the gate to look at`);
    }
    if (run.args.offline === true) {
      if (!migration) throw new PreflightError('--offline needs --migration <file.sql>: it analyzes the migration without a server');
      const { offlineGate, offlineReport } = await import('../gate/offline.js');
      const report = offlineReport(migration);
      const exitCode = verdictExitCode(report.verdict, settings.failOn.value);
      return { kind: 'offline', report, gate: offlineGate(report, exitCode), exitCode, settings, secrets };
    }
    const databases = settings.databases.value;
    secrets = secretsOf(databases);
    const given = parseTables(listOfTables(run.args.table), settings.lockMode.value);
    const tables = migrationModule && migration ? migrationModule.mergeTableRequests(given, migration.tables) : given;
    if (tables.length === 0 && !migration) throw new PreflightError('no table to check: pass --table <name> (repeatable), e.g. --table orders');
    // --wait looks again and again: on connections kept open between the attempts.
    const connections = settings.waitMs.value > 0 ? new KeptConnections(APPLICATION_NAME) : undefined;
    const attempt = (): Promise<GateResult> =>
      runGate({
        connections,
        databases,
        tables,
        checks: settings.checks.value,
        options: optionValuesOf(settings),
        tableOptions: settings.tableOptions,
        timeoutMs: settings.timeoutMs.value,
        concurrently: run.args.concurrently === true || migration?.concurrently === true,
        migration,
        failOn: settings.failOn.value,
        concurrency: settings.concurrency.value,
      });
    if (settings.waitMs.value <= 0) {
      const label = `Inspecting ${databases.map((d) => d.connection.display).join(', ')}`;
      const { gate, exitCode } = await (run.around ? run.around(attempt, { label, format: settings.format.value }) : attempt());
      return { kind: 'gate', gate, exitCode, settings, secrets };
    }
    const outcome = await waitForClearWindow({
      waitMs: settings.waitMs.value,
      maxIntervalMs: settings.waitMaxIntervalMs.value,
      signal: run.signal ?? new AbortController().signal,
      attempt,
      log: (line) => run.log?.(redact(line, secrets)),
    }).finally(() => void connections?.close({ detach: true }));
    if (outcome.kind === 'interrupted') return { kind: 'interrupted', attempts: outcome.attempts, settings, secrets };
    return { kind: 'gate', gate: outcome.result.gate, exitCode: outcome.result.exitCode, settings, secrets };
  } catch (error) {
    // Config-named databases' URLs are not known to the caller: redact them here.
    if (error instanceof PreflightError) throw new PreflightError(redact(error.message, secrets), { cause: error.cause });
    throw error;
  }
}

function listOfPaths(value: unknown): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);
}

/** --table is repeatable and comma-separable. */
function listOfTables(value: unknown): string[] {
  return listOfPaths(value)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

// ---- The library's check() -------------------------------------------------------------

export interface CheckOptions {
  /** Connection URL(s); several are checked concurrently and the worst verdict wins. Default: DATABASE_URL, the config file's databases, then PGHOST/PGUSER/... and ~/.pgpass. */
  url?: string | readonly string[];
  /** Tables the migration alters: `orders`, `billing.invoices`, `'"Orders"'`. Optional when `migration` is given. */
  tables?: readonly string[];
  /** Migration .sql files or directories (their migrations in their tool's order, as check --migration <dir> reads them): tables and lock modes come from PostgreSQL's parser. */
  migration?: string | readonly string[];
  /** With `migration`: static analysis only, no server contacted. */
  offline?: boolean;
  /** Hot standbys of the one database checked, read-only (`--replica-url`): see docs/replication.md. */
  replicaUrl?: string | readonly string[];
  /** The lock the migration takes on `tables` (default AccessExclusiveLock). */
  lockMode?: string;
  /** The migration builds an index CONCURRENTLY. */
  concurrently?: boolean;
  /** Check ids to run, or to skip. */
  only?: readonly string[];
  skip?: readonly string[];
  /** Thresholds by their CLI flag name: `{ 'lock-fail': '2s', 'size-fail': '10GB' }` (an old spelling such as `max-size` works too). */
  thresholds?: Readonly<Record<string, string | number>>;
  /** Lowest status that blocks (exitCode 1): `fail` (default) or `warn`. */
  failOn?: FailOn;
  /** Budget for connecting and every query, per attempt, e.g. `10s`. */
  timeout?: string;
  /** When the gate blocks, look again with backoff for up to this long, e.g. `5m`. */
  wait?: string;
  waitMaxInterval?: string;
  /** How many databases are checked at the same time. */
  concurrency?: number;
  /** A configuration file's path; `false` reads none. Default: the CLI's search from the working directory. */
  config?: string | false;
  /** Environment for DATABASE_URL, PG* and PGPREFLIGHT_* settings. Default: process.env. */
  env?: Env;
  /** Aborts a `wait`: check() then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Receives one line per `wait` attempt. */
  onAttempt?: (line: string) => void;
}

export interface CheckOutcome {
  /** The worst status: pass, warn, fail, error, or skip when every check was skipped. */
  verdict: Status;
  /** What the CLI exits with: 0 open, 1 blocked, 2 could not check a database. */
  exitCode: number;
  /** True only when the gate is open (exitCode 0). */
  ok: boolean;
  /** The document `--format json` prints (version 2): one section per database, each with its Report. */
  report: GateReport;
  /** @deprecated The same document as `report` (version 1 kept the GateReport here). */
  gate: GateReport;
  /** Check ids that block; `database:check` with several databases. */
  blocking: string[];
}

const OPTION_FLAGS: Readonly<Record<string, string>> = {
  url: 'url',
  tables: 'table',
  migration: 'migration',
  offline: 'offline',
  replicaUrl: 'replica-url',
  lockMode: 'lock-mode',
  concurrently: 'concurrently',
  only: 'only',
  skip: 'skip',
  failOn: 'fail-on',
  timeout: 'timeout',
  wait: 'wait',
  waitMaxInterval: 'wait-max-interval',
  concurrency: 'parallel',
};

async function argsOf(options: CheckOptions): Promise<Record<string, unknown>> {
  const args: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(OPTION_FLAGS)) {
    const value = options[key as keyof CheckOptions];
    if (value === undefined) continue;
    args[flag] = Array.isArray(value) ? [...(value as readonly unknown[])] : typeof value === 'number' ? String(value) : value;
  }
  if (typeof options.config === 'string') args.config = options.config;
  if (options.thresholds) {
    const { CHECKS } = await import('../../checks/index.js');
    const specs = CHECKS.flatMap((c) => Object.values(c.options));
    const flags = specs.map((o) => o.flag);
    for (const [given, value] of Object.entries(options.thresholds)) {
      const flag = specs.find((o) => o.flag === given || o.formerly === given)?.flag;
      if (flag === undefined) throw new PreflightError(`unknown threshold "${given}"${didYouMean(given, flags)}: the thresholds are ${flags.join(', ')}`);
      args[flag] = String(value);
    }
  }
  return args;
}

function outcomeOf(gate: GateReport, exitCode: number): CheckOutcome {
  const several = gate.databases.length > 1;
  return {
    verdict: gate.verdict,
    exitCode,
    ok: exitCode === 0,
    report: gate,
    gate,
    blocking: gate.databases.flatMap((db) => db.blocking.map((id) => (several ? `${db.name}:${id}` : id))),
  };
}

/**
 * Runs the gate once (or, with `wait`, until it opens or the time is up), exactly as
 * `pgpreflight check --format json` does. Resolves for every verdict that comes with a
 * report; rejects with a PreflightError (exitCode 2) when nothing could be checked: bad
 * options, or the only database unreachable.
 */
export async function check(options: CheckOptions = {}): Promise<CheckOutcome> {
  const env = options.env ?? process.env;
  const result = await runCheck({
    args: await argsOf(options),
    env: { ...env, GITHUB_ACTIONS: undefined },
    ...(options.config === false ? { config: null } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onAttempt ? { log: options.onAttempt } : {}),
  });
  if (result.kind === 'interrupted') throw options.signal?.reason ?? new PreflightError('interrupted while waiting: the gate stays closed');
  if (result.kind === 'offline') return outcomeOf(result.gate, result.exitCode);
  const first = result.gate.databases[0];
  if (result.gate.databases.length === 1 && !first?.report) throw new PreflightError(redact(first?.error ?? 'the database could not be checked', result.secrets));
  return outcomeOf(result.gate, result.exitCode);
}

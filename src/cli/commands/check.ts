// `pgpreflight check`: the gate. Settings come from flags > environment > config file >
// defaults (src/config/settings.ts); one or several databases are checked (src/gate/gate.ts), with
// --wait retrying a blocked verdict (src/gate/wait.ts); reporters only format the result.
import { appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/config-file.js';
import { PreflightError, redact } from '../../core/errors.js';
import { runGate, secretsOf, type GateDatabase, type GateResult } from '../../gate/gate.js';
import { loadGateReporter, loadReporter, REPORTER_NAMES } from '../../reporters/index.js';
import { optionValuesOf, resolveSettings, type Settings } from '../../config/settings.js';
import { waitForClearWindow } from '../../gate/wait.js';
import { listOf, parseTables, thresholdFlags, useColor, withSpinner } from './shared.js';
import type { Argv } from 'yargs';
import type { Args, CommandModule, Io } from './types.js';

/** The configuration file in effect: --config, PGPREFLIGHT_CONFIG, or the usual search from the working directory. */
export async function configFor(args: Args, io: Io): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const explicit = (args.config as string | undefined) ?? (io.env.PGPREFLIGHT_CONFIG || undefined);
  return loadConfig(explicit === undefined ? {} : { explicitPath: explicit });
}

/** Runs the gate once, or with --wait until it opens; null when Ctrl-C interrupted the wait. */
async function runWithWait(settings: Settings, attempt: () => Promise<GateResult>, io: Io, secrets: readonly string[]): Promise<GateResult | null> {
  if (settings.waitMs.value <= 0) {
    return withSpinner(io, settings.format.value === 'table', `Inspecting ${settings.databases.value.map((d) => d.connection.display).join(', ')}`, attempt);
  }
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const outcome = await waitForClearWindow({
      waitMs: settings.waitMs.value,
      maxIntervalMs: settings.waitMaxIntervalMs.value,
      signal: controller.signal,
      attempt,
      log: (line) => io.stderr.write(`${redact(line, secrets)}\n`),
    });
    if (outcome.kind === 'interrupted') {
      io.stderr.write(`pgpreflight: interrupted (Ctrl-C) while waiting, after ${outcome.attempts} attempt(s): the gate stays closed, the migration must not run\n`);
      return null;
    }
    return outcome.result;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** The flags that decide a gate run, shared by `check` and `config` (which shows their effect). */
export function gateFlags(y: Argv): Argv {
  return thresholdFlags(
    y
      .option('url', { type: 'string', array: true, describe: 'connection URL (repeatable: several databases, checked concurrently); else DATABASE_URL, else the config file\'s databases, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass' })
      .option('table', { type: 'string', array: true, describe: 'table the migration alters: orders, billing.invoices, \'"Orders"\' (repeatable)' })
      .option('lock-mode', { type: 'string', describe: 'lock the migration takes [default: AccessExclusiveLock, what ALTER TABLE takes]' })
      .option('concurrently', { type: 'boolean', describe: 'the migration builds an index CONCURRENTLY: implies --lock-mode ShareUpdateExclusiveLock; open writers and old snapshots block it' })
      .option('format', { choices: REPORTER_NAMES, describe: 'output format on stdout [default: table; github when GITHUB_ACTIONS=true]' })
      .option('fail-on', { choices: ['fail', 'warn'], describe: 'lowest status that blocks the deploy (exit 1) [default: fail]' })
      .option('only', { type: 'string', array: true, describe: 'run only these check ids (comma-separated or repeated)' })
      .option('skip', { type: 'string', array: true, describe: 'skip these check ids' })
      .option('timeout', { type: 'string', describe: 'time budget for connecting and every query, per attempt [default: 10s]' })
      .option('wait', { type: 'string', describe: 'when the gate blocks, look again with backoff until it opens or this much time has passed (e.g. 5m) [default: off]' })
      .option('wait-max-interval', { type: 'string', describe: 'longest pause between --wait attempts [default: 30s]' })
      .option('migration', { type: 'string', array: true, describe: 'migration SQL to gate on: its tables and lock modes come from PostgreSQL\'s parser (repeatable; a directory = its .sql files in name order; - = stdin)' })
      .option('offline', { type: 'boolean', describe: 'with --migration: static analysis only, no server contacted' })
      .option('concurrency', { type: 'string', describe: 'how many databases are checked at the same time [default: 4]' })
      .option('config', { type: 'string', describe: 'configuration file (else PGPREFLIGHT_CONFIG, else pgpreflight.config.json, .pgpreflightrc[.json|.yaml] or package.json "pgpreflight", searched upwards)' })
      .option('report-file', { type: 'string', describe: 'also write the JSON report to this file (with --format github: default $RUNNER_TEMP/pgpreflight-report.json)' }),
  );
}

const check: CommandModule = {
  builder: (y) =>
    gateFlags(y)
      .example('$0 check --table orders', 'gate an ALTER TABLE on orders')
      .example('$0 check --url "$DATABASE_URL" --table orders --format json', 'machine-readable verdict')
      .example('$0 check --table orders --wait 5m', 'wait up to 5 minutes for a clear window')
      .example('$0 check --url "$SHARD1_URL" --url "$SHARD2_URL" --table orders', 'gate every shard; the worst verdict wins'),
  async handler(args, io) {
    const config = await configFor(args, io);
    const settings = resolveSettings({ args, env: io.env, config });
    let secrets: string[] = [];
    try {
      const migrationPaths = (args.migration as string[] | undefined) ?? [];
      // The parser (WASM) loads only when a migration is given.
      const migrationModule = migrationPaths.length > 0 ? await import('../../migration/index.js') : undefined;
      const migration = migrationModule ? await migrationModule.analyzeMigrations(migrationPaths, io.stdin) : undefined;
      if (args.offline === true) {
        if (!migration) throw new PreflightError('--offline needs --migration <file.sql>: it analyzes the migration without a server');
        const { renderOffline } = await import('../../gate/offline.js');
        const offline = await renderOffline(migration, settings.format.value, settings.failOn.value, useColor(io));
        io.stdout.write(offline.text);
        return offline.exitCode;
      }
      const databases: GateDatabase[] = settings.databases.value;
      secrets = secretsOf(databases);
      const given = parseTables(listOf(args.table), settings.lockMode.value);
      const tables = migrationModule && migration ? migrationModule.mergeTableRequests(given, migration.tables) : given;
      if (tables.length === 0 && !migration) throw new PreflightError('no table to check: pass --table <name> (repeatable), e.g. --table orders');
      const failOn = settings.failOn.value;
      const format = settings.format.value;
      const attempt = (): Promise<GateResult> =>
        runGate({
          databases,
          tables,
          checks: settings.checks.value,
          options: optionValuesOf(settings),
          tableOptions: settings.tableOptions,
          timeoutMs: settings.timeoutMs.value,
          concurrently: args.concurrently === true || migration?.concurrently === true,
          migration,
          failOn,
          concurrency: settings.concurrency.value,
        });
      const result = await runWithWait(settings, attempt, io, secrets);
      if (result === null) return 130;
      const { gate, exitCode } = result;
      const context = { color: useColor(io), exitCode };
      const only = gate.databases.length === 1 ? gate.databases[0] : undefined;
      // One database keeps the documented version-1 Report shape (and exit-2 error line) for table and json.
      if (only && only.report === null && (format === 'table' || format === 'json')) throw new PreflightError(only.error ?? 'the database could not be checked');
      const jsonDocument = only?.report ? only.report : gate;
      const output = only?.report && (format === 'table' || format === 'json') ? (await loadReporter(format))(only.report, context) : (await loadGateReporter(format))(gate, context);
      io.stdout.write(redact(output, secrets));
      const reportFile = (args['report-file'] as string | undefined) ?? (format === 'github' ? join(io.env.RUNNER_TEMP || tmpdir(), 'pgpreflight-report.json') : undefined);
      if (reportFile !== undefined) writeFileSync(reportFile, redact(`${JSON.stringify(jsonDocument, null, 2)}\n`, secrets));
      if (format === 'github') {
        const { stepFiles, outputFileText } = await import('../../reporters/github.js');
        const files = stepFiles(gate, context, reportFile ?? '');
        if (io.env.GITHUB_STEP_SUMMARY) appendFileSync(io.env.GITHUB_STEP_SUMMARY, redact(files.summary, secrets));
        if (io.env.GITHUB_OUTPUT) appendFileSync(io.env.GITHUB_OUTPUT, redact(outputFileText(files.outputs), secrets));
      }
      return exitCode;
    } catch (error) {
      // Config-named databases' URLs are not known to cli.ts: redact them here.
      if (error instanceof PreflightError) throw new PreflightError(redact(error.message, secrets), { cause: error.cause });
      throw error;
    }
  },
};

export default check;

// `pgpreflight check`: the gate. The work is runCheck() (src/api/check.ts), which the
// library's check() runs too: settings (flags > environment > config file > defaults),
// one or several databases, --wait. This module formats the result and writes the files.
import { appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckConfig, runCheck } from '../../api/check.js';
import { render } from '../../api/render.js';
import type { loadConfig } from '../../config/config-file.js';
import { PreflightError, redact } from '../../core/errors.js';
import { REPORTER_NAMES } from '../../reporters/index.js';
import { connectionFlags, terminalWidth, thresholdFlags, useColor, withSpinner } from './shared.js';
import type { Argv } from 'yargs';
import type { Args, CommandModule, Io } from './types.js';

/** The configuration file in effect: --config, PGPREFLIGHT_CONFIG, or the usual search from the working directory. */
export async function configFor(args: Args, io: Io): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  return loadCheckConfig(args, io.env);
}

/** Runs a write of an output file; null when it worked, else one line saying what could not be written and why. */
function writeSideFile(write: () => void, what: string): string | null {
  try {
    write();
    return null;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'its directory does not exist'
        : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied'
          : e.code === 'EISDIR' ? 'it is a directory'
            : e.code === 'EROFS' ? 'the file system is read-only'
              : e.code === 'ENOSPC' ? 'no space left on the device'
                : e.message;
    return `could not write ${what}: ${why}`;
  }
}

/**
 * The flags that decide a gate run, shared by `check` and `config` (which shows their
 * effect; its own --format selects its output, so it leaves check's out).
 */
export function gateFlags(y: Argv, { format = true }: { format?: boolean } = {}): Argv {
  const core = y
    .option('table', { type: 'string', array: true, describe: 'table the migration alters: orders, billing.invoices, \'"Orders"\' (repeatable)' })
    .option('migration', { type: 'string', array: true, describe: 'migration SQL to gate on: its tables and lock modes come from PostgreSQL\'s parser (repeatable; a directory = its migrations in the order their tool runs them (Flyway, golang-migrate, Prisma, ...); - = stdin)' })
    .option('url', {
      type: 'string',
      array: true,
      describe: 'connection URL or libpq keyword/value string (repeatable: several databases, checked concurrently); else DATABASE_URL, else the config file\'s databases, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass',
    })
    .option('replica-url', { type: 'string', array: true, describe: 'a hot standby of the primary, read-only: who reads the table there and what replaying the migration\'s lock does to them (repeatable; needs one database)' })
    .option('lock-mode', { type: 'string', describe: 'lock the migration takes [default: AccessExclusiveLock, what ALTER TABLE takes]' })
    .option('concurrently', { type: 'boolean', describe: 'the migration builds an index CONCURRENTLY: implies --lock-mode ShareUpdateExclusiveLock; open writers and old snapshots block it' })
    .option('offline', { type: 'boolean', describe: 'with --migration: static analysis only, no server contacted' })
    .option('runner', { type: 'string', describe: `with --migration: the tool that runs it, which decides the transactions (${['auto', 'psql', 'transaction', 'rails', 'django', 'diesel', 'sqlx', 'flyway', 'golang-migrate', 'prisma', 'knex', 'node-pg-migrate', 'goose', 'dbmate', 'alembic', '...'].join(', ')}) [default: auto, from the layout; plain .sql files: psql]` })
    .option('in-transaction', { type: 'boolean', describe: 'with --migration: each file runs in one transaction (same as --runner transaction)' })
    .option('since', { type: 'string', describe: 'with --migration <dir>: judge only files changed since this git ref; the others are history, read for the schema' })
    .option('history', { type: 'string', array: true, describe: 'migrations already applied (file or directory, repeatable): read for the schema, not judged' })
    .option('trace', { type: 'boolean', describe: 'with --migration: run it first on a throwaway PostgreSQL (after its history, as pgpreflight trace does) and judge each statement by the locks, rewrites and scans it took there' });
  return thresholdFlags(
    connectionFlags(format ? core.option('format', { choices: REPORTER_NAMES, describe: 'output format on stdout [default: table; github when GITHUB_ACTIONS=true]' }) : core)
      .option('verbose', { type: 'boolean', describe: 'also list the passing and skipped checks and informational findings (table, markdown)' })
      .option('fail-on', { choices: ['fail', 'warn'], describe: 'lowest status that blocks the deploy (exit 1) [default: fail]' })
      .option('only', { type: 'string', array: true, describe: 'run only these check ids (comma-separated or repeated)' })
      .option('skip', { type: 'string', array: true, describe: 'skip these check ids' })
      .option('timeout', { type: 'string', describe: 'time budget for connecting and every query, per attempt [default: 10s]' })
      .option('wait', { type: 'string', describe: 'when the gate blocks, look again with backoff until it opens or this much time has passed (e.g. 5m) [default: off]' })
      .option('wait-max-interval', { type: 'string', describe: 'longest pause between --wait attempts [default: 30s]' })
      .option('parallel', { type: 'string', describe: 'how many databases are checked at the same time (the old spelling --concurrency still works) [default: 4]' })
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
    const controller = new AbortController();
    const onSigint = (): void => controller.abort();
    process.once('SIGINT', onSigint);
    let result;
    try {
      result = await runCheck({
        args,
        env: io.env,
        ...(io.stdin ? { stdin: io.stdin } : {}),
        signal: controller.signal,
        log: (line) => io.stderr.write(`${line}\n`),
        around: (work, { label, format }) => withSpinner(io, format === 'table', label, work),
      });
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    const { settings, secrets } = result;
    const format = settings.format.value;
    if (result.kind === 'interrupted') {
      io.stderr.write(`pgpreflight: interrupted (Ctrl-C) while waiting, after ${result.attempts} attempt(s): the gate stays closed, the migration must not run\n`);
      return 130;
    }
    const context = { color: useColor(io), verbose: args.verbose === true, width: terminalWidth(io), compact: Boolean(io.stdout.isTTY) };
    const named = args['report-file'] as string | undefined;
    const { gate, exitCode } = result;
    // The report file first: it always holds this run's result (never an older run's), and
    // when the one the user named cannot be written the exit code must already say so.
    const reportFile = named ?? (format === 'github' ? join(io.env.RUNNER_TEMP || tmpdir(), 'pgpreflight-report.json') : undefined);
    const problems: string[] = [];
    let finalCode = exitCode;
    let reportWritten = false;
    if (reportFile !== undefined) {
      const problem = writeSideFile(() => writeFileSync(reportFile, redact(`${JSON.stringify(gate, null, 2)}\n`, secrets)), `the JSON report to ${named !== undefined ? '--report-file ' : ''}${reportFile}`);
      reportWritten = problem === null;
      if (problem !== null && named !== undefined) {
        // Named by the user: a later step reads it, and would find no report or an old one.
        finalCode = Math.max(exitCode, 2);
        problems.push(`${problem}; exit 2 although the verdict is ${gate.verdict}: a step that reads that file would find no report, or an old one`);
      } else if (problem !== null) problems.push(`${problem}; the verdict above stands`);
    }
    const say = (): void => problems.forEach((problem) => io.stderr.write(`pgpreflight: ${redact(problem, secrets)}\n`));
    // One database that could not be checked is one line on stderr (exit 2) for table and json.
    const only = gate.databases.length === 1 ? gate.databases[0] : undefined;
    if (only && !only.report && (format === 'table' || format === 'json')) {
      say();
      throw new PreflightError(redact(only.error ?? 'the database could not be checked', secrets));
    }
    const document = finalCode === gate.exitCode ? gate : { ...gate, exitCode: finalCode };
    io.stdout.write(redact(await render(document, { format, ...context }), secrets));
    if (format === 'github') {
      const { stepFiles, outputFileText } = await import('../../reporters/github.js');
      // An unwritten report leaves report-path empty, so no later step reads a stale file.
      const files = stepFiles(document, context, reportWritten ? (reportFile ?? '') : '');
      // The runner's own files: the exit code carries the verdict, so failing to write them only warns.
      const summaryFile = io.env.GITHUB_STEP_SUMMARY;
      const outputFile = io.env.GITHUB_OUTPUT;
      if (summaryFile) {
        const problem = writeSideFile(() => appendFileSync(summaryFile, redact(files.summary, secrets)), `the job summary to $GITHUB_STEP_SUMMARY (${summaryFile})`);
        if (problem !== null) problems.push(`${problem}; the verdict above stands`);
      }
      if (outputFile) {
        const problem = writeSideFile(() => appendFileSync(outputFile, redact(outputFileText(files.outputs), secrets)), `the step outputs to $GITHUB_OUTPUT (${outputFile})`);
        if (problem !== null) problems.push(`${problem}; the verdict above stands, and steps.<id>.outputs.verdict stays empty`);
      }
    }
    say();
    return finalCode;
  },
};

export default check;

// `pgpreflight run [--table ...|--migration ...] -- <command> [args...]`: gate, then run
// the migration under the guard (src/incident/guard.ts). stdout and stderr carry the command's
// own output; the guard's one line per attempt goes to stderr.
import { singleConnection } from '../../config/settings.js';
import { PreflightError } from '../../core/errors.js';
import { isTransientError } from '../../gate/gate.js';
import { runGuarded } from '../../incident/guard.js';
import { guardVerdictBeforeStart, migrationRoleOf } from '../../incident/guard-privileges.js';
import { resolveCheckOptions } from '../../gate/check-options.js';
import { loadReporter } from '../../reporters/index.js';
import { gateOfReport } from '../../gate/gate.js';
import type { FailOn } from '../../gate/runner.js';
import { parseCount, parseDuration } from '../../core/units.js';
import { connectionFlags, listOf, parseLockModeFlag, parsePositiveDuration, parseTables, selectChecks, thresholdArgs, thresholdFlags } from './shared.js';
import type { Args, CommandModule } from './types.js';

const DEFAULTS = {
  lockTimeout: '4s',
  statementTimeout: '30s',
  maxQueueWait: '2s',
  maxQueued: '20',
  retries: '5',
  retryDelay: '1s',
  guardInterval: '200ms',
  wait: '0',
  waitMaxInterval: '30s',
};

function countFlag(args: Args, flag: string, fallback: string): number {
  const raw = String(args[flag] ?? fallback);
  const value = parseCount(raw);
  if (value === undefined) throw new PreflightError(`--${flag} must be a whole number such as ${fallback}, got "${raw}"`);
  return value;
}

function parseWait(raw: string): number {
  const ms = parseDuration(raw);
  if (ms === undefined || ms < 0) throw new PreflightError(`--wait must be a duration such as 30s or 5m (0: one look), got "${raw}"`);
  return ms;
}

/** The command after `--` (arguments before it are options; the CLI refuses stray ones). */
function commandOf(args: Args): string[] {
  const dashed = args['--'];
  return Array.isArray(dashed) ? dashed.map(String) : [];
}

const run: CommandModule = {
  // Threshold flags first, so run's own --lock-timeout (which the traffic check shares:
  // it is the same planned lock_timeout) keeps run's description in --help.
  builder: (y) =>
    thresholdFlags(connectionFlags(y))
        .parserConfiguration({ 'populate--': true })
        .option('url', { type: 'string', describe: 'connection URL or keyword/value string for the gate and the guard (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass); the command connects its own way' })
        .option('table', { type: 'string', array: true, describe: 'table the migration alters (repeatable)' })
        .option('migration', { type: 'string', array: true, describe: 'the migration\'s .sql file or directory: its tables and lock modes are gated (repeatable)' })
        .option('runner', { type: 'string', describe: 'with --migration: the tool that runs it (auto, psql, transaction, rails, prisma, golang-migrate, ...) [default: auto]' })
        .option('in-transaction', { type: 'boolean', describe: 'with --migration: each file runs in one transaction' })
        .option('lock-mode', { type: 'string', describe: 'lock the migration takes on --table [default: AccessExclusiveLock]' })
        .option('concurrently', { type: 'boolean', describe: 'the migration builds an index CONCURRENTLY (implies --lock-mode ShareUpdateExclusiveLock)' })
        .option('fail-on', { choices: ['fail', 'warn'], default: 'fail', describe: 'lowest gate status that blocks the command' })
        .option('only', { type: 'string', array: true, describe: 'gate with only these check ids' })
        .option('skip', { type: 'string', array: true, describe: 'gate without these check ids' })
        .option('timeout', { type: 'string', default: '10s', describe: 'time budget of each gate run and each guard look' })
        .option('lock-timeout', { type: 'string', default: DEFAULTS.lockTimeout, describe: 'lock_timeout for the command, through PGOPTIONS (the traffic check estimates the queue for it)' })
        .option('statement-timeout', { type: 'string', default: DEFAULTS.statementTimeout, describe: 'statement_timeout for the command, through PGOPTIONS' })
        .option('max-queue-wait', { type: 'string', default: DEFAULTS.maxQueueWait, describe: 'cancel the migration\'s statement when it has waited this long for a lock' })
        .option('max-queued', { type: 'string', default: DEFAULTS.maxQueued, describe: 'cancel the migration\'s statement when more than this many queries wait behind it' })
        .option('retries', { type: 'string', default: DEFAULTS.retries, describe: 'retries after a lock failure (lock_timeout or a guard cancel), a blocked gate, or a gate that could not look for a reason that may pass (0: none)' })
        .option('retry-delay', { type: 'string', default: DEFAULTS.retryDelay, describe: 'first backoff step; doubles each retry, with jitter' })
        .option('guard-interval', { type: 'string', default: DEFAULTS.guardInterval, describe: 'how often the guard looks at the lock queue' })
        .option('require-guard', { type: 'boolean', describe: 'refuse to start (exit 2) unless the guard can cancel the migration\'s statement: superuser, pg_signal_backend, or the privileges of the role the migration connects as' })
        .option('wait', { type: 'string', default: DEFAULTS.wait, describe: 'before each attempt, when the gate blocks, look again with backoff until it opens or this much time has passed (e.g. 5m), as check --wait does; 0: one look' })
        .option('wait-max-interval', { type: 'string', default: DEFAULTS.waitMaxInterval, describe: 'longest pause between --wait looks' })
      .example('$0 run --table orders -- psql -v ON_ERROR_STOP=1 -f migrate.sql', 'gate, then run the migration under the guard')
      .example('$0 run --migration db/migrate.sql -- npx prisma migrate deploy', 'gate the tables the migration touches'),
  async handler(args, io) {
    const [command, ...commandArgs] = commandOf(args);
    if (command === undefined) throw new PreflightError('no command to run: put the migration command after --, e.g. pgpreflight run --table orders -- psql -f migrate.sql');
    const migrations = listOf(args.migration);
    if (migrations.includes('-')) throw new PreflightError('--migration - is not available with run: the command may need standard input; pass the file path');
    const concurrentFlag = args.concurrently === true;
    const lockMode = parseLockModeFlag((args['lock-mode'] as string | undefined) ?? (concurrentFlag ? 'ShareUpdateExclusiveLock' : undefined));
    const given = parseTables(listOf(args.table), lockMode);
    // The SQL parser (WASM) loads only when a migration file is given.
    const migration = migrations.length > 0 ? await import('../../migration/index.js') : undefined;
    const analysis = migration ? await migration.analyzeMigrations(migrations, { ...(args.runner !== undefined ? { runner: String(args.runner) } : {}), ...(args['in-transaction'] === true ? { inTransaction: true } : {}) }) : undefined;
    const tables = migration && analysis ? migration.mergeTableRequests(given, analysis.tables) : given;
    if (tables.length === 0 && !analysis) throw new PreflightError('no table to gate: pass --table <name> or --migration <file>');
    const checks = selectChecks(listOf(args.only), listOf(args.skip));
    const options = resolveCheckOptions(checks, thresholdArgs(args));
    const connection = singleConnection(args, io.env);
    const failOn = (args['fail-on'] ?? 'fail') as FailOn;
    const timeoutMs = parsePositiveDuration(String(args.timeout ?? '10s'), '--timeout');
    // Before anything starts: can the guard cancel the migration's statement? Said always
    // (with the server's address), an error under --require-guard when not certain.
    // A failure to look that may pass (refused, no free slot) is the gate's to retry, as
    // check --wait does; only --require-guard insists on knowing now.
    const guard = await guardVerdictBeforeStart(connection, migrationRoleOf([command, ...commandArgs], io.env), timeoutMs).catch((error: unknown) => {
      if (args['require-guard'] === true || !isTransientError(error)) throw error;
      return { canCancel: 'unknown' as const, text: `the guard's privileges could not be read yet (${(error as Error).message.split('. ')[0]}); the gate looks again` };
    });
    if (guard.canCancel !== true && args['require-guard'] === true) throw new PreflightError(`--require-guard: ${guard.text}`);
    io.stderr.write(`pgpreflight run: gate and guard on ${connection.display}; ${guard.text}\n`);
    const reporter = await loadReporter('table');
    const color = Boolean(io.stderr.isTTY) && io.env.NO_COLOR === undefined;
    return runGuarded(
      {
        gate: {
          tables,
          checks,
          options,
          timeoutMs,
          concurrently: concurrentFlag || analysis?.concurrently === true,
          migration: analysis,
        },
        connection,
        failOn,
        command,
        args: commandArgs,
        env: io.env,
        lockTimeoutMs: parsePositiveDuration(String(args['lock-timeout'] ?? DEFAULTS.lockTimeout), '--lock-timeout'),
        statementTimeoutMs: parsePositiveDuration(String(args['statement-timeout'] ?? DEFAULTS.statementTimeout), '--statement-timeout'),
        maxQueueWaitMs: parsePositiveDuration(String(args['max-queue-wait'] ?? DEFAULTS.maxQueueWait), '--max-queue-wait'),
        maxQueued: countFlag(args, 'max-queued', DEFAULTS.maxQueued),
        retries: countFlag(args, 'retries', DEFAULTS.retries),
        retryDelayMs: parsePositiveDuration(String(args['retry-delay'] ?? DEFAULTS.retryDelay), '--retry-delay'),
        pollMs: parsePositiveDuration(String(args['guard-interval'] ?? DEFAULTS.guardInterval), '--guard-interval'),
        waitMs: parseWait(String(args.wait ?? DEFAULTS.wait)),
        waitMaxIntervalMs: parsePositiveDuration(String(args['wait-max-interval'] ?? DEFAULTS.waitMaxInterval), '--wait-max-interval'),
      },
      { stdout: io.stdout, stderr: io.stderr, renderGate: (report, exitCode) => reporter(gateOfReport(report, exitCode), { color, width: (io.stderr as { columns?: number }).columns }) },
    );
  },
};

export default run;

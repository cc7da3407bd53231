import { resolveConnection } from '../connection.js';
import { PreflightError, redact } from '../errors.js';
import { resolveCheckOptions } from '../options.js';
import { loadReporter, REPORTER_NAMES, type ReporterName } from '../reporters/index.js';
import { exitCodeFor, runOnce, type FailOn } from '../runner.js';
import { listOf, parseLockModeFlag, parsePositiveDuration, parseTables, selectChecks, thresholdArgs, thresholdFlags, useColor, withSpinner } from './shared.js';
import type { CommandModule } from './types.js';

const check: CommandModule = {
  command: 'check',
  describe: 'inspect the server for what would block, or be blocked by, a migration of --table',
  builder: (y) =>
    thresholdFlags(
      y
        .option('url', { type: 'string', describe: 'connection URL (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass)' })
        .option('table', { type: 'string', array: true, describe: 'table the migration alters: orders, billing.invoices, \'"Orders"\' (repeatable)' })
        .option('lock-mode', { type: 'string', describe: 'lock the migration takes [default: AccessExclusiveLock, what ALTER TABLE takes]' })
        .option('concurrently', { type: 'boolean', describe: 'the migration builds an index CONCURRENTLY: implies --lock-mode ShareUpdateExclusiveLock; open writers and old snapshots block it' })
        .option('format', { choices: REPORTER_NAMES, default: 'table', describe: 'output format on stdout' })
        .option('fail-on', { choices: ['fail', 'warn'], default: 'fail', describe: 'lowest status that blocks the deploy (exit 1)' })
        .option('only', { type: 'string', array: true, describe: 'run only these check ids (comma-separated or repeated)' })
        .option('skip', { type: 'string', array: true, describe: 'skip these check ids' })
        .option('timeout', { type: 'string', default: '10s', describe: 'time budget for connecting and every query' }),
    )
      .example('$0 check --table orders', 'gate an ALTER TABLE on orders')
      .example('$0 check --url "$DATABASE_URL" --table orders --format json', 'machine-readable verdict'),
  async handler(args, io) {
    const concurrently = args.concurrently === true;
    const lockMode = parseLockModeFlag((args['lock-mode'] as string | undefined) ?? (concurrently ? 'ShareUpdateExclusiveLock' : undefined));
    const tables = parseTables(listOf(args.table), lockMode);
    if (tables.length === 0) throw new PreflightError('no table to check: pass --table <name> (repeatable), e.g. --table orders');
    const checks = selectChecks(listOf(args.only), listOf(args.skip));
    const options = resolveCheckOptions(checks, thresholdArgs(args));
    const timeoutMs = parsePositiveDuration(String(args.timeout ?? '10s'), '--timeout');
    const connection = resolveConnection(args.url as string | undefined, io.env);
    const format = (args.format ?? 'table') as ReporterName;
    const failOn = (args['fail-on'] ?? 'fail') as FailOn;
    const { report } = await withSpinner(io, format === 'table', `Inspecting ${connection.display}`, () =>
      runOnce({ connection, tables, checks, options, timeoutMs, concurrently }),
    );
    const exitCode = exitCodeFor(report.verdict, failOn);
    const reporter = await loadReporter(format);
    io.stdout.write(redact(reporter(report, { color: useColor(io), exitCode }), connection.secrets));
    return exitCode;
  },
};

export default check;

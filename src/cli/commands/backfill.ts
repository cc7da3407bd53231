// `pgpreflight backfill`: batched UPDATEs that yield to replicas, to the lock queue and to
// each other (src/backfill/, docs/backfill.md). Exit 0 done (or a dry run that would
// start), 1 blocked (another backfill holds the table, locks kept failing, or the dry
// run found a reason not to start), 2 could not run, 130 interrupted.
import { singleConnection } from '../../config/settings.js';
import { isConninfo, isConnectionUri } from '../../core/conninfo.js';
import { PreflightError, redact } from '../../core/errors.js';
import { formatCount, parseCount, parseDuration, parseSize } from '../../core/units.js';
import { BackfillControl, BackfillStopped, DEFAULT_MAX_LAG, runBackfill, type BackfillSummary } from '../../backfill/index.js';
import { BackfillProgress, planText, summaryText } from '../../backfill/progress.js';
import { shellCommand } from '../../backfill/resume.js';
import { DEFAULT_INITIAL_BATCH } from '../../backfill/runner.js';
import { connectionFlags, listOf } from './shared.js';
import type { Args, CommandModule } from './types.js';

const FORMATS = ['table', 'json'] as const;

const DEFAULTS = {
  batchTime: '200ms',
  lockTimeout: '2s',
  statementTimeout: '30s',
  retries: '10',
  pause: '0',
  progressInterval: '5s',
  timeout: '10s',
};

/**
 * The flags a resume command repeats, in this order. Never --url, nor a -d holding a whole
 * connection string: they may carry a password.
 */
const RESUMED_FLAGS = [
  'host', 'port', 'username', 'dbname', 'table', 'set', 'where', 'key', 'batch-size', 'batch-time', 'max-lag', 'max-lag-time', 'include-logical', 'ignore-replica',
  'pause', 'lock-timeout', 'statement-timeout', 'retries', 'wait-for-lock', 'format', 'progress-interval', 'timeout',
] as const;

function single(args: Args, flag: string): string | undefined {
  const value = args[flag];
  if (Array.isArray(value)) throw new PreflightError(`--${flag} was given more than once`);
  return value === undefined ? undefined : String(value);
}

function duration(args: Args, flag: string, fallback: string | null, allowZero = false): number | null {
  const text = single(args, flag) ?? fallback;
  if (text === null) return null;
  const ms = parseDuration(text);
  if (ms === undefined || (!allowZero && ms <= 0)) throw new PreflightError(`--${flag} must be a ${allowZero ? '' : 'positive '}duration such as 2s or 500ms, got "${text}"`);
  return ms;
}

function count(args: Args, flag: string, fallback: string | null, min: number): number | null {
  const text = single(args, flag) ?? fallback;
  if (text === null) return null;
  const value = parseCount(text);
  if (value === undefined || value < min) throw new PreflightError(`--${flag} must be a whole number of at least ${min}, got "${text}"`);
  return value;
}

function size(args: Args, flag: string, fallback: string): number {
  const text = single(args, flag) ?? fallback;
  const bytes = parseSize(text);
  if (bytes === undefined) throw new PreflightError(`--${flag} must be a size such as 10MB, got "${text}"`);
  return bytes;
}

function fragment(args: Args, flag: string): string | null {
  const text = single(args, flag);
  if (text === undefined) return null;
  if (text.trim() === '') throw new PreflightError(`--${flag} is empty`);
  if (text.includes('\0')) throw new PreflightError(`--${flag} contains a NUL byte`);
  return text;
}

/** The command that continues from a key: the flags as given, --start-after replaced. */
export function resumeCommand(args: Args, startAfter: string): string {
  const argv = ['pgpreflight', 'backfill'];
  for (const flag of RESUMED_FLAGS) {
    const value = args[flag];
    if (value === undefined || value === false) continue;
    if (flag === 'dbname' && (isConninfo(String(value)) || isConnectionUri(String(value)))) continue;
    if (value === true) argv.push(`--${flag}`);
    else for (const item of Array.isArray(value) ? value : [value]) argv.push(`--${flag}`, String(item));
  }
  argv.push('--start-after', startAfter);
  return shellCommand(argv);
}

const backfill: CommandModule = {
  builder: (y) =>
    connectionFlags(y)
      .option('url', { type: 'string', describe: 'connection URL or keyword/value string of the primary (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass)' })
      .option('table', { type: 'string', describe: 'the table to update (name or schema.name); quoted as an identifier' })
      .option('set', { type: 'string', describe: 'SET list, SQL run as given: "priority = 0" or "a = 1, b = lower(c)"' })
      .option('where', { type: 'string', describe: 'rows to update, one SQL boolean expression run as given: "priority IS NULL" (it must exclude rows already done for a rerun to skip them)' })
      .option('key', { type: 'string', describe: 'the key to walk: columns of a unique NOT NULL btree index, e.g. id or region,id [default: the primary key]' })
      .option('batch-size', { type: 'string', describe: `keys per batch; fixed unless --batch-time is given too [default: ${DEFAULT_INITIAL_BATCH}, adapting to --batch-time]` })
      .option('batch-time', { type: 'string', describe: `adapt the batch size so one batch takes about this long [default: ${DEFAULTS.batchTime} unless --batch-size is given]` })
      .option('max-lag', { type: 'string', describe: `pause while a replica's replay lag is above this many bytes [default: ${DEFAULT_MAX_LAG}]` })
      .option('max-lag-time', { type: 'string', describe: 'pause while a replica\'s replay_lag is above this duration [default: off]' })
      .option('include-logical', { type: 'boolean', describe: 'also wait for logical replication walsenders (subscribers, CDC)' })
      .option('ignore-replica', { type: 'string', array: true, describe: 'do not wait for this replica (application_name or client address; repeatable)' })
      .option('pause', { type: 'string', describe: `sleep this long after each batch [default: ${DEFAULTS.pause}]` })
      .option('lock-timeout', { type: 'string', describe: `lock_timeout of each batch; a timeout is retried with backoff [default: ${DEFAULTS.lockTimeout}]` })
      .option('statement-timeout', { type: 'string', describe: `statement_timeout of each batch; a timeout halves the batch [default: ${DEFAULTS.statementTimeout}]` })
      .option('retries', { type: 'string', describe: `lock-timeout retries of one batch before giving up (exit 1) [default: ${DEFAULTS.retries}]` })
      .option('start-after', { type: 'string', describe: 'resume after this key (printed when a run stops); a JSON array for a composite key' })
      .option('wait-for-lock', { type: 'string', describe: 'wait up to this long while another backfill of the table runs [default: refuse at once, exit 1]' })
      .option('dry-run', { type: 'boolean', describe: 'print the plan (key, estimate, first batch, its EXPLAIN, replicas) and change nothing' })
      .option('format', { choices: FORMATS, describe: 'stdout: table (a summary) or json (NDJSON events, then the summary) [default: table]' })
      .option('progress-interval', { type: 'string', describe: `without a terminal, a progress line this often [default: ${DEFAULTS.progressInterval}]` })
      .option('timeout', { type: 'string', describe: `time budget for connecting and for each look at the server [default: ${DEFAULTS.timeout}]` })
      .example('$0 backfill --table orders --set "priority = 0" --where "priority IS NULL"', 'batched, throttled UPDATE of orders')
      .example('$0 backfill --table orders --set "priority = 0" --where "priority IS NULL" --dry-run', 'the plan and the first batch\'s EXPLAIN')
      .epilogue(
        '--set and --where are SQL fragments you write; they run as given (like psql), inside UPDATE ONLY <table> SET <set> WHERE <key range> AND (<where>). ' +
          'The table and key names are quoted as identifiers. See docs/backfill.md.',
      ),
  async handler(args, io) {
    const table = single(args, 'table');
    if (table === undefined) throw new PreflightError('--table is required: the table to backfill');
    const set = fragment(args, 'set');
    if (set === null) throw new PreflightError('--set is required: the SET list, e.g. --set "priority = 0"');
    const where = fragment(args, 'where');
    const format = (single(args, 'format') ?? 'table') as (typeof FORMATS)[number];
    const batchSizeGiven = count(args, 'batch-size', null, 1);
    const batchTimeGiven = duration(args, 'batch-time', null);
    const batchTimeMs = batchTimeGiven ?? (batchSizeGiven === null ? (parseDuration(DEFAULTS.batchTime) as number) : null);
    const connection = singleConnection(args, io.env);
    const clean = (text: string): string => redact(text, connection.secrets);
    const request = {
      connection,
      table,
      set,
      where,
      key: single(args, 'key') ?? null,
      batchSize: batchSizeGiven ?? DEFAULT_INITIAL_BATCH,
      batchTimeMs,
      limits: {
        maxLagBytes: size(args, 'max-lag', DEFAULT_MAX_LAG),
        maxLagMs: duration(args, 'max-lag-time', null),
        includeLogical: args['include-logical'] === true,
        ignore: listOf(args['ignore-replica']),
      },
      pauseMs: duration(args, 'pause', DEFAULTS.pause, true) as number,
      lockTimeoutMs: duration(args, 'lock-timeout', DEFAULTS.lockTimeout) as number,
      statementTimeoutMs: duration(args, 'statement-timeout', DEFAULTS.statementTimeout) as number,
      retries: count(args, 'retries', DEFAULTS.retries, 0) as number,
      startAfter: single(args, 'start-after') ?? null,
      waitForLockMs: duration(args, 'wait-for-lock', null),
      timeoutMs: duration(args, 'timeout', DEFAULTS.timeout) as number,
      dryRun: args['dry-run'] === true,
      heartbeatMs: duration(args, 'progress-interval', DEFAULTS.progressInterval) as number,
    };

    if (request.dryRun) {
      const outcome = await runBackfill(request);
      if (outcome.kind !== 'plan') throw new PreflightError('the dry run did not produce a plan');
      io.stdout.write(clean(format === 'json' ? `${JSON.stringify(outcome.plan, null, 2)}\n` : planText(outcome.plan)));
      return outcome.plan.blockers.length > 0 ? 1 : 0;
    }

    const progress = new BackfillProgress({ stdout: io.stdout, stderr: io.stderr, format, intervalMs: request.heartbeatMs, clean });
    const control = new BackfillControl();
    let signals = 0;
    const onSignal = (): void => {
      signals += 1;
      if (signals === 1) {
        progress.onEvent({ event: 'stopping', rollback: false });
        control.stop();
      } else if (signals === 2) {
        progress.onEvent({ event: 'stopping', rollback: true });
        control.abort();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const report = (summary: BackfillSummary): void => {
      progress.finish();
      const resumeLine = summary.status === 'done' || summary.lastKey === null ? null : resumeCommand(args, summary.lastKey);
      if (format === 'json') io.stdout.write(clean(`${JSON.stringify({ event: 'summary', ...summary, resume: resumeLine })}\n`));
      else io.stdout.write(clean(summaryText(summary, resumeLine)));
      // The resume command must reach a person even when stdout goes to a file.
      if (resumeLine !== null && !(format === 'table' && io.stdout.isTTY)) io.stderr.write(clean(`pgpreflight backfill: stopped after key ${summary.lastKey ?? ''}; resume with: ${resumeLine}\n`));
    };
    try {
      const outcome = await runBackfill(request, { onEvent: (event) => progress.onEvent(event), control });
      if (outcome.kind !== 'run') throw new PreflightError('the backfill did not run');
      report(outcome.summary);
      return outcome.summary.status === 'done' ? 0 : outcome.summary.status === 'interrupted' ? 130 : 1;
    } catch (error) {
      progress.finish();
      if (!(error instanceof BackfillStopped)) throw error;
      const summary = error.summary;
      const resumeLine = summary.lastKey === null ? null : resumeCommand(args, summary.lastKey);
      if (format === 'json') io.stdout.write(clean(`${JSON.stringify({ event: 'summary', ...summary, resume: resumeLine })}\n`));
      throw new PreflightError(`${error.message}. ${formatCountText(summary)}${resumeLine === null ? ' Rerun to start over' : ` Resume with: ${resumeLine}`}`, { cause: error });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

function formatCountText(summary: BackfillSummary): string {
  return `${formatCount(summary.rowsUpdated)} rows were updated in ${formatCount(summary.batches)} committed batch${summary.batches === 1 ? '' : 'es'}.`;
}

export default backfill;

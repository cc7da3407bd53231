// `pgpreflight wait-for-replicas`: the backfill's replica throttle on its own, for batch
// loops that live in application code or scripts. Exit 0 when every watched replica is
// within the limits, 1 when the timeout passes first, 2 when it cannot look, 130 on Ctrl-C.
import { singleConnection } from '../../config/settings.js';
import { connect } from '../../core/connection.js';
import { PreflightError, redact } from '../../core/errors.js';
import { formatDuration, parseDuration, parseSize } from '../../core/units.js';
import { DEFAULT_MAX_LAG, describeLagging } from '../../backfill/index.js';
import { describeReplica, WAIT_APPLICATION_NAME, waitOn } from '../../backfill/replicas.js';
import { connectionFlags, listOf } from './shared.js';
import type { Args, CommandModule } from './types.js';

const FORMATS = ['table', 'json'] as const;
const DEFAULT_TIMEOUT = '5m';
const DEFAULT_INTERVAL = '1s';
/** A "still waiting" line at most this often. */
const SAY_EVERY_MS = 5000;

function single(args: Args, flag: string): string | undefined {
  const value = args[flag];
  if (Array.isArray(value)) throw new PreflightError(`--${flag} was given more than once`);
  return value === undefined ? undefined : String(value);
}

function positiveDuration(args: Args, flag: string, fallback: string | null): number | null {
  const text = single(args, flag) ?? fallback;
  if (text === null) return null;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new PreflightError(`--${flag} must be a positive duration such as 10s, got "${text}"`);
  return ms;
}

const waitForReplicasCommand: CommandModule = {
  builder: (y) =>
    connectionFlags(y)
      .option('url', { type: 'string', describe: 'connection URL or keyword/value string of the primary (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass)' })
      .option('max-lag', { type: 'string', describe: `wait while a replica's replay lag is above this many bytes [default: ${DEFAULT_MAX_LAG}]` })
      .option('max-lag-time', { type: 'string', describe: 'wait while a replica\'s replay_lag is above this duration [default: off]' })
      .option('timeout', { type: 'string', describe: `give up (exit 1) after this long [default: ${DEFAULT_TIMEOUT}]` })
      .option('interval', { type: 'string', describe: `pause between looks [default: ${DEFAULT_INTERVAL}]` })
      .option('include-logical', { type: 'boolean', describe: 'also wait for logical replication walsenders (subscribers, CDC)' })
      .option('ignore-replica', { type: 'string', array: true, describe: 'do not wait for this replica (application_name or client address; repeatable)' })
      .option('format', { choices: FORMATS, describe: 'stdout: table (one line) or json [default: table]' })
      .example('$0 wait-for-replicas --max-lag 10MB --timeout 5m && next-batch', 'throttle a hand-written batch loop'),
  async handler(args, io) {
    const maxLagText = single(args, 'max-lag') ?? DEFAULT_MAX_LAG;
    const maxLag = parseSize(maxLagText);
    if (maxLag === undefined) throw new PreflightError(`--max-lag must be a size such as 10MB, got "${maxLagText}"`);
    const maxLagTime = positiveDuration(args, 'max-lag-time', null);
    const timeout = positiveDuration(args, 'timeout', DEFAULT_TIMEOUT) as number;
    const interval = positiveDuration(args, 'interval', DEFAULT_INTERVAL) as number;
    const format = (single(args, 'format') ?? 'table') as (typeof FORMATS)[number];
    const spec = singleConnection(args, io.env);
    const clean = (text: string): string => redact(text, spec.secrets);
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const lookTimeoutMs = Math.min(10_000, timeout);
    const client = await connect(spec, { applicationName: WAIT_APPLICATION_NAME, timeoutMs: lookTimeoutMs });
    let lastSaid = 0;
    try {
      // Each look is its own transaction with SET LOCAL: nothing stays on a pooled server connection.
      const result = await waitOn(client, {
        maxLag,
        maxLagTime,
        timeout,
        interval,
        includeLogical: args['include-logical'] === true,
        ignoreReplicas: listOf(args['ignore-replica']),
        signal: controller.signal,
        onWait: (verdict, waitedMs) => {
          if (lastSaid !== 0 && Date.now() - lastSaid < SAY_EVERY_MS) return;
          lastSaid = Date.now();
          io.stderr.write(clean(`pgpreflight wait-for-replicas: waiting (${formatDuration(waitedMs)}): ${describeLagging(verdict)}\n`));
        },
      }, lookTimeoutMs);
      const status = result.ok ? 'ok' : result.aborted ? 'interrupted' : 'timeout';
      if (format === 'json') {
        io.stdout.write(clean(`${JSON.stringify({ status, waitedMs: result.waitedMs, looks: result.looks, replicas: result.verdict.replicas, lagging: result.verdict.lagging }, null, 2)}\n`));
      } else {
        const watched = result.verdict.replicas.filter((r) => r.notWatched === null);
        const line = result.ok
          ? watched.length === 0
            ? `no streaming replicas to wait for${result.verdict.replicas.length > 0 ? ` (${result.verdict.replicas.map(describeReplica).join('; ')})` : ''}`
            : `replicas within the limits${result.waitedMs >= interval ? ` after ${formatDuration(result.waitedMs)}` : ''}: ${watched.map(describeReplica).join('; ')}`
          : `${result.aborted ? 'interrupted' : `timed out after ${formatDuration(result.waitedMs)}`}: ${describeLagging(result.verdict)}`;
        io.stdout.write(clean(`${line}\n`));
      }
      return result.ok ? 0 : result.aborted ? 130 : 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await client.end().catch(() => undefined);
    }
  },
};

export default waitForReplicasCommand;

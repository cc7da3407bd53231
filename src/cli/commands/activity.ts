// `pgpreflight activity`: is the database under pressure, and from what? Samples
// pg_stat_activity on one connection (one round trip per sample) and shows average active
// sessions by wait class, the top wait events and statements, and a one-line hypothesis.
// Live with --watch on a terminal; one line per second when piped. Read-only.
import type pg from 'pg';
import { activityReport, type ActivityReport } from '../../activity/report.js';
import { readActivityServer, sampleLoop, type ActivityServer } from '../../activity/sampler.js';
import { secondsOf, summarize, type ActivitySample, type Second } from '../../activity/summary.js';
import { renderActivityJson, renderActivityMarkdown, renderActivityTable, streamHeader, streamLine } from '../../activity/view.js';
import { chartColumns, ENTER_ALT_SCREEN, HIDE_CURSOR, HOME_AND_CLEAR, LEAVE_ALT_SCREEN, renderWatchScreen, SHOW_CURSOR } from '../../activity/chart.js';
import { loadCheckConfig } from '../../api/check.js';
import { resolveSettings, singleConnection } from '../../config/settings.js';
import { connect, type ConnectionSpec } from '../../core/connection.js';
import { describeConnectionError, PreflightError, redact } from '../../core/errors.js';
import { formatDuration } from '../../core/units.js';
import { APPLICATION_NAME } from '../../gate/runner.js';
import { connectionFlags, parsePositiveDuration, stopSignal, useColor } from './shared.js';
import type { Args, CommandModule, Io } from './types.js';

const FORMATS = ['table', 'json', 'markdown'] as const;
type Format = (typeof FORMATS)[number];

const DEFAULT_DURATION = '10s';
const DEFAULT_INTERVAL = '100ms';
const MIN_INTERVAL_MS = 10;

interface Options {
  format: Format;
  intervalMs: number;
  durationMs: number | null;
  timeoutMs: number;
  cpus: number | null;
  cpusSource: string;
}

type Terminal = Io['stdout'] & { rows?: number; on?: (event: 'resize', listener: () => void) => unknown; off?: (event: 'resize', listener: () => void) => unknown };

/** --cpus, else PGPREFLIGHT_CPUS, else the config file's thresholds.load.cpus (the load check reads the same). */
async function cpusOf(args: Args, io: Io): Promise<{ cpus: number | null; source: string }> {
  const config = await loadCheckConfig(args, io.env);
  const settings = resolveSettings({ args: { cpus: args.cpus }, env: io.env, config });
  const sourced = settings.thresholds.load?.cpus;
  return !sourced || sourced.value === null ? { cpus: null, source: 'unknown' } : { cpus: sourced.value, source: sourced.source };
}

function parseOptions(args: Args, watching: boolean): Omit<Options, 'cpus' | 'cpusSource'> {
  const format = (args.format ?? 'table') as Format;
  if (watching && format === 'markdown') throw new PreflightError('--format markdown is a summary of one window: drop --watch, or use --format table or json with --watch');
  const intervalMs = parsePositiveDuration(String(args.interval ?? DEFAULT_INTERVAL), '--interval');
  if (intervalMs < MIN_INTERVAL_MS) throw new PreflightError(`--interval must be at least ${MIN_INTERVAL_MS}ms, got "${String(args.interval)}"`);
  const durationText = args.duration === undefined ? (watching ? undefined : DEFAULT_DURATION) : String(args.duration);
  const durationMs = durationText === undefined ? null : parsePositiveDuration(durationText, '--duration');
  if (durationMs !== null && durationMs < intervalMs) throw new PreflightError(`--duration (${durationText}) must be at least one --interval (${formatDuration(intervalMs)})`);
  const timeoutMs = parsePositiveDuration(String(args.timeout ?? '5s'), '--timeout');
  return { format, intervalMs, durationMs, timeoutMs };
}

/** A progress line on stderr, on a terminal that reports its width only. */
function progress(io: Io, durationMs: number): { tick: (elapsedMs: number) => void; done: () => void } {
  const columns = (io.stderr as { columns?: number }).columns ?? 0;
  if (!io.stderr.isTTY || columns <= 0) return { tick: () => undefined, done: () => undefined };
  let shown = -1;
  return {
    tick: (elapsedMs) => {
      const second = Math.floor(elapsedMs / 1000);
      if (second === shown) return;
      shown = second;
      io.stderr.write(`\r\x1b[2Ksampling pg_stat_activity: ${formatDuration(Math.min(elapsedMs, durationMs))} of ${formatDuration(durationMs)}`);
    },
    done: () => io.stderr.write('\r\x1b[2K'),
  };
}

/** Ends the connection's socket when a sample does not come back within the budget (a server that stops answering). */
function withWatchdog(client: pg.Client, timeoutMs: number): { arm: () => void; disarm: () => void; fired: () => boolean } {
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  return {
    arm: () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fired = true;
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }, timeoutMs + 1000);
    },
    disarm: () => clearTimeout(timer),
    fired: () => fired,
  };
}

function report(samples: readonly ActivitySample[], server: ActivityServer, spec: ConnectionSpec, options: Options, top: number): ActivityReport {
  const summary = summarize(samples, { cpus: options.cpus, role: server.currentUser, top });
  return activityReport(summary, { server, address: spec.display, intervalMs: options.intervalMs, cpusSource: options.cpusSource });
}

function renderSummary(io: Io, format: Format, activity: ActivityReport): string {
  const terminal = io.stdout as Terminal;
  const width = terminal.isTTY && (terminal.columns ?? 0) > 0 ? (terminal.columns as number) : Number.POSITIVE_INFINITY;
  if (format === 'json') return renderActivityJson(activity);
  if (format === 'markdown') return renderActivityMarkdown(activity);
  return renderActivityTable(activity, { color: useColor(io), width });
}

async function once(io: Io, client: pg.Client, server: ActivityServer, spec: ConnectionSpec, options: Options): Promise<number> {
  const samples: ActivitySample[] = [];
  const { stopped, dispose } = stopSignal();
  const bar = progress(io, options.durationMs ?? 0);
  const started = performance.now();
  const watchdog = withWatchdog(client, options.timeoutMs);
  try {
    watchdog.arm();
    await sampleLoop(client, {
      intervalMs: options.intervalMs,
      statementTimeoutMs: options.timeoutMs,
      durationMs: options.durationMs,
      stopped,
      onSample: (sample) => {
        watchdog.arm();
        samples.push(sample);
        bar.tick(performance.now() - started);
      },
    });
  } catch (error) {
    if (watchdog.fired()) throw new PreflightError(`${spec.display} did not answer a sample within --timeout ${options.timeoutMs} ms. Check the server's load and network, or raise --timeout`, { cause: error });
    throw error;
  } finally {
    watchdog.disarm();
    bar.done();
    dispose();
  }
  io.stdout.write(redact(renderSummary(io, options.format, report(samples, server, spec, options, options.format === 'json' ? 10 : 5)), spec.secrets));
  return 0;
}

async function watch(io: Io, client: pg.Client, server: ActivityServer, spec: ConnectionSpec, options: Options): Promise<number> {
  const terminal = io.stdout as Terminal;
  const live = options.format === 'table' && Boolean(terminal.isTTY);
  const color = useColor(io);
  const out = (text: string): void => {
    io.stdout.write(redact(text, spec.secrets));
  };
  const samples: ActivitySample[] = [];
  let origin: number | null = null;
  let lastSecond: number | null = null;
  const { stopped, dispose } = stopSignal();
  const watchdog = withWatchdog(client, options.timeoutMs);
  const size = (): { width: number; height: number } => ({ width: terminal.columns && terminal.columns > 0 ? terminal.columns : 80, height: terminal.rows && terminal.rows > 0 ? terminal.rows : 24 });
  const draw = (): void => {
    if (origin === null || samples.length === 0) return;
    const { width, height } = size();
    const now = origin + Math.floor(((samples[samples.length - 1] as ActivitySample).at - origin) / 1000) * 1000;
    const visibleFrom = now - (chartColumns(width) - 1) * 1000;
    const shown = samples.filter((s) => s.at >= visibleFrom);
    const seconds = secondsOf(shown, origin);
    const summary = summarize(shown, { cpus: options.cpus, role: server.currentUser, top: 3, origin });
    const frame = renderWatchScreen({ address: spec.display, intervalMs: options.intervalMs, cpus: options.cpus, seconds, summary, now, width, height, color });
    out(HOME_AND_CLEAR + frame.join('\n'));
  };
  const emit = (second: Second): void => {
    out(options.format === 'json' ? `${JSON.stringify({ version: 1, at: new Date(second.at).toISOString(), samples: second.samples, aas: second.aas, byClass: second.byClass, hidden: second.hidden, cpus: options.cpus })}\n` : streamLine(second));
  };
  /** The second that just ended, once a sample lands in the next one. */
  const completed = (index: number): Second | undefined => secondsOf(samples.filter((s) => Math.floor((s.at - (origin as number)) / 1000) === index), origin ?? undefined)[0];
  const onResize = (): void => draw();
  if (live) {
    out(ENTER_ALT_SCREEN + HIDE_CURSOR);
    terminal.on?.('resize', onResize);
  } else if (options.format === 'table') out(streamHeader());
  try {
    watchdog.arm();
    await sampleLoop(client, {
      intervalMs: options.intervalMs,
      statementTimeoutMs: options.timeoutMs,
      durationMs: options.durationMs,
      stopped,
      onSample: (sample) => {
        watchdog.arm();
        origin ??= sample.at;
        samples.push(sample);
        const index = Math.floor((sample.at - origin) / 1000);
        if (lastSecond !== null && index !== lastSecond) {
          if (live) draw();
          else {
            const done = completed(lastSecond);
            if (done) emit(done);
          }
        } else if (lastSecond === null && live) draw();
        lastSecond = index;
        // Keep what the widest chart can show (one column per second), no more.
        const keepFrom = sample.at - (chartColumns(Math.max(size().width, 400)) + 1) * 1000;
        while (samples.length > 0 && (samples[0] as ActivitySample).at < keepFrom) samples.shift();
      },
    });
    if (live) draw();
    else if (lastSecond !== null) {
      const last = completed(lastSecond);
      if (last) emit(last);
    }
  } catch (error) {
    if (watchdog.fired()) throw new PreflightError(`${spec.display} did not answer a sample within --timeout ${options.timeoutMs} ms. Check the server's load and network, or raise --timeout`, { cause: error });
    throw error;
  } finally {
    watchdog.disarm();
    dispose();
    if (live) {
      terminal.off?.('resize', onResize);
      out(SHOW_CURSOR + LEAVE_ALT_SCREEN);
    }
  }
  // The live screen leaves no trace in the scrollback: the summary of what it showed does.
  if (live && origin !== null) {
    const { width } = size();
    const visibleFrom = (samples[samples.length - 1] as ActivitySample).at - chartColumns(width) * 1000;
    out(renderSummary(io, 'table', report(samples.filter((s) => s.at >= visibleFrom), server, spec, options, 5)));
  }
  return 0;
}

const activity: CommandModule = {
  builder: (y) =>
    connectionFlags(y)
      .option('url', { type: 'string', describe: 'connection URL or keyword/value string (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass)' })
      .option('duration', { type: 'string', describe: `how long to sample [default: ${DEFAULT_DURATION}; with --watch: until Ctrl-C]` })
      .option('interval', { type: 'string', describe: `time between samples, one round trip each [default: ${DEFAULT_INTERVAL}]` })
      .option('cpus', { type: 'string', describe: 'the server\'s CPU count, to judge AAS against (else PGPREFLIGHT_CPUS, else the config file\'s thresholds.load.cpus) [default: unknown]' })
      .option('format', { choices: FORMATS, default: 'table', describe: 'output format on stdout (json with --watch: one document per second)' })
      .option('watch', { type: 'boolean', describe: 'live chart on a terminal, one column per second; piped: one line per second' })
      .option('timeout', { type: 'string', default: '5s', describe: 'time budget for connecting and for each sample' })
      .option('config', { type: 'string', describe: 'configuration file (for thresholds.load.cpus; else PGPREFLIGHT_CONFIG, else the usual search)' })
      .example('$0 activity', 'AAS by wait class over 10 seconds, with the top waits and statements')
      .example('$0 activity --watch --cpus 8', 'live stacked chart against 8 CPUs')
      .example('$0 activity --duration 30s --format markdown', 'a summary to paste into the incident channel'),
  async handler(args, io) {
    const watching = args.watch === true;
    const parsed = parseOptions(args, watching);
    const { cpus, source } = await cpusOf(args, io);
    const options: Options = { ...parsed, cpus, cpusSource: source };
    const spec = singleConnection(args, io.env);
    const client = await connect(spec, { applicationName: APPLICATION_NAME, timeoutMs: options.timeoutMs });
    try {
      let server: ActivityServer;
      try {
        server = await readActivityServer(client);
      } catch (error) {
        throw describeConnectionError(error, spec.display);
      }
      try {
        return watching ? await watch(io, client, server, spec, options) : await once(io, client, server, spec, options);
      } catch (error) {
        throw describeConnectionError(error, spec.display);
      }
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};

export default activity;

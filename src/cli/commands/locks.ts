// `pgpreflight locks`: who blocks whom right now, and what to do about it.
// Read-only unless --terminate is given (src/incident/terminate.ts).
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { readBlockingTree, type TreeLook } from '../../api/locks.js';
import { singleConnection } from '../../config/settings.js';
import { connect, type ConnectionSpec } from '../../core/connection.js';
import { PreflightError, redact } from '../../core/errors.js';
import type { BlockingTree } from '../../incident/blocking-tree.js';
import { CLEAR_SCREEN, ENTER_ALTERNATE_SCREEN, HIDE_CURSOR, LEAVE_ALTERNATE_SCREEN, renderTree, renderWatchScreen, SHOW_CURSOR, summaryLine, treeJson, type ScreenSize, type WatchSample } from '../../incident/locks-view.js';
import { KeptConnections } from '../../gate/connections.js';
import { APPLICATION_NAME } from '../../gate/runner.js';
import type { TableRequest } from '../../gate/snapshot.js';
import { selectTerminations, TERMINATE_MODES, terminateRootBlockers, type TerminateMode } from '../../incident/terminate.js';
import { parseCount } from '../../core/units.js';
import { connectionFlags, listOf, parsePositiveDuration, parseTables, stopSignal, terminalWidth, useColor } from './shared.js';
import type { Args, CommandModule, Io } from './types.js';

const FORMATS = ['table', 'json'] as const;
type Format = (typeof FORMATS)[number];

const DEFAULT_WATCH_INTERVAL = '2s';
/** Samples kept for the sparkline. */
const HISTORY = 60;

/** The terminal's size for the live screen; null when stdout is not a terminal that reports one. */
function screenSize(io: Io): ScreenSize | null {
  const out = io.stdout as Io['stdout'] & { rows?: number };
  return out.isTTY && (out.columns ?? 0) > 0 && (out.rows ?? 0) > 0 ? { columns: out.columns as number, rows: out.rows as number } : null;
}

/** One look on the kept connection, within --timeout. */
function lookAt(connections: KeptConnections, spec: ConnectionSpec, tables: readonly TableRequest[], timeoutMs: number): Promise<TreeLook> {
  return connections.look(spec, { timeoutMs, deadline: Date.now() + timeoutMs }, (client, memory) => readBlockingTree(client, tables, timeoutMs, spec.display, spec.user, memory));
}

/** Refreshes until Ctrl-C or --refreshes: each one batch on a connection kept open (replaced if lost). */
async function watch(io: Io, connections: KeptConnections, spec: ConnectionSpec, tables: readonly TableRequest[], options: { intervalMs: number; timeoutMs: number; format: Format; refreshes: number | null }): Promise<number> {
  // Live only on a terminal that reports its size; piped, every look is printed whole.
  const live = options.format === 'table' && screenSize(io) !== null;
  const color = useColor(io);
  const history: WatchSample[] = [];
  const { stopped, dispose } = stopSignal();
  let stop = false;
  void stopped.then(() => (stop = true));
  let last: BlockingTree | null = null;
  const draw = (): void => {
    const size = screenSize(io);
    if (!last || !size) return;
    io.stdout.write(redact(CLEAR_SCREEN + renderWatchScreen(last, history, options.intervalMs, color, size), spec.secrets));
  };
  // A resized terminal gets the same look again at its new size, at once.
  const stdout = io.stdout as NodeJS.WritableStream & { on?: (event: string, listener: () => void) => unknown; off?: (event: string, listener: () => void) => unknown };
  if (live) {
    io.stdout.write(ENTER_ALTERNATE_SCREEN + HIDE_CURSOR);
    stdout.on?.('resize', draw);
  }
  try {
    for (let count = 0; !stop && (options.refreshes === null || count < options.refreshes); count += 1) {
      if (count > 0) await Promise.race([stopped, new Promise((r) => setTimeout(r, options.intervalMs))]);
      if (stop) break;
      const { tree } = await lookAt(connections, spec, tables, options.timeoutMs);
      history.push({ waiting: tree.waiting, oldestWaitSeconds: tree.oldestWaitSeconds ?? 0 });
      if (history.length > HISTORY) history.shift();
      last = tree;
      if (live) draw();
      else io.stdout.write(redact(options.format === 'json' ? treeJson(tree) : `${renderTree(tree, color, terminalWidth(io))}\n`, spec.secrets));
    }
  } finally {
    dispose();
    if (live) {
      stdout.off?.('resize', draw);
      // Back to the normal screen, which shows what it showed before; one line says what the last look saw.
      io.stdout.write(SHOW_CURSOR + LEAVE_ALTERNATE_SCREEN);
      if (last) io.stdout.write(`pgpreflight locks --watch stopped; last look: ${summaryLine(last)}\n`);
    }
  }
  return 0;
}

async function confirm(io: Io, question: string): Promise<boolean> {
  if (!io.stdin) return false;
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    io.stderr.write(question);
    const answer = await new Promise<string>((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^\s*y(es)?\s*$/i.test(answer);
  } finally {
    rl.close();
  }
}

/** --older-than in ms; checked before connecting, so a typo never reaches the server. */
function olderThanOf(args: Args): number {
  if (args['older-than'] === undefined) throw new PreflightError('--terminate needs --older-than <duration>, e.g. --terminate idle --older-than 5m');
  return parsePositiveDuration(String(args['older-than']), '--older-than');
}

async function terminate(io: Io, args: Args, client: pg.Client, spec: ConnectionSpec, tables: readonly TableRequest[], timeoutMs: number, mode: TerminateMode): Promise<number> {
  const olderThanMs = olderThanOf(args);
  const { tree, ownPid } = await readBlockingTree(client, tables, timeoutMs, spec.display, spec.user);
  const plan = selectTerminations(tree, mode, olderThanMs, ownPid);
  const color = useColor(io);
  const out = (text: string): boolean => io.stdout.write(redact(text, spec.secrets));
  out(renderTree(tree, color, terminalWidth(io)));
  for (const { node, reason } of plan.skipped) out(`left alone: ${node.pid === null ? `prepared transaction '${node.gid ?? '?'}'` : `pid ${node.pid}`}: ${reason}\n`);
  if (plan.selected.length === 0) {
    out(`Nothing to terminate: no root blocker is ${mode === 'idle' ? 'idle and ' : ''}older than ${String(args['older-than'])}.\n`);
    return 0;
  }
  out(`To terminate (${mode}, transaction older than ${String(args['older-than'])}): ${plan.selected.map((n) => `pid ${n.pid}`).join(', ')}\n`);
  if (args.yes !== true) {
    const onTerminal = Boolean(io.stdin?.isTTY) && Boolean(io.stderr.isTTY);
    if (!onTerminal) throw new PreflightError('refusing to terminate without confirmation: not on a terminal. Re-run with --yes to confirm in a script');
    if (!(await confirm(io, `Terminate ${plan.selected.length} session(s)? Their open transactions roll back. [y/N] `))) {
      out('Not confirmed: nothing terminated.\n');
      return 1;
    }
  }
  const outcomes = await terminateRootBlockers(client, plan.selected, mode, olderThanMs);
  for (const outcome of outcomes) {
    out(outcome.terminated ? `terminated pid ${outcome.pid}\n` : `did not terminate pid ${outcome.pid}: ${outcome.reason ?? 'unknown'}\n`);
  }
  return outcomes.every((o) => o.terminated) ? 0 : 1;
}

const locks: CommandModule = {
  builder: (y) =>
    connectionFlags(y)
      .option('url', { type: 'string', describe: 'connection URL or keyword/value string (else DATABASE_URL, else PGHOST/PGPORT/PGUSER/... and ~/.pgpass)' })
      .option('table', { type: 'string', array: true, describe: 'show only the trees that touch this table (repeatable); default: the whole database' })
      .option('format', { choices: FORMATS, default: 'table', describe: 'output format on stdout (json: one document per refresh)' })
      .option('watch', { type: 'string', describe: `refresh every interval until Ctrl-C [default interval: ${DEFAULT_WATCH_INTERVAL}]` })
      .option('refreshes', { type: 'string', describe: 'with --watch, stop after this many refreshes' })
      .option('terminate', { choices: TERMINATE_MODES, describe: 'terminate matching root blockers: idle (idle in transaction) or all; needs --older-than' })
      .option('older-than', { type: 'string', describe: 'with --terminate: only root blockers whose transaction is at least this old' })
      .option('yes', { type: 'boolean', describe: 'with --terminate: do not ask for confirmation (required without a terminal)' })
      .option('timeout', { type: 'string', default: '10s', describe: 'time budget for connecting and for each look' })
      .example('$0 locks --table orders', 'who blocks orders, and the exact fix')
      .example('$0 locks --watch 1s', 'live view of the lock queue')
      .example('$0 locks --table orders --terminate idle --older-than 5m', 'end idle-in-transaction root blockers older than 5 minutes'),
  async handler(args, io) {
    const tables = parseTables(listOf(args.table), 'AccessExclusiveLock');
    const timeoutMs = parsePositiveDuration(String(args.timeout ?? '10s'), '--timeout');
    const format = (args.format ?? 'table') as Format;
    const watching = args.watch !== undefined;
    const mode = args.terminate as TerminateMode | undefined;
    if (watching && mode !== undefined) throw new PreflightError('--watch and --terminate do not mix: look first, then run --terminate once');
    if (mode === undefined && (args['older-than'] !== undefined || args.yes === true)) throw new PreflightError('--older-than and --yes go with --terminate idle|all');
    const intervalMs = watching ? parsePositiveDuration(String(args.watch) || DEFAULT_WATCH_INTERVAL, '--watch') : 0;
    const refreshes = args.refreshes === undefined ? null : parseCount(String(args.refreshes)) ?? null;
    if (args.refreshes !== undefined && (refreshes === null || refreshes < 1)) throw new PreflightError(`--refreshes must be a whole number of at least 1, got "${String(args.refreshes)}"`);
    if (mode !== undefined) olderThanOf(args);
    const spec = singleConnection(args, io.env);
    if (mode !== undefined) {
      const client = await connect(spec, { applicationName: APPLICATION_NAME, timeoutMs });
      try {
        return await terminate(io, args, client, spec, tables, timeoutMs, mode);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    const connections = new KeptConnections(APPLICATION_NAME);
    try {
      if (watching) return await watch(io, connections, spec, tables, { intervalMs, timeoutMs, format, refreshes });
      const { tree } = await lookAt(connections, spec, tables, timeoutMs);
      // Done with the server: the goodbye need not be waited for before printing.
      void connections.close({ detach: true });
      io.stdout.write(redact(format === 'json' ? treeJson(tree) : renderTree(tree, useColor(io), terminalWidth(io)), spec.secrets));
      return 0;
    } finally {
      void connections.close({ detach: true });
    }
  },
};

export default locks;

// Flag parsing shared by the commands that run the gate (check, run, locks).
import { CHECKS } from '../../../checks/index.js';
import type { CheckDefinition, OptionSpec } from '../../../checks/types.js';
import { PreflightError } from '../../core/errors.js';
import { LOCK_MODES, parseLockMode, type LockMode } from '../../core/lock-modes.js';
import { didYouMean } from '../../core/text.js';
import { parseDuration } from '../../core/units.js';
import type { Argv } from 'yargs';
import type { Io } from './types.js';

/** Splits repeatable, comma-separable list flags: --only a,b --only c. */
export function listOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

export function selectChecks(only: string[], skip: string[]): CheckDefinition[] {
  const known = new Set(CHECKS.map((c) => c.id));
  for (const id of [...only, ...skip]) {
    if (!known.has(id)) throw new PreflightError(`unknown check "${id}" in --only/--skip${didYouMean(id, known)}: the checks are ${[...known].join(', ')}`);
  }
  const selected = CHECKS.filter((c) => (only.length === 0 || only.includes(c.id)) && !skip.includes(c.id));
  if (selected.length === 0) throw new PreflightError('--only/--skip leave no check to run: the gate would evaluate nothing. Run fewer --skip, or name checks in --only');
  return selected;
}

export { parseTables } from '../../core/identifiers.js';

export function parseLockModeFlag(value: string | undefined, flag = '--lock-mode'): LockMode {
  if (value === undefined) return 'AccessExclusiveLock';
  const mode = parseLockMode(value);
  if (!mode) throw new PreflightError(`${flag} must be one of ${LOCK_MODES.join(', ')}, got "${value}"`);
  return mode;
}

export function parsePositiveDuration(value: string, flag: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new PreflightError(`${flag} must be a positive duration such as 10s or 1m, got "${value}"`);
  return ms;
}

/** The terminal's width for layout: its columns on a terminal, else $COLUMNS, else undefined (the reporter's default). */
export function terminalWidth(io: Io): number | undefined {
  const columns = io.stdout.isTTY ? io.stdout.columns : undefined;
  if (columns !== undefined && columns > 0) return columns;
  const env = Number(io.env.COLUMNS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}

export function useColor(io: Io): boolean {
  return Boolean(io.stdout.isTTY) && io.env.NO_COLOR === undefined && io.env.TERM !== 'dumb';
}

const CONNECTION_GROUP = 'Connection (as psql; explicit -h/-p/-U/-d > --url > DATABASE_URL > PG* environment > defaults):';

/** libpq's connection options as psql spells them, for every command that connects. */
export function connectionFlags(argv: Argv): Argv {
  return argv
    .option('host', { alias: 'h', type: 'string', group: CONNECTION_GROUP, describe: 'server host name or socket directory [else the URL, PGHOST, a local socket or localhost]' })
    .option('port', { alias: 'p', type: 'string', group: CONNECTION_GROUP, describe: 'server port [else the URL, PGPORT, 5432]' })
    .option('username', { alias: 'U', type: 'string', group: CONNECTION_GROUP, describe: 'user name [else the URL, PGUSER, the OS user]' })
    .option('dbname', { alias: 'd', type: 'string', group: CONNECTION_GROUP, describe: 'database name, or a whole URL or keyword/value connection string as psql -d takes [else the URL, PGDATABASE, the user name]' });
}

/** What a threshold's value is, as --help says it: its unit and how to write one. */
export function unitOf(spec: OptionSpec): string {
  if (spec.percent) return 'percent, 0 to 100';
  return spec.kind === 'duration' ? 'duration: 500ms, 5s, 1m' : spec.kind === 'size' ? 'size: 512kB, 100MB, 1GB' : 'count';
}

/** One --flag per check option, generated from the checks' metadata, with its unit and default. */
export function thresholdFlags(argv: Argv): Argv {
  let out = argv;
  for (const check of CHECKS) {
    for (const spec of Object.values(check.options)) {
      out = out.option(spec.flag, {
        type: 'string',
        group: `Thresholds (${check.id}):`,
        describe: `${spec.description} [${unitOf(spec)}; default: ${spec.default ?? 'off'}]`,
      });
    }
  }
  return out;
}

/** The raw threshold strings given on the command line, by flag name. */
export function thresholdArgs(args: Record<string, unknown>): Record<string, string | undefined> {
  const raw: Record<string, string | undefined> = {};
  for (const check of CHECKS) {
    for (const spec of Object.values(check.options)) {
      const value = args[spec.flag];
      if (Array.isArray(value)) throw new PreflightError(`--${spec.flag} was given more than once`);
      raw[spec.flag] = value === undefined ? undefined : String(value);
    }
  }
  return raw;
}

/** Shows an ora spinner on stderr while work runs, on a terminal only; ora loads only then. */
export async function withSpinner<T>(io: Io, enabled: boolean, text: string, work: () => Promise<T>): Promise<T> {
  // A pseudo-terminal that reports no width (script(1), some CI runners) makes ora's line
  // clearing loop without end; such a terminal gets no spinner.
  const columns = (io.stderr as { columns?: number }).columns ?? 0;
  if (!enabled || !io.stderr.isTTY || columns <= 0) return work();
  const { default: ora } = await import('ora');
  // discardStdin off: the spinner must never take over standard input (prompts, piped SQL).
  const spinner = ora({ text, stream: io.stderr, discardStdin: false }).start();
  try {
    return await work();
  } finally {
    spinner.stop();
  }
}

/** Resolves on Ctrl-C or SIGTERM, so a window or --watch ends cleanly with what it has. */
export function stopSignal(): { stopped: Promise<void>; dispose: () => void } {
  let resolveStop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolveStop = r));
  const onSignal = (): void => resolveStop();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { stopped, dispose: () => (process.off('SIGINT', onSignal), process.off('SIGTERM', onSignal)) };
}

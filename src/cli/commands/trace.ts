// `pgpreflight trace`: run the migration on a throwaway server (or a marked shadow database)
// and report what each statement really locked, rewrote and scanned. docs/trace.md.
import { resolveConnection } from '../../core/connection.js';
import { PreflightError, redact } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { listOf, parsePositiveDuration, useColor, withSpinner } from './shared.js';
import type { Args, CommandModule } from './types.js';

/** --set name=value (repeatable): session settings for the traced session. */
export function parseSettings(values: unknown): [string, string][] {
  const items = Array.isArray(values) ? values.map(String) : values === undefined ? [] : [String(values)];
  return items.map((item) => {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)$/.exec(item);
    if (!match) throw new PreflightError(`--set must be name=value, e.g. --set TimeZone=Europe/Berlin, got "${item}"`);
    return [match[1] as string, (match[2] as string).trim()];
  });
}

function durationFlag(args: Args, flag: string, fallback: string): number {
  const value = args[flag];
  if (Array.isArray(value)) throw new PreflightError(`--${flag} was given more than once`);
  return parsePositiveDuration(value === undefined ? fallback : String(value), `--${flag}`);
}

/** --history paths; false for --no-history (yargs gives `[false]`); undefined when neither was given. */
function historyFlag(value: unknown): string[] | false | undefined {
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  if (items.some((item) => item === false)) {
    if (items.length > 1) throw new PreflightError('--no-history and --history contradict each other: give one of them');
    return false;
  }
  return listOf(items);
}

function majorFlag(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (!/^\d+$/.test(text)) throw new PreflightError(`--pg-major must be a PostgreSQL major version such as 17, got "${text}"`);
  return Number(text);
}

const trace: CommandModule = {
  builder: (y) =>
    y
      .option('migration', { type: 'string', array: true, describe: 'the pending migration: .sql files, a directory of them (in the order their tool runs them, as check reads it), or - for stdin (repeatable)' })
      .option('history', { type: 'string', array: true, describe: 'files or directories applied first, for real, to build the schema (a directory: its migrations that run before the pending ones, in the order check gives it; down/undo files never) [default: the migrations beside the first pending file that run before it; --no-history for none]' })
      .option('in-transaction', { type: 'boolean', describe: 'run each pending file in one transaction, as Rails, Flyway, golang-migrate and most runners do' })
      .option('set', { type: 'string', array: true, describe: 'a setting for the traced session, as your deploy session has it: --set TimeZone=Europe/Berlin (repeatable)' })
      .option('pg-major', { type: 'string', describe: 'PostgreSQL major of the throwaway server, to match production [default: PGPREFLIGHT_PG_MAJOR, else the installed default]' })
      .option('url', { type: 'string', describe: "trace on this existing database instead (needs --shadow and the database marker: COMMENT ON DATABASE <name> IS 'pgpreflight:shadow'); everything is rolled back" })
      .option('shadow', { type: 'boolean', describe: 'with --url: the database is a disposable shadow/CI copy you marked' })
      .option('format', { choices: ['table', 'json'] as const, describe: 'output on stdout [default: table]' })
      .option('statement-timeout', { type: 'string', describe: 'statement_timeout of the traced session [default: 60s]' })
      .option('lock-timeout', { type: 'string', describe: 'lock_timeout of the traced session (matters on a shared shadow) [default: 5s]' })
      .option('timeout', { type: 'string', describe: 'connection timeout for --url [default: 10s]' })
      .example('$0 trace --migration db/migrate/0042_add_index.sql', 'apply 0001..0041 on a throwaway server, then trace 0042')
      .example('$0 trace --migration pending/ --history schema.sql --format json', 'trace on top of a schema dump')
      .example('$0 trace --url "$SHADOW_URL" --shadow --migration pending/', 'trace on a marked shadow database, rolled back afterwards'),
  async handler(args, io) {
    const pendingPaths = listOf(args.migration);
    if (pendingPaths.length === 0) throw new PreflightError('trace needs --migration <file.sql|dir|->: the pending migration to run');
    const history = historyFlag(args.history);
    const url = args.url as string | undefined;
    if (Array.isArray(url)) throw new PreflightError('--url was given more than once: the trace runs on one database');
    if (args.shadow === true && url === undefined) throw new PreflightError('--shadow needs --url: the marked shadow database to trace on');
    if (url !== undefined && args.shadow !== true) {
      throw new PreflightError("trace --url runs the migration on that database: pass --shadow to confirm it is a disposable shadow/CI copy (and mark it: COMMENT ON DATABASE <name> IS 'pgpreflight:shadow')");
    }
    if (url !== undefined && history !== undefined && history !== false) {
      throw new PreflightError('--history applies to the throwaway server only: a shadow database must already be at the state before the pending migration');
    }
    const timeoutMs = args.timeout === undefined ? 10_000 : parseDuration(String(args.timeout));
    if (timeoutMs === undefined || timeoutMs <= 0) throw new PreflightError(`--timeout must be a positive duration such as 10s, got "${String(args.timeout)}"`);
    const spec = url !== undefined ? resolveConnection(url, io.env) : undefined;
    const options = {
      inTransaction: args['in-transaction'] === true,
      settings: parseSettings(args.set),
      statementTimeoutMs: durationFlag(args, 'statement-timeout', '60s'),
      lockTimeoutMs: durationFlag(args, 'lock-timeout', '5s'),
    };
    const major = majorFlag(args['pg-major']);
    const format = (args.format as 'table' | 'json' | undefined) ?? 'table';
    const { traceFiles } = await import('../../trace/index.js');
    const { traceExitCode, traceJson, traceTable } = await import('../../trace/render.js');
    const where = spec ? { kind: 'shadow' as const, spec, timeoutMs } : { kind: 'throwaway' as const, ...(major === undefined ? {} : { major }) };
    const result = await withSpinner(io, format === 'table', spec ? `Tracing on ${spec.display}` : 'Tracing on a throwaway PostgreSQL', () => traceFiles(pendingPaths, history, where, options, io.stdin));
    const exitCode = traceExitCode(result);
    const text = format === 'json' ? traceJson(result) : traceTable(result, { color: useColor(io), exitCode });
    io.stdout.write(spec ? redact(text, spec.secrets) : text);
    return exitCode;
  },
};

export default trace;

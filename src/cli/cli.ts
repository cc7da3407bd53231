// The pgpreflight command line. stdout carries only the chosen format; the spinner,
// notes and errors go to stderr. main() returns the exit code; bin/ sets process.exitCode.
import yargs, { type Argv } from 'yargs';
import { COMMANDS } from './commands/index.js';
import type { Io } from './commands/types.js';
import { PreflightError, redact } from '../core/errors.js';

export type { Io } from './commands/types.js';

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

/** Secrets visible before parsing, so even a usage error cannot echo them. */
function secretsIn(argv: readonly string[], env: Io['env']): string[] {
  const secrets = [env.PGPASSWORD, env.DATABASE_URL].filter((s): s is string => Boolean(s));
  argv.forEach((arg, i) => {
    const value = arg.startsWith('--url=') ? arg.slice(6) : arg === '--url' ? argv[i + 1] : /^postgres(ql)?:\/\//i.test(arg) ? arg : undefined;
    if (!value) return;
    secrets.push(value);
    const password = /^[a-z]+:\/\/[^:@/]*:([^@]*)@/i.exec(value)?.[1];
    if (password) {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // not percent-encoded
      }
    }
  });
  return secrets;
}

/** yargs' getOptions() is public at runtime but missing from @types/yargs. */
type WithOptions = Argv & { getOptions(): { key: Record<string, unknown> } };

function hideOptions(y: Argv): Argv {
  let out = y;
  for (const key of Object.keys((y as WithOptions).getOptions().key)) out = out.hide(key);
  return out;
}

/** Runs the CLI and returns the exit code; never throws. */
/** yargs reads a lone `-` as a positional, so `--migration -` (stdin) is joined into `--migration=-`. */
function joinStdinValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    if (arg === '-' && out.at(-1) === '--migration') out[out.length - 1] = '--migration=-';
    else out.push(arg);
  }
  return out;
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let exitCode = 0;
  let debug = argv.includes('--debug');
  const secrets = secretsIn(argv, io.env);
  let failed = false;
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`pgpreflight: ${redact(message, secrets)}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${redact(error.stack, secrets)}\n`);
    exitCode = 2;
  };
  let parser = yargs()
    .scriptName('pgpreflight')
    .usage('$0 <command> [options]\n\nChecks a live PostgreSQL server before a schema migration: exit 0 safe, 1 blocked, 2 could not check.');
  // yargs renders (and caches) the command's whole help text on every run, shown or not;
  // measuring each line (string-width, Intl.Segmenter) costs more than the check's queries.
  // When no help is asked for, the options are hidden, so that render is nearly empty.
  const helpRequested = argv.includes('--help') || argv.includes('-h');
  // Only the command being run is loaded; the others are listed by name for --help.
  const invoked = argv.find((arg) => !arg.startsWith('-'));
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const command = name === invoked ? (await entry.load()).default : undefined;
    const builder = (y: Argv): Argv => (command ? (helpRequested ? command.builder(y) : hideOptions(command.builder(y))) : y);
    parser = parser.command(name, entry.describe, builder, async (args: Record<string, unknown>) => {
      debug = Boolean(args.debug);
      if (failed || !command) return;
      try {
        exitCode = await command.handler(args, io);
      } catch (error) {
        fail(error);
      }
    });
  }
  parser = parser
    .option('debug', { type: 'boolean', describe: 'show stack traces for errors' })
    .demandCommand(1, 'name a command')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(120, io.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((message, error) => {
      fail(error ?? new PreflightError(`${message}${/[.?!]$/.test(message) ? '' : '.'} Run "pgpreflight --help" for usage`));
    });
  try {
    const output = await new Promise<string>((resolve, reject) => {
      parser.parseAsync(joinStdinValues(argv), {}, (err, _argv, text) => (err && exitCode === 0 ? reject(err) : resolve(text))).catch(reject);
    });
    if (output) io.stdout.write(`${output}\n`);
  } catch (error) {
    if (exitCode === 0) fail(error);
  }
  return exitCode;
}

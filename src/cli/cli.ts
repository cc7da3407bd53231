// The pgpreflight command line. stdout carries only the chosen format; the spinner,
// notes and errors go to stderr. main() returns the exit code; bin/ sets process.exitCode.
import yargs, { type Argv } from 'yargs';
import { COMMANDS } from './commands/index.js';
import type { Io } from './commands/types.js';
import { PreflightError, redact } from '../core/errors.js';
import { visibleLength, wrapWords } from '../core/text.js';
import { ownVersion } from '../core/version.js';
import { CONNECTION_EPILOGUE } from './help-text.js';
import { renamedFlags, rewriteDeprecated } from './deprecated.js';
import { describeUsageError } from './usage-errors.js';
import type { CommandModule } from './commands/types.js';

export type { Io } from './commands/types.js';

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

/** Secrets visible before parsing, so even a usage error cannot echo them. */
function secretsIn(argv: readonly string[], env: Io['env']): string[] {
  const secrets = [env.PGPASSWORD].filter((s): s is string => Boolean(s));
  const connectionStrings = [env.DATABASE_URL];
  const uri = (text: string): boolean => /^\s*postgres(ql)?:\/\//i.test(text);
  argv.forEach((arg, i) => {
    const attached = /^(--url|--dbname|-d)=(.*)$/.exec(arg);
    const flag = attached?.[1] ?? (['--url', '--dbname', '-d'].includes(arg) ? arg : undefined);
    const value = attached ? attached[2] : flag ? argv[i + 1] : arg;
    if (value === undefined) return;
    // --url's value always; -d's only when it is a connection string (a bare -d app is a name).
    if (flag === '--url' || (flag !== undefined && (uri(value) || value.includes('='))) || (flag === undefined && (uri(value) || /password\s*=/i.test(value)))) connectionStrings.push(value);
  });
  for (const value of connectionStrings) {
    if (!value || value.trim() === '') continue;
    secrets.push(value);
    // A keyword/value string's password: password=secret or password='se cret'.
    const keyword = /(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/.exec(value)?.[1];
    if (keyword) secrets.push(keyword, keyword.replace(/^'|'$/g, '').replace(/\\(.)/g, '$1'));
    const password = /^[a-z]+:\/\/[^:@/]*:([^@]*)@/i.exec(value)?.[1];
    if (password) {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // not percent-encoded
      }
    }
  }
  return secrets.filter((s) => s.length > 0);
}

/** yargs' getOptions() is public at runtime but missing from @types/yargs. */
type WithOptions = Argv & { getOptions(): { key: Record<string, unknown> } };

function hideOptions(y: Argv): Argv {
  let out = y;
  for (const key of Object.keys((y as WithOptions).getOptions().key)) out = out.hide(key);
  return out;
}

/** yargs' usage instance: public at runtime (getInternalMethods), missing from @types/yargs. */
type WithUsage = Argv & { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };

/** Keeps yargs from rendering the command's help text on a run that shows none (a third of its parse time). */
function skipHelpCache(y: Argv): void {
  const usage = (y as WithUsage).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}

/** Every long flag and one-letter alias a command knows (hidden ones too), for "did you mean". */
function flagsOf(command: CommandModule | undefined): string[] {
  const global = ['debug', 'help'];
  if (!command) return global;
  const options = (command.builder(yargs()) as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }).getOptions();
  return [...global, ...Object.keys(options.key), ...Object.values(options.alias).flat()];
}

/** Help's width: the terminal's columns (at most 120, for reading), else $COLUMNS, else 80. */
function helpWidth(io: Io): number {
  const columns = io.stdout.isTTY ? io.stdout.columns : undefined;
  const env = Number(io.env.COLUMNS);
  const width = columns !== undefined && columns > 0 ? columns : Number.isInteger(env) && env > 0 ? env : 80;
  return Math.max(40, Math.min(120, width));
}

/**
 * A command's help: its synopsis, and the command's own options first (connection and
 * thresholds after). Its examples are collected into `examples`, laid out by
 * examplesText() rather than in yargs' two columns, which cut a long command in the middle.
 */
function helpLayout(y: Argv, name: string, describe: string, synopsis: string | undefined, examples: [string, string][]): Argv {
  y.usage(`$0 ${synopsis ?? `${name} [options]`}\n\n${describe}`);
  y.group([], 'Options:');
  y.example = ((command: string, description: string): Argv => {
    examples.push([command.replace(/\$0/g, 'pgpreflight'), description]);
    return y;
  }) as Argv['example'];
  return y;
}

/** Shell words of a command line (quotes kept with their word), a flag and its value as one. */
function shellWords(command: string): string[] {
  const words = command.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [];
  const units: string[] = [];
  for (const word of words) {
    const last = units.at(-1);
    if (last !== undefined && /^-[^\s]*$/.test(last) && !word.startsWith('-') && last !== '--') units[units.length - 1] = `${last} ${word}`;
    else units.push(word);
  }
  return units;
}

/**
 * Each example as a comment line over its command; a command wider than the screen goes on
 * with a backslash at a space between words, so it still pastes into a shell whole.
 */
function examplesText(examples: readonly [string, string][], width: number): string {
  if (examples.length === 0) return '';
  const out = ['', '', 'Examples:'];
  for (const [command, description] of examples) {
    out.push(...wrapWords(description, width - 4).map((line) => `  # ${line}`));
    let line = '  ';
    for (const word of shellWords(command)) {
      const next = line.trim() === '' ? `${line}${word}` : `${line} ${word}`;
      if (visibleLength(next) + 2 > width && line.trim() !== '') {
        out.push(`${line} \\`);
        line = `      ${word}`;
      } else line = next;
    }
    out.push(line);
  }
  return out.join('\n');
}

/** yargs reads a lone `-` as a positional, so `--migration -` (stdin) is joined into `--migration=-`. */
function joinStdinValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const arg of argv) {
    if (arg === '-' && out.at(-1) === '--migration') out[out.length - 1] = '--migration=-';
    else out.push(arg);
  }
  return out;
}

/** psql's attached short options: `-hdb.internal` → `-h db.internal` (also -p, -U, -d). */
function splitAttachedShortOptions(argv: readonly string[]): string[] {
  return argv.flatMap((arg) => {
    const match = /^-([hpUd])([^=].*)$/.exec(arg);
    return match ? [`-${match[1] as string}`, match[2] as string] : [arg];
  });
}

/** What the command line asks for before any command runs: help, the version, or a command. */
type Request = { kind: 'help'; argv: string[] } | { kind: 'version' } | { kind: 'run'; argv: string[] };

const HELP = new Set(['--help', '-?']);

/**
 * Help and version never ride along with a gate invocation: `check --table orders --help`
 * would print help and exit 0 without having looked, so any other argument makes it an
 * error. Help is `--help`, psql's `-?`, or `help [command]`; `--version` stands alone.
 * Only arguments before `--` count (after it, they belong to `run`'s command).
 */
function classify(argv: readonly string[]): Request {
  const end = argv.indexOf('--');
  const before = end < 0 ? [...argv] : argv.slice(0, end);
  const isHelp = (arg: string): boolean => HELP.has(arg) || arg.startsWith('--help=');
  const isVersion = (arg: string): boolean => arg === '--version' || arg.startsWith('--version=');
  // `pgpreflight help [command]`: help named where the command goes.
  const helpWord = before.findIndex((arg) => !arg.startsWith('-'));
  const wantsHelp = before.some(isHelp) || before[helpWord] === 'help';
  const wantsVersion = before.some(isVersion);
  if (!wantsHelp && !wantsVersion) return { kind: 'run', argv: [...argv] };
  const rest = before.filter((arg, i) => !isHelp(arg) && !isVersion(arg) && arg !== '--debug' && !(i === helpWord && arg === 'help'));
  const commandOnly = rest.length === 0 || (rest.length === 1 && Object.hasOwn(COMMANDS, rest[0] as string));
  if (wantsVersion && (wantsHelp || rest.length > 0 || end >= 0)) {
    throw new PreflightError('--version cannot be combined with other arguments: a gate invocation never exits 0 without evaluating. Run "pgpreflight --version" on its own');
  }
  if (wantsVersion) return { kind: 'version' };
  if (!commandOnly || end >= 0) {
    const command = rest.find((arg) => Object.hasOwn(COMMANDS, arg));
    throw new PreflightError(
      `--help cannot be combined with other arguments: a gate invocation never exits 0 without evaluating. Run "pgpreflight ${command === undefined ? '' : `${command} `}--help" on its own`,
    );
  }
  return { kind: 'help', argv: [...rest, '--help'] };
}

/** The positional arguments a command got beyond its own name (yargs leaves them in `_`). */
function strayPositionals(args: Record<string, unknown>): string[] {
  return (Array.isArray(args._) ? args._ : []).slice(1).map(String);
}

/**
 * A list option given without a value (`--url $UNSET --table orders`): yargs drops that
 * occurrence without a trace, so `--url "$A" --url $B` with B empty would check A alone.
 */
function emptyListOption(argv: readonly string[], parsed: Record<string, unknown>): string | undefined {
  const end = argv.indexOf('--');
  const before = end < 0 ? argv : argv.slice(0, end);
  const lists = new Set(Object.keys(parsed).filter((key) => key !== '_' && key !== '--' && Array.isArray(parsed[key])));
  return before.find((arg, i) => {
    if (!arg.startsWith('--') || !lists.has(arg.slice(2))) return false;
    const next = before[i + 1];
    return next === undefined || (next.startsWith('-') && next !== '-');
  });
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  let exitCode = 0;
  let debug = argv.includes('--debug');
  const secrets = secretsIn(argv, io.env);
  let failed = false;
  let ran = false;
  const fail = (error: unknown): void => {
    if (failed) return;
    failed = true;
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`pgpreflight: ${redact(message, secrets)}\n`);
    if (debug && error instanceof Error && error.stack) io.stderr.write(`${redact(error.stack, secrets)}\n`);
    exitCode = 2;
  };
  let request: Request;
  try {
    request = classify(splitAttachedShortOptions(argv));
  } catch (error) {
    fail(error);
    return exitCode;
  }
  if (request.kind === 'version') {
    io.stdout.write(`${ownVersion()}\n`);
    return 0;
  }
  const given = joinStdinValues(request.argv);
  const givenEnd = given.indexOf('--');
  const invoked = (givenEnd < 0 ? given : given.slice(0, givenEnd)).find((arg) => Object.hasOwn(COMMANDS, arg));
  // Old spellings keep working, with a note on stderr.
  const { argv: args, notes } = rewriteDeprecated(given, invoked);
  for (const note of notes) io.stderr.write(`pgpreflight: note: ${note}\n`);
  // yargs renders (and caches) the command's whole help text on every run, shown or not;
  // measuring each line (string-width, Intl.Segmenter) costs more than the check's queries.
  // When no help is asked for, the options are hidden and the usage and epilogue left out,
  // so that render is nearly empty.
  const helpRequested = request.kind === 'help';
  let parser = yargs().scriptName('pgpreflight');
  if (helpRequested) parser = parser.usage('$0 <command> [options]\n\nChecks a live PostgreSQL server before a schema migration: exit 0 safe, 1 blocked, 2 could not check.');
  // The cached text serves only yargs' own failure output, which .fail() below replaces.
  else skipHelpCache(parser);
  // Only the command being run is loaded; the others are listed by name for --help.
  let invokedCommand: CommandModule | undefined;
  const examples: [string, string][] = [];
  for (const [name, entry] of Object.entries(COMMANDS)) {
    const command = name === invoked ? (await entry.load()).default : undefined;
    if (command) invokedCommand = command;
    const builder = (y: Argv): Argv => (command ? (helpRequested ? command.builder(helpLayout(y, name, entry.describe, entry.usage, examples)) : hideOptions(command.builder(y))) : y);
    parser = parser.command(name, entry.describe, builder, async (parsed: Record<string, unknown>) => {
      debug = Boolean(parsed.debug);
      if (failed) return;
      try {
        // Fail closed: a command whose module was not loaded never "succeeds" silently.
        if (!command) throw new PreflightError(`the arguments before "${name}" were not understood: put the command first, e.g. pgpreflight ${name} --help`);
        const empty = emptyListOption(args, parsed);
        if (empty !== undefined) throw new PreflightError(`${empty} was given without a value (an unset variable?): give a value or leave ${empty} out`);
        const stray = strayPositionals(parsed);
        if (stray.length > 0) {
          throw new PreflightError(
            `unexpected argument "${stray[0] as string}" for ${name}: options take one value each, so quote a value with spaces (--lock-mode "SHARE ROW EXCLUSIVE")${name === 'run' ? ', and put the migration command after --' : ''}`,
          );
        }
        ran = true;
        exitCode = await command.handler(parsed, io);
      } catch (error) {
        fail(error);
      }
    });
  }
  parser = parser
    .option('debug', { type: 'boolean', describe: 'show stack traces for errors', group: 'General:' })
    .demandCommand(1, 'name a command')
    .strict()
    .recommendCommands()
    .help()
    .alias('?', 'help')
    .group(['help'], 'General:')
    .version(false)
    .epilogue(helpRequested ? CONNECTION_EPILOGUE : '')
    .wrap(helpWidth(io))
    .exitProcess(false)
    .fail((message, error) => {
      if (error) return fail(error);
      const before = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
      fail(new PreflightError(describeUsageError(message, { ...(invoked === undefined ? {} : { command: invoked }), commands: Object.keys(COMMANDS), flags: flagsOf(invokedCommand), renamed: renamedFlags(invoked), argv: before })));
    });
  try {
    const output = await new Promise<string>((resolve, reject) => {
      parser.parseAsync(args, {}, (err, _argv, text) => (err && exitCode === 0 ? reject(err) : resolve(text))).catch(reject);
    });
    // Text without an error is help, only ever asked for on its own (classify()).
    if (output && !failed) {
      if (!helpRequested) throw new PreflightError('nothing was evaluated: run a command, e.g. pgpreflight check --table orders');
      io.stdout.write(`${output}${examplesText(examples, helpWidth(io))}\n`);
    }
  } catch (error) {
    if (exitCode === 0) fail(error);
  }
  if (exitCode === 0 && !helpRequested && !ran) fail(new PreflightError('nothing was evaluated: run a command, e.g. pgpreflight check --table orders'));
  return exitCode;
}

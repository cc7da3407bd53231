// yargs' validation messages, said in pgpreflight's own words: one line, the flag as it is
// typed (--format, not "Argument: format"), the valid values, and the closest spelling
// ("did you mean --table?") for a mistyped flag, command or value.
import { didYouMean } from '../core/text.js';

export interface UsageContext {
  /** The command being run, when one was named. */
  command?: string;
  /** Every command's name. */
  commands: readonly string[];
  /** The command's long flags (without dashes) and one-letter aliases, hidden ones included. */
  flags: readonly string[];
  /** Old flag spellings of the command and their current names. */
  renamed?: readonly (readonly [string, string])[];
  /** The arguments as given (before `--`). */
  argv: readonly string[];
}

const dashed = (name: string): string => (name.length === 1 ? `-${name}` : `--${name}`);

/** foo-bar's camel-case twin fooBar, which yargs reports next to it. */
const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

function helpHint(context: UsageContext): string {
  return `run "pgpreflight ${context.command === undefined ? '' : `${context.command} `}--help" for the options`;
}

function unknownArguments(list: string, context: UsageContext): string {
  const names = list.split(', ').map((n) => n.trim()).filter((n) => n !== '');
  const reported = names.filter((n) => !names.some((other) => other !== n && camel(other) === n));
  const first = reported[0] ?? '';
  const positional = !context.argv.some((arg) => arg === `--${first}` || arg.startsWith(`--${first}=`) || arg === `-${first}` || arg === `--no-${first}`);
  if (context.command === undefined && positional) {
    return `unknown command "${first}"${didYouMean(first, context.commands)}: the commands are ${context.commands.join(', ')}`;
  }
  if (positional) {
    return `unexpected argument "${first}" for ${context.command ?? 'pgpreflight'}: options take one value each, so quote a value with spaces (--lock-mode "SHARE ROW EXCLUSIVE")${context.command === 'run' ? ', and put the migration command after --' : ''}`;
  }
  // An old spelling close to the typo is shown as its current one.
  const renamed = new Map(context.renamed ?? []);
  const candidates = [...context.flags.filter((f) => f.length > 1), ...renamed.keys()];
  const flags = reported.map((name) => `${dashed(name)}${didYouMean(name, candidates, (f) => `--${renamed.get(f) ?? f}`)}`);
  const more = flags.length > 1 ? 's' : '';
  return `unknown option${more} ${flags.join(', ')}${context.command === undefined ? '' : ` for ${context.command}`}; ${helpHint(context)}`;
}

function invalidValues(message: string): string | null {
  const problems = [...message.matchAll(/Argument: ([^,]+), Given: (.*?), Choices: (.*)$/gm)].map((m) => {
    const flag = m[1] as string;
    const given = (m[2] as string).replace(/^"|"$/g, '');
    const choices = (m[3] as string).split(', ').map((c) => c.replace(/^"|"$/g, ''));
    return `${dashed(flag)} must be one of ${choices.join(', ')}, got "${given}"${didYouMean(given, choices)}`;
  });
  return problems.length > 0 ? problems.join('; ') : null;
}

/** One line for a usage error yargs found (without the "pgpreflight: " prefix). */
export function describeUsageError(message: string, context: UsageContext): string {
  const unknown = /^Unknown arguments?: (.*)$/s.exec(message);
  if (unknown) return unknownArguments(unknown[1] as string, context);
  if (message.startsWith('Invalid values:')) {
    const said = invalidValues(message);
    if (said) return said;
  }
  const missing = /^Not enough arguments following: (.*)$/.exec(message);
  if (missing) return `${dashed((missing[1] as string).trim())} needs a value`;
  if (/^Did you mean .*\?$/.test(message)) {
    const typed = context.argv.find((arg) => !arg.startsWith('-')) ?? '';
    return `unknown command "${typed}"${didYouMean(typed, context.commands)}: the commands are ${context.commands.join(', ')}`;
  }
  const text = message.replace(/\s*\n\s*/g, ' ').trim();
  return `${text}${/[.?!:]$/.test(text) ? '' : '.'} Run "pgpreflight ${context.command === undefined ? '' : `${context.command} `}--help" for usage`;
}

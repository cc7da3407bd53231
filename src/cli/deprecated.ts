// Old spellings that users' scripts still pass: each keeps working, rewritten to the current
// one before parsing, with one note on stderr (stdout stays the chosen format). Only the
// arguments before `--` are read; after it they belong to run's command.

interface RenamedFlag {
  kind: 'flag';
  /** The commands the old spelling belongs to. */
  commands: readonly string[];
  old: string;
  now: string;
}

interface FlagToValue {
  kind: 'flag-to-value';
  commands: readonly string[];
  /** A boolean flag that became a value of another flag: config --json → --format json. */
  old: string;
  flag: string;
  value: string;
}

interface RenamedValue {
  kind: 'value';
  commands: readonly string[];
  flag: string;
  old: string;
  now: string;
}

type Deprecated = RenamedFlag | FlagToValue | RenamedValue;

export const DEPRECATED: readonly Deprecated[] = [
  // Databases at once, two letters away from --concurrently (CREATE INDEX CONCURRENTLY).
  { kind: 'flag', commands: ['check', 'config'], old: 'concurrency', now: 'parallel' },
  // Thresholds as <measure>-warn / <measure>-fail (the checks name them `formerly`).
  { kind: 'flag', commands: ['check', 'config', 'run'], old: 'max-rows', now: 'rows-fail' },
  { kind: 'flag', commands: ['check', 'config', 'run'], old: 'max-size', now: 'size-fail' },
  { kind: 'flag', commands: ['check', 'config', 'run'], old: 'rewrite-max-rows', now: 'rewrite-rows-fail' },
  { kind: 'flag', commands: ['check', 'config', 'run'], old: 'rewrite-max-size', now: 'rewrite-size-fail' },
  // One output selector: --format on every command.
  { kind: 'flag-to-value', commands: ['config'], old: 'json', flag: 'format', value: 'json' },
  { kind: 'value', commands: ['checks'], flag: 'format', old: 'text', now: 'table' },
];

export interface Rewritten {
  argv: string[];
  /** One line per old spelling used, for stderr. */
  notes: string[];
}

/** `argv` with every old spelling of `command` replaced by the current one. */
export function rewriteDeprecated(argv: readonly string[], command: string | undefined): Rewritten {
  const rules = DEPRECATED.filter((rule) => command !== undefined && rule.commands.includes(command));
  const end = argv.indexOf('--');
  const before = end < 0 ? [...argv] : argv.slice(0, end);
  const after = end < 0 ? [] : argv.slice(end);
  const notes = new Set<string>();
  const out: string[] = [];
  for (let i = 0; i < before.length; i += 1) {
    const arg = before[i] as string;
    const match = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    const attached = match?.[2];
    let replaced = false;
    for (const rule of rules) {
      if (rule.kind === 'flag' && name === rule.old) {
        out.push(attached === undefined ? `--${rule.now}` : `--${rule.now}=${attached}`);
        notes.add(`--${rule.old} is now --${rule.now} (the old spelling keeps working)`);
        replaced = true;
      } else if (rule.kind === 'flag-to-value' && name === rule.old && (attached === undefined || attached === 'true')) {
        out.push(`--${rule.flag}=${rule.value}`);
        notes.add(`--${rule.old} is now --${rule.flag} ${rule.value} (the old spelling keeps working)`);
        replaced = true;
      } else if (rule.kind === 'value' && name === rule.flag) {
        const value = attached ?? before[i + 1];
        if (value !== rule.old) continue;
        out.push(`--${rule.flag}=${rule.now}`);
        if (attached === undefined) i += 1;
        notes.add(`--${rule.flag} ${rule.old} is now --${rule.flag} ${rule.now} (the old spelling keeps working)`);
        replaced = true;
      }
      if (replaced) break;
    }
    if (!replaced) out.push(arg);
  }
  return { argv: [...out, ...after], notes: [...notes] };
}

/** The renamed flags of `command`: [old, now]. */
export function renamedFlags(command: string | undefined): [string, string][] {
  return DEPRECATED.flatMap((rule) => (rule.kind === 'flag' && command !== undefined && rule.commands.includes(command) ? [[rule.old, rule.now] as [string, string]] : []));
}

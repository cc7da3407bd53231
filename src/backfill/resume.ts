// --start-after: the last key done, as the key columns' text. One column: the value as is
// (--start-after 41999). Several: a JSON array of the values in key order
// (--start-after '["eu",1042]'). The resume command is printed shell-quoted.
import { PreflightError } from '../core/errors.js';

export function parseStartAfter(raw: string, keyColumns: readonly string[]): string[] {
  if (keyColumns.length === 1) return [raw];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const valid = Array.isArray(parsed) && parsed.length === keyColumns.length && parsed.every((v) => typeof v === 'string' || typeof v === 'number');
  if (!valid) {
    throw new PreflightError(`--start-after: the key has ${keyColumns.length} columns (${keyColumns.join(', ')}): give a JSON array of ${keyColumns.length} values, e.g. --start-after '${JSON.stringify(keyColumns.map(() => 'value'))}', got ${JSON.stringify(raw)}`);
  }
  return (parsed as (string | number)[]).map(String);
}

export function formatStartAfter(values: readonly string[]): string {
  return values.length === 1 ? (values[0] as string) : JSON.stringify(values);
}

/** Quotes one argument for a POSIX shell: bare when safe, else in single quotes. */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

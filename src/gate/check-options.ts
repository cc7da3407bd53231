// Turns the strings users give (flags, environment, config) into check option values,
// strictly: `5s` is a duration, `100MB` a size, `1000000` a count; anything else is an error.
import type { CheckDefinition, OptionSpec } from '../../checks/types.js';
import { PreflightError } from '../core/errors.js';
import { parseCount, parseDuration, parseSize } from '../core/units.js';

export function parseOptionValue(spec: OptionSpec, raw: string, source: string): number {
  const value = spec.kind === 'duration' ? parseDuration(raw) : spec.kind === 'size' ? parseSize(raw) : parseCount(raw);
  if (value === undefined) {
    const example = spec.kind === 'duration' ? 'a duration such as 500ms, 5s or 1m30s' : spec.kind === 'size' ? 'a size such as 512kB, 100MB or 1GiB' : 'a whole number such as 1000000';
    throw new PreflightError(`${source} must be ${example}, got "${raw}"`);
  }
  return value;
}

export type CheckOptionValues = Record<string, Record<string, number | null>>;

/** Defaults for every check, overridden by the given raw values keyed by flag name. */
export function resolveCheckOptions(
  checks: readonly CheckDefinition[],
  rawByFlag: Readonly<Record<string, string | undefined>>,
): CheckOptionValues {
  const out: CheckOptionValues = {};
  for (const check of checks) {
    const values: Record<string, number | null> = {};
    for (const [key, spec] of Object.entries(check.options)) {
      const raw = rawByFlag[spec.flag];
      values[key] =
        raw !== undefined ? parseOptionValue(spec, raw, `--${spec.flag}`) : spec.default === null ? null : parseOptionValue(spec, spec.default, `the default of ${spec.flag}`);
    }
    out[check.id] = values;
  }
  return out;
}

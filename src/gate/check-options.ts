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
  if (spec.percent && value > 100) throw new PreflightError(`${source} is a percentage: it must be from 0 to 100, got "${raw}"`);
  if (spec.positive && value <= 0) throw new PreflightError(`${source} must be more than 0, got "${raw}"`);
  return value;
}

/** One option's value, where it came from, and the place it was written in (null: the default). */
export interface ChosenValue {
  value: number | null;
  source: string;
  /** `flags`, `environment`, `file thresholds`, `file tables.orders`: values written together. */
  origin: string | null;
}

/**
 * Refuses thresholds in an impossible order, from the checks' own metadata (an option's
 * `atMost` names the option it must not exceed): `--lock-warn 10s --lock-fail 5s` would
 * fail before it ever warned. Refused when both sides were written in the same place (both
 * flags, both environment variables, both in one section of the file): that is a slip. A
 * value that overrides another layer (`--lock-fail 500ms` over the default or the file's
 * warning, a per-table fail under the file's global warning) is a stricter gate, and stays.
 */
export function assertThresholdOrder(check: CheckDefinition, valueOf: (key: string) => ChosenValue, where = ''): void {
  for (const [key, spec] of Object.entries(check.options)) {
    if (spec.atMost === undefined) continue;
    const upper = check.options[spec.atMost];
    if (!upper) continue;
    const low = valueOf(key);
    const high = valueOf(spec.atMost);
    if (low.origin === null || low.origin !== high.origin || low.value === null || high.value === null || low.value <= high.value) continue;
    throw new PreflightError(
      `${low.source}${where} is above ${high.source}${where}: --${spec.flag} must not exceed --${upper.flag}, or the check would block before it ever warned. Lower --${spec.flag} or raise --${upper.flag}`,
    );
  }
}

export type CheckOptionValues = Record<string, Record<string, number | null>>;

/** The raw value of an option by its flag, or by its old spelling. */
function rawOf(rawByFlag: Readonly<Record<string, string | undefined>>, spec: OptionSpec): string | undefined {
  return rawByFlag[spec.flag] ?? (spec.formerly === undefined ? undefined : rawByFlag[spec.formerly]);
}

/** Defaults for every check, overridden by the given raw values keyed by flag name (or an old spelling). */
export function resolveCheckOptions(
  checks: readonly CheckDefinition[],
  rawByFlag: Readonly<Record<string, string | undefined>>,
): CheckOptionValues {
  const out: CheckOptionValues = {};
  for (const check of checks) {
    const values: Record<string, number | null> = {};
    for (const [key, spec] of Object.entries(check.options)) {
      const raw = rawOf(rawByFlag, spec);
      values[key] =
        raw !== undefined ? parseOptionValue(spec, raw, `--${spec.flag}`) : spec.default === null ? null : parseOptionValue(spec, spec.default, `the default of ${spec.flag}`);
    }
    assertThresholdOrder(check, (key) => {
      const spec = check.options[key] as OptionSpec;
      const raw = rawOf(rawByFlag, spec);
      return { value: values[key] ?? null, source: raw === undefined ? `the default ${spec.flag}` : `--${spec.flag} ${raw}`, origin: raw === undefined ? null : 'flags' };
    });
    out[check.id] = values;
  }
  return out;
}

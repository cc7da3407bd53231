// Strict parsing of the units users write on the command line, in config files and
// in the environment. Sizes follow PostgreSQL's convention: 1kB = 1024 bytes
// (https://www.postgresql.org/docs/current/config-setting.html#CONFIG-SETTING-NAMES-VALUES);
// the IEC spellings (KiB, MiB, ...) mean the same.

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** `5s`, `1m30s`, `500ms`, `2h`, `0` → milliseconds; undefined when not a duration. */
export function parseDuration(input: string): number | undefined {
  const text = input.trim();
  if (text === '0') return 0;
  if (!/^(\d+(\.\d+)?(ms|s|min|m|h|d))+$/.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|min|m|h|d)/g)) {
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number);
  }
  return Number.isFinite(total) && total <= Number.MAX_SAFE_INTEGER ? Math.round(total) : undefined;
}

/** `100MB`, `1GiB`, `512kB`, `0` → bytes; undefined when not a size. */
export function parseSize(input: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]+)$/.exec(input.trim());
  if (input.trim() === '0') return 0;
  if (!match) return undefined;
  const factor = SIZE_UNITS[(match[2] as string).toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Number(match[1]) * factor;
  return Number.isFinite(bytes) && bytes <= Number.MAX_SAFE_INTEGER ? Math.round(bytes) : undefined;
}

/** A plain non-negative integer, `1000000` or `1_000_000`. */
export function parseCount(input: string): number | undefined {
  const text = input.trim().replace(/_/g, '');
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1).replace(/\.0$/, '') : Math.round(seconds)}s`;
  const totalSeconds = Math.round(seconds);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (h > 0) return `${h}h${m > 0 ? `${m}m` : ''}`;
  return `${m}m${s > 0 ? `${s}s` : ''}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** 1234567 → "1,234,567" (without Intl, whose first use costs milliseconds on every run). */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

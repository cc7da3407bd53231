// The configuration file kept in the repository: default thresholds per check, per-table
// overrides, checks to skip, the default lock mode and format, and named databases.
// Found the usual way by lilconfig (pgpreflight.config.json, .pgpreflightrc[.json|.yaml|.yml],
// a "pgpreflight" key in package.json) or named with --config; validated with zod in
// config-schema.ts, which (like the YAML parser) loads only when a file is found, so a run
// without a configuration file pays for neither.
// A database is named by the environment variable holding its URL: the file is committed,
// so it must never hold a password, and a `url` key is refused.
import { readFileSync } from 'node:fs';
import { basename, relative, resolve } from 'node:path';
import { lilconfig, type LilconfigResult } from 'lilconfig';
import { PreflightError } from './errors.js';
import type { LockMode } from './locks.js';
import type { ReporterName } from './reporters/index.js';

export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'pgpreflight.config.json',
  '.pgpreflightrc',
  '.pgpreflightrc.json',
  '.pgpreflightrc.yaml',
  '.pgpreflightrc.yml',
] as const;

/** Option values of the checks, by check id then option key (`locks.fail`). */
export type ThresholdValues = Record<string, Record<string, number | null>>;

export interface ConfiguredDatabase {
  name: string;
  /** Environment variable that holds the URL. */
  urlEnv: string;
  /** An unreachable optional database does not close the gate. */
  optional: boolean;
}

export interface PreflightConfig {
  /** Absolute path of the file it came from. */
  path: string;
  format?: ReporterName;
  failOn?: 'fail' | 'warn';
  lockMode?: LockMode;
  timeoutMs?: number;
  waitMs?: number;
  waitMaxIntervalMs?: number;
  concurrency?: number;
  only?: string[];
  skip?: string[];
  thresholds: ThresholdValues;
  /** Per-table overrides by table name as written (orders, billing.invoices). */
  tables: Record<string, ThresholdValues>;
  databases: ConfiguredDatabase[];
}

/** The file as people see it: relative to the working directory when inside it. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

async function parseText(filepath: string, content: string): Promise<unknown> {
  try {
    if (filepath.endsWith('.json')) return JSON.parse(content);
    // YAML is a superset of JSON, so one parser reads .yaml and the extensionless rc.
    const { parse } = await import('yaml');
    return parse(content);
  } catch (error) {
    const kind = filepath.endsWith('.json') ? 'JSON' : 'YAML or JSON';
    throw new PreflightError(`invalid configuration in ${shown(filepath)}: not valid ${kind} (${(error as Error).message.split('\n')[0]})`);
  }
}

/** For package.json lilconfig itself picks the "pgpreflight" key out of what this returns. */
const loader = (filepath: string, content: string): Promise<unknown> => parseText(filepath, content);

export interface LoadConfigOptions {
  /** --config or PGPREFLIGHT_CONFIG: this file, no search. */
  explicitPath?: string;
  /** Where the search starts; it walks up to the home directory. */
  cwd?: string;
}

/** The configuration file in effect, or null when there is none. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<PreflightConfig | null> {
  if (options.explicitPath !== undefined) {
    const path = resolve(options.cwd ?? process.cwd(), options.explicitPath);
    let content: string;
    try {
      content = readFileSync(path, 'utf8');
    } catch {
      throw new PreflightError(`the configuration file ${options.explicitPath} cannot be read: check the path given to --config`);
    }
    const data = await parseText(path, content);
    const config = basename(path) === 'package.json' ? (data as Record<string, unknown> | null)?.pgpreflight : data;
    const { validateConfig } = await import('./config-schema.js');
    return validateConfig(config, path);
  }
  const searcher = lilconfig('pgpreflight', {
    searchPlaces: [...CONFIG_SEARCH_PLACES],
    loaders: { '.json': loader, '.yaml': loader, '.yml': loader, noExt: loader },
    cache: false,
  });
  const found: LilconfigResult = await searcher.search(options.cwd ?? process.cwd());
  if (!found) return null;
  const { validateConfig } = await import('./config-schema.js');
  return validateConfig(found.config, found.filepath);
}

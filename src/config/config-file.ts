// The configuration file kept in the repository: default thresholds per check, per-table
// overrides, checks to skip, the default lock mode and format, and named databases.
// Found the usual way by lilconfig (pgpreflight.config.json, .pgpreflightrc[.json|.yaml|.yml],
// a "pgpreflight" key in package.json) or named with --config; validated with zod in
// config-schema.ts, which (like the YAML parser) loads only when a file is found, so a run
// without a configuration file pays for neither.
// A database is named by the environment variable holding its URL: the file is committed,
// so it must never hold a password, and a `url` key is refused.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { lilconfig, type LilconfigResult } from 'lilconfig';
import { PreflightError } from '../core/errors.js';
import { shown, type PreflightConfig } from './config-model.js';

export { shown, type ConfiguredDatabase, type PreflightConfig, type ThresholdValues } from './config-model.js';

export const CONFIG_SEARCH_PLACES = [
  'package.json',
  'pgpreflight.config.json',
  '.pgpreflightrc',
  '.pgpreflightrc.json',
  '.pgpreflightrc.yaml',
  '.pgpreflightrc.yml',
] as const;

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

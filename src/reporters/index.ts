// Reporters by name, loaded lazily so a JSON run never loads the table renderer.
// A reporter formats final results; it never queries the server or decides policy.
import type { Reporter } from './types.js';

export type { Reporter, ReporterContext } from './types.js';

interface ReporterModule {
  default: Reporter;
}

export const REPORTERS = {
  table: async (): Promise<ReporterModule> => import('./table.js'),
  json: async (): Promise<ReporterModule> => import('./json.js'),
  github: async (): Promise<ReporterModule> => import('./github.js'),
  markdown: async (): Promise<ReporterModule> => import('./markdown.js'),
  junit: async (): Promise<ReporterModule> => import('./junit.js'),
} as const;

export type ReporterName = keyof typeof REPORTERS;
export const REPORTER_NAMES = Object.keys(REPORTERS) as ReporterName[];

export async function loadReporter(name: ReporterName): Promise<Reporter> {
  return (await REPORTERS[name]()).default;
}

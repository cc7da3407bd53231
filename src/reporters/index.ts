// Reporters by name, loaded lazily so a JSON run never loads the table renderer.
// A reporter formats final results; it never queries the server or decides policy.
import type { Report } from '../types.js';

export interface ReporterContext {
  /** Colors are on only for a terminal without NO_COLOR. */
  color: boolean;
  /** The exit code the run will end with, so the text can say it. */
  exitCode: number;
}

export type Reporter = (report: Report, context: ReporterContext) => string;

export const REPORTERS = {
  table: async (): Promise<Reporter> => (await import('./table.js')).default,
  json: async (): Promise<Reporter> => (await import('./json.js')).default,
} as const;

export type ReporterName = keyof typeof REPORTERS;
export const REPORTER_NAMES = Object.keys(REPORTERS) as ReporterName[];

export async function loadReporter(name: ReporterName): Promise<Reporter> {
  return REPORTERS[name]();
}

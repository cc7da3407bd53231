// The text of a gate result in any output format: what `pgpreflight check --format <name>`
// prints, for the CLI and for the library's render().
import type { GateReport } from '../gate/gate.js';
import { loadReporter, type ReporterName } from '../reporters/index.js';

/** The document of a run, or anything carrying it as `report` (check()'s outcome). */
export type Renderable = GateReport | { report: GateReport };

export interface RenderOptions {
  /** table (default), json, github, markdown or junit. */
  format?: ReporterName;
  /** ANSI colors (table only). Default false. */
  color?: boolean;
  /** Passing and skipped checks and informational findings too (table, markdown). Default false. */
  verbose?: boolean;
  /** Columns to lay the table out in. Default 100. */
  width?: number;
  /** Fit the table's findings to a terminal screen (messages cut, fixes without notes). Default false. */
  compact?: boolean;
}

const documentOf = (result: Renderable): GateReport => ('databases' in result ? result : result.report);

export async function render(result: Renderable, options: RenderOptions = {}): Promise<string> {
  const reporter = await loadReporter(options.format ?? 'table');
  return reporter(documentOf(result), { color: options.color ?? false, verbose: options.verbose ?? false, compact: options.compact ?? false, ...(options.width === undefined ? {} : { width: options.width }) });
}

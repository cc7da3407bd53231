// The text of a gate result in any output format: what `pgpreflight check --format <name>`
// prints, for the CLI and for the library's render().
import type { Report } from '../core/types.js';
import type { GateReport } from '../gate/gate.js';
import { loadGateReporter, loadReporter, type ReporterName } from '../reporters/index.js';

export interface Renderable {
  /** One database's Report (or the --offline report), or the GateReport of several. */
  report: Report | GateReport;
  gate: GateReport;
  exitCode: number;
}

export interface RenderOptions {
  /** table (default), json, github, markdown or junit. */
  format?: ReporterName;
  /** ANSI colors (table only). Default false. */
  color?: boolean;
}

const isGateReport = (document: Report | GateReport): document is GateReport => 'databases' in document;

/** table and json keep the one-database Report shape; the other formats render the gate. */
export async function render(result: Renderable, options: RenderOptions = {}): Promise<string> {
  const format = options.format ?? 'table';
  const context = { color: options.color ?? false, exitCode: result.exitCode };
  if ((format === 'table' || format === 'json') && !isGateReport(result.report)) return (await loadReporter(format))(result.report, context);
  return (await loadGateReporter(format))(result.gate, context);
}

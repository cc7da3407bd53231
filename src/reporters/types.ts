// What every reporter is: a pure function from results to text.
import type { GateReport } from '../gate/gate.js';
import type { Report } from '../core/types.js';

export interface ReporterContext {
  /** Colors are on only for a terminal without NO_COLOR. */
  color: boolean;
  /** The exit code the run will end with, so the text can say it. */
  exitCode: number;
}

export type Reporter = (report: Report, context: ReporterContext) => string;

/** Renders several databases (src/gate/gate.ts), each in its own section. */
export type GateReporter = (gate: GateReport, context: ReporterContext) => string;

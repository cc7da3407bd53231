// What every reporter is: a pure function from the gate's document to text.
import type { GateReport } from '../gate/gate.js';

export interface ReporterContext {
  /** Colors are on only for a terminal without NO_COLOR. */
  color: boolean;
  /** Show passing and skipped checks and informational findings too (--verbose). */
  verbose?: boolean;
  /** The terminal's width in columns, for the table; 100 when not on a terminal. */
  width?: number;
  /** On a terminal: the table fits its findings to the screen (messages cut to two lines, fixes without their notes). */
  compact?: boolean;
}

/** Renders the document of one or several databases (src/gate/gate.ts). */
export type Reporter = (gate: GateReport, context: ReporterContext) => string;

import type { GateReporter, Reporter } from './types.js';

// The documented, stable document (README "JSON output"): one object, version 1.
const json: Reporter = (report) => `${JSON.stringify(report, null, 2)}\n`;

export default json;

// Several databases: the GateReport document (README "Several databases"), also version 1,
// with each database's own Report under databases[].report.
export const renderGate: GateReporter = (gate) => `${JSON.stringify(gate, null, 2)}\n`;

import type { Reporter } from './types.js';

// The documented, stable document (docs/json.md, schema/report.schema.json): version 2, one
// shape for one or several databases, each database's Report under databases[].report.
const json: Reporter = (gate) => `${JSON.stringify(gate, null, 2)}\n`;

export default json;

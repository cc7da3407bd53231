import type { Reporter } from './index.js';

// The documented, stable document (README "JSON output"): one object, version 1.
const json: Reporter = (report) => `${JSON.stringify(report, null, 2)}\n`;

export default json;

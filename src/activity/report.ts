// The activity report: what `pgpreflight activity` prints, as data. Formatting lives in
// view.ts (table, markdown, JSON) and chart.ts (the live screen).
import type { WaitClass } from './classes.js';
import type { ActivityServer } from './sampler.js';
import type { ActivitySummary, Hypothesis, StatementLine, WaitEventLine } from './summary.js';

export interface ActivityReport {
  version: 1;
  server: ActivityServer & { address: string };
  window: {
    from: string | null;
    to: string | null;
    /** From the first sample to the end of the last one's interval. */
    durationMs: number;
    intervalMs: number;
    samples: number;
  };
  /** null: unknown (no --cpus, PGPREFLIGHT_CPUS or thresholds.load.cpus). */
  cpus: number | null;
  /** Where the CPU count came from: `--cpus`, `PGPREFLIGHT_CPUS`, the config file key, or `unknown`. */
  cpusSource: string;
  /** Average active sessions over the window. */
  aas: number;
  byClass: Record<WaitClass, number>;
  peak: { at: string; aas: number } | null;
  topWaitEvents: WaitEventLine[];
  topStatements: StatementLine[];
  /** Sessions of other roles hidden from the role (most seen in one sample); their activity is not counted. */
  hidden: number;
  hypothesis: Hypothesis;
  seconds: { at: string; samples: number; aas: number; byClass: Record<WaitClass, number>; hidden: number }[];
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function activityReport(summary: ActivitySummary, context: { server: ActivityServer; address: string; intervalMs: number; cpusSource: string }): ActivityReport {
  return {
    version: 1,
    server: { ...context.server, address: context.address },
    window: {
      from: iso(summary.from),
      to: iso(summary.to),
      durationMs: summary.from === null || summary.to === null ? 0 : Math.round(summary.to - summary.from + context.intervalMs),
      intervalMs: context.intervalMs,
      samples: summary.samples,
    },
    cpus: summary.cpus,
    cpusSource: context.cpusSource,
    aas: summary.aas,
    byClass: summary.byClass,
    peak: summary.peak ? { at: new Date(summary.peak.at).toISOString(), aas: summary.peak.aas } : null,
    topWaitEvents: summary.topWaitEvents,
    topStatements: summary.topStatements,
    hidden: summary.hidden,
    hypothesis: summary.hypothesis,
    seconds: summary.seconds.map((s) => ({ ...s, at: new Date(s.at).toISOString() })),
  };
}

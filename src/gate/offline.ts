// `check --migration ... --offline`: the static half of the gate, no server. The
// migration-risk findings assume every table is large (its size is unknown), so a rewrite
// or scan under a write-blocking lock fails: unknown must not become a pass. Its verdict
// never reads "safe to migrate" (src/reporters/verdict.ts), and the report lists every
// live check with status skip ("not run") and `offline: true`.
import { CHECKS } from '../../checks/index.js';
import migrationRisk from '../../checks/migration-risk.js';
import { documentHeader, type GateReport } from './gate.js';
import type { Report } from '../core/types.js';
import { assessMigration } from '../migration/assess.js';
import type { MigrationAnalysis } from '../migration/index.js';

export function offlineReport(analysis: MigrationAnalysis): Report {
  const started = performance.now();
  const outcome = assessMigration(analysis, null, { maxSize: null, maxRows: null });
  return {
    verdict: outcome.status,
    server: null,
    targets: analysis.tables.map((t) => ({ input: t.input, name: t.input, oid: 0, lockMode: t.lockMode, relations: 0 })),
    checks: [
      { id: migrationRisk.id, title: migrationRisk.title, ...outcome },
      // Every live check is listed as not run, so no reader takes their absence for a pass.
      ...CHECKS.filter((c) => c.id !== migrationRisk.id).map((c) => ({ id: c.id, title: c.title, status: 'skip' as const, summary: 'not run: --offline looks at no server', findings: [] })),
    ],
    rootCauses: [],
    notes: ['--offline: the migration was read but no server was; table sizes and the sessions holding locks are unknown, so size-dependent dangers fail, and the live checks did not run'],
    offline: true,
    durationMs: Math.round(performance.now() - started),
  };
}

/** The offline report as a one-section gate, for the formats that render gates (github, markdown, junit). */
export function offlineGate(report: Report, exitCode: number): GateReport {
  return {
    ...documentHeader(),
    verdict: report.verdict,
    exitCode,
    failOn: report.verdict === 'warn' && exitCode === 1 ? 'warn' : 'fail',
    blockedBy: exitCode === 0 ? [] : ['offline'],
    databases: [{ name: 'offline', address: 'no server (--offline)', optional: false, verdict: report.verdict, exitCode, blocking: exitCode === 0 ? [] : [migrationRisk.id], report, error: null, retryable: false }],
    durationMs: report.durationMs,
  };
}

// `check --migration ... --offline`: the static half of the gate, no server. The
// migration-risk findings assume every table is large (its size is unknown), so a rewrite
// or scan under a write-blocking lock fails: unknown must not become a pass.
import migrationRisk from '../../checks/migration-risk.js';
import type { GateReport } from './gate.js';
import { loadGateReporter, loadReporter, type ReporterName } from '../reporters/index.js';
import { exitCodeFor, type FailOn } from './runner.js';
import type { Report } from '../core/types.js';
import { assessMigration } from '../migration/assess.js';
import type { MigrationAnalysis } from '../migration/index.js';

export function offlineReport(analysis: MigrationAnalysis): Report {
  const started = performance.now();
  const outcome = assessMigration(analysis, null, { maxSize: null, maxRows: null });
  return {
    version: 1,
    verdict: outcome.status,
    server: null,
    targets: analysis.tables.map((t) => ({ input: t.input, name: t.input, oid: 0, lockMode: t.lockMode, relations: 0 })),
    checks: [{ id: migrationRisk.id, title: migrationRisk.title, ...outcome }],
    notes: ['--offline: the migration was read but no server was; table sizes and the sessions holding locks are unknown, so size-dependent dangers fail'],
    durationMs: Math.round(performance.now() - started),
  };
}

/** Formats the offline report in any output format; returns the text and the exit code. */
export async function renderOffline(analysis: MigrationAnalysis, format: ReporterName, failOn: FailOn, color: boolean): Promise<{ text: string; exitCode: number; report: Report }> {
  const report = offlineReport(analysis);
  const exitCode = exitCodeFor(report.verdict, failOn);
  const context = { color, exitCode };
  if (format === 'table' || format === 'json') return { text: (await loadReporter(format))(report, context), exitCode, report };
  const gate: GateReport = {
    version: 1,
    verdict: report.verdict,
    blockedBy: exitCode === 0 ? [] : ['offline'],
    databases: [{ name: 'offline', display: 'no server (--offline)', optional: false, verdict: report.verdict, exitCode, blocking: exitCode === 0 ? [] : [migrationRisk.id], report, error: null, retryable: false }],
    durationMs: report.durationMs,
  };
  return { text: (await loadGateReporter(format))(gate, context), exitCode, report };
}

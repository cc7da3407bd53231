// The library's analyzeMigration(): a migration's statements read with PostgreSQL's own
// parser, the lock each takes, and the static verdict `check --migration --offline` gives.
import { PreflightError } from '../core/errors.js';
import type { Status } from '../core/types.js';
import type { GateReport } from '../gate/gate.js';
import { offlineGate, offlineReport } from '../gate/offline.js';
import { exitCodeFor, type FailOn } from '../gate/runner.js';
import { analyzeSources, readMigrationSources, type MigrationAnalysis } from '../migration/index.js';

/** Migration files (a directory = its migrations in their tool's order: Flyway V1 < V2 < V10, golang-migrate's .up.sql, Prisma's <ts>_name/migration.sql), or SQL text. */
export type MigrationInput = { files: readonly string[] } | { sql: string; file?: string };

export interface MigrationResult extends MigrationAnalysis {
  /** The document `check --migration --offline --format json` prints: every table assumed large, since no server was read. */
  report: GateReport;
  verdict: Status;
  /** 0 open, 1 blocked under `failOn`. */
  exitCode: number;
}

/** Reads a migration without a server. Rejects with a PreflightError for unreadable files or SQL that does not parse. */
export async function analyzeMigration(input: MigrationInput, options: { failOn?: FailOn } = {}): Promise<MigrationResult> {
  let analysis: MigrationAnalysis;
  if ('sql' in input) {
    if (typeof input.sql !== 'string') throw new PreflightError('analyzeMigration: sql must be a string');
    analysis = await analyzeSources([{ file: input.file ?? '<sql>', text: input.sql }]);
  } else {
    if (input.files.length === 0) throw new PreflightError('analyzeMigration: files is empty; pass a .sql file or a directory of them');
    analysis = await analyzeSources(await readMigrationSources(input.files));
  }
  const report = offlineReport(analysis);
  const exitCode = exitCodeFor(report.verdict, options.failOn ?? 'fail');
  return { ...analysis, report: offlineGate(report, exitCode), verdict: report.verdict, exitCode };
}

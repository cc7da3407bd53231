// pgpreflight as a library: `import { check, analyzeMigration, blockingTree, waitForReplicas } from 'pgpreflight'`.
// The CLI's commands run these same functions (src/api/); the types are those of the
// documented JSON report (schema/report.schema.json).
export { check, type CheckOptions, type CheckOutcome } from './api/check.js';
export { analyzeMigration, type MigrationInput, type MigrationResult } from './api/migration.js';
export { blockingTree, type BlockingTreeOptions } from './api/locks.js';
export { render, type RenderOptions, type Renderable } from './api/render.js';
export { ADVISORY_LOCK_CLASS_ID, advisoryLockKey, waitForReplicas, type LagVerdict, type Queryable, type Replica, type ReplicaWaitResult, type WaitForReplicasOptions } from './backfill/index.js';
export { PreflightError } from './core/errors.js';
export type { CheckResult, Finding, Remediation, Report, Severity, Status, TableRequest } from './core/types.js';
export type { LockMode } from './core/lock-modes.js';
export type { DatabaseSection, GateReport } from './gate/gate.js';
export type { FailOn } from './gate/runner.js';
export type { BlockingTree, TreeNode, WaitedLock } from './incident/blocking-tree.js';
export type { Danger, DangerKind, LockedRelation, MigrationAnalysis, MigrationStatement } from './migration/index.js';
export type { ReporterName as Format } from './reporters/index.js';

// Reads what `check --migration` parsed: per statement, the lock, the tables with their
// live size (pg_class estimates and the cumulative statistics from the snapshot, never the
// size functions, which lock), the danger, and the safe sequence. With a server the statements
// are judged again on its schema (column types, constraints, indexes, TimeZone, functions'
// volatility), read from the catalogs in the same transaction. Skips itself without a migration.
// The lock_timeout a new session of the connecting role gets (its role and database settings,
// the timeouts check's query) covers the statements no SET in the file covers.
import { assessMigration, sizeOfTarget, targetFor } from '../src/migration/assess.js';
import { judgeOnServer } from '../src/migration/index.js';
import { MIGRATION_SCHEMA_QUERY, MIGRATION_SCHEMA_SQL, schemaFromServer } from '../src/migration/server-schema.js';
import type { Finding } from '../src/core/types.js';
import { formatDuration } from '../src/core/units.js';
import { TIMEOUT_SETTINGS_QUERY, timeoutMs } from './timeouts.js';
import { defineCheck } from './types.js';

type Option = 'rewriteMaxSize' | 'rewriteMaxRows';

export default defineCheck<Option>({
  id: 'migration-risk',
  title: 'Migration risk',
  why: 'A rewrite or full scan under a lock that blocks writes holds that lock for as long as the table takes to read; the same statement is instant on a small table and an outage on a large one.',
  privileges: 'none (pg_class, pg_attribute, pg_constraint, pg_index and pg_proc are readable by every role)',
  unchangedByWaiting: true,
  options: {
    rewriteMaxSize: { kind: 'size', default: '100MB', flag: 'rewrite-size-fail', formerly: 'rewrite-max-size', description: 'fail a rewrite or full scan under a write-blocking lock on a table of this total size or more (was --rewrite-max-size)' },
    rewriteMaxRows: { kind: 'count', default: '1000000', flag: 'rewrite-rows-fail', formerly: 'rewrite-max-rows', description: 'fail a rewrite or full scan under a write-blocking lock on a table of this many estimated rows or more (was --rewrite-max-rows)' },
  },
  queries: [
    {
      name: MIGRATION_SCHEMA_QUERY,
      sql: MIGRATION_SCHEMA_SQL,
      params: (context) => [context.targets.map((t) => t.oid), context.migration?.names.functions ?? [], context.migration?.names.types ?? []],
    },
    // Shared with the timeouts check (same name: read once).
    TIMEOUT_SETTINGS_QUERY,
  ],
  evaluate(snapshot, { options, migration, migrationSession }) {
    if (!migration) return { status: 'skip', summary: 'no --migration given', findings: [] };
    const block = snapshot.server.blockSize;
    const schema = schemaFromServer(snapshot.extra[MIGRATION_SCHEMA_QUERY]?.[0], snapshot.targets);
    const inherited = sessionLockTimeout(snapshot.extra[TIMEOUT_SETTINGS_QUERY.name] ?? [], migrationSession?.lockTimeoutMs);
    const statements = judgeOnServer(migration, schema, snapshot.targets, undefined, inherited?.value);
    const assessment = assessMigration(
      migration,
      (canonical) => {
        // A renamed table is measured under its old name, the one the server still has.
        const target = targetFor(snapshot.targets, canonical) ?? targetFor(snapshot.targets, migration.renamedFrom[canonical] ?? canonical);
        return target ? sizeOfTarget(target, block) : null;
      },
      { maxSize: options.rewriteMaxSize, maxRows: options.rewriteMaxRows },
      statements,
    );
    if (!inherited) return assessment;
    const relied: Finding[] = statements
      .filter((s) => s.lockTimeoutInherited === true)
      .map((s) => ({
        kind: 'lock-timeout-inherited',
        severity: 'info',
        user: inherited.role,
        file: s.file,
        line: s.line,
        query: s.excerpt,
        ...(s.relations[0] ? { target: s.relations[0].display } : {}),
        message: `${s.file}:${s.line}: no SET lock_timeout in the file covers this ${String(s.lock)}; it relies on ${inherited.describe}`,
        details: { setting: 'lock_timeout', valueMs: inherited.ms, source: inherited.source, role: inherited.role, database: inherited.database },
      }));
    return { ...assessment, findings: [...assessment.findings, ...relied] };
  },
});

interface InheritedLockTimeout {
  /** As judge's timeoutOn reads it (milliseconds). */
  value: string;
  ms: number | null;
  source: string;
  role: string;
  database: string;
  describe: string;
}

/**
 * The lock_timeout the migration's session starts with: run's PGOPTIONS when `run` drives it,
 * else what a new session of the connecting role gets in this database (the checking session's
 * reset value folds in the role-in-database, role and database settings, as the timeouts check
 * reads it). Null when it is not known (no row for the connecting role).
 */
function sessionLockTimeout(rows: readonly Record<string, unknown>[], runLockTimeoutMs: number | undefined): InheritedLockTimeout | null {
  const me = rows.find((r) => r.is_me === true);
  if (!me) return null;
  const role = String(me.role);
  const database = String(me.database);
  if (runLockTimeoutMs !== undefined) {
    return { value: String(runLockTimeoutMs), ms: runLockTimeoutMs, source: 'run (PGOPTIONS)', role, database, describe: `the lock_timeout = ${formatDuration(runLockTimeoutMs)} run gives its session (PGOPTIONS)` };
  }
  const ms = timeoutMs(String(me.reset_lock_timeout));
  // Unreadable: the file's SETs alone decide, as offline.
  if (ms === null) return null;
  const source = me.lock_timeout_source === null || me.lock_timeout_source === undefined ? 'server' : String(me.lock_timeout_source);
  return { value: String(ms), ms, source, role, database, describe: `role ${role}'s lock_timeout = ${formatDuration(ms)} in ${database} (from the ${source} setting), which holds only if the migration runs as ${role} and its runner sets no other` };
}

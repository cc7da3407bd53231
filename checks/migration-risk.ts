// Reads what `check --migration` parsed: per statement, the lock, the tables with their
// live size (pg_class estimates and the cumulative statistics from the snapshot, never the
// size functions, which lock), the danger, and the safe sequence. With a server the statements
// are judged again on its schema (column types, constraints, indexes, TimeZone, functions'
// volatility), read from the catalogs in the same transaction. Skips itself without a migration.
import { assessMigration, sizeOfTarget, targetFor } from '../src/migration/assess.js';
import { judgeOnServer } from '../src/migration/index.js';
import { MIGRATION_SCHEMA_QUERY, MIGRATION_SCHEMA_SQL, schemaFromServer } from '../src/migration/server-schema.js';
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
  ],
  evaluate(snapshot, { options, migration }) {
    if (!migration) return { status: 'skip', summary: 'no --migration given', findings: [] };
    const block = snapshot.server.blockSize;
    const schema = schemaFromServer(snapshot.extra[MIGRATION_SCHEMA_QUERY]?.[0], snapshot.targets);
    const statements = judgeOnServer(migration, schema, snapshot.targets);
    return assessMigration(
      migration,
      (canonical) => {
        // A renamed table is measured under its old name, the one the server still has.
        const target = targetFor(snapshot.targets, canonical) ?? targetFor(snapshot.targets, migration.renamedFrom[canonical] ?? canonical);
        return target ? sizeOfTarget(target, block) : null;
      },
      { maxSize: options.rewriteMaxSize, maxRows: options.rewriteMaxRows },
      statements,
    );
  },
});

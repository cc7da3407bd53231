// Reads what `check --migration` parsed: per statement, the lock, the tables with their
// live size (pg_class estimates from the snapshot, never the size functions, which lock),
// the danger, and the safe sequence. Skips itself when no migration was given.
import { assessMigration, sizeOfTarget, targetFor } from '../src/migration/assess.js';
import { defineCheck } from './types.js';

type Option = 'rewriteMaxSize' | 'rewriteMaxRows';

export default defineCheck<Option>({
  id: 'migration-risk',
  title: 'Migration risk',
  why: 'A rewrite or full scan under a lock that blocks writes holds that lock for as long as the table takes to read; the same statement is instant on a small table and an outage on a large one.',
  privileges: 'none (pg_class is readable by every role)',
  unchangedByWaiting: true,
  options: {
    rewriteMaxSize: { kind: 'size', default: '100MB', flag: 'rewrite-max-size', description: 'fail a rewrite or full scan under a write-blocking lock on a table of this total size or more' },
    rewriteMaxRows: { kind: 'count', default: '1000000', flag: 'rewrite-max-rows', description: 'fail a rewrite or full scan under a write-blocking lock on a table of this many estimated rows or more' },
  },
  evaluate(snapshot, { options, migration }) {
    if (!migration) return { status: 'skip', summary: 'no --migration given', findings: [] };
    const block = snapshot.server.blockSize;
    return assessMigration(
      migration,
      (relation) => {
        const target = targetFor(snapshot.targets, relation);
        return target ? sizeOfTarget(target, block) : null;
      },
      { maxSize: options.rewriteMaxSize, maxRows: options.rewriteMaxRows },
    );
  },
});

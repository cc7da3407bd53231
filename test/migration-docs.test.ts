// docs/migration-analysis.md carries a copy of the lock table: it must be the one in
// src/migration/lock-table.ts (`npm run docs` regenerates it).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../src/clusters/cluster.js';
import { lockTableMarkdown } from '../src/migration/lock-table.js';

describe('docs/migration-analysis.md', () => {
  it('has the lock table exactly as src/migration/lock-table.ts says (run `npm run docs` after changing it)', () => {
    const doc = readFileSync(join(projectRoot, 'docs', 'migration-analysis.md'), 'utf8');
    expect(/<!-- lock-table:start -->\n([\s\S]*)<!-- lock-table:end -->/.exec(doc)?.[1]).toBe(lockTableMarkdown());
  });
});

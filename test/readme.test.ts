import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { listChecks, listFindingKinds } from '../src/gate/catalog.js';
import { projectRoot } from '../src/clusters/cluster.js';

describe('README', () => {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');

  it('lists every check exactly as its metadata says (run `npm run docs` after changing a check)', () => {
    const block = /<!-- checks:start -->\n([\s\S]*)<!-- checks:end -->/.exec(readme)?.[1];
    expect(block).toBe(listChecks('markdown'));
  });

  it('docs/json.md lists every finding kind exactly as src/core/finding-kinds.ts says (run `npm run docs`)', () => {
    const json = readFileSync(join(projectRoot, 'docs', 'json.md'), 'utf8');
    expect(/<!-- kinds:start -->\n([\s\S]*)<!-- kinds:end -->/.exec(json)?.[1]).toBe(listFindingKinds());
  });

  it('registers checks sorted by id, with kebab-case ids and unique flags', () => {
    const ids = CHECKS.map((c) => c.id);
    expect(ids).toEqual([...ids].sort());
    for (const id of ids) expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    const flags = CHECKS.flatMap((c) => Object.values(c.options).map((o) => o.flag));
    expect(new Set(flags).size).toBe(flags.length);
  });
});

// The corpus under test/corpus/ through the built CLI (--offline) and squawk, as
// `npm run bench:lint` prints it: pgpreflight flags every lock or rewrite danger squawk
// flags, flags every dangerous file, and flags none of the safe rewrites.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compareCorpus, SQUAWK_LOCK_RULES, totalsOf, type CorpusRow } from '../bench/lint.js';
import { projectRoot } from '../src/clusters/cluster.js';

let rows: CorpusRow[] = [];

describe('corpus: pgpreflight --offline vs squawk', () => {
  beforeAll(async () => {
    rows = await compareCorpus();
  }, 180_000);

  it('covers every corpus file', () => {
    const files = ['dangerous', 'safe'].flatMap((d) => readdirSync(join(projectRoot, 'test', 'corpus', d)).map((n) => `${d}/${n}`));
    expect(new Set(rows.map((r) => r.file))).toEqual(new Set(files));
  });

  it('flags every statement where a squawk lock or rewrite rule fires on a dangerous migration', () => {
    const missed = totalsOf(rows).squawkLockDangersMissedByPgpreflight.map((r) => `${r.file}:${r.line} ${r.squawk.join(',')}`);
    expect(missed).toEqual([]);
    expect(rows.some((r) => r.squawk.some((rule) => SQUAWK_LOCK_RULES.has(rule)))).toBe(true);
  });

  it('flags at least one statement of every dangerous file', () => {
    const dangerousFiles = new Set(rows.filter((r) => r.expected === 'dangerous').map((r) => r.file));
    const flaggedFiles = new Set(rows.filter((r) => r.expected === 'dangerous' && r.pgpreflight.length > 0).map((r) => r.file));
    expect([...dangerousFiles].filter((f) => !flaggedFiles.has(f))).toEqual([]);
  });

  it('flags none of the safe rewrites', () => {
    expect(totalsOf(rows).safeFlaggedByPgpreflight.map((r) => `${r.file}:${r.line} ${r.pgpreflight.join(',')}`)).toEqual([]);
  });
});

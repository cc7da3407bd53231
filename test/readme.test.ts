// The documentation: the README is the front door, the rest lives in docs/. The generated
// parts (the checks reference, the list of finding kinds) match the code's metadata (run
// `npm run docs` after changing a check or a kind), and every relative link and anchor in
// the Markdown resolves.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { listChecks, listFindingKinds } from '../src/gate/catalog.js';
import { projectRoot } from '../src/clusters/cluster.js';

const read = (path: string): string => readFileSync(join(projectRoot, path), 'utf8');
const MARKDOWN = ['README.md', 'CONTRIBUTING.md', 'SECURITY.md', 'CHANGELOG.md', ...readdirSync(join(projectRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The Markdown outside fenced code blocks, line by line. */
function prose(text: string): string[] {
  let fenced = false;
  return text.split('\n').filter((line) => {
    if (line.startsWith('```')) {
      fenced = !fenced;
      return false;
    }
    return !fenced;
  });
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of prose(text)) {
    const heading = /^#{1,6} (.*)$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[`*]/g, '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

describe('generated documentation', () => {
  it('docs/checks.md lists every check exactly as its metadata says (run `npm run docs` after changing a check)', () => {
    const block = /<!-- checks:start -->\n([\s\S]*)<!-- checks:end -->/.exec(read('docs/checks.md'))?.[1];
    expect(block).toBe(listChecks('markdown'));
  });

  it('docs/json.md lists every finding kind exactly as src/core/finding-kinds.ts says (run `npm run docs`)', () => {
    expect(/<!-- kinds:start -->\n([\s\S]*)<!-- kinds:end -->/.exec(read('docs/json.md'))?.[1]).toBe(listFindingKinds());
  });

  it('registers checks sorted by id, with kebab-case ids and unique flags', () => {
    const ids = CHECKS.map((c) => c.id);
    expect(ids).toEqual([...ids].sort());
    for (const id of ids) expect(id).toMatch(/^[a-z]+(-[a-z]+)*$/);
    const flags = CHECKS.flatMap((c) => Object.values(c.options).map((o) => o.flag));
    expect(new Set(flags).size).toBe(flags.length);
  });
});

describe('links', () => {
  it('every relative link in the Markdown names a file that exists, and every anchor a heading in it', () => {
    const anchors = new Map<string, Set<string>>();
    const anchorsIn = (path: string): Set<string> => {
      if (!anchors.has(path)) anchors.set(path, anchorsOf(read(path)));
      return anchors.get(path) as Set<string>;
    };
    const broken: string[] = [];
    let checked = 0;
    for (const file of MARKDOWN) {
      for (const line of prose(read(file))) {
        for (const match of line.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = match[1] as string;
          if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
          const [path = '', anchor] = target.split('#');
          const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
          checked += 1;
          if (!existsSync(join(projectRoot, resolved))) broken.push(`${file}: ${target} (no such file)`);
          else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsIn(resolved).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(checked).toBeGreaterThan(100);
  });

  it('the README is a front door: short, with the reference in docs/', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThan(250);
    for (const heading of ['Install', 'In GitHub Actions', 'Commands', 'Exit codes', 'Privileges', 'What it cannot see', 'Documentation']) {
      expect(anchorsOf(readme).has(heading.toLowerCase().replace(/ /g, '-')), heading).toBe(true);
    }
  });
});

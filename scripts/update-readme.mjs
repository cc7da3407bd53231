// Regenerates the README's check list from the checks' metadata (run after `npm run build`).
// test/readme.test.ts fails when the README and the metadata disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { listChecks } = await import(join(root, 'dist', 'src', 'gate', 'catalog.js'));
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const block = `<!-- checks:start -->\n${listChecks('markdown')}<!-- checks:end -->`;
const next = readme.replace(/<!-- checks:start -->[\s\S]*<!-- checks:end -->/, block);
writeFileSync(readmePath, next);
process.stdout.write(next === readme ? 'README check list already up to date\n' : 'README check list updated\n');

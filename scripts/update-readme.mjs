// Regenerates the generated parts of the documentation from the code's metadata (run after
// `npm run build`): docs/checks.md's check list, docs/json.md's list of finding kinds, the
// JSON Schema's enum of them, and the lock table of docs/migration-analysis.md (from
// src/migration/lock-table.ts).
// test/readme.test.ts and test/migration-docs.test.ts fail when the documents and the metadata disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { listChecks, listFindingKinds } = await import(join(root, 'dist', 'src', 'gate', 'catalog.js'));
const { FINDING_KINDS } = await import(join(root, 'dist', 'src', 'core', 'finding-kinds.js'));

/** Replaces the block between `<!-- name:start -->` and `<!-- name:end -->` in a file. */
function regenerate(file, name, content) {
  const path = join(root, file);
  const text = readFileSync(path, 'utf8');
  const next = text.replace(new RegExp(`<!-- ${name}:start -->[\\s\\S]*<!-- ${name}:end -->`), `<!-- ${name}:start -->\n${content}<!-- ${name}:end -->`);
  writeFileSync(path, next);
  process.stdout.write(`${file} ${name}: ${next === text ? 'already up to date' : 'updated'}\n`);
}

regenerate('docs/checks.md', 'checks', listChecks('markdown'));
regenerate('docs/json.md', 'kinds', listFindingKinds());
const { lockTableMarkdown } = await import(join(root, 'dist', 'src', 'migration', 'lock-table.js'));
regenerate('docs/migration-analysis.md', 'lock-table', lockTableMarkdown());

const schemaPath = join(root, 'schema', 'report.schema.json');
const schema = readFileSync(schemaPath, 'utf8');
const kinds = Object.keys(FINDING_KINDS).sort().map((k) => JSON.stringify(k)).join(', ');
const nextSchema = schema.replace(/("FindingKind": \{[^{}]*?"enum": )\[[^\]]*\]/, `$1[${kinds}]`);
writeFileSync(schemaPath, nextSchema);
process.stdout.write(`schema/report.schema.json kinds: ${nextSchema === schema ? 'already up to date' : 'updated'}\n`);

// The GitHub Action's entry. action.yml runs it with `using: node24`: the runner's own Node,
// so no setup-node and nothing on PATH changes for the job's later steps. The code it runs is
// the published package's, installed in dist/action/ on release commits by
// scripts/action-payload.mjs (see docs/releasing.md); a ref without it says so and fails.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packageRoot = fileURLToPath(new URL('../dist/action/node_modules/pgpreflight/', import.meta.url));
const entry = new URL('../dist/action/node_modules/pgpreflight/dist/bundle/action.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stdout.write('::error title=pgpreflight::this ref of the pgpreflight action carries no built package (dist/action/): use a release, e.g. uses: <owner>/pgpreflight@v1, or its commit SHA\n');
  process.exit(2);
}
const { runAction } = await import(entry.href);
process.exitCode = await runAction(process.env, packageRoot);

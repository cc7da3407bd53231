#!/usr/bin/env node
// npm's `prepare` hook: in a clone (`npm install`, `npm ci`) and for a git dependency,
// build, so that `npx pgpreflight` works right after the install. It builds nothing:
//   - under `npm pack` / `npm publish`: `prepack` has just built (and fails without the
//     dev dependencies, so no tarball ever ships without its bundle);
//   - without the dev dependencies (`npm install --omit=dev` in a clone): there is no
//     compiler to build with, and failing would fail the install. The bin then says how
//     to build. A consumer's install of the published package never runs `prepare`.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const command = process.env.npm_command;
if (command === 'pack' || command === 'publish') process.exit(0);
const require = createRequire(import.meta.url);
const missing = ['typescript', 'esbuild', 'dts-bundle-generator'].filter((name) => {
  try {
    require.resolve(`${name}/package.json`);
    return false;
  } catch {
    return true;
  }
});
if (missing.length > 0) {
  process.stderr.write(`pgpreflight prepare: not building, the dev dependencies are not installed (${missing.join(', ')}); run "npm install" with them, then "npm run build"\n`);
  process.exit(0);
}
execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });

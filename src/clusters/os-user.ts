// PostgreSQL refuses to run as root, so as root the embedded clusters run the server as an
// unprivileged OS user (postgres, else nobody). That user must be able to read the binaries
// and their shared libraries; inside a clone under root's 0700 home or a `mktemp -d` it
// cannot. Rather than loosening the permissions of a directory we do not own, the package's
// native/ tree (bin, lib, share: ~60 MB) is copied once into a root-owned, world-readable
// directory under the temp dir, reused by later runs while the package version is the same.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PreflightError } from '../core/errors.js';
import { hydrateSymlinks, type BinSource } from './platform.js';
import type { OsUser } from './types.js';

function lookupUser(name: string): OsUser | undefined {
  if (!existsSync('/etc/passwd')) return undefined;
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields[2] && fields[3]) return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return undefined;
}

/** The OS user the server runs as: ourselves, or an unprivileged account when we are root. */
export function serverOsUser(): OsUser | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const user = lookupUser(process.env.PGPREFLIGHT_PG_OS_USER ?? 'postgres') ?? lookupUser('nobody');
  if (!user) throw new PreflightError('running as root and no unprivileged OS user (postgres or nobody) exists to run PostgreSQL: create one, or set PGPREFLIGHT_PG_OS_USER');
  return user;
}

export function chownTree(path: string, user: OsUser | undefined): void {
  if (!user) return;
  chownSync(path, user.uid, user.gid);
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) chownTree(join(path, entry), user);
  }
}

/**
 * The command line that runs a file as `user` (setpriv, dying with its parent, so a killed
 * test run leaves no server behind), or as ourselves.
 */
export function runAs(user: OsUser | undefined, file: string, args: string[]): { command: string; args: string[] } {
  if (!user) return { command: file, args };
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (setpriv) {
    return {
      command: setpriv,
      args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--pdeathsig=KILL', file, ...args],
    };
  }
  return { command: file, args };
}

/** Whether `user` can start the server binary here: the loader must reach every library. */
function runnableBy(user: OsUser, binDir: string): { ok: boolean; error: string } {
  const { command, args } = runAs(user, join(binDir, 'postgres'), ['--version']);
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  return { ok: result.status === 0, error: (result.stderr || result.error?.message || '').trim() };
}

const COPIED = ['bin', 'lib', 'share', 'pg-symlinks.json'];

/** A copy of an embedded package's native/ tree that every user can read, made once per package version; its bin dir. */
function readableCopy(nativeDir: string, key: string): string {
  const target = join(tmpdir(), `pgpreflight-pg-${key}`);
  const binOf = (dir: string): string => join(dir, 'native', 'bin');
  const sound = (dir: string): boolean => {
    try {
      const stat = lstatSync(dir);
      // Only a directory we made (our own, nobody else may write) is trusted: root runs what is in it.
      return stat.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o022) === 0 && readFileSync(join(dir, '.complete'), 'utf8') === key;
    } catch {
      return false;
    }
  };
  if (sound(target)) return binOf(target);
  const staging = mkdtempSync(join(tmpdir(), 'pgpreflight-pg-copy-'));
  try {
    for (const part of COPIED) {
      if (existsSync(join(nativeDir, part))) cpSync(join(nativeDir, part), join(staging, 'native', part), { recursive: true, verbatimSymlinks: true });
    }
    hydrateSymlinks(staging);
    writeFileSync(join(staging, '.complete'), key);
    chmodSync(staging, 0o755);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  try {
    renameSync(staging, target);
    return binOf(target);
  } catch {
    // Another run made it first (use theirs), or something else holds the name (keep ours).
    if (!sound(target)) return binOf(staging);
    rmSync(staging, { recursive: true, force: true });
    return binOf(target);
  }
}

/** A name for the copy that changes with the package version. */
function copyKey(source: BinSource, nativeDir: string): string {
  const pkg = source.embedded ?? (() => {
    try {
      return JSON.parse(readFileSync(join(dirname(nativeDir), 'package.json'), 'utf8')) as { name?: string; version?: string };
    } catch {
      return {};
    }
  })();
  const name = (pkg.name ?? `postgres-${source.major}`).replace(/^@/, '').replace(/[^A-Za-z0-9._-]+/g, '-');
  return `${name}-${pkg.version ?? statSync(join(nativeDir, 'bin', 'postgres')).mtimeMs}`;
}

/**
 * The bin directory the server runs from: the resolved one when `user` can run it, else a
 * readable copy of an embedded package's native/ tree. Other sources are not copied (their
 * share/ is compiled in elsewhere): the message says what to do.
 */
export function binDirFor(user: OsUser | undefined, source: BinSource): string {
  if (!user) return source.binDir;
  const first = runnableBy(user, source.binDir);
  if (first.ok) return source.binDir;
  const nativeDir = dirname(source.binDir);
  if (!source.embedded && !existsSync(join(nativeDir, 'pg-symlinks.json'))) {
    throw new PreflightError(
      `the OS user ${user.name} that runs PostgreSQL cannot run ${source.binDir}/postgres (${first.error || 'permission denied'}): make that directory readable to it, or point PGPREFLIGHT_PG_BIN at a readable copy`,
    );
  }
  const copy = readableCopy(nativeDir, copyKey(source, nativeDir));
  const second = runnableBy(user, copy);
  if (!second.ok) {
    throw new PreflightError(`the OS user ${user.name} that runs PostgreSQL cannot run ${source.binDir}/postgres, nor its copy in ${dirname(dirname(copy))} (${second.error}): make ${tmpdir()} readable to it, or set TMPDIR`);
  }
  return copy;
}

// The GitHub Action (action.yml): `runs.using: node24`, so it runs on the runner's own Node
// and changes nothing for the job's later steps. The runner hands every input over as an
// environment variable (INPUT_<NAME>); none is ever spliced into a script. This turns the
// inputs into `pgpreflight check` arguments, masks the database URL and its password in the
// log, runs the CLI of this release (or of the `version` input) and sets the step outputs.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Status } from '../core/types.js';
import { exitCodeFor } from '../gate/runner.js';
import { outputFileText, stepOutputs, type OutputSource } from '../reporters/github.js';
import { splitShellWords } from './shell-words.js';

type Env = Record<string, string | undefined>;

/** An input as the runner passes it: INPUT_ + the name in upper case, spaces as underscores (hyphens stay). */
export function input(env: Env, name: string): string {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

/** `tables`: separated by commas or newlines. */
function listOf(text: string, separators: RegExp): string[] {
  return text
    .split(separators)
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

const flagGiven = (argv: readonly string[], flag: string): string | undefined => {
  const index = argv.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
  if (index < 0) return undefined;
  const arg = argv[index] as string;
  return arg === flag ? argv[index + 1] : arg.slice(flag.length + 1);
};

export interface CheckInvocation {
  argv: string[];
  format: string;
  reportFile: string;
}

/** The `pgpreflight check` arguments for the inputs. Throws on an `args` a shell would not split the same way. */
export function checkArguments(env: Env): CheckInvocation {
  const argv = ['check'];
  for (const table of listOf(input(env, 'tables'), /[,\n]/)) argv.push('--table', table);
  // One path per line: a path may hold commas or spaces.
  for (const path of listOf(input(env, 'migration'), /\r?\n/)) argv.push('--migration', path);
  const flags: [string, string][] = [
    ['lock-mode', '--lock-mode'],
    ['fail-on', '--fail-on'],
    ['wait', '--wait'],
    ['config', '--config'],
  ];
  for (const [name, flag] of flags) {
    const value = input(env, name);
    if (value !== '') argv.push(flag, value);
  }
  const extra = splitShellWords(input(env, 'args'));
  const format = flagGiven(extra, '--format') || input(env, 'format') || 'github';
  if (!flagGiven(extra, '--format')) argv.push('--format', format);
  let reportFile = flagGiven(extra, '--report-file');
  if (reportFile === undefined) {
    // One file per step, so two gate steps in a job keep their own report.
    reportFile = join(env.RUNNER_TEMP || tmpdir(), `pgpreflight-report-${randomUUID().slice(0, 8)}.json`);
    argv.push('--report-file', reportFile);
  }
  argv.push(...extra);
  return { argv, format, reportFile };
}

/** What to hide in the job log: the URL and its password, raw and percent-decoded. */
export function secretsOf(url: string): string[] {
  if (url === '') return [];
  const secrets = [url];
  const password = /^[a-z]+:\/\/[^:@/]*:([^@]*)@/i.exec(url)?.[1];
  if (password) {
    secrets.push(password);
    try {
      const decoded = decodeURIComponent(password);
      if (decoded !== password) secrets.push(decoded);
    } catch {
      // not percent-encoded
    }
  }
  return secrets;
}

export interface ActionIo {
  /** The job log (stdout of the step). */
  write: (text: string) => void;
  /** Installs a published version and returns its bin path (npm; not reached when the version is this release's). */
  install?: (version: string, env: Env) => Promise<string>;
}

const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

async function npmInstall(version: string, env: Env): Promise<string> {
  const prefix = join(env.RUNNER_TEMP || tmpdir(), `pgpreflight-${version}`);
  const windows = process.platform === 'win32';
  const args = ['install', '--prefix', prefix, '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save', `pgpreflight@${version}`];
  const code = await new Promise<number>((resolve, reject) => {
    // npm.cmd needs a shell on Windows; every argument here is checked (version) or ours.
    const child = spawn(windows ? 'npm.cmd' : 'npm', windows ? args.map((a) => `"${a}"`) : args, { stdio: ['ignore', 'inherit', 'inherit'], shell: windows });
    child.on('error', reject);
    child.on('close', (status) => resolve(status ?? 1));
  });
  if (code !== 0) throw new Error(`npm could not install pgpreflight@${version} (exit ${code}): check that the version exists on the registry and that the runner reaches it`);
  return join(prefix, 'node_modules', 'pgpreflight', 'bin', 'pgpreflight.js');
}

function writeOutputs(env: Env, outputs: Record<string, string>): void {
  if (env.GITHUB_OUTPUT) appendFileSync(env.GITHUB_OUTPUT, outputFileText(outputs));
}

/**
 * Runs the gate step. `packageRoot` is the pgpreflight package this code ships in, whose
 * bin runs unless the `version` input names another release. Returns the step's exit code.
 */
export async function runAction(env: Env, packageRoot: string, io: ActionIo = { write: (text) => process.stdout.write(text) }): Promise<number> {
  const url = input(env, 'database-url');
  let invocation: CheckInvocation | undefined;
  let invalid: Error | undefined;
  try {
    invocation = checkArguments(env);
  } catch (error) {
    invalid = error as Error;
  }
  // Masked before anything else is printed (pgpreflight redacts them on its own as well):
  // the URL input, and any URL given in args.
  const urls = [url, ...(invocation?.argv ?? []).map((arg) => arg.replace(/^--[a-z-]+=/, '')).filter((arg) => /^postgres(ql)?:\/\//i.test(arg))];
  for (const secret of new Set(urls.flatMap(secretsOf))) io.write(`::add-mask::${secret}\n`);
  if (!invocation) {
    io.write(`::error title=pgpreflight::${invalid?.message ?? 'invalid inputs'}\n`);
    writeOutputs(env, { verdict: 'error', 'failed-checks': '', 'report-path': '' });
    return 2;
  }
  const bundled = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const wanted = input(env, 'version');
  let bin = join(packageRoot, 'bin', 'pgpreflight.js');
  if (wanted !== '' && wanted !== bundled) {
    if (!VERSION.test(wanted)) {
      io.write(`::error title=pgpreflight::the version input must be an exact published version such as ${bundled}, got "${wanted}"\n`);
      writeOutputs(env, { verdict: 'error', 'failed-checks': '', 'report-path': '' });
      return 2;
    }
    try {
      bin = await (io.install ?? npmInstall)(wanted, env);
    } catch (error) {
      io.write(`::error title=pgpreflight::${(error as Error).message}\n`);
      writeOutputs(env, { verdict: 'error', 'failed-checks': '', 'report-path': '' });
      return 2;
    }
  }
  io.write(`pgpreflight ${wanted || bundled}: pgpreflight ${invocation.argv.join(' ')}\n`);
  // DATABASE_URL is always the input, even empty: an empty one (a misspelled secret) must not
  // fall back to a DATABASE_URL the job happens to have; pgpreflight refuses it unless the
  // config file names the databases. The step outputs are the action's to write, from the
  // report file, the same in every format (and for --offline): the CLI gets no GITHUB_OUTPUT.
  const childEnv: Env = { ...Object.fromEntries(Object.entries(env).filter(([key]) => !key.startsWith('INPUT_') && key !== 'GITHUB_OUTPUT')), DATABASE_URL: url };
  // A report file named in args may be an older step's: only one this run wrote counts.
  const before = statSync(invocation.reportFile, { throwIfNoEntry: false })?.mtimeMs;
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...invocation.argv], { stdio: ['ignore', 'inherit', 'inherit'], env: childEnv });
    child.on('error', reject);
    child.on('close', (status) => resolve(status ?? 2));
  });
  // Version 2 (this release), or version 1 from an older `version` input: a Report for one database.
  let document: OutputSource | { verdict: Status; checks: { id: string; status: Status }[] } | undefined;
  try {
    if (statSync(invocation.reportFile).mtimeMs !== before) document = JSON.parse(readFileSync(invocation.reportFile, 'utf8')) as OutputSource;
  } catch {
    // No report: the CLI stopped before it had one (bad input, or the one database unreachable in table/json format).
  }
  if (document === undefined) {
    writeOutputs(env, { verdict: 'error', 'failed-checks': '', 'report-path': '' });
  } else {
    const gate: OutputSource = 'databases' in document ? document : { verdict: document.verdict, databases: [{ name: 'database', blocking: blockingOf(document.checks, document.verdict, code) }] };
    writeOutputs(env, stepOutputs(gate, invocation.reportFile));
  }
  return code;
}

/** A version-1 Report's blocking checks: those whose status blocks, warnings only when the run exited 1 on a warn verdict. */
function blockingOf(checks: readonly { id: string; status: Status }[], verdict: Status, code: number): string[] {
  const failOn = verdict === 'warn' && code === 1 ? 'warn' : 'fail';
  return checks.filter((c) => exitCodeFor(c.status, failOn) !== 0).map((c) => c.id);
}

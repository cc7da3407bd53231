// Bundles the built CLI (dist/src/cli/cli.js) into dist/bundle/ for the bin: one file to
// resolve and compile instead of hundreds is most of what a run costs before it connects.
// The library entry (dist/src/index.js) and the GitHub Action's (dist/src/action/run.js) are
// bundled alongside and share the chunks.
// Lazily imported parts (each command, reporters, the spinner, the config schema) stay
// separate chunks. libpg-query stays outside: it loads its WASM relative to its package.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
  // those keep their own module semantics and gain nothing from bundling.
  // testcontainers: the tests' container backend (src/clusters/container.ts), which the CLI
  // never starts; kept out even if a command reaches the cluster facade.
  external: ['pg-native', 'libpg-query', 'pgpass', 'yaml', 'zod', 'ora', 'testcontainers'],
  // Bundled CommonJS (pg, yargs' deps) calls require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __pgpreflightCreateRequire } from 'node:module'; const require = __pgpreflightCreateRequire(import.meta.url);" },
  // `pgpreflight --version` prints this, from any directory and from an installed package.
  define: { PGPREFLIGHT_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});

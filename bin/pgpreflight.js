#!/usr/bin/env node
// The bin runs the bundled CLI (dist/bundle/, built by `npm run build`; shipped in the package).
// Node 22.1+ keeps V8's compiled code for it on disk (NODE_COMPILE_CACHE, else the OS temp
// directory), so later runs skip most of the parsing and compiling; Node 20 has no such cache.
import module from 'node:module';

module.enableCompileCache?.();
let main;
try {
  ({ main } = await import('../dist/bundle/cli.js'));
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/dist[\\/]bundle[\\/]cli\.js/.test(String(error.message))) throw error;
  process.stderr.write('pgpreflight: this copy is not built (dist/bundle/cli.js is missing): in a clone run "npm ci" and then "npm run build"\n');
  process.exit(2);
}
process.exitCode = await main(process.argv.slice(2));

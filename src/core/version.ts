// pgpreflight's own version. The bundle the bin runs has it inlined at build time
// (scripts/bundle.mjs defines PGPREFLIGHT_VERSION), so it never depends on the working
// directory or on a package.json being shipped; unbundled code (tests) reads the
// package.json of this package, found from this file, never from the working directory.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const PGPREFLIGHT_VERSION: string | undefined;

export function ownVersion(): string {
  if (typeof PGPREFLIGHT_VERSION === 'string') return PGPREFLIGHT_VERSION;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'pgpreflight' && typeof pkg.version === 'string') return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
    dir = dirname(dir);
  }
}

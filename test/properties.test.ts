// Hostile input, generated (fast-check): the identifier parser, durations and sizes
// never throw and mean what PostgreSQL means; the CLI never crashes and rejects bad
// input with exit 2 and one line; and a table name reaches the server only as a
// query parameter, which the server's own statement log shows.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalName, parseQualifiedName, quoteIdentifier } from '../src/core/identifiers.js';
import { formatDuration, parseCount, parseDuration, parseSize } from '../src/core/units.js';
import { runMain, session, useCluster, reportFrom } from './helpers.js';

// Every statement is logged with its application_name, so the checker's can be read back.
const cluster = useCluster({ settings: { log_statement: 'all', log_line_prefix: '%a|', log_min_messages: 'warning' } });
let oracle: pg.Client;

beforeAll(async () => {
  oracle = await session(cluster(), 'props-oracle');
  await cluster().sql('CREATE TABLE canary (id int)');
});

afterAll(async () => {
  await oracle?.end();
});

const validText = (s: string): boolean => !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s;
/** Any PostgreSQL identifier: non-empty, no NUL, at most 63 bytes. */
const identifier = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 16 })
  .filter((s) => validText(s) && Buffer.byteLength(s, 'utf8') <= 63);
/** Text that looks like identifiers, dots, quotes and the odd hostile character. */
const identifierish = fc
  .array(fc.constantFrom('a', 'B', 'z', '_', '1', '$', '"', '""', '.', ' ', 'É', 'ß', 'ж', ';', '-', "'", '\\', '\t'), { minLength: 1, maxLength: 14 })
  .map((parts) => parts.join(''));

describe('identifier parser', () => {
  it('never throws: returns a name or a message', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (input) => {
        const parsed = parseQualifiedName(input);
        expect(typeof parsed === 'string' ? parsed.length > 0 : parsed.name.length > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads back any quoted schema.name exactly', () => {
    fc.assert(
      fc.property(fc.option(identifier, { nil: undefined }), identifier, (schema, name) => {
        const canonical = canonicalName(schema === undefined ? { name } : { schema, name });
        expect(parseQualifiedName(canonical)).toEqual(schema === undefined ? { name } : { schema, name });
      }),
      { numRuns: 1000 },
    );
  });

  it("agrees with PostgreSQL's parse_ident() on everything it accepts", async () => {
    await fc.assert(
      fc.asyncProperty(identifierish, async (input) => {
        const ours = parseQualifiedName(input);
        if (typeof ours === 'string') return;
        const { rows } = await oracle.query<{ parts: string[] }>('SELECT parse_ident($1) AS parts', [input.trim()]);
        expect(rows[0]?.parts).toEqual(ours.schema === undefined ? [ours.name] : [ours.schema, ours.name]);
      }),
      { numRuns: 300 },
    );
  });

  it('folds only ASCII letters, as PostgreSQL does in UTF-8 databases', async () => {
    const { rows } = await oracle.query<{ parts: string[] }>("SELECT parse_ident('Émile.ORDERS') AS parts");
    expect(rows[0]?.parts).toEqual(['Émile', 'orders']);
    expect(parseQualifiedName('Émile.ORDERS')).toEqual({ schema: 'Émile', name: 'orders' });
  });

  it('quoteIdentifier matches quote_ident for any identifier', async () => {
    await fc.assert(
      fc.asyncProperty(identifier, async (name) => {
        const { rows } = await oracle.query<{ q: string }>("SELECT format('%I', $1::text) AS q", [name]);
        const server = rows[0]?.q ?? '';
        // quote_ident leaves simple lower-case names bare; both spellings name the same thing.
        expect(parseQualifiedName(server)).toEqual(parseQualifiedName(quoteIdentifier(name)));
      }),
      { numRuns: 300 },
    );
  });
});

const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const SIZE_UNITS = { B: 1, kB: 1024, KiB: 1024, MB: 1024 ** 2, MiB: 1024 ** 2, GB: 1024 ** 3, GiB: 1024 ** 3, TB: 1024 ** 4, TiB: 1024 ** 4 } as const;

describe('durations, sizes and counts', () => {
  it('never throw; anything accepted is a finite, non-negative whole number', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.stringMatching(/^[0-9.]{0,12}[a-zA-Z]{0,4}([0-9.]{0,5}[a-z]{0,3})?$/)), (input) => {
        for (const value of [parseDuration(input), parseSize(input), parseCount(input)]) {
          if (value === undefined) continue;
          expect(Number.isSafeInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a duration is the sum of its parts (5s, 1m30s, 2h15m)', () => {
    const part = fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(...(Object.keys(DURATION_UNITS) as Array<keyof typeof DURATION_UNITS>)));
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 4 }), (parts) => {
        const text = parts.map(([n, unit]) => `${n}${unit}`).join('');
        expect(parseDuration(text)).toBe(parts.reduce((sum, [n, unit]) => sum + n * DURATION_UNITS[unit], 0));
      }),
      { numRuns: 1000 },
    );
  });

  it('formatDuration reads back within rounding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 * 86_400_000 }), (ms) => {
        const back = parseDuration(formatDuration(ms));
        expect(back).toBeDefined();
        expect(Math.abs((back as number) - ms) / ms).toBeLessThanOrEqual(0.05);
      }),
      { numRuns: 2000 },
    );
  });

  it('a size is number × unit, 1kB = 1024 bytes as in postgresql.conf, unit case ignored', () => {
    const unit = fc.constantFrom(...(Object.keys(SIZE_UNITS) as Array<keyof typeof SIZE_UNITS>));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4096 }), unit, fc.boolean(), (n, u, upper) => {
        const text = `${n}${upper ? u.toUpperCase() : u}`;
        expect(parseSize(text)).toBe(n * SIZE_UNITS[u]);
      }),
      { numRuns: 1000 },
    );
  });
});

interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

/** exit 2 means one `pgpreflight:` line and nothing on stdout; 0 or 1 means a JSON report. */
function expectWellBehaved(result: Captured): void {
  expect([0, 1, 2]).toContain(result.code);
  if (result.code === 2) {
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^pgpreflight: [^\n]+\n$/);
  } else {
    expect(result.stderr).toBe('');
    expect(() => JSON.parse(result.stdout) as unknown).not.toThrow();
  }
}

describe('the CLI on generated input', () => {
  const hostile = fc.oneof(
    fc.constantFrom('"a\nb"', 'x\u001b[2Jy', '"\u001b]0;owned\u0007"', '5s\n'),
    fc.string({ unit: 'binary', maxLength: 40 }).filter(validText),
    identifierish,
    fc.constantFrom("orders; DROP TABLE canary; --", "canary') OR 1=1 --", '"canary"; SELECT pg_sleep(10)', '$1', '%s', '-1', '--', '', ' ', '1e309', 'NaN', '0x10', '١٢s'),
  );

  it('--table: never crashes; rejected or not found is exit 2 with one line', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (table) => {
        expectWellBehaved(await runMain(['check', '--url', cluster().url(), `--table=${table}`, '--format', 'json', '--timeout', '5s']));
      }),
      // A newline or an escape sequence inside a quoted name must not break the one-line error.
      { numRuns: 60, examples: [['"a\nb"'], ['"x\u001b[2Jy"'], ['bad\nname']] },
    );
    expect((await cluster().sql("SELECT to_regclass('canary') IS NOT NULL AS present")).rows).toEqual([{ present: true }]);
  });

  it('--timeout, thresholds and --lock-mode: never crash; rejected is exit 2 with one line', async () => {
    const flag = fc.constantFrom('--timeout', '--idle-warn', '--lock-fail', '--rows-warn', '--size-warn', '--lock-mode');
    await fc.assert(
      fc.asyncProperty(flag, hostile, async (name, value) => {
        expectWellBehaved(await runMain(['check', '--url', cluster().url(), '--table', 'canary', '--format', 'json', `${name}=${value}`]));
      }),
      { numRuns: 60 },
    );
  });

  it('a generated table name that exists is found exactly, and reaches the server only as a parameter', async () => {
    const marker = 'zqx';
    await fc.assert(
      fc.asyncProperty(fc.option(identifier, { nil: undefined }), identifier, async (schema, rawName) => {
        const name = `${marker}${rawName}`.slice(0, 40);
        if (Buffer.byteLength(name, 'utf8') > 63 || !validText(name)) return;
        const admin = await session(cluster(), 'props-admin');
        try {
          if (schema !== undefined) await admin.query("SELECT format('CREATE SCHEMA IF NOT EXISTS %I', $1::text) AS ddl", [schema]).then((r) => admin.query(String(r.rows[0].ddl)));
          const qualified = schema === undefined ? { name } : { schema, name };
          await admin.query("SELECT format('CREATE TABLE IF NOT EXISTS %s (id int)', $1::text) AS ddl", [canonicalName(qualified)]).then((r) => admin.query(String(r.rows[0].ddl)));
          const result = await runMain(['check', '--url', cluster().url(), '--table', canonicalName(qualified), '--format', 'json']);
          expect(result.stderr).toBe('');
          const report = reportFrom(result.stdout);
          const { rows } = await admin.query<{ q: string }>(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS q FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
            [canonicalName(qualified)],
          );
          expect(report.targets.map((t) => t.name)).toEqual([rows[0]?.q]);
          await admin.query("SELECT format('DROP TABLE %s', $1::text) AS ddl", [canonicalName(qualified)]).then((r) => admin.query(String(r.rows[0].ddl)));
        } finally {
          await admin.end();
        }
      }),
      { numRuns: 20 },
    );
    // The server's statement log: the checker's statements never contain a generated name.
    const statements = readFileSync(cluster().logFile, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('pgpreflight|') && !line.includes('DETAIL:'));
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter((line) => line.includes(marker))).toEqual([]);
    const parameters = readFileSync(cluster().logFile, 'utf8').split('\n').filter((line) => line.startsWith('pgpreflight|') && /DETAIL:\s+parameters:/i.test(line) && line.includes(marker));
    expect(parameters.length).toBeGreaterThan(0);
  });
});

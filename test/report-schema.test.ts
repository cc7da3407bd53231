// The shipped JSON Schema (schema/report.schema.json) against real documents of every shape,
// made by the built CLI against a real server: one database (with findings that use most
// optional fields, and a root blocker with sessions queued behind it), several databases, a
// database that could not be checked, --offline, the library's check() and analyzeMigration(),
// and the blocking tree of `locks --format json` and of `locks --watch --format json` (NDJSON).
// Validated twice with ajv: as shipped (open to added fields, as docs/json.md promises
// consumers), and strict, where every field a document carries must be described — a new
// field or shape fails here until the schema says what it is. Every finding kind must be in
// the published list, and every remediation.sql must parse as PostgreSQL SQL.
// A new document version: add its shape to the schema's $defs, and a row to SHAPES.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeMigration } from '../src/api/migration.js';
import { check } from '../src/api/check.js';
import { FINDING_KINDS } from '../src/core/finding-kinds.js';
import { freePort, projectRoot } from '../src/clusters/cluster.js';
import { FAST_THRESHOLDS, runCli, stageLockQueue, useCluster } from './helpers.js';

const cluster = useCluster();
const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-schema-'));
const open: pg.Client[] = [];
const schema = JSON.parse(readFileSync(join(projectRoot, 'schema', 'report.schema.json'), 'utf8')) as Record<string, unknown>;
const fast = Object.entries(FAST_THRESHOLDS).flatMap(([flag, value]) => [`--${flag}`, value]);
let refused: string;
let migration: string;

beforeAll(async () => {
  await cluster().sql('CREATE TABLE orders (id int PRIMARY KEY, total int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g; ANALYZE orders');
  await cluster().sql('CREATE DATABASE app');
  const app = await cluster().connect({ database: 'app', applicationName: 'schema-setup' });
  await app.query('CREATE TABLE orders (id int PRIMARY KEY, total int); ANALYZE orders');
  await app.end();
  migration = join(dir, '0042_add_note.sql');
  writeFileSync(migration, "ALTER TABLE orders ADD COLUMN note text DEFAULT 'x' NOT NULL;\nCREATE INDEX orders_total ON orders (total);\n");
  refused = `postgresql://postgres@127.0.0.1:${await freePort()}/postgres`;
  await stageLockQueue(cluster(), 'schema', open);
});

afterAll(async () => {
  for (const client of open) await client.end().catch(() => undefined);
});

/** Every object schema that lists its properties refuses the ones it does not list. */
function strict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strict);
  if (node === null || typeof node !== 'object') return node;
  // `if` only tells the two shapes apart: it stays as it is.
  const out = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key === 'if' ? value : key === 'properties' ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, strict(v)])) : strict(value)]));
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

// RFC 3339 UTC timestamps as Date.prototype.toISOString writes them.
const formats = { 'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/ };
const shipped = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, formats }).compile(schema);
const strictValidator = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, formats }).addSchema(strict(schema) as object);
const describeErrors = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? `: "${String(e.params.additionalProperty)}" is not described in schema/report.schema.json` : ''}`).join('\n');

type Def = 'GateReport' | 'BlockingTreeDocument';

function expectValid(document: unknown, def: Def): void {
  expect(shipped(document), describeErrors(shipped.errors)).toBe(true);
  const validate = strictValidator.getSchema(`urn:pgpreflight:report#/$defs/${def}`);
  if (!validate) throw new Error(`no $defs/${def} in the schema`);
  expect(validate(document), describeErrors(validate.errors)).toBe(true);
}

const made: unknown[] = [];

async function json(args: string[], expectedCode: number): Promise<unknown> {
  const result = await runCli([...args, '--format', 'json']);
  expect(result.code, result.stderr).toBe(expectedCode);
  return keep(JSON.parse(result.stdout));
}

function keep<T>(document: T): T {
  made.push(document);
  return document;
}

/** One row per shape a document can take: how to make a real one, and which definition it must match. */
const SHAPES: { name: string; def: Def; make: () => Promise<unknown> }[] = [
  {
    name: 'one database, blocked: a root blocker with its queue, lock holder and waiter findings, remediation, details',
    def: 'GateReport',
    make: () => json(['check', '--url', cluster().url(), '--table', 'orders', ...fast], 1),
  },
  {
    name: 'one database with --migration: findings on a file and line',
    def: 'GateReport',
    make: () => json(['check', '--url', cluster().url(), '--migration', migration, ...fast], 1),
  },
  {
    name: 'several databases',
    def: 'GateReport',
    make: () => json(['check', '--url', cluster().url(), '--url', cluster().url({ database: 'app' }), '--table', 'orders', ...fast], 1),
  },
  {
    name: 'several databases, one unreachable: a section with an error and no report',
    def: 'GateReport',
    make: () => json(['check', '--url', cluster().url(), '--url', refused, '--table', 'orders', '--timeout', '3s'], 2),
  },
  {
    name: 'one unreachable database, as --report-file writes it (github format)',
    def: 'GateReport',
    make: async () => {
      const file = join(dir, 'unreachable.json');
      const result = await runCli(['check', '--url', refused, '--table', 'orders', '--format', 'github', '--report-file', file, '--timeout', '3s']);
      expect(result.code).toBe(2);
      return keep(JSON.parse(readFileSync(file, 'utf8')));
    },
  },
  {
    name: '--offline: no server',
    def: 'GateReport',
    make: () => json(['check', '--migration', migration, '--offline'], 1),
  },
  {
    name: "the library's check() report",
    def: 'GateReport',
    make: async () => keep((await check({ url: cluster().url(), tables: ['orders'], config: false, env: {} })).report),
  },
  {
    name: "the library's analyzeMigration() report",
    def: 'GateReport',
    make: async () => keep((await analyzeMigration({ files: [migration] })).report),
  },
  {
    name: 'the blocking tree of locks --format json',
    def: 'BlockingTreeDocument',
    make: async () => {
      const result = await runCli(['locks', '--url', cluster().url(), '--format', 'json']);
      expect(result.code, result.stderr).toBe(0);
      return keep(JSON.parse(result.stdout));
    },
  },
  {
    name: 'each line of locks --watch --format json (NDJSON)',
    def: 'BlockingTreeDocument',
    make: async () => {
      const result = await runCli(['locks', '--url', cluster().url(), '--table', 'orders', '--format', 'json', '--watch', '100ms', '--refreshes', '2']);
      expect(result.code, result.stderr).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      const documents = lines.map((line) => JSON.parse(line) as unknown);
      for (const document of documents.slice(1)) expectValid(keep(document), 'BlockingTreeDocument');
      return keep(documents[0]);
    },
  },
];

describe('schema/report.schema.json', () => {
  for (const shape of SHAPES) {
    it(`describes ${shape.name}`, async () => {
      expectValid(await shape.make(), shape.def);
    });
  }

  it('the reports above use the optional finding fields and a root cause, so the strict check covers them', async () => {
    const document = (await SHAPES[0]?.make()) as { databases: { report: { checks: { findings: Record<string, unknown>[] }[]; rootCauses: { waiters: unknown[] }[] } }[] };
    const report = document.databases[0]?.report;
    const keys = new Set(report?.checks.flatMap((c) => c.findings.flatMap((f) => Object.keys(f))));
    for (const key of ['pid', 'user', 'application', 'client', 'state', 'ageSeconds', 'lockMode', 'granted', 'query', 'blockedBy', 'chain', 'remediation', 'details']) expect(keys).toContain(key);
    expect(report?.rootCauses).toHaveLength(1);
    expect(report?.rootCauses[0]?.waiters.length).toBeGreaterThan(0);
    const withFile = (await SHAPES[1]?.make()) as typeof document;
    expect(withFile.databases[0]?.report.checks.flatMap((c) => c.findings).some((f) => typeof f.file === 'string' && typeof f.line === 'number')).toBe(true);
  });

  it('rejects what is not a document', () => {
    expect(shipped({ version: 2, pgpreflight: '1.0.0', generatedAt: '2025-01-01T00:00:00Z', verdict: 'maybe', exitCode: 0, failOn: 'fail', blockedBy: [], databases: [], durationMs: 1 })).toBe(false);
    // Version 1 is described for old reports, but is not what pgpreflight prints now.
    expect(shipped({ version: 1, verdict: 'pass', server: null, targets: [], checks: [], notes: [], durationMs: 1 })).toBe(false);
  });

  it('lists exactly the published finding kinds, and every kind in the documents above is one', () => {
    const kinds = (schema.$defs as { FindingKind: { enum: string[] } }).FindingKind.enum;
    expect(kinds).toEqual(Object.keys(FINDING_KINDS).sort());
    const seen = JSON.stringify(made).matchAll(/"kind":"([a-z-]+)","severity"/g);
    for (const [, kind] of seen) expect(kinds, `finding kind ${kind}`).toContain(kind);
  });

  it('every remediation.sql in the documents above is SQL PostgreSQL parses', async () => {
    const parser = await import('libpg-query');
    await parser.loadModule();
    const sqls = new Set<string>();
    const collect = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node !== null && typeof node === 'object') {
        const remediation = (node as { remediation?: { sql?: unknown } }).remediation;
        if (remediation && typeof remediation.sql === 'string') sqls.add(remediation.sql);
        Object.values(node).forEach(collect);
      }
    };
    collect(made);
    expect(sqls.size).toBeGreaterThan(2);
    for (const sql of sqls) expect(() => parser.parseSync(sql), sql).not.toThrow();
  });
});

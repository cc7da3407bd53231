// The shipped JSON Schema (schema/report.schema.json) against real reports of every shape,
// made by the built CLI against a real server: one database (with findings that use most
// optional fields), several databases, a database that could not be checked, --offline,
// and the library's check(). Validated twice with ajv: as shipped (open to added fields,
// as the README promises consumers), and strict, where every field a report carries must
// be described — a new field or shape fails here until the schema says what it is.
// A new report version: add its shape to the schema's $defs, and a row to SHAPES.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../src/api/check.js';
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

const shipped = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
const strictValidator = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).addSchema(strict(schema) as object);
const describeErrors = (errors: ErrorObject[] | null | undefined): string =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.keyword === 'additionalProperties' ? `: "${String(e.params.additionalProperty)}" is not described in schema/report.schema.json` : ''}`).join('\n');

function expectValid(document: unknown, def: 'Report' | 'GateReport'): void {
  expect(shipped(document), describeErrors(shipped.errors)).toBe(true);
  const validate = strictValidator.getSchema(`urn:pgpreflight:report#/$defs/${def}`);
  if (!validate) throw new Error(`no $defs/${def} in the schema`);
  expect(validate(document), describeErrors(validate.errors)).toBe(true);
}

async function json(args: string[], expectedCode: number): Promise<unknown> {
  const result = await runCli([...args, '--format', 'json']);
  expect(result.code, result.stderr).toBe(expectedCode);
  return JSON.parse(result.stdout);
}

/** One row per shape a report can take: how to make a real one, and which definition it must match. */
const SHAPES: { name: string; def: 'Report' | 'GateReport'; make: () => Promise<unknown> }[] = [
  {
    name: 'one database, blocked: lock holder and waiter findings, remediation, details',
    def: 'Report',
    make: () => json(['check', '--url', cluster().url(), '--table', 'orders', ...fast], 1),
  },
  {
    name: 'one database with --migration: findings on a file and line',
    def: 'Report',
    make: () => json(['check', '--url', cluster().url(), '--migration', migration, ...fast], 1),
  },
  {
    name: 'several databases (GateReport)',
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
      return JSON.parse(readFileSync(file, 'utf8'));
    },
  },
  {
    name: '--offline: no server',
    def: 'Report',
    make: () => json(['check', '--migration', migration, '--offline'], 1),
  },
  {
    name: "the library's check() report",
    def: 'Report',
    make: async () => (await check({ url: cluster().url(), tables: ['orders'], config: false, env: {} })).report,
  },
];

describe('schema/report.schema.json', () => {
  for (const shape of SHAPES) {
    it(`describes ${shape.name}`, async () => {
      expectValid(await shape.make(), shape.def);
    });
  }

  it('the reports above use the optional finding fields, so the strict check covers them', async () => {
    const report = (await SHAPES[0]?.make()) as { checks: { findings: Record<string, unknown>[] }[] };
    const keys = new Set(report.checks.flatMap((c) => c.findings.flatMap((f) => Object.keys(f))));
    for (const key of ['pid', 'user', 'application', 'client', 'state', 'ageSeconds', 'lockMode', 'granted', 'query', 'blockedBy', 'remediation', 'details']) expect(keys).toContain(key);
    const withFile = (await SHAPES[1]?.make()) as typeof report;
    expect(withFile.checks.flatMap((c) => c.findings).some((f) => typeof f.file === 'string' && typeof f.line === 'number')).toBe(true);
  });

  it('rejects what is not a report', () => {
    expect(shipped({ version: 1, verdict: 'maybe', server: null, targets: [], checks: [], notes: [], durationMs: 1 })).toBe(false);
    expect(shipped({ version: 2, verdict: 'pass', blockedBy: [], databases: [], durationMs: 1 })).toBe(false);
  });
});

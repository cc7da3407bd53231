// The configuration file's schema (zod). Loaded by config.ts only when a file is found.
import { z } from 'zod';
import { CHECKS } from '../../checks/index.js';
import { shown, type PreflightConfig, type ThresholdValues } from './config-model.js';
import { PreflightError } from '../core/errors.js';
import { parseQualifiedName } from '../core/identifiers.js';
import { LOCK_MODES, parseLockMode } from '../core/lock-modes.js';
import { parseOptionValue } from '../gate/check-options.js';
import { REPORTER_NAMES, type ReporterName } from '../reporters/index.js';
import { parseDuration } from '../core/units.js';

const CHECK_IDS = CHECKS.map((c) => c.id);
const list = (items: readonly string[]): string => items.join(', ');

/** A strict object whose unknown-key error names what is allowed. */
function strictObject<T extends z.ZodRawShape>(shape: T, extra = ''): z.ZodObject<T, z.core.$strict> {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}: allowed keys are ${list(Object.keys(shape))}${extra}` : undefined,
  });
}

const durationText = z.string({ error: 'must be a duration such as 500ms, 10s or 5m' }).refine((v) => parseDuration(v) !== undefined, {
  error: 'must be a duration such as 500ms, 10s or 5m',
});

const positiveDurationText = z.string({ error: 'must be a positive duration such as 500ms, 10s or 5m' }).refine((v) => (parseDuration(v) ?? 0) > 0, {
  error: 'must be a positive duration such as 500ms, 10s or 5m',
});

const thresholdValue = z.union([z.string(), z.number(), z.null()], {
  error: 'must be a duration (5s), a size (100MB), a count (1000000), or null for off',
});

/** thresholds: { <check id>: { <option key>: value } }, keys checked against the checks' metadata. */
const thresholdsSchema = strictObject(
  Object.fromEntries(
    CHECKS.map((check) => [check.id, strictObject(Object.fromEntries(Object.keys(check.options).map((key) => [key, thresholdValue.optional()]))).optional()]),
  ),
);

const checkIdList = z.array(z.enum(CHECK_IDS as [string, ...string[]], { error: `must be a check id: ${list(CHECK_IDS)}` }), {
  error: `must be a list of check ids: ${list(CHECK_IDS)}`,
});

const urlEnvSchema = (example: string) =>
  z
    .string({ error: `must name the environment variable that holds the URL, such as ${example}` })
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: `must be an environment variable name such as ${example}` });

const NO_URL_IN_FILE = ' (a URL never goes in the file: put it in an environment variable and name it with urlEnv)';

/** A hot standby read with --replica-url semantics. */
const replicasSchema = z.array(strictObject({ urlEnv: urlEnvSchema('REPLICA1_DATABASE_URL') }, NO_URL_IN_FILE), {
  error: 'must be a list of { urlEnv }, one per hot standby',
});

const databaseSchema = strictObject(
  {
    name: z.string({ error: 'must be a name such as shard-1' }).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'must be letters, digits, ".", "_" or "-", such as shard-1' }),
    urlEnv: urlEnvSchema('SHARD1_DATABASE_URL'),
    optional: z.boolean({ error: 'must be true or false' }).optional(),
    replicas: replicasSchema.optional(),
  },
  NO_URL_IN_FILE,
);

const configSchema = strictObject({
  format: z.enum(REPORTER_NAMES as [string, ...string[]], { error: `must be one of ${list(REPORTER_NAMES)}` }).optional(),
  failOn: z.enum(['fail', 'warn'], { error: 'must be fail or warn' }).optional(),
  lockMode: z
    .string({ error: `must be a lock mode: ${list(LOCK_MODES)}` })
    .refine((v) => parseLockMode(v) !== undefined, { error: `must be a lock mode: ${list(LOCK_MODES)}` })
    .optional(),
  timeout: positiveDurationText.optional(),
  wait: durationText.optional(),
  waitMaxInterval: positiveDurationText.optional(),
  concurrency: z.number({ error: 'must be a whole number from 1 to 64' }).int({ error: 'must be a whole number from 1 to 64' }).min(1, { error: 'must be a whole number from 1 to 64' }).max(64, { error: 'must be a whole number from 1 to 64' }).optional(),
  only: checkIdList.optional(),
  skip: checkIdList.optional(),
  thresholds: thresholdsSchema.optional(),
  tables: z.record(z.string().min(1, { error: 'must be a table name' }), thresholdsSchema, { error: 'must map table names to thresholds, e.g. orders: { locks: { fail: 1s } }' }).optional(),
  databases: z.array(databaseSchema, { error: 'must be a list of { name, urlEnv, optional, replicas }' }).optional(),
  replicas: replicasSchema.optional(),
});

type RawConfig = z.infer<typeof configSchema>;

function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out;
}

function invalid(path: string, key: string, what: string): PreflightError {
  return new PreflightError(`invalid configuration in ${shown(path)}: ${key === '' ? what : `${key}: ${what}`}`);
}

function parseThresholds(raw: Record<string, Record<string, string | number | null | undefined> | undefined>, path: string, prefix: string): ThresholdValues {
  const out: ThresholdValues = {};
  for (const [checkId, values] of Object.entries(raw)) {
    const check = CHECKS.find((c) => c.id === checkId);
    if (!check || !values) continue;
    const parsed: Record<string, number | null> = {};
    for (const [key, value] of Object.entries(values)) {
      const spec = check.options[key];
      if (!spec || value === undefined) continue;
      if (value === null) {
        parsed[key] = null;
        continue;
      }
      try {
        parsed[key] = parseOptionValue(spec, String(value), `${prefix}${checkId}.${key}`);
      } catch (error) {
        throw new PreflightError(`invalid configuration in ${shown(path)}: ${(error as Error).message}`);
      }
    }
    out[checkId] = parsed;
  }
  return out;
}

/** Validates a parsed file; every error names the file, the key and what is allowed. */
export function validateConfig(data: unknown, path: string): PreflightConfig {
  if (data === null || data === undefined) return { path, thresholds: {}, tables: {}, databases: [], replicaUrlEnvs: [] };
  if (typeof data === 'object' && !Array.isArray(data)) {
    const databases = (data as { databases?: unknown }).databases;
    const holdsSecret = (d: unknown): boolean => typeof d === 'object' && d !== null && ('url' in d || 'password' in d);
    if (Array.isArray(databases)) {
      const index = databases.findIndex(holdsSecret);
      if (index >= 0) {
        throw invalid(path, `databases[${index}]`, 'holds a URL or password: never put one in the file. Put the URL in an environment variable and name it with urlEnv');
      }
    }
    const replicas = (data as { replicas?: unknown }).replicas;
    if (Array.isArray(replicas) && replicas.some(holdsSecret)) {
      throw invalid(path, `replicas[${replicas.findIndex(holdsSecret)}]`, 'holds a URL or password: never put one in the file. Put the URL in an environment variable and name it with urlEnv');
    }
  }
  const result = configSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    const message = issue?.message ?? 'is not valid';
    throw invalid(path, keyPath(issue?.path ?? []), issue?.code === 'invalid_type' && issue.path.length === 0 ? 'must be an object of settings' : message);
  }
  const raw: RawConfig = result.data;
  const names = new Set<string>();
  for (const [index, db] of (raw.databases ?? []).entries()) {
    if (names.has(db.name)) throw invalid(path, `databases[${index}].name`, `"${db.name}" is used twice: names must be unique`);
    names.add(db.name);
  }
  if ((raw.replicas ?? []).length > 0 && (raw.databases ?? []).length > 0) {
    throw invalid(path, 'replicas', 'belongs to the one database a run checks; with databases, list each one\'s standbys under databases[].replicas');
  }
  const tables: Record<string, ThresholdValues> = {};
  for (const [table, thresholds] of Object.entries(raw.tables ?? {})) {
    const name = parseQualifiedName(table);
    if (typeof name === 'string') throw invalid(path, `tables.${table}`, `is not a table name (${name})`);
    if (Object.values(thresholds).every((values) => values === undefined || Object.keys(values).length === 0)) {
      throw invalid(path, `tables.${table}`, 'sets no threshold: give at least one, e.g. locks: { fail: 1s }, or remove the entry');
    }
    tables[table] = parseThresholds(thresholds, path, `tables.${table}.`);
  }
  return {
    path,
    format: raw.format as ReporterName | undefined,
    failOn: raw.failOn,
    lockMode: raw.lockMode === undefined ? undefined : parseLockMode(raw.lockMode),
    timeoutMs: raw.timeout === undefined ? undefined : parseDuration(raw.timeout),
    waitMs: raw.wait === undefined ? undefined : parseDuration(raw.wait),
    waitMaxIntervalMs: raw.waitMaxInterval === undefined ? undefined : parseDuration(raw.waitMaxInterval),
    concurrency: raw.concurrency,
    only: raw.only,
    skip: raw.skip,
    thresholds: parseThresholds(raw.thresholds ?? {}, path, 'thresholds.'),
    tables,
    databases: (raw.databases ?? []).map((d) => ({ name: d.name, urlEnv: d.urlEnv, optional: d.optional ?? false, replicaUrlEnvs: (d.replicas ?? []).map((r) => r.urlEnv) })),
    replicaUrlEnvs: (raw.replicas ?? []).map((r) => r.urlEnv),
  };
}


// The effective settings of a gate run, each with where it came from.
// Precedence, highest first: command-line flags > environment (PGPREFLIGHT_*, DATABASE_URL,
// GITHUB_ACTIONS) > the configuration file > built-in defaults. `pgpreflight config`
// prints exactly what `pgpreflight check` would use.
import { CHECKS } from '../../checks/index.js';
import type { CheckDefinition } from '../../checks/types.js';
import { shown, type ConfiguredDatabase, type PreflightConfig, type ThresholdValues } from './config-file.js';
import { EMPTY_DATABASE_URL, resolveConnection, type ConnectionSpec, type ExplicitConnection } from '../core/connection.js';
import { isConninfo, isConnectionUri } from '../core/conninfo.js';
import { PreflightError } from '../core/errors.js';
import { LOCK_MODES, parseLockMode, type LockMode } from '../core/lock-modes.js';
import { assertThresholdOrder, parseOptionValue, type CheckOptionValues, type ChosenValue } from '../gate/check-options.js';
import { REPORTER_NAMES, type ReporterName } from '../reporters/index.js';
import type { FailOn } from '../gate/runner.js';
import { formatBytes, formatDuration, parseDuration } from '../core/units.js';
import { didYouMean } from '../core/text.js';

type Env = Record<string, string | undefined>;

/** A value and where it came from: `--format`, `PGPREFLIGHT_FORMAT`, `pgpreflight.config.json: format`, `default`. */
export interface Sourced<T> {
  value: T;
  source: string;
}

export interface SettingsDatabase {
  name: string;
  connection: ConnectionSpec;
  optional: boolean;
  /** Where its URL came from (`--url`, `DATABASE_URL`, `SHARD1_URL`, `PGHOST/PGPORT/...`). */
  urlSource: string;
  /** Set when an optional database's URL variable is unset: reported, never contacted. */
  unavailable?: string;
  /** Its hot standbys (--replica-url, or replicas in the file), read-only. */
  replicas: ConnectionSpec[];
  /** Where the replicas came from: `--replica-url`, or the file key. */
  replicaSource?: string;
}

export interface Settings {
  configPath: string | null;
  format: Sourced<ReporterName>;
  failOn: Sourced<FailOn>;
  lockMode: Sourced<LockMode>;
  timeoutMs: Sourced<number>;
  /** 0: no waiting. */
  waitMs: Sourced<number>;
  waitMaxIntervalMs: Sourced<number>;
  concurrency: Sourced<number>;
  checks: Sourced<CheckDefinition[]>;
  /** Every check option, by check id then key. */
  thresholds: Record<string, Record<string, Sourced<number | null>>>;
  /** Per-table overrides from the file that no flag or environment value replaced. */
  tableOptions: Record<string, CheckOptionValues>;
  databases: Sourced<SettingsDatabase[]>;
}

/** The environment variable that can set a flag: --lock-fail → PGPREFLIGHT_LOCK_FAIL. */
export function envNameOf(flag: string): string {
  return `PGPREFLIGHT_${flag.toUpperCase().replace(/-/g, '_')}`;
}

function listOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

interface Layer<T> {
  value: T | undefined;
  source: string;
}

function pick<T>(layers: readonly Layer<T>[], fallback: T): Sourced<T> {
  for (const layer of layers) if (layer.value !== undefined) return { value: layer.value, source: layer.source };
  return { value: fallback, source: 'default' };
}

function fromFlag(args: Record<string, unknown>, flag: string): string | undefined {
  const value = args[flag];
  if (Array.isArray(value)) throw new PreflightError(`--${flag} was given more than once`);
  return value === undefined ? undefined : String(value);
}

function fromEnv(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function strictDuration(text: string | undefined, source: string, allowZero: boolean): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0 || (!allowZero && ms === 0)) {
    throw new PreflightError(`${source} must be a ${allowZero ? '' : 'positive '}duration such as 10s or 5m, got "${text}"`);
  }
  return ms;
}

function strictChoice<T extends string>(text: string | undefined, source: string, choices: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) throw new PreflightError(`${source} must be one of ${choices.join(', ')}, got "${text}"`);
  return text as T;
}

function strictLockMode(text: string | undefined, source: string): LockMode | undefined {
  if (text === undefined) return undefined;
  const mode = parseLockMode(text);
  if (!mode) throw new PreflightError(`${source} must be one of ${LOCK_MODES.join(', ')}, got "${text}"`);
  return mode;
}

function strictConcurrency(text: string | undefined, source: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 64) throw new PreflightError(`${source} must be a whole number from 1 to 64, got "${text}"`);
  return Number(text);
}

function checkIds(ids: string[], source: string): string[] {
  const known = CHECKS.map((c) => c.id);
  for (const id of ids) if (!known.includes(id)) throw new PreflightError(`unknown check "${id}" in ${source}${didYouMean(id, known)}: the checks are ${known.join(', ')}`);
  return ids;
}

/** The name a database given by URL is shown under: host:port/database (no user, no password). */
function nameOf(connection: ConnectionSpec): string {
  return `${connection.host}:${connection.port}/${connection.database}`;
}

/** A --replica-url (or a replica's URL variable) as a connection; errors name where it came from. */
function replicaConnection(url: string, env: Env, source: string): ConnectionSpec {
  try {
    return resolveConnection(url, env);
  } catch (error) {
    throw new PreflightError(`${source}: ${(error as Error).message.replace(/^--url /, '')}`);
  }
}

function replicasFromEnv(names: readonly string[], env: Env, where: string): ConnectionSpec[] {
  return names.map((name) => {
    const url = fromEnv(env, name);
    if (url === undefined) throw new PreflightError(`a replica in ${where} reads its URL from ${name}, which is not set: export ${name}=postgresql://... or remove the replica`);
    return replicaConnection(url, env, name);
  });
}

/**
 * Standbys belong to one primary: --replica-url (which replaces the file's replicas) and the
 * file's top-level replicas go with the one database a run checks; the file's databases name
 * their own under databases[].replicas.
 */
function withReplicas(databases: Sourced<SettingsDatabase[]>, args: Record<string, unknown>, env: Env, config: PreflightConfig | null): Sourced<SettingsDatabase[]> {
  const flags = (Array.isArray(args['replica-url']) ? args['replica-url'] : args['replica-url'] === undefined ? [] : [args['replica-url']]).map(String);
  const topLevel = config?.replicaUrlEnvs ?? [];
  const source = flags.length > 0 ? '--replica-url' : topLevel.length > 0 ? `${shown((config as PreflightConfig).path)}: replicas` : undefined;
  if (source === undefined) return databases;
  if (databases.value.length !== 1) {
    throw new PreflightError(`${source} names the standbys of one primary, but ${databases.value.length} databases are checked: list each database's standbys in the config file (databases[].replicas)`);
  }
  const replicas = flags.length > 0 ? flags.map((url) => replicaConnection(url, env, '--replica-url')) : replicasFromEnv(topLevel, env, source);
  return { ...databases, value: [{ ...(databases.value[0] as SettingsDatabase), replicas, replicaSource: source }] };
}

/** The connection arguments of a command line: --url (any number) and psql's -h/-p/-U/-d. */
export interface ConnectionArgs {
  urls: string[];
  explicit: ExplicitConnection;
}

export function connectionArgsOf(args: Record<string, unknown>): ConnectionArgs {
  const one = (key: string, flag: string): string | undefined => {
    const value = args[key];
    if (Array.isArray(value)) throw new PreflightError(`${flag} was given more than once`);
    return value === undefined ? undefined : String(value);
  };
  const host = one('host', '-h/--host');
  const port = one('port', '-p/--port');
  const user = one('username', '-U/--username');
  const dbname = one('dbname', '-d/--dbname');
  // `--url` with nothing after it (an unquoted empty variable) parses as an empty list.
  if (Array.isArray(args.url) && args.url.length === 0) throw new PreflightError('--url was given without a value (an unset variable?): give the connection URL, or leave --url out');
  // Not split on commas: a URL may contain one.
  const urls = (Array.isArray(args.url) ? args.url : args.url === undefined ? [] : [args.url]).map(String);
  // As psql: a -d value that is a URL or keyword/value string is the whole connection string.
  if (dbname !== undefined && (isConninfo(dbname) || isConnectionUri(dbname))) {
    if (urls.length > 0) throw new PreflightError('-d/--dbname holds a connection string and --url is given too: give the connection string once');
    return { urls: [dbname], explicit: { host, port, user } };
  }
  return { urls, explicit: { host, port, user, database: dbname } };
}

/** The one server of a command that checks a single database (run, locks). */
export function singleConnection(args: Record<string, unknown>, env: Env): ConnectionSpec {
  const { urls, explicit } = connectionArgsOf(args);
  if (urls.length > 1) throw new PreflightError('--url was given more than once: this command looks at one database');
  return resolveConnection(urls[0], env, explicit);
}

function databasesFrom(args: Record<string, unknown>, env: Env, config: PreflightConfig | null): Sourced<SettingsDatabase[]> {
  const { urls, explicit } = connectionArgsOf(args);
  const explicitSource = (Object.entries({ '-h': explicit.host, '-p': explicit.port, '-U': explicit.user, '-d': explicit.database }) as [string, string | undefined][])
    .filter(([, v]) => v !== undefined)
    .map(([flag]) => flag)
    .join(' ');
  if (urls.length > 0) {
    const databases = urls.map((url) => {
      const connection = resolveConnection(url, env, explicit);
      return { name: nameOf(connection), connection, optional: false, urlSource: '--url', replicas: [] };
    });
    const seen = new Set<string>();
    for (const db of databases) {
      if (seen.has(db.name)) throw new PreflightError(`--url names ${db.name} twice: give each database once`);
      seen.add(db.name);
    }
    return { value: databases, source: '--url' };
  }
  if ((env.DATABASE_URL ?? '').trim() !== '') {
    const connection = resolveConnection(undefined, env, explicit);
    return { value: [{ name: nameOf(connection), connection, optional: false, urlSource: 'DATABASE_URL', replicas: [] }], source: 'DATABASE_URL' };
  }
  if (config && config.databases.length > 0) {
    return { value: config.databases.map((db) => configuredDatabase(db, env, shown(config.path), explicit)), source: `${shown(config.path)}: databases` };
  }
  // DATABASE_URL='' (a misspelled secret) with nothing else naming a server: never the defaults.
  if (env.DATABASE_URL !== undefined && explicit.host === undefined) throw new PreflightError(EMPTY_DATABASE_URL);
  const connection = resolveConnection(undefined, env, explicit);
  return {
    value: [{ name: nameOf(connection), connection, optional: false, urlSource: explicitSource === '' ? 'PGHOST/PGPORT/PGUSER/PGDATABASE' : explicitSource, replicas: [] }],
    source: explicitSource === '' ? 'default' : explicitSource,
  };
}

function configuredDatabase(db: ConfiguredDatabase, env: Env, path: string, explicit: ExplicitConnection): SettingsDatabase {
  const raw = env[db.urlEnv];
  const url = fromEnv(env, db.urlEnv);
  if (url === undefined || url.trim() === '') {
    const why = raw === undefined ? 'is not set' : 'is set but empty';
    // Kept so that every output names it; the gate reports it as not checked. A required one
    // fails the gate (exit 2) for this database alone: the rest of the fleet is still checked.
    const placeholder = resolveConnection('postgresql://unset@unset.invalid:5432/unset', {});
    return {
      name: db.name,
      connection: { ...placeholder, display: `(${db.urlEnv} ${why})`, secrets: [] },
      optional: db.optional,
      urlSource: db.urlEnv,
      unavailable: db.optional
        ? `${db.urlEnv} ${why}: not checked`
        : `database "${db.name}" in ${path} reads its URL from ${db.urlEnv}, which ${why}: export ${db.urlEnv}=postgresql://... or mark the database optional`,
      replicas: [],
    };
  }
  let connection: ConnectionSpec;
  try {
    connection = resolveConnection(url, env, explicit);
  } catch (error) {
    if (!(error instanceof PreflightError)) throw error;
    // Like an unset variable: this database cannot be checked, the others still are. Never
    // optional: a URL that is set but wrong is a mistake to fix, not a database to skip.
    const placeholder = resolveConnection('postgresql://unset@unset.invalid:5432/unset', {});
    return {
      name: db.name,
      connection: { ...placeholder, display: `(${db.urlEnv} is not a valid URL)`, secrets: [url] },
      optional: false,
      urlSource: db.urlEnv,
      unavailable: `${db.urlEnv} (database "${db.name}"): ${error.message.replace(/^--url /, '')}`,
      replicas: [],
    };
  }
  const replicas = replicasFromEnv(db.replicaUrlEnvs, env, `${path}: database "${db.name}"`);
  return { name: db.name, connection, optional: db.optional, urlSource: db.urlEnv, replicas, ...(replicas.length > 0 ? { replicaSource: `${path}: databases[].replicas` } : {}) };
}

function thresholdsFrom(args: Record<string, unknown>, env: Env, config: PreflightConfig | null): Settings['thresholds'] {
  const out: Settings['thresholds'] = {};
  for (const check of CHECKS) {
    const values: Record<string, Sourced<number | null>> = {};
    for (const [key, spec] of Object.entries(check.options)) {
      const flagText = fromFlag(args, spec.flag);
      // The variable of the flag's old spelling still counts when the current one is unset.
      const oldEnvName = spec.formerly === undefined ? undefined : envNameOf(spec.formerly);
      const envName = fromEnv(env, envNameOf(spec.flag)) === undefined && oldEnvName !== undefined && fromEnv(env, oldEnvName) !== undefined ? oldEnvName : envNameOf(spec.flag);
      const envText = fromEnv(env, envName);
      const configValue = config?.thresholds[check.id]?.[key];
      values[key] = pick<number | null>(
        [
          { value: flagText === undefined ? undefined : parseOptionValue(spec, flagText, `--${spec.flag}`), source: `--${spec.flag}` },
          { value: envText === undefined ? undefined : parseOptionValue(spec, envText, envName), source: envName },
          { value: configValue, source: `${config ? shown(config.path) : ''}: thresholds.${check.id}.${key}` },
        ],
        spec.default === null ? null : parseOptionValue(spec, spec.default, `the default of ${spec.flag}`),
      );
    }
    assertThresholdOrder(check, (key) => chosen(check, key, values[key]));
    out[check.id] = values;
  }
  return out;
}

/** A sourced threshold as assertThresholdOrder reads it: `--lock-warn (10s)`, and where it was written. */
function chosen(check: CheckDefinition, key: string, sourced: Sourced<number | null> | undefined, origin?: string): ChosenValue {
  const spec = check.options[key];
  const value = sourced?.value ?? null;
  const source = sourced?.source ?? 'default';
  const shownValue = value === null || !spec ? 'off' : spec.kind === 'duration' ? formatDuration(value) : spec.kind === 'size' ? formatBytes(value) : String(value);
  const layer = source === 'default' ? null : source.startsWith('--') ? 'flags' : source.startsWith('PGPREFLIGHT_') ? 'environment' : 'file thresholds';
  return { value, source: `${source} (${shownValue})`, origin: origin ?? layer };
}

/** Per-table overrides checked against the thresholds they combine with, for an impossible order. */
function assertTableThresholdOrder(config: PreflightConfig | null, thresholds: Settings['thresholds'], tableOptions: Record<string, CheckOptionValues>): void {
  for (const [table, byCheck] of Object.entries(tableOptions)) {
    for (const [checkId, values] of Object.entries(byCheck)) {
      const check = CHECKS.find((c) => c.id === checkId);
      if (!check) continue;
      assertThresholdOrder(check, (key) =>
        key in values
          ? chosen(check, key, { value: values[key] ?? null, source: `${config ? shown(config.path) : ''}: tables.${table}.${checkId}.${key}` }, `file tables.${table}`)
          : chosen(check, key, thresholds[checkId]?.[key]),
      );
    }
  }
}

/** Per-table overrides from the file, minus whatever a flag or the environment set for every table. */
function tableOptionsFrom(config: PreflightConfig | null, thresholds: Settings['thresholds']): Record<string, CheckOptionValues> {
  const out: Record<string, CheckOptionValues> = {};
  for (const [table, byCheck] of Object.entries(config?.tables ?? {})) {
    const kept: ThresholdValues = {};
    for (const [checkId, values] of Object.entries(byCheck)) {
      const entries = Object.entries(values).filter(([key]) => {
        const source = thresholds[checkId]?.[key]?.source ?? 'default';
        return source === 'default' || !(source.startsWith('--') || source.startsWith('PGPREFLIGHT_'));
      });
      if (entries.length > 0) kept[checkId] = Object.fromEntries(entries);
    }
    out[table] = kept;
  }
  return out;
}

export interface ResolveSettingsInput {
  args: Record<string, unknown>;
  env: Env;
  config: PreflightConfig | null;
}

export function resolveSettings({ args, env, config }: ResolveSettingsInput): Settings {
  const c = (key: string): string => `${config ? shown(config.path) : ''}: ${key}`;
  const format = pick<ReporterName>(
    [
      { value: strictChoice(fromFlag(args, 'format'), '--format', REPORTER_NAMES), source: '--format' },
      { value: strictChoice(fromEnv(env, 'PGPREFLIGHT_FORMAT'), 'PGPREFLIGHT_FORMAT', REPORTER_NAMES), source: 'PGPREFLIGHT_FORMAT' },
      { value: env.GITHUB_ACTIONS === 'true' ? 'github' : undefined, source: 'GITHUB_ACTIONS=true' },
      { value: config?.format, source: c('format') },
    ],
    'table',
  );
  const failOn = pick<FailOn>(
    [
      { value: strictChoice(fromFlag(args, 'fail-on'), '--fail-on', ['fail', 'warn'] as const), source: '--fail-on' },
      { value: strictChoice(fromEnv(env, 'PGPREFLIGHT_FAIL_ON'), 'PGPREFLIGHT_FAIL_ON', ['fail', 'warn'] as const), source: 'PGPREFLIGHT_FAIL_ON' },
      { value: config?.failOn, source: c('failOn') },
    ],
    'fail',
  );
  const lockMode = pick<LockMode>(
    [
      { value: strictLockMode(fromFlag(args, 'lock-mode'), '--lock-mode'), source: '--lock-mode' },
      { value: args.concurrently === true ? 'ShareUpdateExclusiveLock' : undefined, source: '--concurrently' },
      { value: strictLockMode(fromEnv(env, 'PGPREFLIGHT_LOCK_MODE'), 'PGPREFLIGHT_LOCK_MODE'), source: 'PGPREFLIGHT_LOCK_MODE' },
      { value: config?.lockMode, source: c('lockMode') },
    ],
    'AccessExclusiveLock',
  );
  const timeoutMs = pick<number>(
    [
      { value: strictDuration(fromFlag(args, 'timeout'), '--timeout', false), source: '--timeout' },
      { value: strictDuration(fromEnv(env, 'PGPREFLIGHT_TIMEOUT'), 'PGPREFLIGHT_TIMEOUT', false), source: 'PGPREFLIGHT_TIMEOUT' },
      { value: config?.timeoutMs, source: c('timeout') },
    ],
    10_000,
  );
  const waitMs = pick<number>(
    [
      { value: strictDuration(fromFlag(args, 'wait'), '--wait', true), source: '--wait' },
      { value: strictDuration(fromEnv(env, 'PGPREFLIGHT_WAIT'), 'PGPREFLIGHT_WAIT', true), source: 'PGPREFLIGHT_WAIT' },
      { value: config?.waitMs, source: c('wait') },
    ],
    0,
  );
  const waitMaxIntervalMs = pick<number>(
    [
      { value: strictDuration(fromFlag(args, 'wait-max-interval'), '--wait-max-interval', false), source: '--wait-max-interval' },
      { value: strictDuration(fromEnv(env, 'PGPREFLIGHT_WAIT_MAX_INTERVAL'), 'PGPREFLIGHT_WAIT_MAX_INTERVAL', false), source: 'PGPREFLIGHT_WAIT_MAX_INTERVAL' },
      { value: config?.waitMaxIntervalMs, source: c('waitMaxInterval') },
    ],
    30_000,
  );
  const concurrency = pick<number>(
    [
      { value: strictConcurrency(fromFlag(args, 'parallel'), '--parallel'), source: '--parallel' },
      { value: strictConcurrency(fromEnv(env, 'PGPREFLIGHT_CONCURRENCY'), 'PGPREFLIGHT_CONCURRENCY'), source: 'PGPREFLIGHT_CONCURRENCY' },
      { value: config?.concurrency, source: c('concurrency') },
    ],
    4,
  );
  const onlyFlag = listOf(args.only);
  const skipFlag = listOf(args.skip);
  const only = pick<string[]>(
    [
      { value: onlyFlag.length > 0 ? checkIds(onlyFlag, '--only') : undefined, source: '--only' },
      { value: fromEnv(env, 'PGPREFLIGHT_ONLY') === undefined ? undefined : checkIds(listOf(env.PGPREFLIGHT_ONLY), 'PGPREFLIGHT_ONLY'), source: 'PGPREFLIGHT_ONLY' },
      { value: config?.only, source: c('only') },
    ],
    [],
  );
  const skip = pick<string[]>(
    [
      { value: skipFlag.length > 0 ? checkIds(skipFlag, '--skip') : undefined, source: '--skip' },
      { value: fromEnv(env, 'PGPREFLIGHT_SKIP') === undefined ? undefined : checkIds(listOf(env.PGPREFLIGHT_SKIP), 'PGPREFLIGHT_SKIP'), source: 'PGPREFLIGHT_SKIP' },
      { value: config?.skip, source: c('skip') },
    ],
    [],
  );
  const selected = CHECKS.filter((check) => (only.value.length === 0 || only.value.includes(check.id)) && !skip.value.includes(check.id));
  if (selected.length === 0) throw new PreflightError(`${[only, skip].filter((s) => s.source !== 'default').map((s) => s.source).join(' and ')} leave no check to run: the gate would evaluate nothing. Run fewer --skip, or name checks in --only`);
  const checksSource = [only, skip].filter((s) => s.source !== 'default').map((s) => s.source).join(' + ') || 'default';
  const thresholds = thresholdsFrom(args, env, config);
  const tableOptions = tableOptionsFrom(config, thresholds);
  assertTableThresholdOrder(config, thresholds, tableOptions);
  let databases: Sourced<SettingsDatabase[]> | undefined;
  return {
    configPath: config?.path ?? null,
    format,
    failOn,
    lockMode,
    timeoutMs,
    waitMs,
    waitMaxIntervalMs,
    concurrency,
    checks: { value: selected, source: checksSource },
    thresholds,
    tableOptions,
    // Resolved on first use: `check --offline` never needs a database, so an unset URL variable must not stop it.
    get databases(): Sourced<SettingsDatabase[]> {
      databases ??= withReplicas(databasesFrom(args, env, config), args, env, config);
      return databases;
    },
  };
}

/** The plain option values runOnce takes, for every check (the runner evaluates the selected ones). */
export function optionValuesOf(settings: Settings): CheckOptionValues {
  const out: CheckOptionValues = {};
  // Every check's, selected or not: a window such as traffic's --sample is read by load too (`--only load --sample 2s`).
  for (const check of CHECKS) {
    out[check.id] = Object.fromEntries(Object.entries(settings.thresholds[check.id] ?? {}).map(([key, sourced]) => [key, sourced.value]));
  }
  return out;
}

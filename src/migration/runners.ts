// How migration tools run a file decides what the analyzer must assume: a runner that wraps
// each file in a transaction keeps every lock until the file's last statement (a backfill
// after an ALTER runs under the ALTER's lock), and refuses CREATE INDEX CONCURRENTLY inside it.
// One that sends the whole file as one query string gets an implicit transaction from
// PostgreSQL itself. `auto` (the default) recognises the tool by the directory layout and the
// markers in the files; a plain directory of .sql files is run like `psql -f`: no transaction
// beyond the BEGIN/COMMIT the file writes.

/**
 * none: each statement commits on its own (psql -f), BEGIN/COMMIT in the file count.
 * transaction: the tool sends BEGIN, the statements one by one, then COMMIT (Rails, Django, diesel, ...).
 * implicit: the tool sends the whole file as one query string; PostgreSQL runs it as one
 *   implicit transaction, and a statement that cannot run in a transaction fails unless it is alone.
 * run: one transaction around every pending file (Alembic's default, psql --single-transaction).
 */
export type TransactionMode = 'none' | 'transaction' | 'implicit' | 'run';

export interface Runner {
  name: string;
  mode: TransactionMode;
  /** How to run a statement that cannot be in a transaction with this tool. */
  outsideTransaction: string;
  /** Markers in a file that make the tool skip its transaction for that file. */
  optOut?: RegExp;
  /** A file holding a statement that cannot run in a transaction is run without one (Flyway detects them). */
  detectsNonTransactional?: boolean;
}

export const RUNNERS: Record<string, Runner> = {
  psql: { name: 'psql', mode: 'none', outsideTransaction: 'keep it out of BEGIN ... COMMIT' },
  'psql-single-transaction': { name: 'psql-single-transaction', mode: 'run', outsideTransaction: 'run it in a separate psql call without --single-transaction' },
  transaction: { name: 'transaction', mode: 'transaction', outsideTransaction: 'run it in its own migration, outside the per-file transaction' },
  rails: { name: 'rails', mode: 'transaction', outsideTransaction: 'put it in its own migration with disable_ddl_transaction!' },
  django: { name: 'django', mode: 'transaction', outsideTransaction: 'put it in its own migration with atomic = False' },
  diesel: { name: 'diesel', mode: 'transaction', outsideTransaction: 'put it in its own migration with run_in_transaction = false in its metadata.toml' },
  sqlx: { name: 'sqlx', mode: 'transaction', outsideTransaction: 'put it in its own migration whose first line is -- no-transaction', optOut: /^no-transaction$/ },
  flyway: { name: 'flyway', mode: 'transaction', outsideTransaction: 'put it alone in its own migration (Flyway then runs that file without a transaction)', detectsNonTransactional: true },
  'golang-migrate': { name: 'golang-migrate', mode: 'implicit', outsideTransaction: 'put it alone in its own .up.sql file (the postgres and pgx drivers send a file as one query)' },
  'golang-migrate-multi': { name: 'golang-migrate-multi', mode: 'none', outsideTransaction: 'keep it out of BEGIN ... COMMIT (x-multi-statement runs each statement on its own)' },
  prisma: { name: 'prisma', mode: 'implicit', outsideTransaction: 'put it alone in its own migration.sql (Prisma sends a file as one query)' },
  knex: { name: 'knex', mode: 'transaction', outsideTransaction: 'put it in its own migration with exports.config = { transaction: false }' },
  'node-pg-migrate': { name: 'node-pg-migrate', mode: 'transaction', outsideTransaction: 'put it in its own migration and call pgm.noTransaction()' },
  goose: { name: 'goose', mode: 'transaction', outsideTransaction: 'put it in its own migration annotated -- +goose NO TRANSACTION', optOut: /^\+goose no transaction$/ },
  dbmate: { name: 'dbmate', mode: 'transaction', outsideTransaction: 'put it in its own migration with -- migrate:up transaction:false', optOut: /^migrate:up transaction:false$/ },
  atlas: { name: 'atlas', mode: 'transaction', outsideTransaction: 'put it in its own file with the -- atlas:txmode none directive' },
  alembic: { name: 'alembic', mode: 'run', outsideTransaction: 'run it in an autocommit_block() or with transaction_per_migration and its own migration' },
};

export const RUNNER_NAMES = ['auto', ...Object.keys(RUNNERS)] as const;

export function runnerByName(name: string): Runner | undefined {
  return RUNNERS[name];
}

/** The tool a set of migration files was written for, from paths and markers. */
export function detectRunner(paths: readonly string[], markers: readonly string[]): Runner {
  const base = (p: string): string => p.split(/[\\/]/).at(-1) ?? p;
  if (paths.some((p) => /(^|[\\/])migration\.sql$/i.test(p))) return RUNNERS.prisma as Runner;
  if (paths.some((p) => /(^|[\\/])up\.sql$/i.test(p))) return RUNNERS.diesel as Runner;
  if (paths.some((p) => /\.up\.sql$/i.test(base(p)))) return RUNNERS['golang-migrate'] as Runner;
  if (paths.some((p) => /^[VR]\d*(?:[._]\d+)*__.+\.sql$/i.test(base(p)))) return RUNNERS.flyway as Runner;
  if (markers.some((m) => m.startsWith('migrate:up'))) return RUNNERS.dbmate as Runner;
  if (markers.some((m) => m.startsWith('+goose'))) return RUNNERS.goose as Runner;
  if (markers.includes('up migration')) return RUNNERS['node-pg-migrate'] as Runner;
  return RUNNERS.psql as Runner;
}

// One statement on its own: which relations it locks in which mode (rows of ./lock-table.ts),
// which it rewrites or reads in full (the work whose duration grows with the table), what it
// changes in the schema the next statements see, and whether it can be judged at all.
// Decisions that depend on the schema (a column's current type, whether a CHECK proving NOT
// NULL was validated, a default's volatility) are taken from `Schema`; where it does not know,
// the work is kept and marked as assumed, so an unknown never becomes a pass.
import type { LockMode } from '../core/lock-modes.js';
import {
  constantOf,
  cteNames,
  defined,
  fieldsOf,
  fromNameList,
  fromRangeVar,
  functionCalls,
  list,
  namedRelations,
  option,
  optionValue,
  relation,
  str,
  stringsOf,
  typeRefOf,
  type Fields,
  type LockedRelation,
} from './ast.js';
import { MIXED_VOLATILITY, NON_VOLATILE_FUNCTIONS, VOLATILE_FUNCTIONS } from './catalog-data.js';
import { LOCK_RULES, NO_TABLE_LOCK, UNKNOWN, type LockRuleKind, type StatementKind } from './lock-table.js';
import type { Schema } from './schema.js';
import { parserLoaded, plpgsqlParserLoaded } from './parse.js';
import { SERIAL_TYPES, typeChange, type Knowable, type TypeRef } from './types.js';

export interface Work {
  /** rewrite: every row is written again; scan: every row is read (validation, index build, backfill). */
  kind: 'rewrite' | 'scan';
  /** Whose size sets the duration. */
  relation: LockedRelation;
  /** What does it, for the message: `ALTER COLUMN total TYPE bigint rewrites orders`. */
  what: string;
  /** The lock-table row behind it (its safe sequence), when there is one. */
  rule: LockRuleKind | null;
  /** Why the work is assumed rather than known (the schema was unknown); null when known. */
  assumed: string | null;
}

export interface SettingChange {
  name: string;
  /** null: RESET / DEFAULT. */
  value: string | null;
  local: boolean;
}

export interface Classified {
  kinds: StatementKind[];
  /** Every relation it locks, strongest mode per relation. */
  relations: LockedRelation[];
  work: Work[];
  /** Why it cannot be judged from its text; the gate fails closed on it. */
  unknown: string | null;
  /** What the schema made known (a binary-coercible type change, a proven NOT NULL). */
  notes: string[];
  failsOnRows: { relation: LockedRelation; message: string } | null;
  settings: SettingChange[];
  /** Relations it creates, by canonical name. */
  creates: string[];
  /** Tables it renames: [old canonical, new canonical]; the new name is the same table, data and traffic. */
  renames: [string, string][];
  mayRunInTransaction: boolean;
  concurrently: boolean;
}

export interface ClassifyContext {
  schema: Schema;
  /** The file is history (already applied): tables it creates exist. */
  history: boolean;
  /** The session TimeZone is UTC (SET timezone earlier, or the server's). */
  utc: Knowable<boolean>;
}

interface Part {
  kind: StatementKind;
  relations: LockedRelation[];
}

class Builder {
  readonly parts: Part[] = [];
  readonly work: Work[] = [];
  readonly notes: string[] = [];
  readonly settings: SettingChange[] = [];
  readonly creates: string[] = [];
  readonly renames: [string, string][] = [];
  unknown: string | null = null;
  failsOnRows: Classified['failsOnRows'] = null;

  /** A lock-table row on the statement's own relation and, with its referencedLock, on others. */
  row(kind: LockRuleKind, main: LockedRelation | undefined, referenced: readonly (LockedRelation | undefined)[] = []): void {
    const rule = LOCK_RULES[kind];
    const relations: LockedRelation[] = [];
    if (main) relations.push({ ...main, mode: rule.lock });
    const refMode: LockMode | undefined = 'referencedLock' in rule ? rule.referencedLock : undefined;
    for (const ref of referenced) if (ref && refMode) relations.push({ ...ref, mode: refMode });
    this.parts.push({ kind, relations });
  }

  part(kind: StatementKind, relations: LockedRelation[]): void {
    this.parts.push({ kind, relations });
  }

  scan(kind: Work['kind'], rel: LockedRelation | undefined, what: string, rule: LockRuleKind | null, assumed: string | null = null): void {
    if (rel) this.work.push({ kind, relation: rel, what, rule, assumed });
  }

  cannotJudge(why: string, relations: LockedRelation[] = []): void {
    this.unknown ??= why;
    this.part(UNKNOWN, relations);
  }

  done(): Classified {
    const relations: LockedRelation[] = [];
    for (const part of this.parts) {
      for (const rel of part.relations) {
        const existing = relations.find((r) => r.canonical === rel.canonical);
        if (existing) existing.mode = LOCK_ORDER.indexOf(rel.mode) > LOCK_ORDER.indexOf(existing.mode) ? rel.mode : existing.mode;
        else relations.push({ ...rel });
      }
    }
    const kinds = this.parts.map((p) => p.kind);
    const rows = kinds.filter((k): k is LockRuleKind => k in LOCK_RULES).map((k) => LOCK_RULES[k]);
    return {
      kinds: kinds.length > 0 ? kinds : [NO_TABLE_LOCK],
      relations,
      work: this.work,
      unknown: this.unknown,
      notes: this.notes,
      failsOnRows: this.failsOnRows,
      settings: this.settings,
      creates: this.creates,
      renames: this.renames,
      mayRunInTransaction: rows.every((r) => r.inTransaction),
      concurrently: rows.some((r) => r.concurrently),
    };
  }
}

const LOCK_ORDER: readonly LockMode[] = ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'];

// ---- Volatility of DEFAULT expressions: a volatile one (random(), gen_random_uuid(),
// clock_timestamp(), nextval()) is evaluated per row, which rewrites the table; a stable or
// immutable one (now(), timezone('utc', now()), md5('x')) is evaluated once and stored.

type Volatility = 'volatile' | 'not-volatile' | 'unknown';

const RETURNS: Record<string, string> = {
  now: 'timestamp with time zone', clock_timestamp: 'timestamp with time zone', statement_timestamp: 'timestamp with time zone',
  transaction_timestamp: 'timestamp with time zone', localtimestamp: 'timestamp without time zone', current_date: 'date',
};
const SQL_VALUE_TYPES: Record<string, string> = {
  SVFOP_CURRENT_TIMESTAMP: 'timestamp with time zone', SVFOP_CURRENT_TIMESTAMP_N: 'timestamp with time zone',
  SVFOP_LOCALTIMESTAMP: 'timestamp without time zone', SVFOP_LOCALTIMESTAMP_N: 'timestamp without time zone',
  SVFOP_CURRENT_TIME: 'time with time zone', SVFOP_CURRENT_TIME_N: 'time with time zone', SVFOP_CURRENT_DATE: 'date',
};

/** The type an argument expression evaluates to, when it is plain enough to tell; null: could be any. */
function argumentType(arg: unknown): string | null {
  const call = fieldsOf(arg, 'FuncCall');
  if (call) return RETURNS[stringsOf(call.funcname).at(-1) ?? ''] ?? null;
  const value = fieldsOf(arg, 'SQLValueFunction');
  if (value) return SQL_VALUE_TYPES[str(value.op) ?? ''] ?? null;
  return null;
}

/** A built-in name whose overloads differ in volatility: the overloads the call's arguments can match. */
function mixedCallVolatile(name: string, call: Fields | undefined): boolean | null {
  const overloads = MIXED_VOLATILITY[name];
  if (!overloads || !call) return null;
  const args = list(call.args);
  const types = args.map(argumentType);
  const candidates = overloads.filter(([signature]) => {
    const params = signature === '' ? [] : signature.split(',');
    return params.length === args.length && params.every((p, i) => types[i] === null || types[i] === p);
  });
  if (candidates.length === 0) return null;
  if (candidates.every(([, volatile]) => !volatile)) return false;
  if (candidates.every(([, volatile]) => volatile)) return true;
  return null;
}

function callsOf(value: unknown, out: Fields[] = []): Fields[] {
  if (Array.isArray(value)) {
    for (const item of value) callsOf(item, out);
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const call = fieldsOf(value, 'FuncCall');
  if (call) out.push(call);
  for (const child of Object.values(value as Fields)) callsOf(child, out);
  return out;
}

function volatilityOf(expr: unknown, schema: Schema): { volatility: Volatility; culprit?: string } {
  let unknown: string | undefined;
  const calls = callsOf(expr);
  for (const [index, call] of functionCalls(expr).entries()) {
    const builtIn = call.schema === null || call.schema === 'pg_catalog';
    const known = schema.functions.get(call.schema ? `${call.schema}.${call.name}` : call.name) ?? schema.functions.get(call.name);
    if (known) {
      if (known === 'v') return { volatility: 'volatile', culprit: call.name };
      continue;
    }
    if (builtIn && VOLATILE_FUNCTIONS.has(call.name)) return { volatility: 'volatile', culprit: call.name };
    if (builtIn && NON_VOLATILE_FUNCTIONS.has(call.name)) continue;
    if (builtIn && call.name in MIXED_VOLATILITY) {
      const volatile = mixedCallVolatile(call.name, calls[index]);
      if (volatile === true) return { volatility: 'volatile', culprit: call.name };
      if (volatile === false) continue;
    }
    unknown ??= call.name;
  }
  // A subquery or a sequence reference in a DEFAULT is refused or volatile.
  if (JSON.stringify(expr ?? null).includes('"SubLink"')) return { volatility: 'volatile', culprit: 'a subquery' };
  return unknown ? { volatility: 'unknown', culprit: unknown } : { volatility: 'not-volatile' };
}

// ---- Helpers for ALTER TABLE subcommands.

function constraintsOf(columnDef: Fields): Fields[] {
  return defined(list(columnDef.constraints).map((c) => fieldsOf(c, 'Constraint')));
}

function notNullColumnOfCheck(constraint: Fields): string | undefined {
  const test = fieldsOf(constraint.raw_expr, 'NullTest');
  if (!test || test.nulltesttype !== 'IS_NOT_NULL') return undefined;
  return stringsOf(fieldsOf(test.arg, 'ColumnRef')?.fields).at(-1);
}

/** USING absent, the column itself, or the column cast to the new type. */
function plainUsing(using: unknown, column: string, to: TypeRef | undefined): boolean {
  if (using === undefined) return true;
  const ref = fieldsOf(using, 'ColumnRef');
  if (ref) return stringsOf(ref.fields).at(-1) === column;
  const cast = fieldsOf(using, 'TypeCast');
  if (cast && to) {
    const inner = fieldsOf(cast.arg, 'ColumnRef');
    const target = typeRefOf(cast.typeName);
    return inner !== undefined && stringsOf(inner.fields).at(-1) === column && target !== undefined && target.name === to.name && target.mods.join() === to.mods.join() && target.array === to.array;
  }
  return false;
}

const LIGHT_STORAGE_PARAMETERS = /^(fillfactor|autovacuum_.*|toast\..*|toast_tuple_target|parallel_workers|vacuum_.*|log_autovacuum_min_duration|user_catalog_table)$/;

function isDomainWithConstraints(type: TypeRef | undefined, schema: Schema): boolean {
  if (!type) return false;
  return schema.domains.get(type.schema ? `${type.schema}.${type.name}` : type.name) === true;
}

function alterTable(stmt: Fields, b: Builder, ctx: ClassifyContext): void {
  const table = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
  const { schema } = ctx;
  if (!table) {
    b.cannotJudge('an ALTER without a relation name');
    return;
  }
  if (stmt.objtype === 'OBJECT_INDEX') {
    const index = { ...table, role: 'index' as const };
    for (const item of list(stmt.cmds)) {
      const cmd = fieldsOf(item, 'AlterTableCmd') ?? {};
      const subtype = str(cmd.subtype) ?? '';
      if (subtype === 'AT_AttachPartition') {
        b.row('attach-partition-index', index, [fromRangeVar(fieldsOf(cmd.def, 'PartitionCmd')?.name, 'AccessExclusiveLock', 'index')]);
      } else if (subtype === 'AT_SetRelOptions' || subtype === 'AT_ResetRelOptions' || subtype === 'AT_SetStatistics') {
        b.part('rename-index', [{ ...index, mode: 'ShareUpdateExclusiveLock' }]);
      } else if (subtype === 'AT_SetTableSpace') {
        b.part('alter-table-rewrite', [index]);
        b.scan('rewrite', index, 'SET TABLESPACE copies the index', 'alter-table-rewrite');
      } else b.cannotJudge(`ALTER INDEX ... ${subtype.replace(/^AT_/, '')}`, [index]);
    }
    return;
  }
  if (stmt.objtype === 'OBJECT_VIEW' || (stmt.objtype === 'OBJECT_MATVIEW' && list(stmt.cmds).every((c) => ['AT_ChangeOwner', 'AT_SetRelOptions', 'AT_ResetRelOptions', 'AT_ColumnDefault'].includes(str(fieldsOf(c, 'AlterTableCmd')?.subtype) ?? '')))) {
    b.row('drop-view', { ...table, role: 'view' });
    return;
  }
  if (stmt.objtype === 'OBJECT_SEQUENCE') {
    b.row('alter-sequence', { ...table, role: 'sequence' });
    return;
  }
  const info = schema.table(table.canonical);
  for (const item of list(stmt.cmds)) {
    const cmd = fieldsOf(item, 'AlterTableCmd');
    if (!cmd) continue;
    const subtype = str(cmd.subtype) ?? '';
    const columnName = str(cmd.name) ?? '';
    switch (subtype) {
      case 'AT_AddColumn': {
        const column = fieldsOf(cmd.def, 'ColumnDef') ?? {};
        const name = str(column.colname) ?? '';
        const constraints = constraintsOf(column);
        const type = typeRefOf(column.typeName);
        const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr;
        const generated = constraints.find((c) => c.contype === 'CONSTR_GENERATED');
        const identity = constraints.some((c) => c.contype === 'CONSTR_IDENTITY');
        const serial = type !== undefined && SERIAL_TYPES.has(type.name);
        const virtual = generated !== undefined && generated.generated_kind === 'v';
        let rewriteWhy: string | null = null;
        let assumed: string | null = null;
        if (serial) rewriteWhy = `${type?.name} fills every row from a sequence`;
        else if (identity) rewriteWhy = 'an identity column fills every row from a sequence';
        else if (generated && !virtual) rewriteWhy = 'a stored generated column computes every row';
        else if (isDomainWithConstraints(type, schema)) rewriteWhy = `${type?.text} is a domain with constraints, checked for every row`;
        else if (defaultExpr !== undefined) {
          const { volatility, culprit } = volatilityOf(defaultExpr, schema);
          if (volatility === 'volatile') rewriteWhy = `the default calls ${culprit}(), which is volatile: evaluated for every row`;
          else if (volatility === 'unknown') {
            rewriteWhy = `the default calls ${culprit}()`;
            assumed = `whether ${culprit}() is volatile is unknown here (give a server, which knows pg_proc.provolatile, or define it in the migration)`;
          }
        }
        if (rewriteWhy !== null) {
          b.row('add-column-rewrite', table);
          b.scan('rewrite', table, `ADD COLUMN ${name}: ${rewriteWhy}, so ${table.display} is rewritten`, 'add-column-rewrite', assumed);
        } else {
          b.row('add-column', table);
          if (virtual) b.notes.push(`ADD COLUMN ${name} ... VIRTUAL: computed on read, nothing is stored`);
        }
        if (constraints.some((c) => c.contype === 'CONSTR_NOTNULL') && defaultExpr === undefined && rewriteWhy === null && !virtual) {
          b.failsOnRows = { relation: table, message: `ADD COLUMN ${name} ... NOT NULL without a default fails as soon as ${table.display} has a row` };
        }
        for (const c of constraints) {
          if (c.contype === 'CONSTR_FOREIGN') {
            const referenced = fromRangeVar(c.pktable, 'ShareRowExclusiveLock', 'referenced');
            if (defaultExpr === undefined && rewriteWhy === null) {
              b.row('add-column-references', table, [referenced]);
              b.notes.push(`ADD COLUMN ${name} REFERENCES: the new column is all NULL, PostgreSQL skips the validation scan`);
            } else {
              b.row('add-foreign-key', table, [referenced]);
              b.scan('scan', table, `ADD COLUMN ${name} REFERENCES with a default validates every row of ${table.display}`, 'add-foreign-key');
            }
          }
          if (c.contype === 'CONSTR_CHECK') {
            b.row('add-check', table);
            b.scan('scan', table, `ADD COLUMN ${name} CHECK (...) reads every row of ${table.display}`, 'add-check');
          }
          if (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') {
            b.row('add-index-constraint', table);
            b.scan('scan', table, `ADD COLUMN ${name} ${c.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE'} builds an index over ${table.display}`, 'add-index-constraint');
          }
        }
        const target = schema.ensure(table.canonical);
        target.columns.set(name, {
          name,
          type: type ?? null,
          notNull: constraints.some((c) => c.contype === 'CONSTR_NOTNULL' || c.contype === 'CONSTR_PRIMARY') || identity || serial,
          indexed: constraints.some((c) => c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY'),
        });
        break;
      }
      case 'AT_DropColumn':
        b.row('drop-column', table);
        info?.columns.delete(columnName);
        break;
      case 'AT_AlterColumnType': {
        const def = fieldsOf(cmd.def, 'ColumnDef') ?? {};
        const to = typeRefOf(def.typeName);
        if (!to) {
          b.cannotJudge('ALTER COLUMN TYPE without a type', [table]);
          break;
        }
        const column = schema.column(table.canonical, columnName);
        const from = column?.type ?? null;
        const collation = def.collClause !== undefined;
        const change = typeChange(from, to, {
          utc: ctx.utc,
          plainUsing: plainUsing(def.raw_default, columnName, to),
          indexed: schema.indexed(table.canonical, columnName),
          binaryCast: schema.binaryCast ?? undefined,
          domainWithConstraints: isDomainWithConstraints(to, schema),
        });
        const what = `ALTER COLUMN ${columnName} TYPE ${to.text}`;
        if (change.rewrite === true || change.rewrite === 'unknown') {
          b.row('alter-column-type', table);
          if (change.rewrite === true) b.scan('rewrite', table, `${what} rewrites ${table.display} (${change.why})`, 'alter-column-type');
          else b.scan('rewrite', table, `${what} may rewrite ${table.display}`, 'alter-column-type', change.why);
        } else {
          const rebuild = collation ? schema.indexed(table.canonical, columnName) : change.indexRebuild;
          if (rebuild === true || rebuild === 'unknown') {
            b.row('alter-column-type-index-rebuild', table);
            b.scan('scan', table, `${what} keeps the table but rebuilds the indexes on ${columnName}${collation ? ' (a new collation)' : ''}`, 'alter-column-type-index-rebuild', rebuild === 'unknown' ? `whether ${columnName} is indexed is unknown (give a server)` : null);
          } else b.row('alter-column-type-in-place', table);
          b.notes.push(change.why);
        }
        if (column) column.type = to;
        else schema.ensure(table.canonical).columns.set(columnName, { name: columnName, type: to, notNull: false, indexed: false });
        break;
      }
      case 'AT_SetNotNull': {
        if (schema.provenNotNull(table.canonical, columnName)) {
          b.row('set-not-null-proven', table);
          b.notes.push(`${columnName} is already proven NOT NULL (a validated CHECK (${columnName} IS NOT NULL) or NOT NULL): no scan`);
        } else {
          b.row('set-not-null', table);
          b.scan('scan', table, `SET NOT NULL on ${columnName} reads every row of ${table.display}`, 'set-not-null');
        }
        const column = schema.ensure(table.canonical).columns.get(columnName);
        if (column) column.notNull = true;
        else schema.ensure(table.canonical).columns.set(columnName, { name: columnName, type: null, notNull: true, indexed: false });
        break;
      }
      case 'AT_DropNotNull': {
        b.row('drop-not-null', table);
        const column = info?.columns.get(columnName);
        if (column) column.notNull = false;
        break;
      }
      case 'AT_ColumnDefault':
      case 'AT_CookedColumnDefault':
        b.row('set-default', table);
        break;
      case 'AT_SetExpression':
        b.row('set-expression', table);
        b.scan('rewrite', table, `SET EXPRESSION on ${columnName} recomputes every row of ${table.display}`, 'set-expression');
        break;
      case 'AT_DropExpression':
        b.row('alter-table-metadata', table);
        break;
      case 'AT_AddConstraint':
        addConstraint(fieldsOf(cmd.def, 'Constraint') ?? {}, table, b, ctx);
        break;
      case 'AT_ValidateConstraint': {
        b.row('validate-constraint', table);
        b.scan('scan', table, `VALIDATE CONSTRAINT ${columnName} reads every row of ${table.display}`, 'validate-constraint');
        const constraint = info?.constraints.get(columnName);
        if (constraint) constraint.validated = true;
        else schema.ensure(table.canonical).constraints.set(columnName, { name: columnName, kind: 'other', validated: true });
        break;
      }
      case 'AT_DropConstraint':
        b.row('drop-constraint', table);
        info?.constraints.delete(columnName);
        break;
      case 'AT_AlterConstraint':
        b.row('alter-table-metadata', table);
        break;
      case 'AT_SetStatistics':
      case 'AT_SetOptions':
      case 'AT_ResetOptions':
      case 'AT_ClusterOn':
      case 'AT_DropCluster':
        b.row('set-statistics', table);
        break;
      case 'AT_SetRelOptions':
      case 'AT_ResetRelOptions':
      case 'AT_ReplaceRelOptions': {
        // Each storage parameter has its own lock level (reloptions.c); these are ShareUpdateExclusive.
        const names = list(fieldsOf(cmd.def, 'List')?.items ?? cmd.def).map((d) => {
          const elem = fieldsOf(d, 'DefElem');
          return `${str(elem?.defnamespace) ? `${str(elem?.defnamespace)}.` : ''}${str(elem?.defname) ?? ''}`;
        });
        if (names.length > 0 && names.every((n) => LIGHT_STORAGE_PARAMETERS.test(n))) b.row('set-storage-parameters', table);
        else b.row('alter-table-metadata', table);
        break;
      }
      case 'AT_SetStorage':
      case 'AT_SetCompression':
      case 'AT_ChangeOwner':
      case 'AT_ReplicaIdentity':
      case 'AT_EnableRowSecurity':
      case 'AT_DisableRowSecurity':
      case 'AT_ForceRowSecurity':
      case 'AT_NoForceRowSecurity':
      case 'AT_AddIdentity':
      case 'AT_SetIdentity':
      case 'AT_DropIdentity':
      case 'AT_AlterColumnGenericOptions':
      case 'AT_GenericOptions':
      case 'AT_EnableRule':
      case 'AT_EnableAlwaysRule':
      case 'AT_EnableReplicaRule':
      case 'AT_DisableRule':
      case 'AT_AddOf':
      case 'AT_DropOf':
        b.row('alter-table-metadata', table);
        break;
      case 'AT_SetLogged':
      case 'AT_SetUnLogged':
      case 'AT_SetTableSpace':
      case 'AT_SetAccessMethod':
        b.row('alter-table-rewrite', table);
        b.scan('rewrite', table, `${{ AT_SetLogged: 'SET LOGGED', AT_SetUnLogged: 'SET UNLOGGED', AT_SetTableSpace: 'SET TABLESPACE', AT_SetAccessMethod: 'SET ACCESS METHOD' }[subtype] ?? subtype} copies ${table.display}`, 'alter-table-rewrite');
        break;
      case 'AT_EnableTrig':
      case 'AT_DisableTrig':
      case 'AT_EnableAlwaysTrig':
      case 'AT_EnableReplicaTrig':
      case 'AT_EnableTrigAll':
      case 'AT_DisableTrigAll':
      case 'AT_EnableTrigUser':
      case 'AT_DisableTrigUser':
        b.row('enable-disable-trigger', table);
        break;
      case 'AT_AddInherit':
      case 'AT_DropInherit':
        b.row('inherit', table, [fromRangeVar(cmd.def, 'ShareUpdateExclusiveLock', 'referenced')]);
        break;
      case 'AT_AttachPartition': {
        const partition = fromRangeVar(fieldsOf(cmd.def, 'PartitionCmd')?.name, 'AccessExclusiveLock', 'partition');
        b.row('attach-partition', table, [partition]);
        b.scan('scan', partition, `ATTACH PARTITION reads every row of ${partition?.display ?? 'the partition'} to prove the bound, unless a validated CHECK already proves it`, 'attach-partition');
        break;
      }
      case 'AT_DetachPartition': {
        const command = fieldsOf(cmd.def, 'PartitionCmd');
        b.row(command?.concurrent === true ? 'detach-partition-concurrently' : 'detach-partition', table, [fromRangeVar(command?.name, 'AccessExclusiveLock', 'partition')]);
        break;
      }
      case 'AT_DetachPartitionFinalize':
        b.row('detach-partition-finalize', table, [fromRangeVar(fieldsOf(cmd.def, 'PartitionCmd')?.name, 'AccessExclusiveLock', 'partition')]);
        break;
      default:
        b.cannotJudge(`ALTER TABLE ... ${subtype.replace(/^AT_/, '')} is not in the lock table`, [table]);
    }
  }
}

function addConstraint(constraint: Fields, table: LockedRelation, b: Builder, ctx: ClassifyContext): void {
  const { schema } = ctx;
  const notValid = constraint.skip_validation === true;
  const name = str(constraint.conname);
  const target = schema.ensure(table.canonical);
  switch (constraint.contype) {
    case 'CONSTR_FOREIGN': {
      const referenced = fromRangeVar(constraint.pktable, 'ShareRowExclusiveLock', 'referenced');
      b.row(notValid ? 'add-foreign-key-not-valid' : 'add-foreign-key', table, [referenced]);
      if (!notValid) b.scan('scan', table, `ADD FOREIGN KEY${name ? ` ${name}` : ''} validates every row of ${table.display}`, 'add-foreign-key');
      if (name) target.constraints.set(name, { name, kind: 'foreign-key', validated: !notValid });
      break;
    }
    case 'CONSTR_CHECK': {
      b.row(notValid ? 'add-check-not-valid' : 'add-check', table);
      if (!notValid) b.scan('scan', table, `ADD CHECK${name ? ` ${name}` : ''} reads every row of ${table.display}`, 'add-check');
      const column = notNullColumnOfCheck(constraint);
      if (name) target.constraints.set(name, { name, kind: 'check', validated: !notValid, ...(column ? { notNullColumn: column } : {}) });
      else if (column && !notValid) target.constraints.set(`\u0000${column}`, { name: '', kind: 'check', validated: true, notNullColumn: column });
      break;
    }
    case 'CONSTR_PRIMARY':
    case 'CONSTR_UNIQUE':
    case 'CONSTR_EXCLUSION': {
      const indexName = str(constraint.indexname);
      const label = constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : constraint.contype === 'CONSTR_UNIQUE' ? 'UNIQUE' : 'EXCLUDE';
      if (indexName !== undefined) {
        const index = schema.indexes.get(indexName) ?? schema.indexes.get(table.schema ? `${table.schema}.${indexName}` : indexName);
        if (constraint.contype === 'CONSTR_PRIMARY') {
          const columns = index?.columns ?? null;
          const nullable = columns === null ? null : columns.filter((c) => !schema.provenNotNull(table.canonical, c));
          if (nullable === null || nullable.length > 0) {
            b.row('add-primary-key-using-index-nullable', table);
            b.scan('scan', table, `PRIMARY KEY USING INDEX ${indexName} sets NOT NULL on ${nullable?.join(', ') ?? 'its columns'}, reading every row of ${table.display}`, 'add-primary-key-using-index-nullable', nullable === null ? `the columns of ${indexName} and whether they are NOT NULL are unknown (give a server)` : null);
          } else {
            b.row('add-constraint-using-index', table);
            b.notes.push(`the columns of ${indexName} are already NOT NULL: no scan`);
          }
          for (const c of columns ?? []) {
            const column = target.columns.get(c);
            if (column) column.notNull = true;
          }
        } else b.row('add-constraint-using-index', table);
      } else {
        b.row('add-index-constraint', table);
        b.scan('scan', table, `ADD ${label}${name ? ` ${name}` : ''} builds an index over ${table.display}`, 'add-index-constraint');
        for (const key of stringsOf(constraint.keys)) {
          const column = target.columns.get(key);
          if (column) {
            column.indexed = true;
            if (constraint.contype === 'CONSTR_PRIMARY') column.notNull = true;
          }
        }
      }
      if (name) target.constraints.set(name, { name, kind: constraint.contype === 'CONSTR_PRIMARY' ? 'primary-key' : constraint.contype === 'CONSTR_UNIQUE' ? 'unique' : 'exclusion', validated: true });
      break;
    }
    case 'CONSTR_NOTNULL': {
      // 18: ADD CONSTRAINT name NOT NULL col [NOT VALID].
      const column = stringsOf(constraint.keys)[0] ?? '';
      if (notValid) b.row('add-check-not-valid', table);
      else if (schema.provenNotNull(table.canonical, column)) b.row('set-not-null-proven', table);
      else {
        b.row('set-not-null', table);
        b.scan('scan', table, `ADD CONSTRAINT ... NOT NULL ${column} reads every row of ${table.display}`, 'set-not-null');
      }
      if (name) target.constraints.set(name, { name, kind: 'not-null', validated: !notValid, notNullColumn: column });
      break;
    }
    default:
      b.cannotJudge(`ADD CONSTRAINT of kind ${str(constraint.contype) ?? '?'}`, [table]);
  }
}

function createTable(stmt: Fields, b: Builder, ctx: ClassifyContext): void {
  const rel = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
  const parents = defined(list(stmt.inhRelations).map((r) => fromRangeVar(r, 'AccessExclusiveLock', 'table')));
  const references: LockedRelation[] = [];
  // A server that already has the table knows it better than a CREATE the input repeats.
  const known = rel ? ctx.schema.table(rel.canonical) : undefined;
  const info = rel && !(known?.origin === 'server' && known.complete) ? ctx.schema.createTable(rel.canonical, ctx.history ? 'history' : 'migration') : undefined;
  if (rel) b.creates.push(rel.canonical);
  const indexed = new Set<string>();
  const notNull = new Set<string>();
  for (const element of list(stmt.tableElts)) {
    const column = fieldsOf(element, 'ColumnDef');
    const constraint = fieldsOf(element, 'Constraint');
    for (const c of column ? constraintsOf(column) : constraint ? [constraint] : []) {
      if (c.contype === 'CONSTR_FOREIGN') {
        const ref = fromRangeVar(c.pktable, 'ShareRowExclusiveLock', 'referenced');
        if (ref) references.push(ref);
      }
      const keys = column ? [str(column.colname) ?? ''] : stringsOf(c.keys);
      if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_UNIQUE') keys.forEach((k) => indexed.add(k));
      if (c.contype === 'CONSTR_PRIMARY' || c.contype === 'CONSTR_NOTNULL') keys.forEach((k) => notNull.add(k));
      const name = str(c.conname);
      const notNullColumn = c.contype === 'CONSTR_CHECK' ? notNullColumnOfCheck(c) : undefined;
      if (info && name) info.constraints.set(name, { name, kind: c.contype === 'CONSTR_CHECK' ? 'check' : 'other', validated: c.skip_validation !== true, ...(notNullColumn ? { notNullColumn } : {}) });
    }
    if (column && info) {
      const type = typeRefOf(column.typeName);
      const name = str(column.colname) ?? '';
      const generatedIdentity = constraintsOf(column).some((c) => c.contype === 'CONSTR_IDENTITY');
      info.columns.set(name, { name, type: type ?? null, notNull: generatedIdentity || (type !== undefined && SERIAL_TYPES.has(type.name)), indexed: false });
    }
  }
  if (info) {
    for (const name of indexed) {
      const column = info.columns.get(name);
      if (column) column.indexed = true;
    }
    for (const name of notNull) {
      const column = info.columns.get(name);
      if (column) column.notNull = true;
    }
  }
  if (stmt.partbound !== undefined) {
    b.row('create-partition', parents[0]);
    return;
  }
  if (parents.length > 0) {
    for (const parent of parents) b.row('create-table-inherits', parent);
    if (references.length > 0) b.part('create-table', references);
    return;
  }
  b.part('create-table', references.map((r) => ({ ...r, mode: 'ShareRowExclusiveLock' as LockMode })));
}

function createIndex(stmt: Fields, b: Builder, ctx: ClassifyContext): void {
  const table = fromRangeVar(stmt.relation, 'ShareLock', 'table');
  const concurrent = stmt.concurrent === true;
  const only = (stmt.relation as Fields | undefined)?.inh !== true;
  const name = str(stmt.idxname);
  const columns = defined(list(stmt.indexParams).map((p) => str(fieldsOf(p, 'IndexElem')?.name)));
  if (concurrent) b.row('create-index-concurrently', table);
  else if (only) {
    b.row('create-index-on-only', table);
    b.notes.push(`ON ONLY ${table?.display ?? 'the table'}: the index is created on the partitioned parent alone, no partition is read`);
  } else {
    b.row('create-index', table);
    b.scan('scan', table, `CREATE INDEX${name ? ` ${name}` : ''} reads every row of ${table?.display ?? 'the table'} to build the index`, 'create-index');
  }
  if (table && name) {
    const canonical = table.schema ? `${table.schema}.${name}` : name;
    b.creates.push(relation(table.schema, name, 'AccessExclusiveLock', 'index').canonical);
    ctx.schema.addIndex({ name, table: table.canonical, columns, unique: stmt.unique === true });
    if (canonical !== name) ctx.schema.indexes.set(canonical, { name, table: table.canonical, columns, unique: stmt.unique === true });
  }
}

function dropStatement(stmt: Fields, b: Builder, ctx: ClassifyContext): void {
  const objects = list(stmt.objects).map((o) => stringsOf(fieldsOf(o, 'List')?.items ?? o));
  const mode: LockMode = 'AccessExclusiveLock';
  switch (stmt.removeType) {
    case 'OBJECT_TABLE':
    case 'OBJECT_MATVIEW':
    case 'OBJECT_FOREIGN_TABLE': {
      const relations = defined(objects.map((n) => fromNameList(n, mode, 'table')));
      b.part('drop-table', relations);
      for (const r of relations) ctx.schema.dropTable(r.canonical);
      break;
    }
    case 'OBJECT_INDEX': {
      const kind: LockRuleKind = stmt.concurrent === true ? 'drop-index-concurrently' : 'drop-index';
      b.part(kind, defined(objects.map((n) => fromNameList(n, LOCK_RULES[kind].lock, 'index'))));
      for (const n of objects) ctx.schema.indexes.delete(n.join('.'));
      break;
    }
    case 'OBJECT_VIEW':
      b.part('drop-view', defined(objects.map((n) => fromNameList(n, mode, 'view'))));
      break;
    case 'OBJECT_SEQUENCE':
      b.part('alter-sequence', defined(objects.map((n) => fromNameList(n, mode, 'sequence'))));
      break;
    case 'OBJECT_TRIGGER':
      b.part('drop-trigger', defined(objects.map((n) => fromNameList(n.slice(0, -1), mode, 'table'))));
      break;
    case 'OBJECT_POLICY':
    case 'OBJECT_RULE':
      b.part('create-policy', defined(objects.map((n) => fromNameList(n.slice(0, -1), mode, 'table'))));
      break;
    case 'OBJECT_SCHEMA':
      if (stmt.behavior === 'DROP_CASCADE') b.cannotJudge('DROP SCHEMA ... CASCADE drops and locks whatever the schema holds');
      else b.part(NO_TABLE_LOCK, []);
      break;
    default:
      // Functions, types, domains, extensions, roles, publications ...: object locks, no table lock.
      b.part(NO_TABLE_LOCK, []);
  }
}

/** Reads a query: every relation it names (not its CTEs) under `mode`, each read in full. */
function readQuery(query: unknown, mode: LockMode, b: Builder, verb: string, role: 'table' | 'source' = 'table'): LockedRelation[] {
  const ctes = cteNames(query);
  const relations = namedRelations(query, mode, role).filter((r) => !(r.schema === null && ctes.has(r.name)));
  for (const rel of relations) b.scan('scan', rel, `${verb} reads ${rel.display}`, null);
  return relations;
}

/**
 * Helpers migration tools ship whose effect is known: diesel's initial migration defines
 * diesel_manage_updated_at(regclass), which creates an updated_at trigger on the table.
 */
function knownHelper(stmt: Fields, b: Builder): boolean {
  const targets = list(stmt.targetList).map((t) => fieldsOf(fieldsOf(t, 'ResTarget')?.val, 'FuncCall'));
  if (targets.length !== 1 || list(stmt.fromClause).length > 0) return false;
  const call = targets[0];
  if (!call || stringsOf(call.funcname).at(-1) !== 'diesel_manage_updated_at') return false;
  const arg = list(call.args)[0];
  const name = constantOf(arg) ?? constantOf(fieldsOf(arg, 'TypeCast')?.arg);
  if (typeof name !== 'string') return false;
  const parts = name.split('.');
  const table = fromNameList(parts.map((p) => (/^".*"$/.test(p) ? p.slice(1, -1).replace(/""/g, '"') : p.toLowerCase())), 'ShareRowExclusiveLock', 'table');
  if (!table) return false;
  b.row('create-trigger', table);
  b.notes.push(`diesel_manage_updated_at('${name}') creates a BEFORE UPDATE trigger on ${table.display}`);
  return true;
}

/** Function calls a SELECT/CALL makes that the analyzer cannot see into. */
function opaqueCalls(value: unknown, ctx: ClassifyContext): string[] {
  return [
    ...new Set(
      functionCalls(value)
        .filter((c) => {
          if (c.schema !== null && c.schema !== 'pg_catalog') return !ctx.schema.functions.has(`${c.schema}.${c.name}`) || ctx.schema.functions.get(`${c.schema}.${c.name}`) === 'v';
          if (NON_VOLATILE_FUNCTIONS.has(c.name) || VOLATILE_FUNCTIONS.has(c.name) || c.name in MIXED_VOLATILITY) return false;
          return true;
        })
        .map((c) => (c.schema ? `${c.schema}.${c.name}` : c.name)),
    ),
  ];
}

function setConfigCalls(value: unknown, b: Builder): void {
  for (const target of list((value as Fields | undefined)?.targetList)) {
    const call = fieldsOf(fieldsOf(target, 'ResTarget')?.val, 'FuncCall');
    if (!call || stringsOf(call.funcname).at(-1) !== 'set_config') continue;
    const [name, value_, local] = list(call.args).map((a) => constantOf(a));
    if (typeof name === 'string') b.settings.push({ name: name.toLowerCase(), value: value_ === null || value_ === undefined ? null : String(value_), local: local === true });
  }
}

/**
 * The SQL statements a DO block runs, read with PL/pgSQL's own parser: its embedded statements,
 * PERFORMs and the expressions of its conditions and loops, and EXECUTEs of constant strings.
 * A string explaining why not, when the block runs SQL it builds at run time or is not PL/pgSQL.
 */
function doBlockStatements(stmt: Fields): [string, Fields][] | string {
  const args = list(stmt.args).map((a) => fieldsOf(a, 'DefElem'));
  const body = str(fieldsOf(args.find((a) => a?.defname === 'as')?.arg, 'String')?.sval);
  const language = str(fieldsOf(args.find((a) => a?.defname === 'language')?.arg, 'String')?.sval) ?? 'plpgsql';
  if (body === undefined) return 'has no body';
  if (language.toLowerCase() !== 'plpgsql') return `is written in ${language}`;
  let tag = 'pgpreflight';
  while (body.includes(`$${tag}$`)) tag += '_';
  let tree: unknown;
  try {
    tree = plpgsqlParserLoaded()(`CREATE FUNCTION pgpreflight_do() RETURNS void LANGUAGE plpgsql AS $${tag}$${body}$${tag}$`);
  } catch {
    return 'does not parse as PL/pgSQL';
  }
  const texts: string[] = [];
  let dynamic: string | null = null;
  const expression = (value: unknown, asStatement: boolean): void => {
    const query = str(fieldsOf(value, 'PLpgSQL_expr')?.query);
    if (query !== undefined) texts.push(asStatement ? query : `SELECT ${query}`);
  };
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const node = value as Fields;
    const execsql = fieldsOf(node, 'PLpgSQL_stmt_execsql');
    if (execsql) expression(execsql.sqlstmt, true);
    const perform = fieldsOf(node, 'PLpgSQL_stmt_perform');
    if (perform) expression(perform.expr, true);
    const dynexecute = fieldsOf(node, 'PLpgSQL_stmt_dynexecute');
    if (dynexecute) {
      const query = str(fieldsOf(dynexecute.query, 'PLpgSQL_expr')?.query)?.trim() ?? '';
      const constant = /^'((?:[^']|'')*)'$/.exec(query) ?? /^\$([A-Za-z_]*)\$([\s\S]*)\$\1\$$/.exec(query);
      if (!constant) dynamic ??= `EXECUTE ${query.length > 60 ? `${query.slice(0, 57)}...` : query}`;
      else texts.push(constant.length === 2 ? (constant[1] as string).replace(/''/g, "'") : (constant[2] as string));
      return;
    }
    for (const [key, child] of Object.entries(node)) {
      if (key === 'PLpgSQL_stmt_execsql' || key === 'PLpgSQL_stmt_perform') continue;
      if (['cond', 'expr', 'query', 't_expr'].includes(key) && fieldsOf(child, 'PLpgSQL_expr')) {
        const text = str(fieldsOf(child, 'PLpgSQL_expr')?.query);
        if (text !== undefined) texts.push(key === 'query' ? text : `SELECT ${text}`);
        continue;
      }
      visit(child);
    }
  };
  visit(tree);
  if (dynamic !== null) return `runs a statement it builds at run time (${dynamic})`;
  const statements: [string, Fields][] = [];
  for (const text of texts) {
    let parsed: { stmts?: { stmt?: unknown }[] };
    try {
      parsed = parserLoaded()(text) as typeof parsed;
    } catch {
      return 'has a statement that does not parse on its own';
    }
    for (const raw of parsed.stmts ?? []) {
      const entry = Object.entries((raw.stmt as Fields | undefined) ?? {})[0];
      if (entry) statements.push([entry[0], entry[1] as Fields]);
    }
  }
  return statements;
}

/** Classifies one parsed statement; mutates `ctx.schema` with what it changes. */
export function classify(nodeType: string, stmt: Fields, ctx: ClassifyContext): Classified {
  const b = new Builder();
  const { schema } = ctx;
  switch (nodeType) {
    case 'VariableSetStmt': {
      const name = str(stmt.name)?.toLowerCase();
      if (name) {
        const reset = stmt.kind === 'VAR_RESET' || stmt.kind === 'VAR_SET_DEFAULT';
        const args = list(stmt.args).map((a) => constantOf(a));
        // SET TIME ZONE 'UTC' arrives as name "timezone"; SET TIME ZONE LOCAL / DEFAULT as a reset.
        b.settings.push({ name, value: reset ? null : args.length > 0 ? args.map((a) => String(a)).join(',') : null, local: stmt.is_local === true });
      }
      b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'VariableShowStmt':
    case 'TransactionStmt':
    case 'CreateSchemaStmt':
    case 'CreateExtensionStmt':
    case 'CreateSeqStmt':
    case 'CompositeTypeStmt':
    case 'CreateEnumStmt':
    case 'AlterEnumStmt':
    case 'CreateRangeStmt':
    case 'DefineStmt':
    case 'CreateRoleStmt':
    case 'AlterRoleStmt':
    case 'AlterRoleSetStmt':
    case 'DropRoleStmt':
    case 'GrantStmt':
    case 'GrantRoleStmt':
    case 'AlterDefaultPrivilegesStmt':
    case 'AlterOwnerStmt':
    case 'AlterFunctionStmt':
    case 'CreateCastStmt':
    case 'CreateOpClassStmt':
    case 'CreateOpFamilyStmt':
    case 'CreateConversionStmt':
    case 'CreateTransformStmt':
    case 'CreateEventTrigStmt':
    case 'AlterEventTrigStmt':
    case 'CreateFdwStmt':
    case 'CreateForeignServerStmt':
    case 'CreateUserMappingStmt':
    case 'AlterCollationStmt':
    case 'CreatePLangStmt':
    case 'AlterTSDictionaryStmt':
    case 'AlterTSConfigurationStmt':
    case 'NotifyStmt':
    case 'ListenStmt':
    case 'UnlistenStmt':
    case 'DiscardStmt':
    case 'CheckPointStmt':
    case 'LoadStmt':
    case 'DeallocateStmt':
    case 'CreateAmStmt':
    case 'CreateTableSpaceStmt':
    case 'CommentOnNothing':
      b.part(NO_TABLE_LOCK, []);
      break;
    case 'CreateFunctionStmt': {
      const names = stringsOf(stmt.funcname);
      const volatility = str(fieldsOf(option(stmt.options, 'volatility')?.arg, 'String')?.sval);
      const key = names.length > 1 && names[0] !== 'public' ? names.join('.') : (names.at(-1) as string);
      schema.functions.set(key, volatility === 'immutable' ? 'i' : volatility === 'stable' ? 's' : 'v');
      b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'CreateDomainStmt': {
      const names = stringsOf(stmt.domainname);
      schema.domains.set(names.join('.'), list(stmt.constraints).some((c) => ['CONSTR_CHECK', 'CONSTR_NOTNULL'].includes(str(fieldsOf(c, 'Constraint')?.contype) ?? '')));
      b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'AlterDomainStmt': {
      const domain = stringsOf(stmt.typeName).join('.');
      const subtype = str(stmt.subtype);
      const constraint = fieldsOf(stmt.def, 'Constraint');
      const checks = subtype === 'O' || subtype === 'V' || (subtype === 'C' && constraint?.skip_validation !== true);
      if (checks) {
        schema.domains.set(domain, true);
        b.cannotJudge(`ALTER DOMAIN ${domain} ${subtype === 'O' ? 'SET NOT NULL' : subtype === 'V' ? 'VALIDATE CONSTRAINT' : 'ADD CONSTRAINT'} takes ShareLock on, and reads, every table with a ${domain} column; which tables those are is not in the statement`);
      } else {
        if (subtype === 'C') schema.domains.set(domain, true);
        b.part(NO_TABLE_LOCK, []);
      }
      break;
    }
    case 'AlterTableStmt':
      alterTable(stmt, b, ctx);
      break;
    case 'CreateStmt':
    case 'CreateForeignTableStmt':
      createTable(nodeType === 'CreateStmt' ? stmt : ((stmt.base as Fields | undefined) ?? stmt), b, ctx);
      break;
    case 'CreateTableAsStmt': {
      const into = fieldsOf({ IntoClause: stmt.into }, 'IntoClause');
      const rel = fromRangeVar(into?.rel, 'AccessExclusiveLock', 'table');
      const noData = into?.skipData === true;
      const sources = namedRelations(stmt.query, 'AccessShareLock', 'source').filter((r) => !cteNames(stmt.query).has(r.name));
      b.part('create-table-as', sources);
      if (!noData) for (const s of sources) b.scan('scan', s, `${stmt.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS'} reads ${s.display}`, null);
      if (rel) {
        b.creates.push(rel.canonical);
        schema.createTable(rel.canonical, ctx.history ? 'history' : 'migration').complete = false;
      }
      break;
    }
    case 'ViewStmt': {
      const view = fromRangeVar(stmt.view, 'AccessExclusiveLock', 'view');
      const sources = namedRelations(stmt.query, 'AccessShareLock', 'source').filter((r) => !cteNames(stmt.query).has(r.name));
      // CREATE OR REPLACE locks the view it replaces; a view the migration creates is new either way.
      b.row('create-view', stmt.replace === true ? view : undefined, sources);
      if (view) b.creates.push(view.canonical);
      break;
    }
    case 'IndexStmt':
      createIndex(stmt, b, ctx);
      break;
    case 'DropStmt':
      dropStatement(stmt, b, ctx);
      break;
    case 'RenameStmt': {
      const target = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
      const renameType = str(stmt.renameType) ?? '';
      if (renameType === 'OBJECT_INDEX') b.row('rename-index', target ? { ...target, role: 'index' } : undefined);
      else if (renameType === 'OBJECT_VIEW' || renameType === 'OBJECT_MATVIEW') b.row('drop-view', target ? { ...target, role: 'view' } : undefined);
      else if (renameType === 'OBJECT_SEQUENCE') b.row('alter-sequence', target ? { ...target, role: 'sequence' } : undefined);
      else if (['OBJECT_TABLE', 'OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT', 'OBJECT_FOREIGN_TABLE'].includes(renameType)) {
        b.row('rename', target);
        const newName = str(stmt.newname) ?? '';
        if (target && renameType === 'OBJECT_TABLE') {
          const renamed = relation(target.schema, newName, 'AccessExclusiveLock', 'table').canonical;
          schema.renameTable(target.canonical, renamed);
          b.renames.push([target.canonical, renamed]);
        }
        if (target && renameType === 'OBJECT_COLUMN') {
          const info = schema.table(target.canonical);
          const column = info?.columns.get(str(stmt.subname) ?? '');
          if (info && column) {
            info.columns.delete(column.name);
            info.columns.set(newName, { ...column, name: newName });
          }
        }
        if (target && renameType === 'OBJECT_TABCONSTRAINT') {
          const info = schema.table(target.canonical);
          const constraint = info?.constraints.get(str(stmt.subname) ?? '');
          if (info && constraint) {
            info.constraints.delete(constraint.name);
            info.constraints.set(newName, { ...constraint, name: newName });
          }
        }
      } else if (renameType === 'OBJECT_TRIGGER' || renameType === 'OBJECT_POLICY' || renameType === 'OBJECT_RULE') b.row('create-policy', target);
      else b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'AlterObjectSchemaStmt': {
      const target = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
      if (stmt.objectType === 'OBJECT_TABLE' || stmt.objectType === 'OBJECT_FOREIGN_TABLE') b.row('set-schema', target);
      else if (stmt.objectType === 'OBJECT_VIEW' || stmt.objectType === 'OBJECT_MATVIEW') b.row('drop-view', target ? { ...target, role: 'view' } : undefined);
      else if (stmt.objectType === 'OBJECT_SEQUENCE') b.row('alter-sequence', target ? { ...target, role: 'sequence' } : undefined);
      else b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'ReindexStmt': {
      const concurrent = optionValue(option(stmt.params, 'concurrently')) === true;
      const kind = str(stmt.kind);
      if (kind === 'REINDEX_OBJECT_TABLE') {
        const table = fromRangeVar(stmt.relation, 'ShareLock', 'table');
        b.row(concurrent ? 'reindex-concurrently' : 'reindex', table);
        if (!concurrent) b.scan('scan', table, `REINDEX TABLE rebuilds every index of ${table?.display ?? 'the table'}`, 'reindex');
      } else if (kind === 'REINDEX_OBJECT_INDEX') {
        const index = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'index');
        if (concurrent) b.row('reindex-concurrently', index ? { ...index, mode: 'ShareUpdateExclusiveLock' } : undefined);
        else {
          b.row('reindex-index', index);
          b.scan('scan', index, `REINDEX INDEX ${index?.display ?? ''} reads the whole table of the index under ShareLock`, 'reindex-index');
        }
      } else if (concurrent) b.row('reindex-concurrently', undefined);
      else b.cannotJudge(`REINDEX ${(kind ?? '').replace('REINDEX_OBJECT_', '')} ${str(stmt.name) ?? ''} rebuilds the indexes of every table it covers under ShareLock; which tables is not in the statement`);
      break;
    }
    case 'VacuumStmt': {
      const full = optionValue(option(stmt.options, 'full')) === true;
      const kind: LockRuleKind = stmt.is_vacuumcmd === true ? (full ? 'vacuum-full' : 'vacuum') : 'analyze';
      const rels = defined(list(stmt.rels).map((r) => fromRangeVar(fieldsOf(r, 'VacuumRelation')?.relation, LOCK_RULES[kind].lock, 'table')));
      if (full && rels.length === 0) {
        b.cannotJudge('VACUUM FULL with no table rewrites every table of the database under AccessExclusiveLock');
        b.row('vacuum-full', undefined);
        break;
      }
      b.part(kind, rels);
      if (full) for (const r of rels) b.scan('rewrite', r, `VACUUM FULL rewrites ${r.display}`, 'vacuum-full');
      break;
    }
    case 'ClusterStmt': {
      const table = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
      if (!table) {
        b.cannotJudge('CLUSTER with no table rewrites every table clustered before, each under AccessExclusiveLock; which tables is not in the statement');
        b.row('cluster', undefined);
        break;
      }
      b.row('cluster', table);
      b.scan('rewrite', table, `CLUSTER rewrites ${table.display} in index order`, 'cluster');
      break;
    }
    case 'CreateTrigStmt':
      b.row('create-trigger', fromRangeVar(stmt.relation, 'ShareRowExclusiveLock', 'table'));
      break;
    case 'RuleStmt':
      b.row('create-policy', fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table'));
      break;
    case 'CreatePolicyStmt':
    case 'AlterPolicyStmt':
      b.row('create-policy', fromRangeVar(stmt.table, 'AccessExclusiveLock', 'table'));
      break;
    case 'CreateStatsStmt':
      b.row('create-statistics', fromRangeVar(fieldsOf(list(stmt.relations)[0], 'RangeVar') ?? list(stmt.relations)[0], 'ShareUpdateExclusiveLock', 'table'));
      break;
    case 'AlterSeqStmt': {
      const owner = stringsOf(option(stmt.options, 'owned_by')?.arg);
      const ownerTable = owner.length >= 2 ? fromNameList(owner.slice(0, -1), 'AccessShareLock', 'referenced') : undefined;
      b.row('alter-sequence', fromRangeVar(stmt.sequence, 'ShareRowExclusiveLock', 'sequence'), [ownerTable]);
      break;
    }
    case 'CommentStmt':
    case 'SecLabelStmt': {
      const names = stringsOf(fieldsOf(stmt.object, 'List')?.items);
      const objtype = str(stmt.objtype);
      if (objtype === 'OBJECT_TABLE' || objtype === 'OBJECT_FOREIGN_TABLE') b.row('comment', fromNameList(names, 'ShareUpdateExclusiveLock', 'table'));
      else if (objtype === 'OBJECT_COLUMN') b.row('comment', fromNameList(names.slice(0, -1), 'ShareUpdateExclusiveLock', 'table'));
      else if (objtype === 'OBJECT_VIEW' || objtype === 'OBJECT_MATVIEW') b.row('comment', fromNameList(names, 'ShareUpdateExclusiveLock', 'view'));
      else if (objtype === 'OBJECT_INDEX') b.row('comment', fromNameList(names, 'ShareUpdateExclusiveLock', 'index'));
      else b.part(NO_TABLE_LOCK, []);
      break;
    }
    case 'TruncateStmt':
      b.part('truncate', defined(list(stmt.relations).map((r) => fromRangeVar(r, 'AccessExclusiveLock', 'table'))));
      break;
    case 'LockStmt': {
      const mode = lockStmtMode(stmt.mode);
      b.part('lock-table', defined(list(stmt.relations).map((r) => fromRangeVar(r, mode, 'table'))));
      break;
    }
    case 'RefreshMatViewStmt': {
      const view = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
      if (stmt.concurrent === true) b.row('refresh-materialized-view-concurrently', view);
      else {
        b.row('refresh-materialized-view', view);
        if (stmt.skipData !== true) b.scan('rewrite', view, `REFRESH MATERIALIZED VIEW rewrites ${view?.display ?? 'the view'} (reads are blocked until it is done)`, 'refresh-materialized-view');
      }
      break;
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      const target = fromRangeVar(stmt.relation, 'RowExclusiveLock', 'table');
      const verb = nodeType.replace('Stmt', '').toUpperCase();
      b.row('write-rows', target);
      const sources = namedRelations({ ...stmt, relation: undefined }, 'AccessShareLock', 'source').filter((r) => r.canonical !== target?.canonical && !cteNames(stmt).has(r.name));
      if (sources.length > 0) b.part('read-rows', sources);
      if (nodeType === 'InsertStmt') {
        for (const s of sources) b.scan('scan', s, `INSERT ... SELECT reads ${s.display}`, null);
      } else {
        b.scan('scan', target, `${verb} ${nodeType === 'DeleteStmt' ? 'deletes from' : 'writes'} ${target?.display ?? 'the table'} row by row (a backfill)`, null);
        for (const s of sources) b.scan('scan', s, `${verb} reads ${s.display}`, null);
      }
      const opaque = opaqueCalls(stmt, ctx);
      if (opaque.length > 0) b.cannotJudge(`${verb} calls ${opaque.join('(), ')}(), which can run any SQL`);
      break;
    }
    case 'CopyStmt': {
      const target = fromRangeVar(stmt.relation, stmt.is_from === true ? 'RowExclusiveLock' : 'AccessShareLock', 'table');
      if (stmt.is_from === true) b.row('copy-from', target);
      else if (target) {
        b.row('read-rows', target);
        b.scan('scan', target, `COPY ... TO reads ${target.display}`, null);
      } else readQuery(stmt.query, 'AccessShareLock', b, 'COPY (query) TO');
      break;
    }
    case 'SelectStmt': {
      setConfigCalls(stmt, b);
      if (knownHelper(stmt, b)) break;
      const into = fieldsOf({ IntoClause: stmt.intoClause }, 'IntoClause');
      const locking = list(stmt.lockingClause).length > 0;
      const relations = readQuery({ ...stmt, intoClause: undefined }, locking ? 'RowShareLock' : 'AccessShareLock', b, locking ? 'SELECT ... FOR UPDATE' : 'SELECT');
      b.part(into ? 'create-table-as' : 'read-rows', relations);
      if (into) {
        const rel = fromRangeVar(into.rel, 'AccessExclusiveLock', 'table');
        if (rel) {
          b.creates.push(rel.canonical);
          schema.createTable(rel.canonical, ctx.history ? 'history' : 'migration').complete = false;
        }
      }
      const opaque = opaqueCalls(stmt, ctx).filter((name) => name !== 'set_config');
      if (opaque.length > 0) b.cannotJudge(`SELECT calls ${opaque.join('(), ')}(), which can run any SQL (DDL included)`);
      break;
    }
    case 'ExplainStmt': {
      const analyze = optionValue(option(stmt.options, 'analyze')) === true;
      const inner = Object.entries((stmt.query as Fields | undefined) ?? {})[0];
      if (analyze && inner) return classify(inner[0], inner[1] as Fields, ctx);
      b.part('read-rows', namedRelations(stmt.query, 'AccessShareLock', 'table'));
      break;
    }
    case 'DoStmt': {
      const inner = doBlockStatements(stmt);
      if (typeof inner === 'string') {
        b.cannotJudge(`a DO block ${inner}: what it locks, rewrites or scans cannot be read from the text`);
        break;
      }
      // Every statement of the block runs in the DO's transaction; every branch is assumed to run.
      for (const [type, node] of inner) {
        const facts = classify(type, node, ctx);
        for (const [index, kind] of facts.kinds.entries()) if (index === 0 || kind !== NO_TABLE_LOCK) b.part(kind, index === 0 ? facts.relations : []);
        b.work.push(...facts.work);
        b.notes.push(...facts.notes);
        b.settings.push(...facts.settings.map((setting) => ({ ...setting, local: true })));
        b.creates.push(...facts.creates);
        if (facts.unknown !== null) b.cannotJudge(`a DO block runs ${facts.unknown}`);
        b.failsOnRows ??= facts.failsOnRows;
      }
      b.notes.push(`a DO block of ${inner.length} statement(s), judged from its statements (every branch assumed to run)`);
      break;
    }
    case 'CallStmt':
      b.cannotJudge('CALL runs a procedure: what it locks, rewrites or scans cannot be read from the text');
      break;
    case 'ExecuteStmt':
    case 'PrepareStmt':
      b.cannotJudge(`${nodeType === 'ExecuteStmt' ? 'EXECUTE' : 'PREPARE'} runs a prepared statement the file does not show`);
      break;
    case 'AlterExtensionStmt':
    case 'AlterExtensionContentsStmt':
      b.cannotJudge('ALTER EXTENSION runs the extension\'s upgrade script, which can alter and rewrite its tables');
      break;
    case 'AlterSystemStmt':
    case 'CreateSubscriptionStmt':
    case 'AlterSubscriptionStmt':
    case 'DropSubscriptionStmt':
    case 'CreatePublicationStmt':
    case 'AlterPublicationStmt':
    case 'CreatedbStmt':
    case 'DropdbStmt':
    case 'AlterDatabaseStmt':
    case 'AlterDatabaseSetStmt':
      b.part(NO_TABLE_LOCK, []);
      break;
    default:
      b.cannotJudge(`pgpreflight does not know the locks of ${nodeType}`, namedRelations(stmt, 'AccessExclusiveLock', 'table'));
  }
  return b.done();
}

// LOCK TABLE's numeric modes are lockdefs.h's: 1 = AccessShareLock ... 8 = AccessExclusiveLock.
function lockStmtMode(mode: unknown): LockMode {
  return typeof mode === 'number' && mode >= 1 && mode <= 8 ? (LOCK_ORDER[mode - 1] as LockMode) : 'AccessExclusiveLock';
}

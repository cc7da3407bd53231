// Reads migration SQL with PostgreSQL's own parser (libpg-query, WASM) and says, per
// statement, which relations it locks in which mode (from ./lock-table.ts), whether it
// rewrites or scans the table under that lock, and whether it may run in a transaction.
import { PreflightError } from '../core/errors.js';
import { canonicalName, quoteIdentifier } from '../core/identifiers.js';
import { LOCK_MODES, strongerLock, type LockMode } from '../core/lock-modes.js';
import { LOCK_RULES, NO_TABLE_LOCK, UNKNOWN, type LockRule, type LockRuleKind, type StatementKind } from './lock-table.js';

export interface MigrationSource {
  /** A path as given, or `<stdin>`. */
  file: string;
  text: string;
}

export type RelationRole = 'table' | 'referenced' | 'partition' | 'index';

export interface LockedRelation {
  schema: string | null;
  name: string;
  /** `orders` or `billing.invoices`, quoted only where needed. */
  display: string;
  /** The quoted form for to_regclass($1). */
  canonical: string;
  mode: LockMode;
  role: RelationRole;
}

export type DangerKind =
  | 'rewrite'
  | 'scan-under-lock'
  | 'concurrently-in-transaction'
  | 'lock-timeout-missing'
  | 'avoidable-strong-lock'
  | 'fails-on-existing-rows'
  | 'unknown-statement';

export interface Danger {
  kind: DangerKind;
  /** What goes wrong, one sentence. */
  message: string;
  /** The safe sequence for this statement, when there is one. */
  safe?: string;
  /** The danger grows with the table: the live check compares it with the size thresholds. */
  sizeDependent: boolean;
}

export interface MigrationStatement {
  file: string;
  /** 1-based line and column of the statement's first token, and the line of its last. */
  line: number;
  column: number;
  endLine: number;
  excerpt: string;
  /** The statement's full text, as written (comments before it excluded). */
  sql: string;
  /** The parse node's type, e.g. AlterTableStmt. */
  nodeType: string;
  /** Lock-table rows this statement matched (one per ALTER TABLE subcommand). */
  kinds: StatementKind[];
  relations: LockedRelation[];
  /** The strongest mode among relations, or null when it locks no existing table. */
  lock: LockMode | null;
  rewrites: boolean;
  scansUnderLock: boolean;
  mayRunInTransaction: boolean;
  concurrently: boolean;
  unknown: boolean;
  /** Runs inside a BEGIN ... COMMIT block of the migration file. */
  inTransactionBlock: boolean;
  /** A non-zero lock_timeout was set earlier in the same file. */
  lockTimeoutSet: boolean;
  dangers: Danger[];
  /** The safe sequences of the lock-table rows it matched. */
  safe: string[];
  /** Relations this statement creates (CREATE TABLE/INDEX/VIEW): later statements on them lock nothing live. */
  creates: string[];
  /** Relations it locks that the migration created earlier (they hold no live traffic). */
  newRelations: string[];
}

// ---- AST access: the parse tree is JSON of { NodeType: fields } objects.
type Fields = Record<string, unknown>;

function nodeOf(value: unknown): [string, Fields] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Fields);
  const first = entries[0];
  if (entries.length !== 1 || !first || first[1] === null || typeof first[1] !== 'object') return undefined;
  return [first[0], first[1] as Fields];
}

function fieldsOf(value: unknown, type: string): Fields | undefined {
  const node = nodeOf(value);
  return node && node[0] === type ? node[1] : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function stringsOf(value: unknown): string[] {
  return list(value).map((item) => str(fieldsOf(item, 'String')?.sval)).filter((s): s is string => s !== undefined);
}

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_$]*$/;
const displayPart = (part: string): string => (PLAIN_IDENTIFIER.test(part) ? part : quoteIdentifier(part));

function relation(schema: string | null, name: string, mode: LockMode, role: RelationRole): LockedRelation {
  return {
    schema,
    name,
    display: schema === null ? displayPart(name) : `${displayPart(schema)}.${displayPart(name)}`,
    canonical: canonicalName(schema === null ? { name } : { schema, name }),
    mode,
    role,
  };
}

/** A RangeVar (fields of one) as a relation. */
function fromRangeVar(rangeVar: unknown, mode: LockMode, role: RelationRole): LockedRelation | undefined {
  const fields = (rangeVar && typeof rangeVar === 'object' && 'relname' in rangeVar ? (rangeVar as Fields) : fieldsOf(rangeVar, 'RangeVar')) ?? undefined;
  const name = str(fields?.relname);
  if (!fields || name === undefined) return undefined;
  return relation(str(fields.schemaname) ?? null, name, mode, role);
}

/** A dotted name list (DROP, COMMENT) as a relation: [schema, name] or [name]. */
function fromNameList(names: string[], mode: LockMode, role: RelationRole): LockedRelation | undefined {
  if (names.length === 1) return relation(null, names[0] as string, mode, role);
  if (names.length === 2) return relation(names[0] as string, names[1] as string, mode, role);
  if (names.length === 3) return relation(names[1] as string, names[2] as string, mode, role);
  return undefined;
}

// ---- Volatile defaults. Functions known not to be volatile; any other call is assumed
// volatile (it rewrites the table), which fails closed.
// https://www.postgresql.org/docs/current/xfunc-volatility.html
const NON_VOLATILE_FUNCTIONS = new Set([
  'now', 'statement_timestamp', 'transaction_timestamp', 'current_timestamp', 'localtimestamp', 'current_date',
  'lower', 'upper', 'length', 'concat', 'to_jsonb', 'jsonb_build_object', 'jsonb_build_array', 'json_build_object',
  'array_fill', 'make_interval', 'abs', 'round', 'coalesce',
]);
const REWRITING_TYPES = new Set(['serial', 'serial4', 'serial8', 'bigserial', 'smallserial', 'serial2']);

function hasVolatileCall(expr: unknown): boolean {
  if (Array.isArray(expr)) return expr.some(hasVolatileCall);
  if (expr === null || typeof expr !== 'object') return false;
  const node = nodeOf(expr);
  if (node && node[0] === 'FuncCall') {
    const name = stringsOf(node[1].funcname).at(-1) ?? '';
    if (!NON_VOLATILE_FUNCTIONS.has(name)) return true;
  }
  if (node && (node[0] === 'SubLink' || node[0] === 'NextValueExpr')) return true;
  return Object.values(expr as Fields).some(hasVolatileCall);
}

function constraintsOf(columnDef: Fields): Fields[] {
  return list(columnDef.constraints).map((c) => fieldsOf(c, 'Constraint')).filter((c): c is Fields => c !== undefined);
}

// ---- Per-statement classification.
interface Part {
  kind: StatementKind;
  relations: LockedRelation[];
  /** Overrides the lock-table rewrite/scan flags where the statement says more. */
  dangers?: Danger[];
}

interface FileState {
  inTransactionBlock: boolean;
  lockTimeoutSet: boolean;
  /** CHECK constraints of the form (col IS NOT NULL), by table canonical name → constraint → column. */
  notNullChecks: Map<string, Map<string, string>>;
  /** Columns proven NOT NULL by a validated CHECK, as `table\u0000column`. */
  provenNotNull: Set<string>;
}

function rule(kind: LockRuleKind) {
  return LOCK_RULES[kind];
}

function mainAndReferenced(kind: LockRuleKind, main: LockedRelation | undefined, referenced: (LockedRelation | undefined)[] = []): Part {
  const row = rule(kind);
  const relations: LockedRelation[] = [];
  if (main) relations.push({ ...main, mode: row.lock });
  const refMode: LockMode | undefined = 'referencedLock' in row ? row.referencedLock : undefined;
  for (const ref of referenced) if (ref && refMode) relations.push({ ...ref, mode: refMode });
  return { kind, relations };
}

function notNullColumnOfCheck(constraint: Fields): string | undefined {
  const test = fieldsOf(constraint.raw_expr, 'NullTest');
  if (!test || test.nulltesttype !== 'IS_NOT_NULL') return undefined;
  return stringsOf(fieldsOf(test.arg, 'ColumnRef')?.fields).at(-1);
}

function alterTableParts(stmt: Fields, state: FileState): Part[] {
  const table = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
  if (!table) return [{ kind: UNKNOWN, relations: [] }];
  if (stmt.objtype === 'OBJECT_INDEX') return [{ kind: UNKNOWN, relations: [{ ...table, role: 'index' }] }];
  const parts: Part[] = [];
  for (const item of list(stmt.cmds)) {
    const cmd = fieldsOf(item, 'AlterTableCmd');
    if (!cmd) continue;
    const subtype = str(cmd.subtype) ?? '';
    switch (subtype) {
      case 'AT_AddColumn': {
        const column = fieldsOf(cmd.def, 'ColumnDef') ?? {};
        const constraints = constraintsOf(column);
        const typeName = stringsOf(fieldsOf({ TypeName: column.typeName }, 'TypeName')?.names).at(-1) ?? '';
        const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr;
        const rewrites =
          REWRITING_TYPES.has(typeName) ||
          constraints.some((c) => c.contype === 'CONSTR_IDENTITY' || (c.contype === 'CONSTR_GENERATED' && c.generated_kind === 's')) ||
          (defaultExpr !== undefined && hasVolatileCall(defaultExpr));
        const part = mainAndReferenced(rewrites ? 'add-column-rewrite' : 'add-column', table);
        const dangers: Danger[] = [];
        if (constraints.some((c) => c.contype === 'CONSTR_NOTNULL') && defaultExpr === undefined && !rewrites) {
          dangers.push({
            kind: 'fails-on-existing-rows',
            message: 'ADD COLUMN ... NOT NULL without a default fails as soon as the table has a row',
            safe: 'add the column nullable (or with a constant DEFAULT), backfill, then add NOT NULL via CHECK ... NOT VALID + VALIDATE',
            sizeDependent: false,
          });
        }
        parts.push({ ...part, dangers });
        for (const c of constraints) {
          if (c.contype === 'CONSTR_FOREIGN') parts.push(mainAndReferenced('add-foreign-key', table, [fromRangeVar(c.pktable, 'ShareRowExclusiveLock', 'referenced')]));
          if (c.contype === 'CONSTR_CHECK') parts.push(mainAndReferenced('add-check', table));
          if (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY') parts.push(mainAndReferenced('add-index-constraint', table));
        }
        break;
      }
      case 'AT_DropColumn':
        parts.push(mainAndReferenced('drop-column', table));
        break;
      case 'AT_AlterColumnType':
        parts.push(mainAndReferenced('alter-column-type', table));
        break;
      case 'AT_SetNotNull': {
        const proven = state.provenNotNull.has(`${table.canonical}\u0000${str(cmd.name) ?? ''}`);
        parts.push(mainAndReferenced(proven ? 'set-not-null-proven' : 'set-not-null', table));
        break;
      }
      case 'AT_DropNotNull':
        parts.push(mainAndReferenced('drop-not-null', table));
        break;
      case 'AT_ColumnDefault':
        parts.push(mainAndReferenced('set-default', table));
        break;
      case 'AT_AddConstraint': {
        const constraint = fieldsOf(cmd.def, 'Constraint') ?? {};
        const notValid = constraint.skip_validation === true;
        switch (constraint.contype) {
          case 'CONSTR_FOREIGN':
            parts.push(mainAndReferenced(notValid ? 'add-foreign-key-not-valid' : 'add-foreign-key', table, [fromRangeVar(constraint.pktable, 'ShareRowExclusiveLock', 'referenced')]));
            break;
          case 'CONSTR_CHECK': {
            parts.push(mainAndReferenced(notValid ? 'add-check-not-valid' : 'add-check', table));
            const column = notNullColumnOfCheck(constraint);
            const name = str(constraint.conname);
            if (column !== undefined) {
              if (!notValid) state.provenNotNull.add(`${table.canonical}\u0000${column}`);
              else if (name !== undefined) {
                const checks = state.notNullChecks.get(table.canonical) ?? new Map<string, string>();
                checks.set(name, column);
                state.notNullChecks.set(table.canonical, checks);
              }
            }
            break;
          }
          case 'CONSTR_PRIMARY':
          case 'CONSTR_UNIQUE':
          case 'CONSTR_EXCLUSION':
            parts.push(mainAndReferenced(str(constraint.indexname) !== undefined ? 'add-constraint-using-index' : 'add-index-constraint', table));
            break;
          case 'CONSTR_NOTNULL':
            parts.push(mainAndReferenced('set-not-null', table));
            break;
          default:
            parts.push({ kind: UNKNOWN, relations: [table] });
        }
        break;
      }
      case 'AT_ValidateConstraint': {
        parts.push(mainAndReferenced('validate-constraint', table));
        const column = state.notNullChecks.get(table.canonical)?.get(str(cmd.name) ?? '');
        if (column !== undefined) state.provenNotNull.add(`${table.canonical}\u0000${column}`);
        break;
      }
      case 'AT_DropConstraint':
        parts.push(mainAndReferenced('drop-constraint', table));
        break;
      case 'AT_SetStatistics':
      case 'AT_SetOptions':
      case 'AT_ResetOptions':
      case 'AT_ClusterOn':
      case 'AT_DropCluster':
        parts.push(mainAndReferenced('set-statistics', table));
        break;
      case 'AT_SetRelOptions':
      case 'AT_ResetRelOptions': {
        // Each storage parameter has its own lock level; these are ShareUpdateExclusive (reloptions.c).
        const names = list(fieldsOf(cmd.def, 'List')?.items).map((d) => str(fieldsOf(d, 'DefElem')?.defname) ?? '');
        const light = names.every((n) => /^(fillfactor|autovacuum_.*|toast_tuple_target|parallel_workers|vacuum_.*|log_autovacuum_min_duration)$/.test(n));
        parts.push(light ? mainAndReferenced('set-storage-parameters', table) : { kind: UNKNOWN, relations: [table] });
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
        parts.push(mainAndReferenced('alter-table-metadata', table));
        break;
      case 'AT_SetLogged':
      case 'AT_SetUnLogged':
      case 'AT_SetTableSpace':
        parts.push(mainAndReferenced('alter-table-rewrite', table));
        break;
      case 'AT_EnableTrig':
      case 'AT_DisableTrig':
      case 'AT_EnableAlwaysTrig':
      case 'AT_EnableReplicaTrig':
      case 'AT_EnableTrigAll':
      case 'AT_DisableTrigAll':
      case 'AT_EnableTrigUser':
      case 'AT_DisableTrigUser':
        parts.push(mainAndReferenced('enable-disable-trigger', table));
        break;
      case 'AT_AttachPartition': {
        const partition = fromRangeVar(fieldsOf(cmd.def, 'PartitionCmd')?.name, 'AccessExclusiveLock', 'partition');
        parts.push(mainAndReferenced('attach-partition', table, [partition]));
        break;
      }
      case 'AT_DetachPartition': {
        const command = fieldsOf(cmd.def, 'PartitionCmd');
        const partition = fromRangeVar(command?.name, 'AccessExclusiveLock', 'partition');
        parts.push(mainAndReferenced(command?.concurrent === true ? 'detach-partition-concurrently' : 'detach-partition', table, [partition]));
        break;
      }
      default:
        parts.push({ kind: UNKNOWN, relations: [table] });
    }
  }
  return parts;
}

function createTableParts(stmt: Fields): Part[] {
  const parents = list(stmt.inhRelations).map((r) => fromRangeVar(r, 'AccessExclusiveLock', 'table'));
  if (stmt.partbound !== undefined) return [{ kind: 'create-partition', relations: parents.filter((p): p is LockedRelation => p !== undefined).map((p) => ({ ...p, mode: 'AccessExclusiveLock' as LockMode })) }];
  if (parents.length > 0) return [{ kind: UNKNOWN, relations: parents.filter((p): p is LockedRelation => p !== undefined) }];
  const references: LockedRelation[] = [];
  const addReference = (c: Fields): void => {
    if (c.contype !== 'CONSTR_FOREIGN') return;
    const ref = fromRangeVar(c.pktable, 'ShareRowExclusiveLock', 'referenced');
    if (ref) references.push(ref);
  };
  for (const element of list(stmt.tableElts)) {
    const column = fieldsOf(element, 'ColumnDef');
    if (column) constraintsOf(column).forEach(addReference);
    const constraint = fieldsOf(element, 'Constraint');
    if (constraint) addReference(constraint);
  }
  return [{ kind: 'create-table', relations: references }];
}

// LOCK TABLE's numeric modes are lockdefs.h's: 1 = AccessShareLock ... 8 = AccessExclusiveLock.
function lockStmtMode(mode: unknown): LockMode {
  return typeof mode === 'number' && mode >= 1 && mode <= 8 ? (LOCK_MODES[mode - 1] as LockMode) : 'AccessExclusiveLock';
}

function isConcurrentlyOption(params: unknown): boolean {
  return list(params).some((p) => {
    const d = fieldsOf(p, 'DefElem');
    return d?.defname === 'concurrently' && fieldsOf(d.arg, 'Boolean')?.boolval !== false;
  });
}

/** Names a statement mentions (for statements the analyzer does not know), assumed AccessExclusive. */
function namedRelations(value: unknown, out: LockedRelation[] = []): LockedRelation[] {
  if (Array.isArray(value)) {
    for (const item of value) namedRelations(item, out);
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const fields = value as Fields;
  if (typeof fields.relname === 'string') {
    const rel = fromRangeVar(fields, 'AccessExclusiveLock', 'table');
    if (rel && !out.some((r) => r.canonical === rel.canonical)) out.push(rel);
  }
  for (const child of Object.values(fields)) namedRelations(child, out);
  return out;
}

const NO_LOCK_STATEMENTS = new Set([
  'VariableSetStmt', 'VariableShowStmt', 'TransactionStmt', 'CreateFunctionStmt', 'CreateSchemaStmt', 'CreateExtensionStmt',
  'CreateSeqStmt', 'CreateEnumStmt', 'CompositeTypeStmt', 'CreateDomainStmt', 'CreateRoleStmt', 'DefineStmt', 'CreateRangeStmt',
]);

function statementParts(type: string, stmt: Fields, state: FileState): Part[] {
  if (NO_LOCK_STATEMENTS.has(type)) return [{ kind: NO_TABLE_LOCK, relations: [] }];
  switch (type) {
    case 'AlterTableStmt':
      return alterTableParts(stmt, state);
    case 'CreateStmt':
      return createTableParts(stmt);
    case 'ViewStmt': {
      // A view reads nothing at creation; CREATE OR REPLACE of an existing view locks only the view.
      return [{ kind: NO_TABLE_LOCK, relations: [] }];
    }
    case 'IndexStmt': {
      const concurrent = stmt.concurrent === true;
      return [mainAndReferenced(concurrent ? 'create-index-concurrently' : 'create-index', fromRangeVar(stmt.relation, 'ShareLock', 'table'))];
    }
    case 'DropStmt': {
      const objects = list(stmt.objects).map((o) => stringsOf(fieldsOf(o, 'List')?.items));
      switch (stmt.removeType) {
        case 'OBJECT_TABLE':
        case 'OBJECT_MATVIEW':
          return [{ kind: 'drop-table', relations: objects.map((n) => fromNameList(n, 'AccessExclusiveLock', 'table')).filter((r): r is LockedRelation => r !== undefined) }];
        case 'OBJECT_INDEX': {
          const kind: LockRuleKind = stmt.concurrent === true ? 'drop-index-concurrently' : 'drop-index';
          return [{ kind, relations: objects.map((n) => fromNameList(n, rule(kind).lock, 'index')).filter((r): r is LockedRelation => r !== undefined) }];
        }
        case 'OBJECT_TRIGGER':
          return [{ kind: 'drop-trigger', relations: objects.map((n) => fromNameList(n.slice(0, -1), 'AccessExclusiveLock', 'table')).filter((r): r is LockedRelation => r !== undefined) }];
        case 'OBJECT_VIEW':
        case 'OBJECT_FUNCTION':
        case 'OBJECT_TYPE':
        case 'OBJECT_SEQUENCE':
        case 'OBJECT_SCHEMA':
        case 'OBJECT_EXTENSION':
          return [{ kind: UNKNOWN, relations: [] }];
        default:
          return [{ kind: UNKNOWN, relations: [] }];
      }
    }
    case 'RenameStmt': {
      const target = fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table');
      if (stmt.renameType === 'OBJECT_INDEX') return [mainAndReferenced('rename-index', target ? { ...target, role: 'index' } : undefined)];
      if (['OBJECT_TABLE', 'OBJECT_COLUMN', 'OBJECT_TABCONSTRAINT'].includes(str(stmt.renameType) ?? '')) return [mainAndReferenced('rename', target)];
      return [{ kind: UNKNOWN, relations: target ? [target] : [] }];
    }
    case 'ReindexStmt': {
      const concurrent = isConcurrentlyOption(stmt.params);
      const target = fromRangeVar(stmt.relation, 'ShareLock', stmt.kind === 'REINDEX_OBJECT_INDEX' ? 'index' : 'table');
      if (stmt.kind === 'REINDEX_OBJECT_TABLE') return [mainAndReferenced(concurrent ? 'reindex-concurrently' : 'reindex', target)];
      if (stmt.kind === 'REINDEX_OBJECT_INDEX' && concurrent) return [mainAndReferenced('reindex-concurrently', target)];
      // REINDEX INDEX: ShareLock on the table, AccessExclusiveLock on the index (the table is not named).
      return [{ kind: UNKNOWN, relations: target ? [{ ...target, mode: 'AccessExclusiveLock' }] : [] }];
    }
    case 'VacuumStmt': {
      const full = list(stmt.options).some((o) => fieldsOf(o, 'DefElem')?.defname === 'full');
      const kind: LockRuleKind = stmt.is_vacuumcmd === true ? (full ? 'vacuum-full' : 'vacuum') : 'analyze';
      const rels = list(stmt.rels).map((r) => fromRangeVar(fieldsOf(r, 'VacuumRelation')?.relation, rule(kind).lock, 'table')).filter((r): r is LockedRelation => r !== undefined);
      return [{ kind, relations: rels }];
    }
    case 'ClusterStmt':
      return [mainAndReferenced('cluster', fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table'))];
    case 'CreateTrigStmt':
      return [mainAndReferenced('create-trigger', fromRangeVar(stmt.relation, 'ShareRowExclusiveLock', 'table'))];
    case 'CommentStmt': {
      const names = stringsOf(fieldsOf(stmt.object, 'List')?.items);
      if (stmt.objtype === 'OBJECT_TABLE') return [mainAndReferenced('comment', fromNameList(names, 'ShareUpdateExclusiveLock', 'table'))];
      if (stmt.objtype === 'OBJECT_COLUMN') return [mainAndReferenced('comment', fromNameList(names.slice(0, -1), 'ShareUpdateExclusiveLock', 'table'))];
      return [{ kind: NO_TABLE_LOCK, relations: [] }];
    }
    case 'TruncateStmt':
      return [{ kind: 'truncate', relations: list(stmt.relations).map((r) => fromRangeVar(r, 'AccessExclusiveLock', 'table')).filter((r): r is LockedRelation => r !== undefined) }];
    case 'LockStmt': {
      const mode = lockStmtMode(stmt.mode);
      return [{ kind: 'lock-table', relations: list(stmt.relations).map((r) => fromRangeVar(r, mode, 'table')).filter((r): r is LockedRelation => r !== undefined) }];
    }
    case 'RefreshMatViewStmt':
      return [mainAndReferenced(stmt.concurrent === true ? 'refresh-materialized-view-concurrently' : 'refresh-materialized-view', fromRangeVar(stmt.relation, 'AccessExclusiveLock', 'table'))];
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt':
      return [mainAndReferenced('write-rows', fromRangeVar(stmt.relation, 'RowExclusiveLock', 'table'))];
    case 'SelectStmt':
      return [{ kind: 'read-rows', relations: namedRelations(stmt).map((r) => ({ ...r, mode: 'AccessShareLock' as LockMode })) }];
    default:
      return [{ kind: UNKNOWN, relations: namedRelations(stmt) }];
  }
}

// ---- Positions: libpg-query reports byte offsets into the UTF-8 text.
function lineAndColumn(text: string, charIndex: number): { line: number; column: number } {
  const before = text.slice(0, charIndex);
  const line = before.split('\n').length;
  const column = charIndex - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

function charIndexOfByte(buffer: Buffer, byteOffset: number): number {
  return buffer.subarray(0, Math.max(0, Math.min(byteOffset, buffer.length))).toString('utf8').length;
}

/** Skips whitespace and comments to the statement's first token. */
function skipTrivia(text: string, index: number): number {
  let i = index;
  for (;;) {
    while (i < text.length && /\s/.test(text[i] as string)) i += 1;
    if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      i = end === -1 ? text.length : end + 2;
    } else return i;
  }
}

function excerptOf(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/** Quick but AccessExclusive, with a variant that takes less: worth a warning on any table. */
const AVOIDABLE_STRONG_LOCKS: readonly LockRuleKind[] = ['drop-index', 'detach-partition', 'create-partition'];

const STRONG_LOCK_FLOOR: LockMode = 'ShareLock';
/** Conflicts with RowExclusiveLock: the migration stops writes (and, for AccessExclusive, reads) while it holds it. */
export function blocksWrites(mode: LockMode): boolean {
  return LOCK_MODES.indexOf(mode) >= LOCK_MODES.indexOf(STRONG_LOCK_FLOOR);
}

function lockTimeoutValue(stmt: Fields): boolean | undefined {
  if (str(stmt.name) !== 'lock_timeout') return undefined;
  if (stmt.kind === 'VAR_RESET' || stmt.kind === 'VAR_SET_DEFAULT') return false;
  const value = fieldsOf(list(stmt.args)[0], 'A_Const');
  if (!value) return false;
  const ival = fieldsOf({ Integer: value.ival }, 'Integer');
  if (value.ival !== undefined) return typeof ival?.ival === 'number' && ival.ival > 0;
  const text = str(fieldsOf({ String: value.sval }, 'String')?.sval) ?? '';
  return !/^\s*0+\s*(ms|s|min|h|d|us)?\s*$/i.test(text);
}

function createdBy(type: string, stmt: Fields): string[] {
  if (type === 'CreateStmt' || type === 'CreateTableAsStmt') {
    const rel = fromRangeVar(type === 'CreateStmt' ? stmt.relation : fieldsOf({ IntoClause: stmt.into }, 'IntoClause')?.rel, 'AccessExclusiveLock', 'table');
    return rel ? [rel.canonical] : [];
  }
  if (type === 'IndexStmt' && str(stmt.idxname) !== undefined) {
    const table = fromRangeVar(stmt.relation, 'ShareLock', 'table');
    return [canonicalName(table?.schema ? { schema: table.schema, name: str(stmt.idxname) as string } : { name: str(stmt.idxname) as string })];
  }
  return [];
}

type ParseSync = (sql: string) => unknown;
let parserReady: Promise<ParseSync> | undefined;
let parseSync: ParseSync | undefined;

/**
 * Loads the WASM parser once. It is imported here, not at the top, so that a gate without
 * --migration (and the migration-risk check's module) never pays for loading it.
 */
export async function loadParser(): Promise<void> {
  parserReady ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return lib.parseSync;
  });
  parseSync = await parserReady;
}

/** Whether `text` parses as SQL: a remediation's `sql` must be runnable (false until the parser is loaded). */
export function isSql(text: string): boolean {
  if (!parseSync) return false;
  try {
    parseSync(text);
    return true;
  } catch {
    return false;
  }
}

interface SqlErrorLike {
  message: string;
  sqlDetails?: { cursorPosition?: number };
}

/**
 * Parses and analyzes one source. Call loadParser() first. Throws PreflightError on a syntax
 * error. `created` collects the relations created so far (shared across the files of one
 * migration): work on a table the migration itself created is not size-dependent.
 */
export function analyzeSource(source: MigrationSource, created: Set<string> = new Set()): MigrationStatement[] {
  const buffer = Buffer.from(source.text, 'utf8');
  let parsed: { stmts?: { stmt?: unknown; stmt_location?: number; stmt_len?: number }[] };
  try {
    if (!parseSync) throw new Error('analyzeSource() called before loadParser()');
    parsed = parseSync(source.text) as typeof parsed;
  } catch (error) {
    const e = error as SqlErrorLike;
    const position = e.sqlDetails?.cursorPosition;
    // The error position counts characters (PostgreSQL's pg_mbstrlen), unlike the byte offsets of parse-tree locations.
    const where = typeof position === 'number' && position >= 0 ? lineAndColumn(source.text, Array.from(source.text).slice(0, position).join('').length) : { line: 1, column: 1 };
    throw new PreflightError(`${source.file}:${where.line}:${where.column}: ${e.message}: fix the migration's SQL (it is read with PostgreSQL's own parser)`, { cause: error });
  }
  const state: FileState = { inTransactionBlock: false, lockTimeoutSet: false, notNullChecks: new Map(), provenNotNull: new Set() };
  const out: MigrationStatement[] = [];
  for (const raw of parsed.stmts ?? []) {
    const node = nodeOf(raw.stmt);
    if (!node) continue;
    const [type, stmt] = node;
    const startByte = raw.stmt_location ?? 0;
    const endByte = raw.stmt_len !== undefined && raw.stmt_len > 0 ? startByte + raw.stmt_len : buffer.length;
    const startChar = skipTrivia(source.text, charIndexOfByte(buffer, startByte));
    const endChar = charIndexOfByte(buffer, endByte);
    const sql = source.text.slice(startChar, endChar);
    const { line, column } = lineAndColumn(source.text, startChar);
    const endLine = lineAndColumn(source.text, Math.max(startChar, endChar - 1)).line;

    if (type === 'TransactionStmt') {
      const kind = str(stmt.kind) ?? '';
      if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') state.inTransactionBlock = true;
      if (['TRANS_STMT_COMMIT', 'TRANS_STMT_ROLLBACK', 'TRANS_STMT_PREPARE', 'TRANS_STMT_COMMIT_PREPARED', 'TRANS_STMT_ROLLBACK_PREPARED'].includes(kind)) state.inTransactionBlock = false;
    }
    if (type === 'VariableSetStmt') {
      const set = lockTimeoutValue(stmt);
      if (set !== undefined) state.lockTimeoutSet = set;
    }

    const parts = statementParts(type, stmt, state);
    const relations: LockedRelation[] = [];
    for (const part of parts) {
      for (const rel of part.relations) {
        const existing = relations.find((r) => r.canonical === rel.canonical);
        if (existing) existing.mode = strongerLock(existing.mode, rel.mode);
        else relations.push({ ...rel });
      }
    }
    const kinds = parts.map((p) => p.kind);
    const rows: LockRule[] = kinds.filter((k) => k in LOCK_RULES).map((k) => LOCK_RULES[k as LockRuleKind]);
    const unknown = kinds.includes(UNKNOWN);
    const lock = relations.reduce<LockMode | null>((strongest, r) => (strongest === null ? r.mode : strongerLock(strongest, r.mode)), null);
    const rewrites = rows.some((r) => r.rewrite);
    const scansUnderLock = rows.some((r) => r.scan);
    const mayRunInTransaction = rows.every((r) => r.inTransaction);
    const concurrently = rows.some((r) => r.concurrently);
    const safe = [...new Set(rows.map((r) => r.safe).filter((s): s is string => s !== undefined))];

    const dangers: Danger[] = parts.flatMap((p) => p.dangers ?? []);
    // The relations whose rows the statement reads or rewrites: the new partition for ATTACH,
    // else the statement's own table. A table this migration created holds no live rows.
    const attaching = kinds.includes('attach-partition');
    const worked = relations.filter((r) => (attaching ? r.role === 'partition' : r.role !== 'referenced') && !created.has(r.canonical));
    const heavy = worked.find((r) => blocksWrites(r.mode));
    if (heavy && rewrites) {
      const row = rows.find((r) => r.rewrite);
      dangers.push({ kind: 'rewrite', message: `${row?.statement ?? type} rewrites ${heavy.display} under ${heavy.mode}`, safe: row?.safe, sizeDependent: true });
    } else if (heavy && scansUnderLock) {
      const row = rows.find((r) => r.scan);
      dangers.push({ kind: 'scan-under-lock', message: `${row?.statement ?? type} reads every row of ${heavy.display} under ${lock ?? heavy.mode}`, safe: row?.safe, sizeDependent: true });
    }
    if (!mayRunInTransaction && state.inTransactionBlock) {
      dangers.push({ kind: 'concurrently-in-transaction', message: `${rows.find((r) => !r.inTransaction)?.statement ?? type} cannot run inside a transaction block (it errors out), and this one is inside BEGIN`, safe: 'run it on its own, outside BEGIN ... COMMIT (in most migration tools: disable the per-migration transaction for this file)', sizeDependent: false });
    }
    for (const kind of kinds) {
      if (worked.length === 0 || !(AVOIDABLE_STRONG_LOCKS as readonly string[]).includes(kind)) continue;
      const row: LockRule = LOCK_RULES[kind as LockRuleKind];
      dangers.push({ kind: 'avoidable-strong-lock', message: `${row.statement} takes ${row.lock}, which has a lighter alternative`, safe: row.safe, sizeDependent: false });
    }
    if (unknown) {
      dangers.push({ kind: 'unknown-statement', message: `pgpreflight does not know the locks of this ${type}${relations.length > 0 ? `; assuming AccessExclusiveLock on ${relations.map((r) => r.display).join(', ')}` : ''}`, sizeDependent: false });
    }
    out.push({
      file: source.file,
      line,
      column,
      endLine,
      newRelations: relations.filter((r) => created.has(r.canonical)).map((r) => r.canonical),
      excerpt: excerptOf(sql),
      sql,
      nodeType: type,
      kinds,
      relations,
      lock,
      rewrites,
      scansUnderLock,
      mayRunInTransaction,
      concurrently,
      unknown,
      inTransactionBlock: state.inTransactionBlock && type !== 'TransactionStmt',
      lockTimeoutSet: state.lockTimeoutSet,
      dangers,
      safe,
      creates: createdBy(type, stmt),
    });
    for (const name of createdBy(type, stmt)) created.add(name);
  }
  // The first statement that blocks writes without a lock_timeout: it can queue behind a
  // long transaction, and every query on the table then queues behind it.
  const firstStrong = out.find((s) => s.relations.some((r) => blocksWrites(r.mode) && !s.newRelations.includes(r.canonical)));
  if (firstStrong && !firstStrong.lockTimeoutSet) {
    firstStrong.dangers.push({
      kind: 'lock-timeout-missing',
      message: `no lock_timeout is set before this ${firstStrong.lock}: if it queues behind a long transaction, every query on ${firstStrong.relations[0]?.display ?? 'the table'} queues behind it`,
      safe: "SET lock_timeout = '5s';  -- at the top of the migration; retry it when it times out",
      sizeDependent: false,
    });
  }
  return out;
}

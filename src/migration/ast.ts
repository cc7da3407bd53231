// Reading libpg-query's parse tree: JSON of { NodeType: fields } objects, where protobuf
// defaults are omitted (0, false and "" do not appear).
import { canonicalName, quoteIdentifier } from '../core/identifiers.js';
import type { LockMode } from '../core/lock-modes.js';
import { normalizeTypeName, type TypeRef } from './types.js';

export type Fields = Record<string, unknown>;

export function nodeOf(value: unknown): [string, Fields] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Fields);
  const first = entries[0];
  if (entries.length !== 1 || !first || first[1] === null || typeof first[1] !== 'object') return undefined;
  return [first[0], first[1] as Fields];
}

export function fieldsOf(value: unknown, type: string): Fields | undefined {
  const node = nodeOf(value);
  return node && node[0] === type ? node[1] : undefined;
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function stringsOf(value: unknown): string[] {
  return list(value)
    .map((item) => str(fieldsOf(item, 'String')?.sval))
    .filter((s): s is string => s !== undefined);
}

export type RelationRole = 'table' | 'referenced' | 'partition' | 'index' | 'source' | 'view' | 'sequence';

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

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_$]*$/;
export const displayPart = (part: string): string => (PLAIN_IDENTIFIER.test(part) ? part : quoteIdentifier(part));

export function relation(schema: string | null, name: string, mode: LockMode, role: RelationRole): LockedRelation {
  return {
    schema,
    name,
    display: schema === null ? displayPart(name) : `${displayPart(schema)}.${displayPart(name)}`,
    canonical: canonicalName(schema === null ? { name } : { schema, name }),
    mode,
    role,
  };
}

/** A RangeVar (or its fields) as a relation. */
export function fromRangeVar(rangeVar: unknown, mode: LockMode, role: RelationRole): LockedRelation | undefined {
  const fields = rangeVar && typeof rangeVar === 'object' && 'relname' in rangeVar ? (rangeVar as Fields) : fieldsOf(rangeVar, 'RangeVar');
  const name = str(fields?.relname);
  if (!fields || name === undefined) return undefined;
  return relation(str(fields.schemaname) ?? null, name, mode, role);
}

/** A dotted name list (DROP, COMMENT) as a relation: [schema, name] or [name] (or [db, schema, name]). */
export function fromNameList(names: string[], mode: LockMode, role: RelationRole): LockedRelation | undefined {
  if (names.length === 1) return relation(null, names[0] as string, mode, role);
  if (names.length === 2) return relation(names[0] as string, names[1] as string, mode, role);
  if (names.length === 3) return relation(names[1] as string, names[2] as string, mode, role);
  return undefined;
}

export function defined<T>(items: readonly (T | undefined)[]): T[] {
  return items.filter((item): item is T => item !== undefined);
}

/** An integer or string constant: `A_Const` with ival/sval/boolval (0 and false are omitted). */
export function constantOf(value: unknown): string | number | boolean | null | undefined {
  const c = fieldsOf(value, 'A_Const');
  if (!c) return undefined;
  if (c.isnull === true) return null;
  if ('ival' in c) return typeof (c.ival as Fields | undefined)?.ival === 'number' ? ((c.ival as Fields).ival as number) : 0;
  if ('sval' in c) return str((c.sval as Fields | undefined)?.sval) ?? '';
  if ('boolval' in c) return (c.boolval as Fields | undefined)?.boolval === true;
  if ('fval' in c) return Number(str((c.fval as Fields | undefined)?.fval));
  return undefined;
}

const SHOWN: Record<string, string> = { int2: 'smallint', int4: 'integer', int8: 'bigint', float4: 'real', float8: 'double precision', bool: 'boolean', bpchar: 'char' };

/** A TypeName node as a TypeRef. */
export function typeRefOf(typeName: unknown): TypeRef | undefined {
  const fields = typeName && typeof typeName === 'object' && 'names' in typeName ? (typeName as Fields) : fieldsOf(typeName, 'TypeName');
  if (!fields) return undefined;
  const names = stringsOf(fields.names);
  const last = names.at(-1);
  if (last === undefined) return undefined;
  const schema = names.length > 1 ? (names.at(-2) as string) : null;
  const mods = list(fields.typmods).map((m) => constantOf(m)).filter((m): m is number => typeof m === 'number');
  const array = list(fields.arrayBounds).length > 0;
  const name = schema === 'pg_catalog' ? last : normalizeTypeName(last);
  const shown = SHOWN[name] ?? name;
  const text = `${schema && schema !== 'pg_catalog' ? `${schema}.` : ''}${shown}${mods.length > 0 && name !== 'interval' ? `(${mods.join(',')})` : ''}${array ? '[]' : ''}`;
  return { name, schema: schema === 'pg_catalog' ? null : schema, mods, array, text };
}

/** A system catalog or information_schema view: reading it locks no user table. */
function isCatalog(rel: LockedRelation): boolean {
  if (rel.schema !== null) return rel.schema === 'pg_catalog' || rel.schema === 'information_schema';
  return rel.name.startsWith('pg_');
}

/** Every relation a node tree mentions (RangeVars, system catalogs left out), first mention first. */
export function namedRelations(value: unknown, mode: LockMode, role: RelationRole, out: LockedRelation[] = []): LockedRelation[] {
  if (Array.isArray(value)) {
    for (const item of value) namedRelations(item, mode, role, out);
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const fields = value as Fields;
  if (typeof fields.relname === 'string') {
    const rel = fromRangeVar(fields, mode, role);
    if (rel && !isCatalog(rel) && !out.some((r) => r.canonical === rel.canonical)) out.push(rel);
  }
  for (const child of Object.values(fields)) namedRelations(child, mode, role, out);
  return out;
}

/** Names of the CTEs a query defines: they are not tables. */
export function cteNames(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) cteNames(item, out);
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const fields = value as Fields;
  const cte = fieldsOf(value, 'CommonTableExpr');
  if (cte && typeof cte.ctename === 'string') out.add(cte.ctename);
  for (const child of Object.values(fields)) cteNames(child, out);
  return out;
}

/** Every function a node tree calls, by its (last) name and schema. */
export function functionCalls(value: unknown, out: { schema: string | null; name: string }[] = []): { schema: string | null; name: string }[] {
  if (Array.isArray(value)) {
    for (const item of value) functionCalls(item, out);
    return out;
  }
  if (value === null || typeof value !== 'object') return out;
  const call = fieldsOf(value, 'FuncCall');
  if (call) {
    const names = stringsOf(call.funcname);
    const name = names.at(-1);
    if (name !== undefined) out.push({ schema: names.length > 1 ? (names.at(-2) as string) : null, name: name.toLowerCase() });
  }
  for (const child of Object.values(value as Fields)) functionCalls(child, out);
  return out;
}

/** A DefElem option's value as text: `false`, `off`, `0`, `'false'` all read as false. */
export function optionValue(option: Fields | undefined): boolean | undefined {
  if (!option) return undefined;
  if (option.arg === undefined) return true;
  const arg = option.arg;
  const boolean = fieldsOf(arg, 'Boolean');
  if (boolean) return boolean.boolval === true;
  const integer = fieldsOf(arg, 'Integer');
  if (integer) return typeof integer.ival === 'number' && integer.ival !== 0;
  const text = str(fieldsOf(arg, 'String')?.sval);
  if (text !== undefined) return !/^(false|off|no|0|f|n)$/i.test(text.trim());
  return true;
}

export function option(options: unknown, name: string): Fields | undefined {
  return list(options)
    .map((o) => fieldsOf(o, 'DefElem'))
    .find((d) => d?.defname === name);
}

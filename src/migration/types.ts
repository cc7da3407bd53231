// Column types as the analyzer sees them, and what PostgreSQL does when ALTER COLUMN ... TYPE
// changes one: keep the table (binary coercible, a typmod that only widens), rebuild the
// indexes on the column (a different operator class or collation), or rewrite every row.
// The rules mirror ATColumnChangeRequiresRewrite and the length-coercion support functions
// (varchar_support, numeric_support, TemporalSimplify, varbit_support); each one is checked
// against relfilenode on a real server by test/migration-schema.test.ts.
import { BINARY_CASTS } from './catalog-data.js';

export interface TypeRef {
  /** Internal name, lowercase: int4, varchar, timestamptz, numeric, citext, ... */
  name: string;
  /** The schema when the migration qualified a non-catalog type (public.citext). */
  schema: string | null;
  /** Type modifiers as written: varchar(20) → [20], numeric(10,2) → [10, 2]. */
  mods: number[];
  array: boolean;
  /** As written, for messages. */
  text: string;
}

const ALIASES: Record<string, string> = {
  int: 'int4', integer: 'int4', smallint: 'int2', bigint: 'int8', boolean: 'bool', real: 'float4', float: 'float8',
  decimal: 'numeric', dec: 'numeric', character: 'bpchar', 'character varying': 'varchar', 'bit varying': 'varbit',
  serial4: 'serial', serial8: 'bigserial', serial2: 'smallserial',
};

/** format_type() spelling of the internal names, as pg_cast rows are recorded in catalog-data.ts. */
const FORMAT_NAMES: Record<string, string> = {
  int2: 'smallint', int4: 'integer', int8: 'bigint', float4: 'real', float8: 'double precision', bool: 'boolean',
  varchar: 'character varying', bpchar: 'character', varbit: 'bit varying', timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone', time: 'time without time zone', timetz: 'time with time zone',
};

export function normalizeTypeName(name: string): string {
  const lower = name.toLowerCase();
  return ALIASES[lower] ?? lower;
}

export const SERIAL_TYPES: ReadonlySet<string> = new Set(['serial', 'bigserial', 'smallserial']);

/** Built-in base types the rules below know; any other name (an extension's, a domain, an enum) is unknown offline. */
const KNOWN = new Set([
  'int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'bool', 'text', 'varchar', 'bpchar', 'char', 'name', 'bytea', 'uuid',
  'json', 'jsonb', 'xml', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval', 'bit', 'varbit', 'inet', 'cidr',
  'macaddr', 'macaddr8', 'money', 'oid', 'tsvector', 'tsquery', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle',
  'int4range', 'int8range', 'numrange', 'tsrange', 'tstzrange', 'daterange', 'regclass', 'regtype', 'regproc',
]);

export function isBuiltInType(type: TypeRef): boolean {
  return type.schema === null || type.schema === 'pg_catalog' ? KNOWN.has(type.name) : false;
}

function formatName(name: string): string {
  return FORMAT_NAMES[name] ?? name;
}

/** A binary-coercible built-in cast (varchar → text, cidr → inet, int4 → oid): null when a type is not built in. */
export function builtInBinaryCast(from: TypeRef, to: TypeRef): boolean | null {
  if (!isBuiltInType(from) || !isBuiltInType(to)) return null;
  return BINARY_CASTS.has(`${formatName(from.name)}>${formatName(to.name)}`);
}

/** Operator-class families that share a btree opclass: an index on the column survives a change within one. */
const SAME_OPCLASS: readonly (readonly string[])[] = [['text', 'varchar'], ['inet', 'cidr']];

function sameOpclass(a: string, b: string): boolean {
  return a === b || SAME_OPCLASS.some((family) => family.includes(a) && family.includes(b));
}

const TEMPORAL_MAX_PRECISION: Record<string, number> = { timestamp: 6, timestamptz: 6, time: 6, timetz: 6, interval: 6 };
/** interval's typmod carries the field range first: interval(3) is [INTERVAL_FULL_RANGE, 3]. */
const INTERVAL_FULL_RANGE = 32767;

function precisionOf(type: TypeRef): number | null {
  if (type.name === 'interval') {
    if (type.mods.length === 0) return null;
    if (type.mods[0] !== INTERVAL_FULL_RANGE) return Number.NaN; // a field range (DAY TO SECOND): not modelled
    return type.mods[1] ?? null;
  }
  return type.mods[0] ?? null;
}

/** Same base type, new typmod: does PostgreSQL's length-coercion support function make it a no-op? */
function typmodOnlyWidens(from: TypeRef, to: TypeRef): boolean {
  const a = from.mods;
  const b = to.mods;
  if (a.length === b.length && a.every((m, i) => m === b[i])) return true;
  switch (to.name) {
    case 'varchar':
    case 'varbit':
      // varchar_support / varbit_support: unconstrained, or at least as long.
      return b.length === 0 || (a.length > 0 && (a[0] as number) <= (b[0] as number));
    case 'numeric':
      // numeric_support: unconstrained, or the same scale and at least the precision.
      return b.length === 0 || (a.length > 0 && (a[1] ?? 0) === (b[1] ?? 0) && (a[0] as number) <= (b[0] as number));
    case 'timestamp':
    case 'timestamptz':
    case 'time':
    case 'timetz':
    case 'interval': {
      // TemporalSimplify: unconstrained, at least the old precision, or the maximum.
      const old = precisionOf(from);
      const next = precisionOf(to);
      if (Number.isNaN(old) || Number.isNaN(next)) return false;
      return next === null || (old !== null && old <= next) || next >= (TEMPORAL_MAX_PRECISION[to.name] as number);
    }
    default:
      return false;
  }
}

export type Knowable<T> = T | 'unknown';

export interface TypeChange {
  rewrite: Knowable<boolean>;
  /** Indexes on the column are rebuilt (a full build under the ALTER's ACCESS EXCLUSIVE lock). */
  indexRebuild: Knowable<boolean>;
  why: string;
}

export interface TypeChangeContext {
  /** The session TimeZone is UTC (timestamp ↔ timestamptz then keeps the table). */
  utc: Knowable<boolean>;
  /** USING is absent, the column itself, or the column cast to the new type. */
  plainUsing: boolean;
  /** The column is part of an index. */
  indexed: Knowable<boolean>;
  /** Whether `from` casts to `to` without a function, when a server was asked; else the built-in list decides. */
  binaryCast?: (from: TypeRef, to: TypeRef) => boolean | null;
  /** The new type is a domain with constraints (each row is checked): true rewrites. */
  domainWithConstraints?: Knowable<boolean>;
}

/** What ALTER COLUMN ... TYPE does, given the column's current type (null: unknown). */
export function typeChange(from: TypeRef | null, to: TypeRef, context: TypeChangeContext): TypeChange {
  if (!context.plainUsing) return { rewrite: true, indexRebuild: true, why: 'a USING expression other than the column itself rewrites every row' };
  if (from === null) return { rewrite: 'unknown', indexRebuild: 'unknown', why: `the column's current type is unknown (give a server, or the migration that created it), so the change to ${to.text} is assumed to rewrite` };
  if (context.domainWithConstraints === true) return { rewrite: true, indexRebuild: true, why: `${to.text} is a domain with constraints: every row is checked and rewritten` };
  const described = `${from.text} → ${to.text}`;
  if (from.array !== to.array) return { rewrite: true, indexRebuild: true, why: `${described} converts every value` };
  if (from.name === to.name && (from.schema ?? '') === (to.schema ?? '')) {
    const same = from.mods.length === to.mods.length && from.mods.every((m, i) => m === to.mods[i]);
    if (same) return { rewrite: false, indexRebuild: false, why: `${described}: the same type, nothing to change` };
    // An array's element typmod change goes through an array coercion PostgreSQL does not simplify.
    if (!from.array && typmodOnlyWidens(from, to)) return { rewrite: false, indexRebuild: false, why: `${described} only widens the type modifier: no rewrite` };
    return { rewrite: true, indexRebuild: true, why: `${described} narrows or changes the type modifier: every row is converted` };
  }
  if (!from.array && ((from.name === 'timestamp' && to.name === 'timestamptz') || (from.name === 'timestamptz' && to.name === 'timestamp'))) {
    const widens = to.mods.length === 0 || (from.mods.length > 0 && (from.mods[0] as number) <= (to.mods[0] as number));
    if (!widens) return { rewrite: true, indexRebuild: true, why: `${described} also narrows the precision` };
    if (context.utc === 'unknown') return { rewrite: 'unknown', indexRebuild: 'unknown', why: `${described} keeps the table only when the session TimeZone is UTC, which is unknown here (SET timezone = 'UTC' earlier, or give a server)` };
    if (!context.utc) return { rewrite: true, indexRebuild: true, why: `${described} rewrites every row: the session TimeZone is not UTC` };
    return { rewrite: false, indexRebuild: context.indexed, why: `${described} keeps the table under TimeZone UTC; indexes on the column are rebuilt (another operator class)` };
  }
  const binary = context.binaryCast?.(from, to) ?? builtInBinaryCast(from, to);
  if (binary === null) return { rewrite: 'unknown', indexRebuild: 'unknown', why: `whether ${described} needs a conversion is unknown without a server (${!isBuiltInType(from) ? from.text : to.text} is not a built-in type), so it is assumed to rewrite` };
  if (!binary || from.array) return { rewrite: true, indexRebuild: true, why: `${described} converts every value: the table is rewritten` };
  // Relabelled to the new type; a typmod on the new type is then enforced by a length
  // coercion, which is only a no-op when the source had one at most as long.
  if (to.mods.length > 0 && !typmodOnlyWidens({ ...from, name: to.name }, to)) return { rewrite: true, indexRebuild: true, why: `${described} checks the new length of every value: the table is rewritten` };
  if (from.name === 'bpchar' || to.name === 'bpchar') return { rewrite: true, indexRebuild: true, why: `${described} pads or trims every value: the table is rewritten` };
  const rebuild = sameOpclass(from.name, to.name) ? false : context.indexed;
  return { rewrite: false, indexRebuild: rebuild, why: `${described} is binary coercible: no rewrite${rebuild === false ? '' : '; indexes on the column are rebuilt (another operator class)'}` };
}

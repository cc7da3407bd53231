// What the analyzer knows about the tables a migration touches: columns and their types,
// NOT NULL, indexes, CHECK/foreign-key constraints and whether they are validated. It starts
// from the server's catalogs (check --migration with a connection) or from nothing (--offline),
// and every statement of the history and of the pending migrations updates it in order, so a
// column created or widened in an earlier file, or a CHECK validated earlier, is known later.
import type { TypeRef } from './types.js';

export interface ColumnInfo {
  name: string;
  /** null: unknown (a server column the catalog query did not describe). */
  type: TypeRef | null;
  notNull: boolean;
  /** Part of some index (the ALTER TYPE index rebuild). */
  indexed: boolean;
}

export interface ConstraintInfo {
  name: string;
  kind: 'check' | 'foreign-key' | 'primary-key' | 'unique' | 'exclusion' | 'not-null' | 'other';
  validated: boolean;
  /** For CHECK (col IS NOT NULL): the column it proves NOT NULL once validated. */
  notNullColumn?: string;
}

export interface IndexInfo {
  name: string;
  table: string;
  columns: string[];
  unique: boolean;
}

export interface TableInfo {
  /** Where the knowledge comes from: the server's catalogs, or a CREATE TABLE the migration or its history ran. */
  origin: 'server' | 'migration' | 'history';
  /** Every column is known (a CREATE TABLE or the catalogs); else only those the migration named. */
  complete: boolean;
  columns: Map<string, ColumnInfo>;
  constraints: Map<string, ConstraintInfo>;
}

/** Keys: the canonical names the analyzer uses (`"orders"`, `"billing"."invoices"`). */
export class Schema {
  readonly tables = new Map<string, TableInfo>();
  readonly indexes = new Map<string, IndexInfo>();
  /** Domains by name: true when they carry constraints (ALTER/ADD COLUMN of them checks every row). */
  readonly domains = new Map<string, boolean>();
  /** Volatility of functions the migration or the server defines: i, s or v. */
  readonly functions = new Map<string, 'i' | 's' | 'v'>();
  /** A server was read: tables absent from `tables` and not created by the migration do not exist. */
  readonly fromServer: boolean;
  /** The server's TimeZone for new sessions, when read. */
  readonly serverTimeZone: string | null;
  /** Binary-coercible cast between two types, asked of the server; null when not asked. */
  readonly binaryCast: ((from: TypeRef, to: TypeRef) => boolean | null) | null;

  constructor(options: { fromServer?: boolean; serverTimeZone?: string | null; binaryCast?: ((from: TypeRef, to: TypeRef) => boolean | null) | null } = {}) {
    this.fromServer = options.fromServer ?? false;
    this.serverTimeZone = options.serverTimeZone ?? null;
    this.binaryCast = options.binaryCast ?? null;
  }

  table(canonical: string): TableInfo | undefined {
    return this.tables.get(canonical);
  }

  column(table: string, column: string): ColumnInfo | undefined {
    return this.tables.get(table)?.columns.get(column);
  }

  /** A deep copy: the online judgement starts from the server's schema without changing it. */
  clone(): Schema {
    const copy = new Schema({ fromServer: this.fromServer, serverTimeZone: this.serverTimeZone, binaryCast: this.binaryCast });
    for (const [name, info] of this.tables) {
      copy.tables.set(name, {
        ...info,
        columns: new Map([...info.columns].map(([k, c]) => [k, { ...c }])),
        constraints: new Map([...info.constraints].map(([k, c]) => [k, { ...c }])),
      });
    }
    for (const [name, index] of this.indexes) copy.indexes.set(name, { ...index, columns: [...index.columns] });
    for (const [name, value] of this.domains) copy.domains.set(name, value);
    for (const [name, value] of this.functions) copy.functions.set(name, value);
    return copy;
  }

  /** The table's entry, created as "partly known" when the migration names a table nothing described. */
  ensure(canonical: string): TableInfo {
    let info = this.tables.get(canonical);
    if (!info) {
      info = { origin: 'server', complete: false, columns: new Map(), constraints: new Map() };
      this.tables.set(canonical, info);
    }
    return info;
  }

  createTable(canonical: string, origin: 'migration' | 'history'): TableInfo {
    const info: TableInfo = { origin, complete: true, columns: new Map(), constraints: new Map() };
    this.tables.set(canonical, info);
    return info;
  }

  dropTable(canonical: string): void {
    this.tables.delete(canonical);
    for (const [name, index] of this.indexes) if (index.table === canonical) this.indexes.delete(name);
  }

  renameTable(from: string, to: string): void {
    const info = this.tables.get(from);
    if (!info) return;
    this.tables.delete(from);
    this.tables.set(to, info);
    for (const index of this.indexes.values()) if (index.table === from) index.table = to;
  }

  addIndex(index: IndexInfo): void {
    this.indexes.set(index.name, index);
    const table = this.tables.get(index.table);
    if (!table) return;
    for (const column of index.columns) {
      const info = table.columns.get(column);
      if (info) info.indexed = true;
    }
  }

  /** Whether the column is in an index: known for complete tables, unknown otherwise. */
  indexed(table: string, column: string): boolean | 'unknown' {
    const info = this.tables.get(table);
    const col = info?.columns.get(column);
    if (col?.indexed) return true;
    if (info?.complete) return false;
    return 'unknown';
  }

  /** Valid CHECK (col IS NOT NULL) or NOT NULL: SET NOT NULL skips its scan. */
  provenNotNull(table: string, column: string): boolean {
    const info = this.tables.get(table);
    if (!info) return false;
    if (info.columns.get(column)?.notNull) return true;
    return [...info.constraints.values()].some((c) => c.validated && c.notNullColumn === column);
  }
}

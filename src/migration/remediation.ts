// The safe sequence for a dangerous statement as SQL you can run, with the statement's real
// table, column, index and constraint names (the parse tree is changed and printed back with
// pgsql-deparser), and the advice that is not SQL in a separate note. Where PostgreSQL has no
// online equivalent (CLUSTER, VACUUM FULL, SET TABLESPACE) there is advice and no SQL.
import { displayPart, fieldsOf, list, str, stringsOf, type Fields } from './ast.js';
import type { Danger, MigrationStatement } from './judge.js';
import { deparse } from './parse.js';
import type { Runner } from './runners.js';

export interface Remedy {
  sql?: string;
  note: string;
}

const BATCH = 10000;

function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function statementSql(node: Record<string, unknown>, type: string): string | undefined {
  const text = deparse({ [type]: node });
  return text === undefined ? undefined : `${text};`;
}

const ident = displayPart;

function tableName(relation: unknown): string | undefined {
  const rv = relation as Fields | undefined;
  const name = str(rv?.relname);
  if (name === undefined) return undefined;
  return rv && str(rv.schemaname) ? `${ident(str(rv.schemaname) as string)}.${ident(name)}` : ident(name);
}

/** The NOT NULL sequence that never scans under ACCESS EXCLUSIVE: CHECK NOT VALID, VALIDATE, SET NOT NULL, DROP CHECK. */
function notNullSequence(table: string, column: string): string {
  const base = table.replace(/^.*\./, '').replace(/"/g, '');
  const check = ident(`${base}_${column}_not_null`.slice(0, 63));
  const col = ident(column);
  return [
    `ALTER TABLE ${table} ADD CONSTRAINT ${check} CHECK (${col} IS NOT NULL) NOT VALID;`,
    `ALTER TABLE ${table} VALIDATE CONSTRAINT ${check};`,
    `ALTER TABLE ${table} ALTER COLUMN ${col} SET NOT NULL;`,
    `ALTER TABLE ${table} DROP CONSTRAINT ${check};`,
  ].join('\n');
}

function batched(table: string, set: string, pending: string): string {
  return `UPDATE ${table} SET ${set} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${pending} LIMIT ${BATCH}));`;
}

function alterCmds(statement: MigrationStatement): Fields[] {
  return list(statement.node.cmds)
    .map((c) => fieldsOf(c, 'AlterTableCmd'))
    .filter((c): c is Fields => c !== undefined);
}

function addColumnRewrite(statement: MigrationStatement, table: string): Remedy | undefined {
  const cmd = alterCmds(statement).find((c) => c.subtype === 'AT_AddColumn');
  const column = fieldsOf(cmd?.def, 'ColumnDef');
  if (!column) return undefined;
  const name = str(column.colname) ?? '';
  const constraints = list(column.constraints).map((c) => fieldsOf(c, 'Constraint') ?? {});
  const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr;
  const notNull = constraints.some((c) => c.contype === 'CONSTR_NOTNULL');
  const typeText = deparse({ TypeName: column.typeName });
  if (!typeText) return undefined;
  const serial = /^(small|big)?serial[248]?$/i.test(typeText.trim());
  const plainType = serial ? (/^bigserial|serial8$/i.test(typeText.trim()) ? 'bigint' : /^smallserial|serial2$/i.test(typeText.trim()) ? 'smallint' : 'integer') : typeText;
  const col = ident(name);
  const lines = [`ALTER TABLE ${table} ADD COLUMN ${col} ${plainType};`];
  let expression = defaultExpr !== undefined ? deparse(defaultExpr) : undefined;
  if (serial) {
    const sequence = ident(`${table.replace(/^.*\./, '').replace(/"/g, '')}_${name}_seq`.slice(0, 63));
    lines.push(`CREATE SEQUENCE ${sequence} OWNED BY ${table}.${col};`);
    expression = `nextval('${sequence.replace(/'/g, "''")}')`;
  }
  if (expression === undefined) return undefined;
  lines.push(`ALTER TABLE ${table} ALTER COLUMN ${col} SET DEFAULT ${expression};`);
  lines.push(`-- outside a transaction, repeat until it updates 0 rows:`, batched(table, `${col} = ${expression}`, `${col} IS NULL`));
  if (notNull || serial) lines.push(notNullSequence(table, name));
  return { sql: lines.join('\n'), note: `adds ${name} without rewriting ${table}: the default applies to new rows at once, the old rows are filled in batches of ${BATCH} (each its own short transaction), then NOT NULL is proven without a long lock` };
}

function alterType(statement: MigrationStatement, table: string): Remedy | undefined {
  const cmd = alterCmds(statement).find((c) => c.subtype === 'AT_AlterColumnType');
  const def = fieldsOf(cmd?.def, 'ColumnDef');
  const name = str(cmd?.name);
  if (!def || name === undefined) return undefined;
  const typeText = deparse({ TypeName: def.typeName });
  if (!typeText) return undefined;
  const col = ident(name);
  const next = ident(`${name}_new`.slice(0, 63));
  const base = table.replace(/^.*\./, '').replace(/"/g, '');
  const fn = ident(`${base}_${name}_sync`.slice(0, 63));
  const using = def.raw_default !== undefined ? deparse(def.raw_default) : undefined;
  const value = using ?? `${col}::${typeText}`;
  const trigger = using
    ? `NEW.${next} := (SELECT ${using} FROM (SELECT NEW.*) AS ${ident(base)});`
    : `NEW.${next} := NEW.${col}::${typeText};`;
  return {
    sql: [
      `ALTER TABLE ${table} ADD COLUMN ${next} ${typeText};`,
      `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${trigger} RETURN NEW; END $$;`,
      `CREATE TRIGGER ${fn} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${fn}();`,
      `-- outside a transaction, repeat until it updates 0 rows:`,
      batched(table, `${next} = ${value}`, `${next} IS DISTINCT FROM ${value}`),
      `-- then in one short transaction:`,
      `BEGIN;`,
      `SET LOCAL lock_timeout = '5s';`,
      `ALTER TABLE ${table} DROP COLUMN ${col};`,
      `ALTER TABLE ${table} RENAME COLUMN ${next} TO ${col};`,
      `DROP TRIGGER ${fn} ON ${table};`,
      `DROP FUNCTION ${fn}();`,
      `COMMIT;`,
    ].join('\n'),
    note: `a new ${typeText} column kept in sync by a trigger, backfilled in batches, then swapped in: the rewrite never holds ACCESS EXCLUSIVE. Recreate the indexes, constraints, defaults and views that use ${name} on the new column before the swap (CREATE INDEX CONCURRENTLY)`,
  };
}

/** ADD CHECK / FOREIGN KEY → the same constraint NOT VALID, then VALIDATE in its own transaction. */
function notValidThenValidate(statement: MigrationStatement, table: string): Remedy | undefined {
  const node = clone(statement.node);
  const names: string[] = [];
  let counter = 0;
  for (const item of list(node.cmds)) {
    const cmd = fieldsOf(item, 'AlterTableCmd');
    const constraint = fieldsOf(cmd?.def, 'Constraint');
    if (!cmd || !constraint || (constraint.contype !== 'CONSTR_CHECK' && constraint.contype !== 'CONSTR_FOREIGN')) continue;
    if (constraint.skip_validation === true) continue;
    if (str(constraint.conname) === undefined) {
      counter += 1;
      const base = table.replace(/^.*\./, '').replace(/"/g, '');
      constraint.conname = `${base}_${constraint.contype === 'CONSTR_CHECK' ? 'check' : 'fkey'}${counter > 1 ? counter : ''}`.slice(0, 63);
    }
    constraint.skip_validation = true;
    constraint.initially_valid = false;
    names.push(str(constraint.conname) as string);
  }
  const add = statementSql(node, 'AlterTableStmt');
  if (!add || names.length === 0) return undefined;
  return {
    sql: [add, ...names.map((n) => `ALTER TABLE ${table} VALIDATE CONSTRAINT ${ident(n)};`)].join('\n'),
    note: 'NOT VALID checks only new rows (a brief lock); VALIDATE then reads the old rows under SHARE UPDATE EXCLUSIVE, which lets reads and writes continue. Run the VALIDATE in its own transaction',
  };
}

function concurrently(statement: MigrationStatement, runner: Runner | null): Remedy | undefined {
  const node = clone(statement.node);
  if (statement.nodeType === 'IndexStmt' || (statement.nodeType === 'DropStmt' && node.removeType === 'OBJECT_INDEX')) node.concurrent = true;
  else if (statement.nodeType === 'ReindexStmt') node.params = [...list(node.params).filter((p) => fieldsOf(p, 'DefElem')?.defname !== 'concurrently'), { DefElem: { defname: 'concurrently', defaction: 'DEFELEM_UNSPEC' } }];
  else if (statement.nodeType === 'RefreshMatViewStmt') node.concurrent = true;
  else if (statement.nodeType === 'AlterTableStmt') {
    for (const item of list(node.cmds)) {
      const partition = fieldsOf(fieldsOf(item, 'AlterTableCmd')?.def, 'PartitionCmd');
      if (partition) partition.concurrent = true;
    }
  } else return undefined;
  const sql = statementSql(node, statement.nodeType);
  if (!sql) return undefined;
  return { sql, note: `outside a transaction block${runner ? `: ${runner.outsideTransaction}` : ''}` };
}

function indexConstraint(statement: MigrationStatement, table: string): Remedy | undefined {
  const cmd = alterCmds(statement).find((c) => fieldsOf(c.def, 'Constraint'));
  const constraint = fieldsOf(cmd?.def, 'Constraint');
  if (!constraint || (constraint.contype !== 'CONSTR_UNIQUE' && constraint.contype !== 'CONSTR_PRIMARY')) return undefined;
  const keys = stringsOf(constraint.keys);
  if (keys.length === 0) return undefined;
  const base = table.replace(/^.*\./, '').replace(/"/g, '');
  const name = str(constraint.conname) ?? `${base}_${keys.join('_')}_${constraint.contype === 'CONSTR_PRIMARY' ? 'pkey' : 'key'}`.slice(0, 63);
  const index = ident(`${name}_idx`.slice(0, 63));
  const kind = constraint.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE';
  return {
    sql: [
      `CREATE UNIQUE INDEX CONCURRENTLY ${index} ON ${table} (${keys.map(ident).join(', ')});`,
      ...(constraint.contype === 'CONSTR_PRIMARY' ? keys.map((k) => notNullSequence(table, k)) : []),
      `ALTER TABLE ${table} ADD CONSTRAINT ${ident(name)} ${kind} USING INDEX ${index};`,
    ].join('\n'),
    note: 'the index is built without blocking writes (outside a transaction block); attaching it as the constraint is a brief lock',
  };
}

function backfill(statement: MigrationStatement, table: string): Remedy | undefined {
  if (statement.nodeType === 'UpdateStmt') {
    const sets = list(statement.node.targetList)
      .map((t) => fieldsOf(t, 'ResTarget'))
      .filter((t): t is Fields => t !== undefined);
    const where = statement.node.whereClause !== undefined ? deparse(statement.node.whereClause) : undefined;
    const assignments = sets.map((t) => ({ column: str(t.name) ?? '', value: deparse(t.val) }));
    if (statement.node.fromClause !== undefined || assignments.some((a) => a.value === undefined || a.column === '')) return undefined;
    const pending = [where ? `(${where})` : null, `(${assignments.map((a) => `${ident(a.column)} IS DISTINCT FROM ${a.value}`).join(' OR ')})`].filter(Boolean).join(' AND ');
    return {
      sql: [`-- after the COMMIT of the statement that took the lock, outside a transaction, repeat until it updates 0 rows:`, batched(table, assignments.map((a) => `${ident(a.column)} = ${a.value}`).join(', '), pending)].join('\n'),
      note: `a backfill in batches of ${BATCH}, each its own short transaction, after the DDL has committed`,
    };
  }
  if (statement.nodeType === 'DeleteStmt' && statement.node.usingClause === undefined) {
    const where = statement.node.whereClause !== undefined ? deparse(statement.node.whereClause) : 'true';
    return {
      sql: [`-- after the COMMIT of the statement that took the lock, outside a transaction, repeat until it deletes 0 rows:`, `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT ${BATCH}));`].join('\n'),
      note: `deletes in batches of ${BATCH}, each its own short transaction`,
    };
  }
  return undefined;
}

function createPartition(statement: MigrationStatement): Remedy | undefined {
  const table = tableName(statement.node.relation);
  const parent = tableName(list(statement.node.inhRelations)[0]);
  const bound = /\b(FOR\s+VALUES\b[\s\S]*|DEFAULT)\s*;?\s*$/i.exec(statement.sql)?.[1];
  if (!table || !parent || !bound) return undefined;
  return {
    sql: [`CREATE TABLE ${table} (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);`, `ALTER TABLE ${parent} ATTACH PARTITION ${table} ${bound.trim()};`].join('\n'),
    note: 'ATTACH PARTITION takes SHARE UPDATE EXCLUSIVE on the parent where PARTITION OF takes ACCESS EXCLUSIVE',
  };
}

/** SQL and advice for one danger of one statement. */
export function remedyFor(danger: Danger, statement: MigrationStatement, runner: Runner | null): Remedy | undefined {
  const table = tableName(statement.node.relation) ?? '';
  const advice = danger.safe ? { note: danger.safe } : undefined;
  switch (danger.kind) {
    case 'lock-timeout-missing':
      return { sql: "SET lock_timeout = '5s';", note: 'at the top of the migration (or SET LOCAL inside its transaction); retry the migration when it times out' };
    case 'concurrently-in-transaction':
      return { sql: `${statement.sql.trim().replace(/;?\s*$/, ';')}`, note: danger.safe ?? 'run it outside a transaction block' };
    case 'fails-on-existing-rows': {
      const cmd = alterCmds(statement).find((c) => c.subtype === 'AT_AddColumn');
      const column = fieldsOf(cmd?.def, 'ColumnDef');
      const name = str(column?.colname);
      const type = column ? deparse({ TypeName: column.typeName }) : undefined;
      if (!name || !type || !table) return advice;
      return { sql: [`ALTER TABLE ${table} ADD COLUMN ${ident(name)} ${type};`, `-- backfill ${name} for the existing rows, then:`, notNullSequence(table, name)].join('\n'), note: 'add it nullable, backfill, then prove NOT NULL without a long lock' };
    }
    case 'avoidable-strong-lock':
      if (statement.nodeType === 'CreateStmt') return createPartition(statement) ?? advice;
      return concurrently(statement, runner) ?? advice;
    case 'unknown-statement':
      return undefined;
    case 'rewrite':
    case 'scan-under-lock': {
      const rule = danger.rule ?? null;
      const remedy = (() => {
        switch (rule) {
          case 'add-column-rewrite':
            return addColumnRewrite(statement, table);
          case 'alter-column-type':
          case 'alter-column-type-index-rebuild':
            return alterType(statement, table);
          case 'set-not-null': {
            const columns = alterCmds(statement).filter((c) => c.subtype === 'AT_SetNotNull').map((c) => str(c.name) ?? '');
            return columns.length > 0 && table ? { sql: columns.map((c) => notNullSequence(table, c)).join('\n'), note: 'the CHECK is validated under SHARE UPDATE EXCLUSIVE (reads and writes continue); SET NOT NULL then uses it and skips its scan. Run each statement in its own transaction' } : undefined;
          }
          case 'add-primary-key-using-index-nullable': {
            const cmd = alterCmds(statement).find((c) => fieldsOf(c.def, 'Constraint'));
            const indexName = str(fieldsOf(cmd?.def, 'Constraint')?.indexname);
            return { sql: [`-- for each column of ${indexName ?? 'the index'} that is not NOT NULL yet, e.g.:`, `-- ${notNullSequence(table, 'id').split('\n').join('\n-- ')}`, statement.sql.trim().replace(/;?\s*$/, ';')].join('\n'), note: 'prove the columns NOT NULL first; the PRIMARY KEY USING INDEX then skips its scan' };
          }
          case 'add-check':
          case 'add-foreign-key':
            return notValidThenValidate(statement, table);
          case 'add-index-constraint':
            return indexConstraint(statement, table);
          case 'create-index':
          case 'reindex':
          case 'reindex-index':
          case 'refresh-materialized-view':
            return concurrently(statement, runner);
          case 'vacuum-full':
            return { sql: `VACUUM (ANALYZE) ${table || list(statement.node.rels).map((r) => tableName(fieldsOf(r, 'VacuumRelation')?.relation)).join(', ')};`, note: 'plain VACUUM takes SHARE UPDATE EXCLUSIVE; to give space back to the operating system without a long lock, use pg_repack' };
          default:
            return undefined;
        }
      })();
      if (remedy) return remedy;
      if (rule === null) return backfill(statement, table) ?? advice;
      return advice;
    }
  }
}

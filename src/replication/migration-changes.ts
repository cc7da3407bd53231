// What a migration statement changes that logical replication cares about. PostgreSQL
// does not replicate DDL: columns are matched by name, values travel as text and are
// converted with the subscriber's column type, and UPDATE/DELETE find their row by the
// replica identity (https://www.postgresql.org/docs/current/logical-replication-restrictions.html).
//
// This reads only the statement-level data of the migration analysis (the lock-table
// kinds, the relations, the statement's text), so it survives changes to the analyser.
// Where a kind lumps several subcommands together (ALTER TABLE metadata holds REPLICA
// IDENTITY as well as OWNER TO; an index constraint is a PRIMARY KEY or a UNIQUE), the
// statement's tokens decide, with comments, literals and quoted identifiers taken apart.
import type { LockedRelation, MigrationStatement } from '../migration/index.js';

export type ReplicationChangeKind =
  | 'add-column'
  | 'drop-column'
  | 'drop-not-null'
  | 'set-not-null'
  | 'alter-column-type'
  | 'add-constraint'
  | 'primary-key'
  | 'replica-identity'
  | 'drop-constraint'
  | 'rename'
  | 'drop-table';

export interface ReplicationChange {
  kind: ReplicationChangeKind;
  /** The table it changes, as the analyser named it. */
  table: LockedRelation;
  statement: MigrationStatement;
  /** REPLICA IDENTITY DEFAULT | FULL | NOTHING | USING INDEX, for `replica-identity`. */
  replicaIdentity?: 'default' | 'full' | 'nothing' | 'index';
  /** The constraint a `drop-constraint` drops, as PostgreSQL stores its name. */
  constraint?: string;
}

interface Token {
  /** Lower-cased keyword or unquoted identifier; a quoted identifier keeps its case. */
  text: string;
  quoted: boolean;
}

/** Splits SQL into words, skipping comments, string literals and dollar-quoted bodies. */
export function tokensOf(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (sql.startsWith('--', i)) {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end + 1;
    } else if (sql.startsWith('/*', i)) {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth += 1;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth -= 1;
          i += 2;
        } else i += 1;
      }
    } else if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
      const escapes = c !== "'";
      i += escapes ? 2 : 1;
      while (i < sql.length) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") {
          i += 1;
          break;
        } else i += 1;
      }
    } else if (c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i))) {
      const tag = (/^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i)) as RegExpExecArray)[0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? sql.length : end + tag.length;
    } else if (c === '"') {
      let text = '';
      i += 1;
      while (i < sql.length) {
        if (sql[i] === '"' && sql[i + 1] === '"') {
          text += '"';
          i += 2;
        } else if (sql[i] === '"') {
          i += 1;
          break;
        } else {
          text += sql[i];
          i += 1;
        }
      }
      tokens.push({ text, quoted: true });
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i)) as RegExpExecArray;
      tokens.push({ text: match[0].toLowerCase(), quoted: false });
      i += match[0].length;
    } else {
      tokens.push({ text: c, quoted: false });
      i += 1;
    }
  }
  return tokens;
}

const isWord = (token: Token | undefined, word: string): boolean => token !== undefined && !token.quoted && token.text === word;

/** Index of the first place where the keywords follow each other, or -1. */
function find(tokens: readonly Token[], ...words: string[]): number {
  for (let i = 0; i + words.length <= tokens.length; i += 1) {
    if (words.every((w, k) => isWord(tokens[i + k], w))) return i;
  }
  return -1;
}

function replicaIdentityOf(tokens: readonly Token[]): ReplicationChange['replicaIdentity'] | undefined {
  const at = find(tokens, 'replica', 'identity');
  if (at < 0) return undefined;
  const next = tokens[at + 2];
  if (isWord(next, 'full')) return 'full';
  if (isWord(next, 'nothing')) return 'nothing';
  if (isWord(next, 'using')) return 'index';
  return 'default';
}

function droppedConstraintOf(tokens: readonly Token[]): string | undefined {
  const at = find(tokens, 'drop', 'constraint');
  if (at < 0) return undefined;
  const name = isWord(tokens[at + 2], 'if') && isWord(tokens[at + 3], 'exists') ? tokens[at + 4] : tokens[at + 2];
  return name?.text;
}

const SIMPLE: Partial<Record<string, ReplicationChangeKind>> = {
  'add-column': 'add-column',
  'add-column-rewrite': 'add-column',
  'drop-column': 'drop-column',
  'drop-not-null': 'drop-not-null',
  'set-not-null': 'set-not-null',
  'set-not-null-proven': 'set-not-null',
  'alter-column-type': 'alter-column-type',
  'add-check': 'add-constraint',
  'add-check-not-valid': 'add-constraint',
  'drop-table': 'drop-table',
};

/** The replication-relevant changes of one statement, one per (kind, table). */
export function replicationChanges(statement: MigrationStatement): ReplicationChange[] {
  const tables = statement.relations.filter((r) => r.role === 'table' && !statement.newRelations.includes(r.canonical));
  if (tables.length === 0) return [];
  const kinds = new Set<ReplicationChangeKind>();
  let tokens: Token[] | undefined;
  const words = (): Token[] => (tokens ??= tokensOf(statement.sql));
  let replicaIdentity: ReplicationChange['replicaIdentity'];
  let constraint: string | undefined;
  for (const kind of statement.kinds) {
    const simple = SIMPLE[kind];
    if (simple) kinds.add(simple);
    else if (kind === 'add-index-constraint' || kind === 'add-constraint-using-index') {
      kinds.add(find(words(), 'primary', 'key') >= 0 ? 'primary-key' : 'add-constraint');
    } else if (kind === 'create-index' || kind === 'create-index-concurrently') {
      if (find(words(), 'create', 'unique', 'index') >= 0) kinds.add('add-constraint');
    } else if (kind === 'alter-table-metadata') {
      replicaIdentity = replicaIdentityOf(words());
      if (replicaIdentity) kinds.add('replica-identity');
    } else if (kind === 'drop-constraint') {
      constraint = droppedConstraintOf(words());
      kinds.add('drop-constraint');
    } else if (kind === 'rename') {
      // RENAME CONSTRAINT changes nothing the subscriber matches on.
      if (find(words(), 'rename', 'constraint') < 0) kinds.add('rename');
    }
  }
  const out: ReplicationChange[] = [];
  for (const kind of kinds) {
    for (const table of tables) {
      out.push({
        kind,
        table,
        statement,
        ...(kind === 'replica-identity' && replicaIdentity ? { replicaIdentity } : {}),
        ...(kind === 'drop-constraint' && constraint !== undefined ? { constraint } : {}),
      });
    }
  }
  return out;
}

// The statements to run, in order, each with its exact text. The loading and splitting is
// src/migration/'s (the same files, order, text and file:line positions as `check --migration`).
import type { MigrationStatement } from '../migration/index.js';

/** What the trace must know about a transaction-control statement to follow the transaction state. */
export type TransactionControl = 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback-to' | 'prepare' | 'other';

export interface TraceStep {
  file: string;
  line: number;
  column: number;
  /** Its position among its file's statements (0-based). */
  index: number;
  excerpt: string;
  /** The statement's SQL, as PostgreSQL will receive it. */
  sql: string;
  /** The parse node's type (AlterTableStmt, ...). */
  nodeType: string;
  /** For TransactionStmt: what it does to the transaction. */
  control: TransactionControl | null;
  /** COPY ... FROM STDIN: its rows follow in the file for psql, which the trace does not send. */
  copyFromStdin: boolean;
  /** The static analysis of the same statement. */
  analysis: MigrationStatement;
}

type Fields = Record<string, unknown>;

let parseSync: ((sql: string) => unknown) | undefined;

async function loadLibrary(): Promise<(sql: string) => unknown> {
  if (!parseSync) {
    const lib = await import('libpg-query');
    await lib.loadModule();
    parseSync = lib.parseSync;
  }
  return parseSync;
}

const CONTROL: Record<string, TransactionControl> = {
  TRANS_STMT_BEGIN: 'begin',
  TRANS_STMT_START: 'begin',
  TRANS_STMT_COMMIT: 'commit',
  TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_SAVEPOINT: 'savepoint',
  TRANS_STMT_RELEASE: 'release',
  TRANS_STMT_ROLLBACK_TO: 'rollback-to',
  TRANS_STMT_PREPARE: 'prepare',
};

/** The statement's parse node, read again from its own text (the analysis keeps only its type). */
function nodeOf(parse: (sql: string) => unknown, sql: string): [string, Fields] | null {
  try {
    const parsed = parse(sql) as { stmts?: { stmt?: Record<string, Fields> }[] };
    const entry = parsed.stmts?.[0]?.stmt ? Object.entries(parsed.stmts[0].stmt)[0] : undefined;
    return entry ? [entry[0], entry[1]] : null;
  } catch {
    return null;
  }
}

/** The steps of the analyzed statements, in order, each with its position among its file's statements (the analysis' index, the overlay's key). */
export async function traceSteps(statements: readonly MigrationStatement[]): Promise<TraceStep[]> {
  const parse = await loadLibrary();
  return statements.map((statement) => {
    const node = nodeOf(parse, statement.sql);
    const nodeType = node?.[0] ?? statement.nodeType;
    const fields = node?.[1] ?? {};
    return {
      file: statement.file,
      line: statement.line,
      column: statement.column,
      index: statement.index,
      excerpt: statement.excerpt,
      sql: statement.sql,
      nodeType,
      control: nodeType === 'TransactionStmt' ? (CONTROL[String(fields.kind)] ?? 'other') : null,
      copyFromStdin: nodeType === 'CopyStmt' && fields.is_from === true && fields.filename === undefined && fields.query === undefined,
      analysis: statement,
    };
  });
}

// The statements to run, in order, each with its exact text. The loading and splitting is
// src/migration/'s (the same files, order and file:line positions as `check --migration`);
// this module only cuts each statement's text out of its file, from its first token up to
// its end as PostgreSQL's parser (libpg-query) sees it.
import type { MigrationSource, MigrationStatement } from '../migration/index.js';

/** What the trace must know about a transaction-control statement to follow the transaction state. */
export type TransactionControl = 'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollback-to' | 'prepare' | 'other';

export interface TraceStep {
  file: string;
  line: number;
  column: number;
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
interface ParsedStatement {
  stmt?: Record<string, Fields>;
  stmt_location?: number;
  stmt_len?: number;
}

interface Parser {
  parseSync(sql: string): unknown;
  scanSync(sql: string): { tokens?: { start: number; end: number; text: string }[] };
}

let parser: Parser | undefined;

async function loadLibrary(): Promise<Parser> {
  if (!parser) {
    const lib = await import('libpg-query');
    await lib.loadModule();
    parser = { parseSync: lib.parseSync, scanSync: lib.scanSync };
  }
  return parser;
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

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** The statement at the start of `slice`: exact when the parser accepts the slice, else up to the first top-level `;`. */
function firstStatement(lib: Parser, slice: string): { sql: string; node: [string, Fields] | null } {
  const trimmed = slice.trimEnd();
  try {
    const parsed = lib.parseSync(trimmed) as { stmts?: ParsedStatement[] };
    const first = parsed.stmts?.[0];
    const entry = first?.stmt ? Object.entries(first.stmt)[0] : undefined;
    const bytes = Buffer.from(trimmed, 'utf8');
    const length = first?.stmt_len !== undefined && first.stmt_len > 0 ? first.stmt_len : bytes.length - (first?.stmt_location ?? 0);
    const sql = bytes.subarray(first?.stmt_location ?? 0, (first?.stmt_location ?? 0) + length).toString('utf8');
    return { sql: sql.replace(/;\s*$/, ''), node: entry ? [entry[0], entry[1]] : null };
  } catch {
    // What follows the statement is not SQL (COPY data, a psql meta-command): cut at its `;`.
    try {
      const semicolon = lib.scanSync(trimmed).tokens?.find((t) => t.text === ';');
      if (semicolon) {
        const sql = Buffer.from(trimmed, 'utf8').subarray(0, semicolon.start).toString('utf8');
        const parsed = lib.parseSync(sql) as { stmts?: ParsedStatement[] };
        const entry = parsed.stmts?.[0]?.stmt ? Object.entries(parsed.stmts[0].stmt)[0] : undefined;
        return { sql, node: entry ? [entry[0], entry[1]] : null };
      }
    } catch {
      // fall through: the text as it stands; PostgreSQL will say what is wrong with it
    }
    return { sql: trimmed, node: null };
  }
}

/** The steps of every source, in order; `statements` is the analysis of exactly these sources. */
export async function traceSteps(sources: readonly MigrationSource[], statements: readonly MigrationStatement[]): Promise<TraceStep[]> {
  const lib = await loadLibrary();
  const steps: TraceStep[] = [];
  for (const source of sources) {
    const text = source.text;
    const starts = lineStarts(text);
    const mine = statements.filter((s) => s.file === source.file);
    const offsets = mine.map((s) => Math.min(text.length, (starts[s.line - 1] ?? text.length) + s.column - 1));
    mine.forEach((statement, i) => {
      const start = offsets[i] as number;
      const end = offsets[i + 1] ?? text.length;
      const { sql, node } = firstStatement(lib, text.slice(start, end).replace(/^\uFEFF/, ''));
      const nodeType = node?.[0] ?? statement.nodeType;
      const fields = node?.[1] ?? {};
      steps.push({
        file: statement.file,
        line: statement.line,
        column: statement.column,
        excerpt: statement.excerpt,
        sql,
        nodeType,
        control: nodeType === 'TransactionStmt' ? (CONTROL[String(fields.kind)] ?? 'other') : null,
        copyFromStdin: nodeType === 'CopyStmt' && fields.is_from === true && fields.filename === undefined && fields.query === undefined,
        analysis: statement,
      });
    });
  }
  return steps;
}

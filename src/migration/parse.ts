// From a migration file's text to parsed statements with positions. What PostgreSQL's parser
// does not read is blanked out first (same characters, newlines kept, so every line and
// column stays where the user sees it) and reported: a UTF-8 byte order mark, psql
// meta-commands (\set, \echo, \connect ...), the data lines of COPY ... FROM stdin, and the
// down sections of dbmate, goose and node-pg-migrate files. \i and \ir are followed.
// Positions are computed in one pass over the file (the parser reports byte offsets).
import { PreflightError } from '../core/errors.js';

export interface MigrationSource {
  /** A path as given, or `<stdin>`. */
  file: string;
  text: string;
}

export interface ParsedStatement {
  file: string;
  line: number;
  column: number;
  endLine: number;
  /** The statement's text as written (comments before it skipped). */
  sql: string;
  nodeType: string;
  node: Record<string, unknown>;
  /** psql's \gexec ran this query's result rows as SQL: what they do is unknown. */
  gexec: boolean;
}

export interface Skipped {
  file: string;
  line: number;
  what: string;
}

export interface PreparedText {
  text: string;
  skipped: Skipped[];
  /** psql \i / \ir at this character index of the text. */
  includes: { at: number; path: string; relative: boolean; line: number }[];
  /** Character indexes where a \gexec ended the query before them. */
  gexecAt: number[];
  /** Markers a migration tool reads from the file (see runners.ts). */
  markers: string[];
}

type ParseSync = (sql: string) => unknown;
let parserReady: Promise<{ sql: ParseSync; plpgsql: ParseSync }> | undefined;
let parseSync: ParseSync | undefined;
let parsePlpgsqlSync: ParseSync | undefined;

/**
 * Loads the WASM parser once. It is imported here, not at the top, so that a gate without
 * --migration (and the migration-risk check's module) never pays for loading it.
 */
export async function loadParser(): Promise<void> {
  parserReady ??= import('libpg-query').then(async (lib) => {
    await lib.loadModule();
    return { sql: lib.parseSync, plpgsql: lib.parsePlPgSQLSync as ParseSync };
  });
  const parsers = await parserReady;
  parseSync = parsers.sql;
  parsePlpgsqlSync = parsers.plpgsql;
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

/** PL/pgSQL's own parser (for DO blocks); throws before loadParser(). */
export function plpgsqlParserLoaded(): ParseSync {
  if (!parsePlpgsqlSync) throw new Error('the PL/pgSQL parser is used before loadParser()');
  return parsePlpgsqlSync;
}

type DeparseSync = (node: unknown, options?: { pretty?: boolean }) => string;
let deparserReady: Promise<DeparseSync> | undefined;
let deparseSync: DeparseSync | undefined;

/** Loads pgsql-deparser (for the remediation SQL) once, like the parser. */
export async function loadDeparser(): Promise<void> {
  deparserReady ??= import('pgsql-deparser').then((lib) => lib.deparseSync as DeparseSync);
  deparseSync = await deparserReady;
}

/** SQL text of a parse-tree node; undefined when the deparser is not loaded or cannot print it. */
export function deparse(node: unknown): string | undefined {
  if (!deparseSync) return undefined;
  try {
    return deparseSync(node, { pretty: false });
  } catch {
    return undefined;
  }
}

export function parserLoaded(): ParseSync {
  if (!parseSync) throw new Error('the SQL parser is used before loadParser()');
  return parseSync;
}

/** Line starts (character indexes), for line/column lookups in O(log n). */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  at(charIndex: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= charIndex) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: charIndex - (this.starts[lo] as number) + 1 };
  }
}

/** Converts the parser's ascending UTF-8 byte offsets to character indexes, in one pass over the text. */
class ByteToChar {
  private byte = 0;
  private char = 0;
  private readonly ascii: boolean;

  constructor(private readonly text: string) {
    this.ascii = !/[^\x00-\x7f]/.test(text);
  }

  at(byteOffset: number): number {
    if (this.ascii) return Math.min(byteOffset, this.text.length);
    if (byteOffset < this.byte) {
      this.byte = 0;
      this.char = 0;
    }
    while (this.byte < byteOffset && this.char < this.text.length) {
      const code = this.text.codePointAt(this.char) as number;
      this.byte += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
      this.char += code >= 0x10000 ? 2 : 1;
    }
    return this.char;
  }
}

const DOWN_MARKERS: readonly { down: RegExp; up: RegExp; tool: string }[] = [
  { down: /^--\s*migrate:down\b/i, up: /^--\s*migrate:up\b/i, tool: 'dbmate' },
  { down: /^--\s*\+goose\s+down\b/i, up: /^--\s*\+goose\s+up\b/i, tool: 'goose' },
  { down: /^--\s*down migration\b/i, up: /^--\s*up migration\b/i, tool: 'node-pg-migrate' },
];

const MARKER = /^--\s*(no-transaction|\+goose\s+no\s+transaction|migrate:up\s+transaction:false|\+goose\s+up|migrate:up|up migration)\b/i;

/** psql's meta-commands that end the query buffer and send it, like a semicolon. */
const SENDS_QUERY = /^\\(g|gx|gset|gexec|gdesc|crosstabview|watch)\b/;

function blank(chars: string[], from: number, to: number): void {
  for (let i = from; i < to; i++) if (chars[i] !== '\n' && chars[i] !== '\r') chars[i] = ' ';
}

/**
 * Blanks what the server's parser would not be given: lexes just enough SQL (quotes, dollar
 * quotes, comments) to tell a backslash at the start of a meta-command from one in a string.
 */
export function prepareText(file: string, original: string): PreparedText {
  const skipped: Skipped[] = [];
  const includes: PreparedText['includes'] = [];
  const gexecAt: number[] = [];
  const markers: string[] = [];
  const chars = [...original.replace(/^\uFEFF/, ' ')];
  // Work on UTF-16 indexes: rebuild from code units so positions match the string.
  const text = chars.join('');
  const units = text.split('');
  const lines = new LineIndex(text);
  if (original.startsWith('\uFEFF')) skipped.push({ file, line: 1, what: 'a UTF-8 byte order mark' });
  let i = 0;
  let statementStart = 0;
  let downFrom: { at: number; tool: string } | null = null;
  const n = units.length;
  const lineEnd = (from: number): number => {
    const end = text.indexOf('\n', from);
    return end === -1 ? n : end;
  };
  while (i < n) {
    const c = units[i] as string;
    const atLineStart = i === 0 || units[i - 1] === '\n';
    if (c === '-' && units[i + 1] === '-') {
      const end = lineEnd(i);
      const comment = text.slice(i, end);
      if (atLineStart || /^\s*$/.test(text.slice(text.lastIndexOf('\n', i - 1) + 1, i))) {
        const marker = MARKER.exec(comment);
        if (marker) markers.push((marker[1] as string).toLowerCase().replace(/\s+/g, ' '));
        for (const section of DOWN_MARKERS) {
          if (downFrom === null && section.down.test(comment)) downFrom = { at: i, tool: section.tool };
          else if (downFrom !== null && section.up.test(comment)) {
            blank(units, downFrom.at, i);
            skipped.push({ file, line: lines.at(downFrom.at).line, what: `the ${downFrom.tool} down section (lines ${lines.at(downFrom.at).line}-${lines.at(i).line - 1})` });
            downFrom = null;
          }
        }
      }
      i = end;
      continue;
    }
    if (c === '/' && units[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (units[i] === '/' && units[i + 1] === '*') {
          depth += 1;
          i += 2;
        } else if (units[i] === '*' && units[i + 1] === '/') {
          depth -= 1;
          i += 2;
        } else i += 1;
      }
      continue;
    }
    if (c === "'" || c === '"') {
      const escapes = c === "'" && (units[i - 1] === 'E' || units[i - 1] === 'e') && !/[A-Za-z0-9_]/.test(units[i - 2] ?? ' ');
      i += 1;
      while (i < n) {
        if (escapes && units[i] === '\\') i += 2;
        else if (units[i] === c && units[i + 1] === c) i += 2;
        else if (units[i] === c) break;
        else i += 1;
      }
      i += 1;
      continue;
    }
    if (c === '$' && !/[A-Za-z0-9_]/.test(units[i - 1] ?? ' ')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 66));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
        continue;
      }
    }
    if (c === ';') {
      const statement = text.slice(statementStart, i);
      i += 1;
      statementStart = i;
      if (/^\s*copy\b[\s\S]*\bfrom\s+stdin\b/i.test(statement.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, ' '))) {
        // The data follows on the next line, up to a line holding only \. (or the end of the file).
        const dataStart = lineEnd(i) + 1;
        const terminator = /^\\\.\r?$/m;
        const rest = text.slice(dataStart);
        const found = terminator.exec(rest);
        const dataEnd = found ? dataStart + found.index + found[0].length : n;
        if (dataStart < n) {
          blank(units, dataStart, dataEnd);
          skipped.push({ file, line: lines.at(dataStart).line, what: `the data lines of COPY ... FROM stdin (lines ${lines.at(dataStart).line}-${lines.at(Math.max(dataStart, dataEnd - 1)).line})` });
        }
        i = dataEnd;
        statementStart = i;
      }
      continue;
    }
    if (c === '\\') {
      const end = lineEnd(i);
      const command = text.slice(i, end).trim();
      const { line } = lines.at(i);
      const include = /^\\(i|ir|include|include_relative)\s+(?:'([^']*)'|(\S+))/.exec(command);
      if (SENDS_QUERY.test(command)) {
        if (/^\\gexec\b/.test(command)) gexecAt.push(i);
        blank(units, i, end);
        units[i] = ';';
        statementStart = i + 1;
        skipped.push({ file, line, what: `psql ${command.split(/\s/)[0]} (sends the query like a semicolon)` });
      } else if (include) {
        blank(units, i, end);
        includes.push({ at: i, path: (include[2] ?? include[3]) as string, relative: include[1] === 'ir' || include[1] === 'include_relative', line });
      } else {
        blank(units, i, end);
        skipped.push({ file, line, what: `psql meta-command ${command.length > 40 ? `${command.slice(0, 37)}...` : command}` });
      }
      i = end;
      continue;
    }
    i += 1;
  }
  if (downFrom !== null) {
    blank(units, downFrom.at, n);
    skipped.push({ file, line: lines.at(downFrom.at).line, what: `the ${downFrom.tool} down section (from line ${lines.at(downFrom.at).line})` });
  }
  return { text: units.join(''), skipped, includes, gexecAt, markers };
}

interface SqlErrorLike {
  message: string;
  sqlDetails?: { cursorPosition?: number };
}

type RawStatement = { stmt?: unknown; stmt_location?: number; stmt_len?: number };

function nodeOf(value: unknown): [string, Record<string, unknown>] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value as Record<string, unknown>);
  const first = entries[0];
  if (entries.length !== 1 || !first || first[1] === null || typeof first[1] !== 'object') return undefined;
  return [first[0], first[1] as Record<string, unknown>];
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

/** Parses prepared text into statements; a syntax error is a PreflightError with file:line:column. */
export function parseStatements(file: string, original: string, prepared: PreparedText): (ParsedStatement & { at: number })[] {
  const text = prepared.text;
  const parse = parserLoaded();
  let parsed: { stmts?: RawStatement[] };
  const lines = new LineIndex(text);
  // An empty file (or one with only comments or skipped lines) has no statement; the parser refuses an empty string.
  if (text.trim() === '') return [];
  try {
    parsed = parse(text) as typeof parsed;
  } catch (error) {
    const e = error as SqlErrorLike;
    const position = e.sqlDetails?.cursorPosition;
    // The error position counts characters (PostgreSQL's pg_mbstrlen), unlike the byte offsets of parse-tree locations.
    const where = typeof position === 'number' && position >= 0 ? lines.at(Array.from(text).slice(0, position).join('').length) : { line: 1, column: 1 };
    throw new PreflightError(`${file}:${where.line}:${where.column}: ${e.message}: fix the migration's SQL (it is read with PostgreSQL's own parser)`, { cause: error });
  }
  const bytes = new ByteToChar(text);
  const out: (ParsedStatement & { at: number })[] = [];
  let gexec = 0;
  for (const raw of parsed.stmts ?? []) {
    const node = nodeOf(raw.stmt);
    if (!node) continue;
    // stmt_location is omitted for 0 and stmt_len for "to the end" (protobuf defaults).
    const startByte = raw.stmt_location ?? 0;
    const startChar = skipTrivia(text, bytes.at(startByte));
    const endChar = raw.stmt_len !== undefined && raw.stmt_len > 0 ? bytes.at(startByte + raw.stmt_len) : text.length;
    const { line, column } = lines.at(startChar);
    const endLine = lines.at(Math.max(startChar, endChar - 1)).line;
    while (gexec < prepared.gexecAt.length && (prepared.gexecAt[gexec] as number) < startChar) gexec += 1;
    const endsInGexec = gexec < prepared.gexecAt.length && (prepared.gexecAt[gexec] as number) <= endChar + 1 && text.slice(endChar, prepared.gexecAt[gexec]).trim() === '';
    out.push({ file, line, column, endLine, sql: original.slice(startChar, endChar), nodeType: node[0], node: node[1], gexec: endsInGexec, at: startChar });
  }
  return out;
}

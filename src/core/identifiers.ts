// Parses the table names users pass to --table: `orders`, `billing.invoices`,
// `"Orders"`, `"my schema"."odd""name"`. Unquoted parts fold to lower case as
// PostgreSQL folds them (https://www.postgresql.org/docs/current/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS).
// The result is only ever sent as a query parameter.
import { PreflightError } from './errors.js';
import type { LockMode } from './lock-modes.js';
import type { TableRequest } from './types.js';

export interface QualifiedName {
  schema?: string;
  name: string;
}

const MAX_IDENTIFIER_BYTES = 63;

export function parseQualifiedName(input: string): QualifiedName | string {
  const text = input.trim();
  if (text === '') return 'a table name is empty';
  if (text.includes('\0')) return 'a table name contains a NUL byte';
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    let part = '';
    if (text[i] === '"') {
      i += 1;
      let closed = false;
      while (i < text.length) {
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          closed = true;
          i += 1;
          break;
        }
        part += text[i];
        i += 1;
      }
      if (!closed) return `unterminated quoted identifier in "${input}"`;
      if (part === '') return `empty quoted identifier in "${input}"`;
    } else {
      const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i));
      if (!match) return `"${input}" is not a table name: expected name or schema.name, quote names with capitals or spaces ("Orders")`;
      // Only A-Z fold: PostgreSQL leaves other letters alone in multibyte encodings such as UTF-8.
      part = match[0].replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
      i += match[0].length;
    }
    if (Buffer.byteLength(part, 'utf8') > MAX_IDENTIFIER_BYTES) return `"${part.slice(0, 20)}..." is longer than PostgreSQL's 63-byte identifier limit`;
    parts.push(part);
    if (i < text.length) {
      if (text[i] !== '.') return `"${input}" is not a table name: unexpected "${text[i]}"`;
      i += 1;
      if (i >= text.length) return `"${input}" ends with a dot`;
    }
  }
  if (parts.length > 2) return `"${input}" has too many dotted parts: use name or schema.name`;
  return parts.length === 2 ? { schema: parts[0] as string, name: parts[1] as string } : { name: parts[0] as string };
}

export function quoteIdentifier(part: string): string {
  return `"${part.replace(/"/g, '""')}"`;
}

/** The canonical quoted form, resolved by to_regclass($1) with the search path for unqualified names. */
export function canonicalName(name: QualifiedName): string {
  return name.schema === undefined ? quoteIdentifier(name.name) : `${quoteIdentifier(name.schema)}.${quoteIdentifier(name.name)}`;
}

/** --table values as table requests, each taking `lockMode`; a malformed name is a PreflightError. */
export function parseTables(inputs: readonly string[], lockMode: LockMode): TableRequest[] {
  return inputs.map((input) => {
    const parsed = parseQualifiedName(input);
    if (typeof parsed === 'string') throw new PreflightError(`--table: ${parsed}`);
    return { input, canonical: canonicalName(parsed), lockMode };
  });
}

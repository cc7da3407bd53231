// libpq keyword/value connection strings ("host=db port=5432 dbname=app"), parsed by
// libpq's own rules (conninfo_parse in fe-connect.c,
// https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-KEYWORD-VALUE):
// pairs separated by whitespace, spaces allowed around "=", a value either single-quoted
// or running to the next whitespace, and a backslash escaping the next character in both.
import { PreflightError } from './errors.js';

/** The keywords pgpreflight acts on. */
export const CONNINFO_KEYWORDS = ['host', 'port', 'dbname', 'user', 'password', 'passfile', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey'] as const;

/** Accepted and left alone: they change nothing about which server is looked at. */
const IGNORED_KEYWORDS = new Set(['application_name', 'fallback_application_name', 'connect_timeout', 'client_encoding']);

/** True when a --url / -d value is a keyword/value string, as libpq decides: it contains "=" and is not a URI. */
export function isConninfo(text: string): boolean {
  return text.includes('=') && !/^postgres(ql)?:\/\//i.test(text.trim());
}

/** True when a value is a connection URI. */
export function isConnectionUri(text: string): boolean {
  return /^postgres(ql)?:\/\//i.test(text.trim());
}

/**
 * Parses a keyword/value string into { keyword: value }. Errors name the keyword, never a
 * value (a value may be a password). `source` names where the string came from (--url).
 */
export function parseConninfo(text: string, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const space = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  while (i < text.length) {
    while (space(text[i])) i += 1;
    if (i >= text.length) break;
    let key = '';
    while (i < text.length && text[i] !== '=' && !space(text[i])) key += text[i++];
    while (space(text[i])) i += 1;
    if (text[i] !== '=') throw new PreflightError(`${source}: missing "=" after "${key}" in the connection string (keyword=value pairs separated by spaces, e.g. host=db port=5432 dbname=app)`);
    i += 1;
    while (space(text[i])) i += 1;
    let value = '';
    if (text[i] === "'") {
      i += 1;
      let closed = false;
      while (i < text.length) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          closed = true;
          i += 1;
          break;
        } else {
          value += c;
          i += 1;
        }
      }
      if (!closed) throw new PreflightError(`${source}: unterminated quoted value of "${key}" in the connection string`);
    } else {
      while (i < text.length && !space(text[i])) {
        if (text[i] === '\\' && i + 1 < text.length) i += 1;
        value += text[i];
        i += 1;
      }
    }
    if (IGNORED_KEYWORDS.has(key)) continue;
    if (!(CONNINFO_KEYWORDS as readonly string[]).includes(key)) {
      throw new PreflightError(`${source}: connection keyword "${key}" is not supported; pgpreflight understands ${CONNINFO_KEYWORDS.join(', ')}`);
    }
    out[key] = value;
  }
  return out;
}

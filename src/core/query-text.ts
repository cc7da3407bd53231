// Statement texts compared by shape: `activity` ranks statements by it (when query_id is not
// available) and the blocking tree's waiters group by it, so one UPDATE with a thousand
// different values is one line.

/**
 * A statement's text with its constants taken out, so that the same statement with other
 * values groups together when query_id is not available: comments dropped, string and
 * number literals become `?`, IN lists of them `IN (?, ...)`, whitespace collapsed.
 */
export function normalizeQuery(query: string): string {
  return query
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/--[^\n]*/g, ' ')
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/(?<![\w$.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])/gi, '?')
    .replace(/\bIN\s*\(\s*\?(?:\s*,\s*\?)+\s*\)/gi, 'IN (?, ...)')
    .replace(/\s+/g, ' ')
    .replace(/[\s;]+$/, '')
    .trim();
}

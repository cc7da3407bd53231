// Plain-text layout for terminals: wrapping at word boundaries (a token is never split:
// one longer than the line stands alone on its own line), hanging indents, and cutting a
// line to the screen's width without counting ANSI color codes.

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Width on screen: ANSI escapes count nothing, every other code point one column. */
export function visibleLength(text: string): number {
  let n = 0;
  for (const _ of text.replace(ANSI, '')) n += 1;
  return n;
}

/** Words of `text` on lines at most `width` wide (a longer word gets a line of its own, whole). */
export function wrapWords(text: string, width: number): string[] {
  const words = text.split(/\s+/).filter((w) => w !== '');
  const lines: string[] = [];
  let line = '';
  let length = 0;
  for (const word of words) {
    const size = visibleLength(word);
    if (line === '') {
      line = word;
      length = size;
    } else if (length + 1 + size <= width) {
      line += ` ${word}`;
      length += 1 + size;
    } else {
      lines.push(line);
      line = word;
      length = size;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * `lead` then `text` wrapped to `width`; continuation lines start with `indent` spaces
 * (by default the lead's width), so the text lines up in a column.
 */
export function hanging(lead: string, text: string, width: number, indent = visibleLength(lead)): string[] {
  const first = visibleLength(lead);
  const room = Math.max(10, width - Math.max(first, indent));
  const lines = wrapWords(text, room);
  return lines.map((line, i) => (i === 0 ? `${lead}${line}` : `${' '.repeat(indent)}${line}`));
}

/** A line cut to `width` columns with an ellipsis, ANSI codes kept (and reset when cut). */
export function cutLine(line: string, width: number): string {
  if (visibleLength(line) <= width) return line;
  let out = '';
  let n = 0;
  const codes: { index: number; code: string }[] = [...line.matchAll(ANSI)].map((m) => ({ index: m.index ?? 0, code: m[0] }));
  let codeAt = 0;
  for (let i = 0; i < line.length; ) {
    const code = codes[codeAt];
    if (code && code.index === i) {
      out += code.code;
      i += code.code.length;
      codeAt += 1;
      continue;
    }
    const cp = line.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    if (n + 1 >= width) break;
    out += ch;
    n += 1;
    i += ch.length;
  }
  return `${out}…${codes.length > 0 ? '\x1b[0m' : ''}`;
}

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

/** Edit distance with transpositions (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * The candidates close to `input` (case-insensitive), closest first, at most `max`: within
 * a third of its length in edits (at least one), or one that starts with it.
 */
export function suggestions(input: string, candidates: Iterable<string>, max = 3): string[] {
  const wanted = input.toLowerCase();
  const limit = Math.max(1, Math.floor(wanted.length / 3));
  const scored: { name: string; score: number }[] = [];
  for (const name of new Set(candidates)) {
    const lower = name.toLowerCase();
    if (lower === wanted) continue;
    const distance = editDistance(wanted, lower);
    if (distance <= limit) scored.push({ name, score: distance });
    else if (wanted.length >= 3 && lower.startsWith(wanted)) scored.push({ name, score: limit + 1 });
  }
  return scored.sort((a, b) => a.score - b.score || a.name.localeCompare(b.name)).slice(0, max).map((s) => s.name);
}

/** " (did you mean x?)" / " (did you mean x or y?)", or '' when nothing is close. */
export function didYouMean(input: string, candidates: Iterable<string>, show: (name: string) => string = (n) => n): string {
  const found = suggestions(input, candidates);
  if (found.length === 0) return '';
  const names = found.map(show);
  return ` (did you mean ${names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`}?)`;
}

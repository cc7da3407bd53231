// Splits the action's `args` input into arguments the way a POSIX shell splits the words of
// an array assignment, `words=( ... )`: blanks and newlines separate words (so a multi-line
// `args: |` keeps every line), '...' is literal, "..." honours \" \\ and \<newline>, a
// backslash outside quotes escapes the next character, \<newline> continues a line, and a
// `#` that starts a word comments out the rest of its line. Nothing is expanded: where a
// shell would do more than split (a variable, a command substitution, an operator), this
// refuses with a message instead of silently doing something else. test/action.test.ts
// compares it with bash on generated input.

export class ShellWordsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShellWordsError';
  }
}

const BLANK = new Set([' ', '\t', '\n', '\r']);
/** Unquoted, these would make a shell expand, substitute, redirect or end the command. */
const REFUSED = new Set(['$', '`', ';', '|', '&', '<', '>', '(', ')']);

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split('\n').length;
}

function refuse(text: string, index: number, what: string): never {
  throw new ShellWordsError(
    `${what} on line ${lineOf(text, index)}: the args input is split into words as a shell would, but nothing is expanded or run; quote it ('...') to pass it literally, or pass values through inputs`,
  );
}

export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const end = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (BLANK.has(c)) {
      end();
      i += 1;
    } else if (c === '#' && !inWord) {
      while (i < text.length && text[i] !== '\n') i += 1;
    } else if (c === '\\') {
      const next = text[i + 1];
      // A backslash before a newline (or at the very end) continues the line: both vanish.
      if (next !== undefined && next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else if (c === "'") {
      const close = text.indexOf("'", i + 1);
      if (close < 0) refuse(text, i, 'an unclosed single quote');
      word += text.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (c === '"') {
      inWord = true;
      i += 1;
      for (;;) {
        if (i >= text.length) refuse(text, text.lastIndexOf('"'), 'an unclosed double quote');
        const d = text[i] as string;
        if (d === '"') {
          i += 1;
          break;
        }
        if (d === '$' || d === '`') refuse(text, i, `"${d}" inside double quotes`);
        if (d === '\\') {
          const next = text[i + 1];
          if (next === '\n') {
            i += 2;
            continue;
          }
          if (next === '"' || next === '\\' || next === '$' || next === '`') {
            word += next;
            i += 2;
            continue;
          }
        }
        word += d;
        i += 1;
      }
    } else if (REFUSED.has(c)) {
      refuse(text, i, `an unquoted "${c}"`);
    } else {
      word += c;
      inWord = true;
      i += 1;
    }
  }
  end();
  return words;
}

// The live screen of `pgpreflight activity --watch`: a stacked chart of average active
// sessions by wait class, one column per second (newest on the right), a colour per class
// and, without colour (NO_COLOR), a glyph per class; the CPU count as a line across it; a
// legend; then the hypothesis, the top wait events and statements over the visible seconds.
// Every frame fits the terminal it is drawn for: at most `height` lines of at most `width`
// characters.
import pc from 'picocolors';
import { formatDuration } from '../core/units.js';
import { formatAas, formatShare, WAIT_CLASSES, type WaitClass } from './classes.js';
import type { ActivitySummary, Second } from './summary.js';
import { fit, statementText, wrap } from './view.js';

type Colors = ReturnType<typeof pc.createColors>;
type Paint = keyof Pick<Colors, 'green' | 'blue' | 'red' | 'magenta' | 'cyan' | 'yellow' | 'gray' | 'redBright' | 'whiteBright' | 'white'>;

/** Glyphs that tell the classes apart without colour; with colour every cell is a full block. */
export const GLYPHS: Record<WaitClass, string> = {
  CPU: '#',
  IO: '=',
  Lock: 'L',
  LWLock: 'W',
  Client: 'c',
  IPC: 'p',
  Timeout: 't',
  BufferPin: 'b',
  Extension: 'x',
  Other: '?',
};

export const PAINT: Record<WaitClass, Paint> = {
  CPU: 'green',
  IO: 'blue',
  Lock: 'red',
  LWLock: 'magenta',
  Client: 'cyan',
  IPC: 'yellow',
  Timeout: 'gray',
  BufferPin: 'redBright',
  Extension: 'whiteBright',
  Other: 'white',
};

export const CPU_LINE = '─';
const BLOCK = '█';
/** Classes always in the legend; the others only when they appear. */
const MAIN_CLASSES: readonly WaitClass[] = ['CPU', 'IO', 'Lock', 'LWLock'];
/** Width of the y-axis labels and the axis itself. */
const AXIS = 6;

export interface WatchScreen {
  address: string;
  intervalMs: number;
  cpus: number | null;
  /** Seconds to draw, oldest first, one per column; gaps are drawn empty. */
  seconds: readonly Second[];
  /** Over the seconds shown. */
  summary: ActivitySummary;
  /** Epoch ms of the newest column (the second in progress). */
  now: number;
  width: number;
  height: number;
  color: boolean;
}

/** The smallest "round" number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above x. */
export function niceCeil(x: number): number {
  if (x <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * magnitude >= x - 1e-9) return m * magnitude;
  return 10 * magnitude;
}

/** How many columns fit: one per second, after the y-axis. */
export function chartColumns(width: number): number {
  return Math.max(10, width - AXIS);
}

/** The class drawn at height `mid` of a column stacked bottom-up in WAIT_CLASSES order. */
function classAt(byClass: Record<WaitClass, number>, mid: number): WaitClass | null {
  let cumulative = 0;
  let last: WaitClass | null = null;
  for (const cls of WAIT_CLASSES) {
    if (byClass[cls] <= 0) continue;
    cumulative += byClass[cls];
    last = cls;
    if (mid < cumulative) return cls;
  }
  return last;
}

const label = (value: number): string => (Number.isInteger(value) ? String(value) : value.toFixed(1));

/** The chart's rows, top first, then the x-axis and its time labels. */
export function chartLines(screen: Pick<WatchScreen, 'seconds' | 'cpus' | 'now' | 'color'>, columns: number, rows: number): string[] {
  const c: Colors = pc.createColors(screen.color);
  const byIndex = new Map<number, Second>();
  for (const s of screen.seconds) {
    const index = columns - 1 - Math.round((screen.now - s.at) / 1000);
    if (index >= 0 && index < columns) byIndex.set(index, s);
  }
  const peak = Math.max(0, ...[...byIndex.values()].map((s) => s.aas));
  const scale = niceCeil(Math.max(peak, screen.cpus ?? 0, 1));
  const step = scale / rows;
  const cpuRow = screen.cpus !== null && screen.cpus > 0 ? Math.min(rows - 1, Math.max(0, Math.ceil(screen.cpus / step - 1e-9) - 1)) : null;
  const labels = new Map<number, string>([[rows - 1, label(scale)]]);
  if (cpuRow !== null) labels.set(cpuRow, label(screen.cpus as number));
  const lines: string[] = [];
  for (let row = rows - 1; row >= 0; row -= 1) {
    const mid = (row + 0.5) * step;
    let line = '';
    for (let col = 0; col < columns; col += 1) {
      const second = byIndex.get(col);
      const filled = second !== undefined && Math.round(second.aas / step) > row;
      const cls = filled ? classAt(second.byClass, mid) : null;
      if (cls) line += screen.color ? c[PAINT[cls]](BLOCK) : GLYPHS[cls];
      else if (row === cpuRow) line += screen.color ? c.bold(CPU_LINE) : CPU_LINE;
      else line += ' ';
    }
    lines.push(`${(labels.get(row) ?? '').padStart(AXIS - 2)} ${row === cpuRow ? '┼' : '┤'}${line}`);
  }
  lines.push(`${'0'.padStart(AXIS - 2)} └${'─'.repeat(columns)}`);
  const left = `-${columns}s`;
  const middle = `-${Math.round(columns / 2)}s`;
  const axis = Array.from({ length: columns }, () => ' ');
  const place = (text: string, at: number): void => {
    for (let i = 0; i < text.length && at + i < columns; i += 1) if (at + i >= 0) axis[at + i] = text[i] as string;
  };
  place(left, 0);
  const perColumn = '(1 column = 1 s)';
  if (left.length + perColumn.length + 2 < Math.floor(columns / 2) - middle.length) place(perColumn, left.length + 2);
  place(middle, Math.floor(columns / 2) - Math.floor(middle.length / 2));
  place('now', columns - 3);
  lines.push(`${' '.repeat(AXIS)}${axis.join('')}`.trimEnd());
  return lines;
}

/** The legend: a swatch per class shown (the main four always), then the CPU line. */
export function legendLines(classes: readonly WaitClass[], cpus: number | null, color: boolean, width: number): string[] {
  const c: Colors = pc.createColors(color);
  const items = classes.map((cls) => ({ text: `${color ? c[PAINT[cls]](BLOCK) : GLYPHS[cls]} ${cls}`, length: cls.length + 2 }));
  items.push(cpus !== null && cpus > 0 ? { text: `${color ? c.bold(CPU_LINE) : CPU_LINE} ${cpus} CPUs`, length: String(cpus).length + 7 } : { text: 'CPUs unknown (--cpus)', length: 21 });
  const lines: string[] = [];
  let line = '';
  let length = 0;
  for (const item of items) {
    const sep = length === 0 ? ' '.repeat(AXIS) : '  ';
    if (length > 0 && length + sep.length + item.length > width) {
      lines.push(line);
      line = '';
      length = 0;
    }
    const prefix = length === 0 ? ' '.repeat(AXIS) : '  ';
    line += prefix + item.text;
    length += prefix.length + item.length;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** One frame, at most `height` lines of at most `width` visible characters. */
export function renderWatchScreen(screen: WatchScreen): string[] {
  const c: Colors = pc.createColors(screen.color);
  const width = Math.max(40, screen.width);
  const height = Math.max(12, screen.height);
  const summary = screen.summary;
  const latest = screen.seconds[screen.seconds.length - 1];
  const shownClasses = WAIT_CLASSES.filter((cls) => MAIN_CLASSES.includes(cls) || summary.byClass[cls] > 0);
  const legend = legendLines(shownClasses, screen.cpus, screen.color, width);
  const hypothesis = wrap(`${summary.hypothesis.line}`, width - 2, '  ').slice(0, 2);
  const columns = chartColumns(width);
  const span = summary.samples > 0 ? formatDuration(Math.min(columns, screen.seconds.length) * 1000) : '0s';
  const title = fit(`pgpreflight activity · ${screen.address} · Ctrl-C to stop`, width);
  const status = fit(
    `AAS now ${formatAas(latest?.aas ?? 0)} · last ${span} ${formatAas(summary.aas)}${summary.peak ? ` · busiest ${formatAas(summary.peak.aas)}` : ''} · ${screen.cpus !== null ? `${screen.cpus} CPUs` : 'CPUs unknown'} · sampled every ${formatDuration(screen.intervalMs)}${summary.hidden > 0 ? ` · ${summary.hidden} hidden (grant pg_monitor)` : ''}`,
    width,
  );
  const events = summary.topWaitEvents.slice(0, 4).map((e) => `${e.class === 'CPU' ? 'CPU' : `${e.class}:${e.event}`} ${formatShare(e.share)}`);
  const waitsLine = fit(`Top waits  ${events.length > 0 ? events.join(' · ') : 'none'}`, width);
  const statementLine = (s: ActivitySummary['topStatements'][number]): string => {
    const lead = Object.entries(s.classes)[0];
    const who = `${s.users[0]?.name ?? '?'}/${s.applications[0]?.name ?? '?'}`;
    return fit(`${formatShare(s.share).padStart(5)} ${(lead ? lead[0] : '').padEnd(6)} ${who}  ${statementText(s)}`, width);
  };
  // Fixed lines: title, status, x-axis and its labels, legend, hypothesis, waits, statements header.
  const fixed = 2 + 2 + legend.length + hypothesis.length + 1 + 1;
  let statementRows = Math.min(3, summary.topStatements.length || 1);
  while (statementRows > 1 && height - fixed - statementRows < 8) statementRows -= 1;
  const chartRows = Math.max(3, height - fixed - statementRows);
  const lines = [
    c.bold(title),
    status,
    ...chartLines(screen, columns, chartRows),
    ...legend,
    ...hypothesis.map((line, i) => (i === 0 ? c.bold(line) : line)),
    waitsLine,
    c.dim(fit(`Top statements (share of active samples, last ${span})`, width)),
    ...(summary.topStatements.length > 0 ? summary.topStatements.slice(0, statementRows).map(statementLine) : ['  none active']),
  ];
  return lines.slice(0, height);
}

/** ANSI: the alternate screen (no frame is left in the scrollback), cursor home and clear, cursor. */
export const ENTER_ALT_SCREEN = '\x1b[?1049h';
export const LEAVE_ALT_SCREEN = '\x1b[?1049l';
export const HOME_AND_CLEAR = '\x1b[H\x1b[2J';
export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';

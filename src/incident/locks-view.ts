// How `pgpreflight locks` shows a blocking tree: as text for people (the root blockers with
// their fix, the sessions behind each collapsed: src/incident/root-causes.ts), as one JSON
// document per look for machines, and live (--watch) on the alternate screen, fitted to
// the terminal: the header and every root blocker with its fix pinned at the top, the
// sessions behind them as far as the height allows, the rest counted.
// Formatting only: the tree comes from src/incident/blocking-tree.ts.
import pc from 'picocolors';
import type { BlockingTree } from './blocking-tree.js';
import { cutLine, wrapWords } from '../core/text.js';
import { formatDuration } from '../core/units.js';
import { ownVersion } from '../core/version.js';
import { moreGroupsLine, rootCauseLines, rootCauseParts, type RootPaint } from '../reporters/root-text.js';

const age = (seconds: number | null): string => (seconds === null ? 'unknown' : formatDuration(seconds * 1000));

/** Width of plain (piped) text. */
const PLAIN_WIDTH = 100;

export function summaryLine(tree: BlockingTree): string {
  const scope = tree.tables.length > 0 ? tree.tables.join(', ') : `database ${tree.database}`;
  if (tree.roots.length === 0) return `No lock queue on ${scope}: nobody waits for a lock.`;
  return `${tree.waiting} session(s) waiting on ${scope}, oldest ${age(tree.oldestWaitSeconds)}, behind ${tree.roots.length} root blocker(s).`;
}

function paintOf(color: boolean): RootPaint {
  const c = pc.createColors(color);
  return { bold: c.bold, dim: c.dim, fail: c.red };
}

function headLines(tree: BlockingTree, width: number, color: boolean): string[] {
  const c = pc.createColors(color);
  return [...wrapWords(`Blocking tree · ${tree.server ?? tree.database} · ${tree.takenAt}`, width).map(c.dim), ...wrapWords(summaryLine(tree), width)];
}

/** The tree as text, root blockers first, every session once; complete (no group is left out). */
export function renderTree(tree: BlockingTree, color: boolean, width = PLAIN_WIDTH): string {
  const paint = paintOf(color);
  const lines = headLines(tree, width, color);
  tree.rootCauses.forEach((root, index) => lines.push('', ...rootCauseLines(root, { index, total: tree.rootCauses.length, width, paint, maxGroups: Number.POSITIVE_INFINITY })));
  return `${lines.join('\n')}\n`;
}

/** The JSON document of one look (one line, so --watch output is NDJSON): docs/json.md. */
export function treeJson(tree: BlockingTree): string {
  return `${JSON.stringify({ version: 1, pgpreflight: ownVersion(), generatedAt: new Date().toISOString(), ...tree })}\n`;
}

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line chart of the values, scaled to their maximum. */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values.map((v) => (max === 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.round((v / max) * (BARS.length - 1)))])).join('');
}

export interface WatchSample {
  waiting: number;
  oldestWaitSeconds: number;
}

export interface ScreenSize {
  columns: number;
  rows: number;
}

/**
 * The live screen, at most `size.rows` lines of at most `size.columns` columns: the header
 * and the queue over time, then each root blocker's head (who, what, how long, the fix)
 * pinned, then the sessions behind them while there is room, and a last line counting what
 * did not fit.
 */
export function renderWatchScreen(tree: BlockingTree, history: readonly WatchSample[], intervalMs: number, color: boolean, size: ScreenSize): string {
  const c = pc.createColors(color);
  const width = Math.max(20, size.columns);
  const rows = Math.max(5, size.rows);
  const latest = history[history.length - 1] ?? { waiting: 0, oldestWaitSeconds: 0 };
  const chart = (values: number[]): string => sparkline(values.slice(-Math.max(1, width - 24)));
  const full = [
    c.bold(`pgpreflight locks · every ${formatDuration(intervalMs)} · Ctrl-C to stop`),
    `queue   ${chart(history.map((h) => h.waiting))} ${latest.waiting} waiting`,
    `oldest  ${chart(history.map((h) => h.oldestWaitSeconds))} ${formatDuration(latest.oldestWaitSeconds * 1000)}`,
    ...headLines(tree, width, color),
  ];
  const small = [c.bold(`pgpreflight locks · every ${formatDuration(intervalMs)} · Ctrl-C to stop`), ...wrapWords(summaryLine(tree), width)];
  const paint = paintOf(color);
  const parts = tree.rootCauses.map((root, index) => rootCauseParts(root, { index, total: tree.rootCauses.length, width, paint }));
  // The roots stay on screen: the largest layout in which every root's head fits (the last
  // row is kept for the line that counts what is hidden); on a screen too small even for
  // the smallest, as many roots as fit.
  const layouts = [
    { header: full, heads: parts.map((p) => p.head) },
    { header: small, heads: parts.map((p) => p.head) },
    { header: small, heads: parts.map((p) => p.compact) },
  ];
  const need = (layout: (typeof layouts)[number]): number => layout.header.length + layout.heads.reduce((n, head) => n + head.length + 1, 0) + 1;
  const layout = layouts.find((l) => need(l) <= rows) ?? (layouts[2] as (typeof layouts)[number]);
  const header = layout.header;
  let budget = rows - header.length - 1;
  const shownHeads: string[][] = [];
  for (const head of layout.heads) {
    if (head.length + 1 > budget) break;
    shownHeads.push(head);
    budget -= head.length + 1;
  }
  const shownGroups = parts.map(() => 0);
  const groupLines: string[][] = parts.map(() => []);
  shownHeads.forEach((_, i) => {
    for (const group of parts[i]?.groups ?? []) {
      if (group.length > budget) break;
      (groupLines[i] as string[]).push(...group);
      shownGroups[i] = (shownGroups[i] as number) + 1;
      budget -= group.length;
    }
  });
  const lines = [...header];
  shownHeads.forEach((head, i) => {
    lines.push('', ...head, ...(groupLines[i] as string[]));
    const root = tree.rootCauses[i];
    const more = root ? moreGroupsLine(root, shownGroups[i] as number, '') : null;
    if (more && budget > 0 && i < shownHeads.length - 1) {
      lines.push(more);
      budget -= 1;
    }
  });
  const hiddenRoots = parts.length - shownHeads.length;
  const hiddenSessions = tree.rootCauses.reduce((n, root, i) => n + root.waiters.slice(i < shownHeads.length ? (shownGroups[i] as number) : 0).reduce((m, g) => m + g.count, 0), 0);
  if (hiddenRoots > 0 || hiddenSessions > 0) {
    const what = [hiddenRoots > 0 ? `${hiddenRoots} more root blocker(s)` : null, hiddenSessions > 0 ? `${hiddenSessions} more waiting session(s)` : null].filter(Boolean).join(' and ');
    lines.push(c.dim(`… ${what} not shown: enlarge the terminal`));
  }
  return lines.slice(0, rows).map((line) => cutLine(line, width)).join('\n');
}

/** ANSI: the alternate screen (no frame reaches the scrollback), cursor home + clear, cursor visibility. */
export const ENTER_ALTERNATE_SCREEN = '\x1b[?1049h';
export const LEAVE_ALTERNATE_SCREEN = '\x1b[?1049l';
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';
export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';

// How `pgpreflight locks` shows a blocking tree: as text for people, as one JSON
// document per look for machines, and live (--watch) with a sparkline of the queue.
// Formatting only: the tree comes from src/incident/blocking-tree.ts.
import pc from 'picocolors';
import type { BlockingTree, TreeNode } from './blocking-tree.js';
import { formatDuration } from '../core/units.js';

type Colors = ReturnType<typeof pc.createColors>;

const age = (seconds: number | null): string => (seconds === null ? 'unknown' : formatDuration(seconds * 1000));

function who(node: TreeNode): string {
  if (node.kind === 'prepared') return node.gid === null ? 'a prepared transaction' : `prepared transaction '${node.gid}'`;
  return `pid ${node.pid}`;
}

function facts(node: TreeNode): string {
  const parts: string[] = [];
  if (node.hidden) parts.push('details hidden (grant pg_monitor)');
  else if (node.state) parts.push(node.state);
  if (node.backendType && node.backendType !== 'client backend') parts.push(node.backendType);
  if (node.xactAgeSeconds !== null) parts.push(`transaction ${age(node.xactAgeSeconds)}`);
  if (node.user) parts.push(`user ${node.user}`);
  if (node.application) parts.push(`app ${node.application}`);
  if (node.client) parts.push(`client ${node.client}`);
  return parts.join(' · ');
}

function waitLine(node: TreeNode): string {
  const w = node.waitingFor;
  if (!w) return who(node);
  const on = w.relation ? ` on ${w.relation}` : w.lockType === 'relation' ? '' : ` (${w.lockType})`;
  return `${who(node)} waits ${age(w.waitSeconds)} for ${w.mode}${on}`;
}

function childLines(node: TreeNode, prefix: string, last: boolean, c: Colors): string[] {
  const branch = last ? '└─ ' : '├─ ';
  const cont = prefix + (last ? '   ' : '│  ');
  const lines = [`${prefix}${branch}${waitLine(node)}${facts(node) ? c.dim(` · ${facts(node)}`) : ''}`];
  if (node.query) lines.push(`${cont}${c.dim(`query: ${node.query}`)}`);
  node.blocks.forEach((child, i) => lines.push(...childLines(child, cont, i === node.blocks.length - 1, c)));
  return lines;
}

function rootLines(root: TreeNode, c: Colors): string[] {
  const lines = [`${c.red('●')} ${c.bold(who(root))}${facts(root) ? ` · ${facts(root)}` : ''}`];
  // An idle session's query is the last one it ran, not what it is doing.
  if (root.query) lines.push(`  ${root.state?.startsWith('idle') ? 'last query' : 'query'}: ${root.query}`);
  lines.push(`  blocks ${c.bold(String(root.waitingBehind))} session(s), oldest wait ${age(root.oldestWaitSeconds)}`);
  if (root.remediation) {
    lines.push(`  fix: ${c.bold(root.remediation.sql)}`);
    lines.push(c.dim(`       ${root.remediation.note}`));
  }
  root.blocks.forEach((child, i) => lines.push(...childLines(child, '  ', i === root.blocks.length - 1, c)));
  return lines;
}

export function summaryLine(tree: BlockingTree): string {
  const scope = tree.tables.length > 0 ? tree.tables.join(', ') : `database ${tree.database}`;
  if (tree.roots.length === 0) return `No lock queue on ${scope}: nobody waits for a lock.`;
  return `${tree.waiting} session(s) waiting on ${scope}, oldest ${age(tree.oldestWaitSeconds)}, behind ${tree.roots.length} root blocker(s).`;
}

/** The tree as text, root blockers first. */
export function renderTree(tree: BlockingTree, color: boolean): string {
  const c = pc.createColors(color);
  const lines = [c.dim(`Blocking tree · ${tree.server ?? tree.database} · ${tree.takenAt}`), summaryLine(tree)];
  for (const root of tree.roots) lines.push('', ...rootLines(root, c));
  return `${lines.join('\n')}\n`;
}

/** The tree as one JSON document (one line, so --watch output is NDJSON). */
export function treeJson(tree: BlockingTree): string {
  return `${JSON.stringify({ version: 1, ...tree })}\n`;
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

/** The live screen: header, the queue over time, then the tree. */
export function renderWatchScreen(tree: BlockingTree, history: readonly WatchSample[], intervalMs: number, color: boolean): string {
  const c = pc.createColors(color);
  const latest = history[history.length - 1] ?? { waiting: 0, oldestWaitSeconds: 0 };
  const header = [
    c.bold(`pgpreflight locks · every ${formatDuration(intervalMs)} · Ctrl-C to stop`),
    `queue   ${sparkline(history.map((h) => h.waiting))} ${latest.waiting} waiting`,
    `oldest  ${sparkline(history.map((h) => h.oldestWaitSeconds))} ${formatDuration(latest.oldestWaitSeconds * 1000)}`,
    '',
  ];
  return `${header.join('\n')}\n${renderTree(tree, color)}`;
}

/** ANSI: cursor home, clear the screen. */
export const CLEAR_SCREEN = '\x1b[H\x1b[2J';
export const HIDE_CURSOR = '\x1b[?25l';
export const SHOW_CURSOR = '\x1b[?25h';

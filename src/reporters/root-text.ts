// A root blocker as terminal text, shared by `check`'s table and `locks` (plain and
// --watch): who it is, what it holds, for how long, how many queue behind it, the checks
// that flagged it, the one fix, then the sessions behind it, alike ones on one line
// ("40 × SELECT count(*) FROM orders (app web), oldest 14s ...").
import type { RootCause, WaiterGroup } from '../core/types.js';
import { hanging } from '../core/text.js';
import { formatDuration } from '../core/units.js';
import { excerpt, heldText, queryLabel, stateText, whoOf } from './view.js';

export interface RootPaint {
  bold: (text: string) => string;
  dim: (text: string) => string;
  fail: (text: string) => string;
}

export interface RootTextOptions {
  index: number;
  total: number;
  width: number;
  paint: RootPaint;
  /** Groups shown before the rest are counted on one line. */
  maxGroups?: number;
}

/** Waiter groups shown per root in plain output before the rest are counted. */
export const GROUPS_SHOWN = 12;

const age = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? 'unknown' : formatDuration(seconds * 1000));

function groupText(group: WaiterGroup): string {
  const who = [group.application ? `app ${group.application}` : null, group.user ? `user ${group.user}` : null].filter(Boolean).join(', ');
  const query = excerpt(group.query, 80) ?? group.state ?? 'no query visible';
  const w = group.waitingFor;
  const lock = w ? ` for ${w.mode}${w.relation ? ` on ${w.relation}` : w.lockType === 'relation' ? '' : ` (${w.lockType})`}` : '';
  const waits = group.count === 1 ? `waits ${age(group.oldestWaitSeconds)}${lock}` : `oldest ${age(group.oldestWaitSeconds)}${lock}`;
  const ahead = group.depth > 1 ? `, behind ${group.behind.length === 1 ? `pid ${group.behind[0]}` : `${group.behind.length} sessions`}` : '';
  const behind = group.blocking > 0 ? `; ${group.blocking} queued behind ${group.count === 1 ? 'it' : 'them'}` : '';
  const checks = group.flaggedBy.length > 0 ? ` [${group.flaggedBy.join(', ')}]` : '';
  return `${query}${who ? ` (${who})` : ''}, ${waits}${ahead}${behind}${checks}`;
}

export interface RootCauseParts {
  /** Who, what, how long, how many, the checks, the fix and its cost. */
  head: string[];
  /** The least of it, for a small screen: who and how long, what it holds and how many wait, the fix. */
  compact: string[];
  /** One entry per waiter group, each one or more lines. */
  groups: string[][];
}

export function rootCauseParts(root: RootCause, { index, total, width, paint }: RootTextOptions): RootCauseParts {
  const title = `${total > 1 ? `Root blocker ${index + 1} of ${total}` : 'Root blocker'}: ${whoOf(root)}, ${stateText(root)}${root.xactAgeSeconds !== null ? `, transaction open ${age(root.xactAgeSeconds)}` : ''}`;
  const head = hanging('', title, width, 2).map((l, i) => (i === 0 ? paint.bold(paint.fail(l)) : l));
  const compact = [...head];
  const who = [root.application ? `app ${root.application}` : null, root.user ? `user ${root.user}` : null, root.client ? `client ${root.client}` : null].filter(Boolean).join(' · ');
  if (who) head.push(...hanging('  ', who, width));
  const holds = hanging('  ', `holds ${heldText(root)}; ${root.waiting} session(s) queued behind it, oldest ${age(root.oldestWaitSeconds)}`, width);
  head.push(...holds);
  compact.push(...holds);
  if (root.query) head.push(...hanging(`  ${queryLabel(root.state)}: `, excerpt(root.query, 200) ?? '', width));
  if (root.flaggedBy.length > 0) head.push(...hanging('  flagged by ', root.flaggedBy.join(', '), width));
  if (root.remediation) {
    const fix = hanging('  fix: ', paint.bold(root.remediation.sql), width);
    head.push(...fix, ...hanging('       ', root.remediation.note, width).map(paint.dim));
    compact.push(...fix);
  } else if (root.hidden) {
    const none = hanging('  fix: ', 'none offered: its details are hidden from this role (grant pg_monitor to see and judge it)', width);
    head.push(...none);
    compact.push(...none);
  }
  const countWidth = Math.max(0, ...root.waiters.map((g) => String(g.count).length));
  const groups = root.waiters.map((group) => hanging(`  ↳ ${String(group.count).padStart(countWidth)} × `, groupText(group), width));
  return { head, compact, groups };
}

/** "↳ … 12 more session(s) in 3 other group(s)", for the groups left out. */
export function moreGroupsLine(root: RootCause, shownGroups: number, hint: string): string | null {
  const rest = root.waiters.slice(shownGroups);
  if (rest.length === 0) return null;
  return `  ↳ … ${rest.reduce((n, g) => n + g.count, 0)} more session(s) in ${rest.length} other group(s)${hint}`;
}

/** The whole root block, groups capped at `maxGroups`. */
export function rootCauseLines(root: RootCause, options: RootTextOptions): string[] {
  const { head, groups } = rootCauseParts(root, options);
  const max = options.maxGroups ?? GROUPS_SHOWN;
  const more = moreGroupsLine(root, max, ': pgpreflight locks --format json lists them all');
  return [...head, ...groups.slice(0, max).flat(), ...(more ? [more] : [])];
}

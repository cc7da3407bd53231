// Markdown for PR comments, chat and the GitHub job summary, sized for them: the verdict,
// then each root blocker with its one fix, the sessions queued behind it in a <details>
// table (collapsed and capped), the checks that did not pass with the passing ones on one
// line, and the remaining findings in <details> blocks with capped lists and counts.
// Everything from the server (queries, names) is escaped or fenced: it is data, not markup.
import type { DatabaseSection, GateReport } from '../gate/gate.js';
import type { CheckResult, Report, RootCause, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { Reporter } from './types.js';
import { isOffline, verdictText } from './verdict.js';
import { excerpt, heldText, queryLabel, stateText, viewOf, whoOf, type FindingEntry } from './view.js';

export const LABEL: Record<Status, string> = { pass: '✅ PASS', skip: '⏭️ SKIP', warn: '⚠️ WARN', fail: '❌ FAIL', error: '💥 ERROR' };

/** Waiter groups per root in its table; findings per check; the rest are counted. */
const GROUPS_SHOWN = 20;
const FINDINGS_SHOWN = 20;
/** Query excerpts in tables and lists. */
const QUERY_CHARS = 120;

/** Inline text: no table breaks, no HTML, no accidental emphasis or links. */
export function inline(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`)
    .trim();
}

/** A fenced block that the content cannot close: the fence is longer than any backtick run in it. */
export function fenced(text: string, language = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${language}\n${text.trimEnd()}\n${fence}`;
}

/** Inline code that its content cannot close; in a table cell (`cell`), pipes escaped as GFM wants. */
export function code(text: string, cell = false): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  // CommonMark strips one space on each side, so padding is only needed next to a backtick.
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${cell ? flat.replace(/\|/g, '\\|') : flat}${pad}${ticks}`;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

const age = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? 'unknown' : formatDuration(seconds * 1000));
const ids = (list: readonly string[]): string => list.map((id) => `\`${id}\``).join(', ');

function rootBlock(root: RootCause, index: number, total: number, level: string): string[] {
  const title = `${level} ${total > 1 ? `Root blocker ${index + 1} of ${total}` : 'Root blocker'}: ${inline(whoOf(root))}, ${inline(stateText(root))}${root.xactAgeSeconds !== null ? `, transaction open ${age(root.xactAgeSeconds)}` : ''}`;
  const out = [title, ''];
  out.push(`- holds ${inline(heldText(root))}; **${root.waiting}** session(s) queued behind it, oldest ${age(root.oldestWaitSeconds)}`);
  const who = [root.application ? `app ${code(root.application)}` : null, root.user ? `user ${code(root.user)}` : null, root.client ? `client ${code(root.client)}` : null].filter(Boolean);
  if (who.length > 0) out.push(`- ${who.join(' · ')}`);
  if (root.query) out.push(`- ${queryLabel(root.state)}: ${code(excerpt(root.query, 200) ?? '')}`);
  if (root.flaggedBy.length > 0) out.push(`- flagged by ${ids(root.flaggedBy)}`);
  if (root.remediation) out.push(`- **fix**: ${inline(root.remediation.note)}`, '', indent(fenced(root.remediation.sql, 'sql'), '  '));
  if (root.waiters.length > 0) {
    const sessions = root.waiters.reduce((n, g) => n + g.count, 0);
    out.push('', `<details><summary>${sessions} session(s) queued behind ${inline(whoOf(root))}</summary>`, '');
    out.push('| Sessions | Query | App | User | Waits for | Oldest | Queued behind them | Flagged by |', '| ---: | --- | --- | --- | --- | --- | ---: | --- |');
    for (const g of root.waiters.slice(0, GROUPS_SHOWN)) {
      const w = g.waitingFor;
      const lock = w ? `${w.mode}${w.relation ? ` on ${code(w.relation, true)}` : ''}` : '';
      out.push(`| ${g.count} | ${g.query ? code(excerpt(g.query, QUERY_CHARS) ?? '', true) : inline(g.state ?? '')} | ${g.application ? code(g.application, true) : ''} | ${g.user ? code(g.user, true) : ''} | ${lock} | ${age(g.oldestWaitSeconds)} | ${g.blocking} | ${ids(g.flaggedBy)} |`);
    }
    const rest = root.waiters.slice(GROUPS_SHOWN);
    if (rest.length > 0) out.push('', `… and ${rest.reduce((n, g) => n + g.count, 0)} more session(s) in ${rest.length} group(s): see the JSON report.`);
    out.push('', '</details>');
  }
  return out;
}

function checksTable(problems: readonly CheckResult[], passed: readonly CheckResult[], skipped: readonly CheckResult[]): string[] {
  const out: string[] = [];
  if (problems.length > 0) out.push('| Status | Check | Summary |', '| --- | --- | --- |', ...problems.map((c) => `| ${LABEL[c.status]} | \`${c.id}\` | ${inline(c.summary)} |`));
  const rest = [passed.length > 0 ? `${LABEL.pass} ${passed.length}: ${ids(passed.map((c) => c.id))}` : null, skipped.length > 0 ? `${LABEL.skip} ${skipped.length}: ${ids(skipped.map((c) => c.id))}` : null].filter(Boolean);
  if (rest.length > 0) out.push(...(out.length > 0 ? [''] : []), rest.join(' · '));
  return out;
}

function entryBlock(entry: FindingEntry): string[] {
  const f = entry.finding;
  const count = entry.count > 1 ? `${entry.count} × ` : '';
  const lines = [`- **${f.severity}** ${count}${inline(f.message)}${entry.checks.length > 1 ? ` (flagged by ${ids(entry.checks)})` : ''}`];
  const facts: string[] = [];
  if (entry.count > 1) facts.push(`pids ${entry.pids.slice(0, 10).join(', ')}${entry.pids.length > 10 ? `, +${entry.pids.length - 10}` : ''}`);
  if (entry.pids.length > 0 && f.user) facts.push(`user ${code(f.user)}`);
  if (entry.pids.length > 0 && f.application) facts.push(`app ${code(f.application)}`);
  if (f.file) facts.push(`${code(f.file)}${typeof f.line === 'number' ? ` line ${f.line}` : ''}`);
  if (facts.length > 0) lines.push(`  - ${facts.join(' · ')}`);
  if (f.query && !f.file) lines.push(`  - ${queryLabel(f.state ?? null)}:`, '', indent(fenced(excerpt(f.query, 500) ?? '', 'sql'), '    '), '');
  if (f.remediation) lines.push(`  - fix: ${inline(f.remediation.note)}`, '', indent(fenced(f.remediation.sql, 'sql'), '    '), '');
  return lines;
}

/** Findings grouped under the check that shows them, each check in a <details> block, capped. */
function findingBlocks(entries: readonly FindingEntry[], checks: readonly CheckResult[]): string[] {
  const out: string[] = [];
  for (const check of checks) {
    const mine = entries.filter((e) => e.check === check.id);
    if (mine.length === 0) continue;
    out.push('', `<details><summary>${LABEL[check.status]} ${inline(check.title)} (${check.id}): ${mine.length} finding(s)</summary>`, '');
    for (const entry of mine.slice(0, FINDINGS_SHOWN)) out.push(...entryBlock(entry));
    if (mine.length > FINDINGS_SHOWN) out.push(`- … and ${mine.length - FINDINGS_SHOWN} more: see the JSON report`);
    out.push('', '</details>');
  }
  return out;
}

function reportBody(report: Report, level: string, verbose: boolean): string[] {
  const view = viewOf(report, verbose);
  const out: string[] = [];
  view.rootCauses.forEach((root, i) => out.push(...rootBlock(root, i, view.rootCauses.length, level), ''));
  out.push(...checksTable(view.problems, view.passed, view.skipped));
  out.push(...findingBlocks(view.findings, [...view.problems, ...view.passed]));
  if (report.notes.length > 0) out.push('', ...report.notes.map((n) => `> note: ${inline(n)}`));
  return out;
}

function headline(report: Report | null, address: string): string {
  const parts = [code(address)];
  if (report?.server) parts.push(`PostgreSQL ${inline(report.server.version)}`);
  if (report && report.targets.length > 0) parts.push(report.targets.map((t) => `${code(t.name)} (${t.lockMode})`).join(', '));
  return parts.join(' · ');
}

function sectionOf(db: DatabaseSection, verbose: boolean): string[] {
  const out = [`### ${LABEL[db.verdict]} ${inline(db.name)}${db.optional ? ' (optional)' : ''}`, '', headline(db.report, db.address), ''];
  if (db.report) out.push(...reportBody(db.report, '####', verbose));
  else out.push(`Could not be checked: ${inline(db.error ?? 'unknown error')}${db.optional ? ' (optional: does not close the gate)' : ''}`);
  return out;
}

/** The whole summary; the GitHub job summary is this text. */
const markdown: Reporter = (gate: GateReport, { verbose = false }) => {
  const only = gate.databases.length === 1 ? gate.databases[0] : undefined;
  const out: string[] = [];
  if (only) {
    out.push(`## pgpreflight: ${LABEL[gate.verdict]}: ${verdictText(gate.verdict, gate.exitCode, isOffline(only.report))}`, '');
    out.push(`${headline(only.report, only.address)} · exit ${gate.exitCode} · ${gate.durationMs} ms`, '');
    if (only.report) out.push(...reportBody(only.report, '###', verbose));
    else out.push(`Could not be checked: ${inline(only.error ?? 'unknown error')}`);
  } else {
    const blocked = gate.blockedBy.length > 0 ? ` (blocked by ${gate.blockedBy.map(inline).join(', ')})` : '';
    out.push(`## pgpreflight: ${LABEL[gate.verdict]}: ${verdictText(gate.verdict, gate.exitCode, false)}${blocked}`, '');
    out.push(`${gate.databases.length} databases · exit ${gate.exitCode} · ${gate.durationMs} ms`, '');
    out.push('| Verdict | Database | Blocking checks | Root blockers |', '| --- | --- | --- | ---: |');
    for (const db of gate.databases) {
      const blocking = db.report ? ids(db.blocking) || '—' : inline(db.error ?? 'could not be checked');
      out.push(`| ${LABEL[db.verdict]} | ${inline(db.name)}${db.optional ? ' (optional)' : ''} | ${blocking} | ${db.report?.rootCauses.length ?? 0} |`);
    }
    for (const db of gate.databases) out.push('', ...sectionOf(db, verbose));
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
};

export default markdown;

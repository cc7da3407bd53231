// Markdown for PR comments, chat and the GitHub job summary: the verdict, a table of checks
// per database, then the findings that matter with pid, age, query and the remediation SQL.
// Everything from the server (queries, names) is escaped or fenced: it is data, not markup.
import { gateOfReport, type DatabaseSection, type GateReport } from '../gate/gate.js';
import type { CheckResult, Finding, Report, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { GateReporter, Reporter } from './types.js';
import { isOffline, verdictText } from './verdict.js';

const LABEL: Record<Status, string> = { pass: '✅ PASS', skip: '⏭️ SKIP', warn: '⚠️ WARN', fail: '❌ FAIL', error: '💥 ERROR' };

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

function code(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const longest = Math.max(0, ...[...flat.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = '`'.repeat(longest + 1);
  // CommonMark strips one space on each side, so padding is only needed next to a backtick.
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${flat}${pad}${ticks}`;
}


function findingBlock(finding: Finding): string[] {
  const facts: string[] = [];
  if (typeof finding.pid === 'number') facts.push(`pid ${finding.pid}`);
  if (finding.user) facts.push(`user ${code(finding.user)}`);
  if (finding.application) facts.push(`app ${code(finding.application)}`);
  if (finding.client) facts.push(`client ${code(finding.client)}`);
  if (typeof finding.ageSeconds === 'number') facts.push(`age ${formatDuration(finding.ageSeconds * 1000)}`);
  if (finding.state) facts.push(inline(finding.state));
  if (finding.lockMode) facts.push(`${finding.lockMode} ${finding.granted === false ? 'waiting' : 'granted'}`);
  if (finding.blockedBy && finding.blockedBy.length > 0) facts.push(`blocked by ${finding.blockedBy.map((p) => (p === 0 ? 'a prepared transaction' : `pid ${p}`)).join(', ')}`);
  const lines = [`- **${finding.severity}** ${inline(finding.message)}`];
  if (facts.length > 0) lines.push(`  - ${facts.join(' · ')}`);
  if (finding.query) lines.push('  - query:', indent(fenced(finding.query, 'sql'), '    '));
  if (finding.remediation) {
    lines.push(`  - fix: ${inline(finding.remediation.note)}`, indent(fenced(finding.remediation.sql, 'sql'), '    '));
  }
  return lines;
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');
}

function checksTable(checks: readonly CheckResult[]): string[] {
  return ['| Status | Check | Summary |', '| --- | --- | --- |', ...checks.map((c) => `| ${LABEL[c.status]} | \`${c.id}\` | ${inline(c.summary)} |`)];
}

function reportBody(report: Report, level: string): string[] {
  const out: string[] = [];
  if (report.server) {
    const targets = report.targets.map((t) => `${code(t.name)} (${t.lockMode})`).join(', ');
    // The server's address heads the section (its `display`); this line says what was found there.
    out.push(`PostgreSQL ${inline(report.server.version)}${targets ? ` · ${targets}` : ''}`, '');
  }
  out.push(...checksTable(report.checks));
  for (const check of report.checks) {
    const shown = check.findings.filter((f) => f.severity !== 'info');
    if (shown.length === 0 || check.status === 'pass' || check.status === 'skip') continue;
    out.push('', `${level} ${LABEL[check.status]} ${inline(check.title)} (\`${check.id}\`)`, '');
    for (const finding of shown) out.push(...findingBlock(finding));
  }
  if (report.notes.length > 0) out.push('', ...report.notes.map((n) => `> note: ${inline(n)}`));
  return out;
}

function sectionOf(db: DatabaseSection): string[] {
  const out = [`### ${LABEL[db.verdict]} ${inline(db.name)}${db.optional ? ' (optional)' : ''}`, '', `${code(db.display)}`, ''];
  if (db.report) out.push(...reportBody(db.report, '####'));
  else out.push(`Could not be checked: ${inline(db.error ?? 'unknown error')}${db.optional ? ' (optional: does not close the gate)' : ''}`);
  return out;
}

export const renderGate: GateReporter = (gate: GateReport, { exitCode }) => {
  const only = gate.databases.length === 1 ? gate.databases[0] : undefined;
  const out: string[] = [];
  if (only) {
    out.push(`## pgpreflight: ${LABEL[gate.verdict]}: ${verdictText(gate.verdict, exitCode, isOffline(only.report))}`, '');
    out.push(`${code(only.display)} · exit ${exitCode} · ${gate.durationMs} ms`, '');
    if (only.report) out.push(...reportBody(only.report, '###'));
    else out.push(`Could not be checked: ${inline(only.error ?? 'unknown error')}`);
  } else {
    const blocked = gate.blockedBy.length > 0 ? ` (blocked by ${gate.blockedBy.map(inline).join(', ')})` : '';
    out.push(`## pgpreflight: ${LABEL[gate.verdict]}: ${verdictText(gate.verdict, exitCode, false)}${blocked}`, '');
    out.push(`${gate.databases.length} databases · exit ${exitCode} · ${gate.durationMs} ms`, '');
    out.push('| Verdict | Database | Blocking checks |', '| --- | --- | --- |');
    for (const db of gate.databases) {
      const blocking = db.report ? db.blocking.map((id) => `\`${id}\``).join(', ') || '—' : inline(db.error ?? 'could not be checked');
      out.push(`| ${LABEL[db.verdict]} | ${inline(db.name)}${db.optional ? ' (optional)' : ''} | ${blocking} |`);
    }
    for (const db of gate.databases) out.push('', ...sectionOf(db));
  }
  return `${out.join('\n')}\n`;
};

const markdown: Reporter = (report, context) => renderGate(gateOfReport(report, context.exitCode), context);

export default markdown;

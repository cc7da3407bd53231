import Table from 'cli-table3';
import pc from 'picocolors';
import type { Finding, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { GateReporter, Reporter } from './types.js';
import { isOffline, verdictText } from './verdict.js';

type Paint = (text: string) => string;

function painter(color: boolean): Record<Status | 'dim' | 'bold', Paint> {
  const c = pc.createColors(color);
  return { pass: c.green, skip: c.dim, warn: c.yellow, fail: c.red, error: c.magenta, dim: c.dim, bold: c.bold };
}

const LABEL: Record<Status, string> = { pass: 'PASS', skip: 'SKIP', warn: 'WARN', fail: 'FAIL', error: 'ERROR' };

function excerpt(query: string | null | undefined, max = 100): string | undefined {
  if (!query) return undefined;
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function findingLines(finding: Finding, paint: Record<Status | 'dim' | 'bold', Paint>): string[] {
  const sev = finding.severity === 'info' ? paint.dim('info') : paint[finding.severity](finding.severity);
  const lines = [`  ${sev}  ${finding.message}`];
  const facts: string[] = [];
  if (finding.pid !== undefined && finding.pid !== null) facts.push(`pid ${finding.pid}`);
  if (finding.user) facts.push(`user ${finding.user}`);
  if (finding.application) facts.push(`app ${finding.application}`);
  if (finding.client) facts.push(`client ${finding.client}`);
  if (finding.ageSeconds !== undefined && finding.ageSeconds !== null) facts.push(`age ${formatDuration(finding.ageSeconds * 1000)}`);
  if (finding.state) facts.push(finding.state);
  if (finding.lockMode) facts.push(`${finding.lockMode} ${finding.granted === false ? 'waiting' : 'granted'}`);
  if (finding.blockedBy && finding.blockedBy.length > 0) facts.push(`blocked by ${finding.blockedBy.map((p) => (p === 0 ? 'a prepared transaction' : p)).join(', ')}`);
  if (facts.length > 0 && finding.severity !== 'info') lines.push(paint.dim(`        ${facts.join(' · ')}`));
  const query = excerpt(finding.query);
  if (query && finding.severity !== 'info') lines.push(paint.dim(`        query: ${query}`));
  if (finding.remediation && finding.severity !== 'info') {
    lines.push(`        fix: ${paint.bold(finding.remediation.sql)}`);
    lines.push(paint.dim(`             ${finding.remediation.note}`));
  }
  return lines;
}

const table: Reporter = (report, { color, exitCode }) => {
  const paint = painter(color);
  const out: string[] = [];
  if (report.server) {
    out.push(
      `pgpreflight: ${report.server.address} on PostgreSQL ${report.server.version}` +
        (report.targets.length > 0 ? ` · ${report.targets.map((t) => `${t.name} (${t.lockMode})`).join(', ')}` : ''),
    );
  }
  const grid = new Table({
    head: ['status', 'check', 'summary'],
    style: { head: [], border: [] },
    colWidths: [8, 24, 76],
    wordWrap: true,
  });
  for (const check of report.checks) grid.push([paint[check.status](LABEL[check.status]), check.id, check.summary]);
  out.push(grid.toString());
  for (const check of report.checks) {
    const shown = check.findings.filter((f) => f.severity !== 'info' || check.status === 'pass');
    if (shown.length === 0 || check.status === 'pass' || check.status === 'skip') continue;
    out.push('', `${paint[check.status](LABEL[check.status])} ${paint.bold(check.title)} (${check.id})`);
    for (const finding of shown) out.push(...findingLines(finding, paint));
  }
  for (const note of report.notes) out.push('', paint.dim(`note: ${note}`));
  out.push('', `${paint.bold('Verdict:')} ${paint[report.verdict](LABEL[report.verdict])}: ${verdictText(report.verdict, exitCode, isOffline(report))} (exit ${exitCode}, ${report.durationMs} ms)`);
  return `${out.join('\n')}\n`;
};

export default table;

/** Several databases: one section per database, then the gate's verdict across them all. */
export const renderGate: GateReporter = (gate, { color, exitCode }) => {
  const paint = painter(color);
  const out: string[] = [];
  for (const db of gate.databases) {
    out.push(paint.bold(`== ${db.name}${db.optional ? ' (optional)' : ''}: ${LABEL[db.verdict]} ==`));
    out.push(db.report ? table(db.report, { color, exitCode: db.exitCode }) : `could not be checked: ${db.error ?? 'unknown error'}${db.optional ? ' (optional: does not close the gate)' : ''}\n`);
  }
  const blocked = gate.blockedBy.length > 0 ? ` by ${gate.blockedBy.join(', ')}` : '';
  out.push(`${paint.bold('Gate verdict:')} ${paint[gate.verdict](LABEL[gate.verdict])} across ${gate.databases.length} databases${exitCode === 0 ? '' : `, blocked${blocked}`} (exit ${exitCode}, ${gate.durationMs} ms)\n`);
  return out.join('\n');
};

// The terminal format: the verdict first, then the root blockers (who, what they hold, for
// how long, how many queue behind them, the one fix, the sessions behind them collapsed),
// then the checks that did not pass (fail, warn, error) with the passing ones on one line,
// then each remaining finding once. Laid out for the terminal's width (context.width), words
// wrapped whole, no borders. Colors only on a terminal (context.color).
import pc from 'picocolors';
import type { DatabaseSection, GateReport } from '../gate/gate.js';
import type { Report, Status } from '../core/types.js';
import { hanging, visibleLength, wrapWords } from '../core/text.js';
import { formatDuration } from '../core/units.js';
import type { Reporter, ReporterContext } from './types.js';
import { isOffline, verdictText } from './verdict.js';
import { rootCauseLines } from './root-text.js';
import { excerpt, queryLabel, viewOf, type FindingEntry, type ReportView } from './view.js';

type Paint = Record<Status | 'dim' | 'bold', (text: string) => string>;

function painter(color: boolean): Paint {
  const c = pc.createColors(color);
  return { pass: c.green, skip: c.dim, warn: c.yellow, fail: c.red, error: c.magenta, dim: c.dim, bold: c.bold };
}

export const LABEL: Record<Status, string> = { pass: 'PASS', skip: 'SKIP', warn: 'WARN', fail: 'FAIL', error: 'ERROR' };

/** Findings shown before the rest are counted: on a terminal (compact), and piped (--verbose shows all). */
const FINDINGS_SHOWN = 25;
const FINDINGS_SHOWN_COMPACT = 6;
export const DEFAULT_WIDTH = 100;

const age = (seconds: number | null | undefined): string => (seconds === null || seconds === undefined ? 'unknown' : formatDuration(seconds * 1000));

/** The checks that did not pass, one row each (status, id, summary in a column), and the rest on one line. */
function checkLines(view: ReportView, width: number, verbose: boolean, paint: Paint): string[] {
  const { problems, passed, skipped, explainedChecks } = view;
  // Checks that only flagged the sessions listed under the root blockers: one line, by name.
  const explained = verbose ? [] : problems.filter((c) => explainedChecks.has(c.id));
  const rows = verbose ? [...problems, ...passed, ...skipped] : problems.filter((c) => !explainedChecks.has(c.id));
  const idWidth = Math.max(0, ...rows.map((c) => c.id.length));
  const out: string[] = [];
  // One line per status (problems come ordered fail, warn, error), so a warning is never shown as a FAIL.
  for (const status of [...new Set(explained.map((c) => c.status))]) {
    const ids = explained.filter((c) => c.status === status).map((c) => c.id);
    const lines = hanging(`${LABEL[status].padEnd(6)} `, `${ids.join(', ')}: the sessions above`, width);
    out.push(...lines.map((l, i) => (i === 0 ? `${paint[status](l.slice(0, 6))}${l.slice(6)}` : l)));
  }
  for (const check of rows) {
    const lead = `${LABEL[check.status].padEnd(6)} ${check.id.padEnd(idWidth)}  `;
    // Too narrow for a summary column: the summary goes under the row, indented.
    const lines = width - visibleLength(lead) >= 30 ? hanging(lead, check.summary, width) : [lead.trimEnd(), ...hanging('       ', check.summary, width)];
    out.push(...lines.map((l, i) => (i === 0 ? `${paint[check.status](l.slice(0, 6))}${l.slice(6)}` : l)));
  }
  if (!verbose && passed.length + skipped.length > 0) {
    const counts = [passed.length > 0 ? `${passed.length} passed` : null, skipped.length > 0 ? `${skipped.length} skipped` : null].filter(Boolean).join(', ');
    const head = `${LABEL[passed.length > 0 ? 'pass' : 'skip'].padEnd(6)} ${counts}: `;
    const tail = ' (--verbose lists them)';
    const names = [...passed, ...skipped].map((c) => c.id);
    // One line: as many names as fit, then how many more.
    let shown = names.length;
    const line = (n: number): string => `${head}${names.slice(0, n).join(', ')}${n < names.length ? `, +${names.length - n}` : ''}${tail}`;
    while (shown > 0 && visibleLength(line(shown)) > width) shown -= 1;
    const text = shown === 0 ? `${head.replace(/: $/, '')}${tail}` : line(shown);
    out.push(`${paint[passed.length > 0 ? 'pass' : 'skip'](text.slice(0, 6))}${text.slice(6)}`);
  }
  return out;
}

/** At most `max` lines of `lines`, the last one cut short with an ellipsis when some were left out. */
function atMost(lines: string[], max: number, width: number): string[] {
  if (lines.length <= max) return lines;
  const kept = lines.slice(0, max);
  const last = kept[max - 1] as string;
  kept[max - 1] = visibleLength(last) + 2 <= width ? `${last} …` : `${last.slice(0, last.lastIndexOf(' '))} …`;
  return kept;
}

function entryLines(entry: FindingEntry, width: number, paint: Paint, compact: boolean): string[] {
  const f = entry.finding;
  const sev = f.severity;
  const checks = `[${entry.checks.join(', ')}] `;
  const count = entry.count > 1 ? `${entry.count} × ` : '';
  const lead = `${sev.padEnd(5)} `;
  const message = hanging(lead, `${checks}${count}${f.message}`, width);
  const out = (compact ? atMost(message, 2, width) : message).map((l, i) => (i === 0 ? `${sev === 'info' ? paint.dim(sev) : paint[sev](sev)}${l.slice(sev.length)}` : l));
  const facts: string[] = [];
  const session = entry.pids.length > 0;
  if (entry.count > 1) facts.push(`pids ${entry.pids.slice(0, 8).join(', ')}${entry.pids.length > 8 ? `, +${entry.pids.length - 8}` : ''}`);
  if (session && f.user) facts.push(`user ${f.user}`);
  if (session && f.application) facts.push(`app ${f.application}`);
  if (session && entry.count === 1 && f.client) facts.push(`client ${f.client}`);
  if (f.file) facts.push(`${f.file}${typeof f.line === 'number' ? `:${f.line}` : ''}`);
  if (facts.length > 0) out.push(...hanging('      ', facts.join(' · '), width).map(paint.dim));
  const query = excerpt(f.query, compact ? width - 20 : 160);
  if (query && !f.file) out.push(...hanging(`      ${queryLabel(f.state ?? null)}: `, query, width).map(paint.dim));
  if (f.remediation) {
    out.push(...hanging('      fix: ', paint.bold(f.remediation.sql), width));
    if (!compact) out.push(...hanging('           ', f.remediation.note, width).map(paint.dim));
  }
  return out;
}

function headerLines(report: Report, width: number, paint: Paint): string[] {
  const parts: string[] = [];
  if (report.server) parts.push(report.server.address, `PostgreSQL ${report.server.version}`);
  if (report.targets.length > 0) parts.push(report.targets.map((t) => `${t.name} (${t.lockMode})`).join(', '));
  parts.push(`${report.durationMs} ms`);
  return wrapWords(parts.join(' · '), width).map(paint.dim);
}

/** One database's report: header, root causes, checks, findings, notes. */
export function reportLines(report: Report, context: ReporterContext): string[] {
  const paint = painter(context.color);
  const width = Math.max(40, context.width ?? DEFAULT_WIDTH);
  const verbose = context.verbose ?? false;
  const view = viewOf(report, verbose);
  const out = headerLines(report, width, paint);
  view.rootCauses.forEach((root, i) => out.push('', ...rootCauseLines(root, { index: i, total: view.rootCauses.length, width, paint })));
  const checks = checkLines(view, width, verbose, paint);
  if (checks.length > 0) out.push('', ...checks);
  const compact = context.compact === true && !verbose;
  const shown = verbose ? view.findings : view.findings.slice(0, compact ? FINDINGS_SHOWN_COMPACT : FINDINGS_SHOWN);
  if (shown.length > 0) {
    out.push('');
    for (const entry of shown) out.push(...entryLines(entry, width, paint, compact));
    const rest = view.findings.length - shown.length;
    if (rest > 0) out.push(paint.dim(`… ${rest} more finding(s): --verbose, or --format json`));
    else if (compact) out.push(...wrapWords('(fitted to the screen: --verbose shows every message in full)', width).map(paint.dim));
  }
  for (const note of report.notes) out.push('', ...hanging('note: ', note, width).map(paint.dim));
  return out;
}

/** The verdict, wrapped to the terminal like every other line (the --offline verdict is long). */
function verdictLines(gate: GateReport, paint: Paint, offline: boolean, width: number): string[] {
  const lead = `Verdict: ${LABEL[gate.verdict]}`;
  const lines = wrapWords(`${lead}: ${verdictText(gate.verdict, gate.exitCode, offline)} (exit ${gate.exitCode})`, width);
  lines[0] = `${paint.bold('Verdict:')} ${paint[gate.verdict](LABEL[gate.verdict])}${(lines[0] ?? '').slice(lead.length)}`;
  return lines;
}

function sectionLines(db: DatabaseSection, context: ReporterContext, paint: Paint): string[] {
  const head = paint.bold(`== ${db.name}${db.optional ? ' (optional)' : ''}: ${LABEL[db.verdict]} ==`);
  if (db.report) return [head, ...reportLines(db.report, context)];
  const width = Math.max(40, context.width ?? DEFAULT_WIDTH);
  return [head, ...hanging('could not be checked: ', `${db.error ?? 'unknown error'}${db.optional ? ' (optional: does not close the gate)' : ''}`, width)];
}

/** The gate document as text: one database in full, several as one section each under the gate's verdict. */
const table: Reporter = (gate, context) => {
  const paint = painter(context.color);
  const only = gate.databases.length === 1 ? gate.databases[0] : undefined;
  if (only?.report) return `${[...verdictLines(gate, paint, isOffline(only.report), Math.max(40, context.width ?? DEFAULT_WIDTH)), ...reportLines(only.report, context)].join('\n')}\n`;
  const blocked = gate.blockedBy.length > 0 ? `, blocked by ${gate.blockedBy.join(', ')}` : '';
  const lead = `Gate verdict: ${LABEL[gate.verdict]}`;
  const out = wrapWords(`${lead} across ${gate.databases.length} databases${gate.exitCode === 0 ? '' : blocked} (exit ${gate.exitCode}, ${gate.durationMs} ms)`, Math.max(40, context.width ?? DEFAULT_WIDTH));
  out[0] = `${paint.bold('Gate verdict:')} ${paint[gate.verdict](LABEL[gate.verdict])}${(out[0] ?? '').slice(lead.length)}`;
  for (const db of gate.databases) out.push('', ...sectionLines(db, context, paint));
  return `${out.join('\n')}\n`;
};

export default table;

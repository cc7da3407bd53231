// The activity report as text for people (a plain table, sized to the terminal when there is
// one), as Markdown for an incident channel (no images), and as JSON for tools.
import pc from 'picocolors';
import { formatDuration } from '../core/units.js';
import { formatAas, formatShare, WAIT_CLASSES, type WaitClass } from './classes.js';
import type { ActivityReport } from './report.js';
import type { Share, StatementLine } from './summary.js';

type Colors = ReturnType<typeof pc.createColors>;

/** Breaks text into lines of at most `width` characters at spaces (a longer word is cut); Infinity keeps one line. */
export function wrap(text: string, width: number, indent = ''): string[] {
  if (!Number.isFinite(width) || text.length <= width) return [text];
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (candidate.length <= width || line === '' || line === indent) line = candidate;
    else {
      lines.push(line);
      line = `${indent}${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => fit(l, width));
}

/** Cuts a line to `width` characters, with an ellipsis; Infinity leaves it whole. */
export function fit(text: string, width: number): string {
  if (!Number.isFinite(width) || text.length <= width) return text;
  return width <= 1 ? text.slice(0, Math.max(0, width)) : `${text.slice(0, width - 1)}…`;
}

const BAR_WIDTH = 20;

function bar(share: number, width = BAR_WIDTH): string {
  return '█'.repeat(Math.round(Math.max(0, Math.min(1, share)) * width));
}

const time = (iso: string | null): string => (iso === null ? '?' : `${iso.slice(11, 19)} UTC`);

export function cpusText(report: Pick<ActivityReport, 'cpus' | 'cpusSource'>): string {
  return report.cpus === null ? 'CPUs unknown (pass --cpus N)' : `${report.cpus} CPUs (${report.cpusSource})`;
}

function who(shares: readonly Share[]): string {
  return shares.map((s) => s.name).join(', ');
}

function waitsOf(statement: StatementLine): string {
  return Object.entries(statement.classes)
    .slice(0, 2)
    .map(([cls, share]) => `${cls} ${formatShare(share ?? 0)}`)
    .join(', ');
}

export function statementText(statement: StatementLine): string {
  if (statement.query !== null && statement.query !== '') return statement.query;
  return statement.queryId !== null ? `query_id ${statement.queryId}` : '(no query text)';
}

function columns(rows: readonly string[][], align: readonly ('l' | 'r')[]): string[] {
  const widths = align.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 && align[i] === 'l' ? cell : align[i] === 'r' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export function headerLines(report: ActivityReport): string[] {
  const w = report.window;
  return [
    `pgpreflight activity · ${report.server.address} · PostgreSQL ${report.server.version}${report.server.inRecovery ? ' (standby)' : ''}`,
    `${formatDuration(w.durationMs)} window, ${w.samples} samples every ${formatDuration(w.intervalMs)}, ${time(w.from)} to ${time(w.to)} · ${cpusText(report)}`,
  ];
}

/** The plain table: hypothesis first, then AAS by class, the top wait events and statements. */
export function renderActivityTable(report: ActivityReport, options: { color: boolean; width: number; top?: number }): string {
  const c: Colors = pc.createColors(options.color);
  const width = options.width;
  const top = options.top ?? 5;
  const out: string[] = headerLines(report).map((line) => c.dim(fit(line, width)));
  out.push('', ...wrap(`Hypothesis: ${report.hypothesis.line}`, width, '  ').map((line, i) => (i === 0 ? `${c.bold('Hypothesis:')}${line.slice('Hypothesis:'.length)}` : line)));
  out.push('', `${c.bold('Average active sessions')} ${formatAas(report.aas)}${report.peak ? ` · busiest second ${formatAas(report.peak.aas)} at ${time(report.peak.at)}` : ''}${report.cpus !== null ? ` · ${report.cpus} CPUs` : ''}`);
  const classes = WAIT_CLASSES.filter((cls) => report.byClass[cls] > 0);
  if (classes.length > 0) {
    const rows = [['class', 'AAS', 'share', ''], ...classes.map((cls) => [cls, formatAas(report.byClass[cls]), formatShare(report.aas === 0 ? 0 : report.byClass[cls] / report.aas), bar(report.aas === 0 ? 0 : report.byClass[cls] / report.aas)])];
    out.push(...columns(rows, ['l', 'r', 'r', 'l']).map((line) => `  ${line}`));
  } else {
    out.push('  no active session in any sample');
  }
  const events = report.topWaitEvents.slice(0, top);
  if (events.length > 0) {
    out.push('', c.bold('Top wait events') + c.dim(' (share of active samples)'));
    const rows = [['share', 'AAS', 'class', 'event'], ...events.map((e) => [formatShare(e.share), formatAas(e.aas), e.class, e.event])];
    out.push(...columns(rows, ['r', 'r', 'l', 'l']).map((line) => fit(`  ${line}`, width)));
  }
  const statements = report.topStatements.slice(0, top);
  if (statements.length > 0) {
    out.push('', c.bold('Top statements') + c.dim(' (share of active samples)'));
    const rows = [['share', 'AAS', 'waits', 'user / application', 'statement'], ...statements.map((s) => [formatShare(s.share), formatAas(s.aas), waitsOf(s), `${who(s.users) || '?'} / ${who(s.applications)}`, statementText(s)])];
    out.push(...columns(rows, ['r', 'r', 'l', 'l', 'l']).map((line) => fit(`  ${line}`, width)));
  }
  if (report.hidden > 0) {
    out.push('', c.yellow(fit(`note: ${report.hidden} session(s) of other roles are hidden from ${report.server.currentUser}: their activity is not counted. Grant pg_monitor for the whole picture`, width)));
  }
  return `${out.join('\n')}\n`;
}

const md = (text: string): string => text.replace(/\|/g, '\\|').replace(/`/g, "'");

/** Markdown for an incident channel: text and tables only. */
export function renderActivityMarkdown(report: ActivityReport, top = 5): string {
  const w = report.window;
  const out = [
    `### pgpreflight activity: ${md(report.server.address)}`,
    '',
    `**${report.hypothesis.line}**`,
    '',
    `AAS **${formatAas(report.aas)}** over ${formatDuration(w.durationMs)} (${w.samples} samples every ${formatDuration(w.intervalMs)}, ${time(w.from)} to ${time(w.to)}), ${md(cpusText(report))}${report.peak ? `; busiest second ${formatAas(report.peak.aas)}` : ''}. PostgreSQL ${md(report.server.version)}.`,
    '',
  ];
  const classes = WAIT_CLASSES.filter((cls) => report.byClass[cls] > 0);
  if (classes.length > 0) {
    out.push('| wait class | AAS | share | |', '| --- | ---: | ---: | --- |');
    for (const cls of classes) {
      const share = report.aas === 0 ? 0 : report.byClass[cls] / report.aas;
      out.push(`| ${cls} | ${formatAas(report.byClass[cls])} | ${formatShare(share)} | ${bar(share, 10)} |`);
    }
    out.push('');
  }
  if (report.topWaitEvents.length > 0) {
    out.push('**Top wait events**', '', '| share | AAS | class | event |', '| ---: | ---: | --- | --- |');
    for (const e of report.topWaitEvents.slice(0, top)) out.push(`| ${formatShare(e.share)} | ${formatAas(e.aas)} | ${e.class} | ${md(e.event)} |`);
    out.push('');
  }
  if (report.topStatements.length > 0) {
    out.push('**Top statements**', '', '| share | AAS | waits | users | applications | statement |', '| ---: | ---: | --- | --- | --- | --- |');
    for (const s of report.topStatements.slice(0, top)) {
      out.push(`| ${formatShare(s.share)} | ${formatAas(s.aas)} | ${waitsOf(s)} | ${md(who(s.users))} | ${md(who(s.applications))} | \`${md(statementText(s))}\` |`);
    }
    out.push('');
  }
  if (report.hidden > 0) out.push(`> ${report.hidden} session(s) of other roles are hidden from ${md(report.server.currentUser)}: their activity is not counted. Grant pg_monitor for the whole picture.`, '');
  return `${out.join('\n')}`;
}

export function renderActivityJson(report: ActivityReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** --watch when stdout is not a terminal: one plain line per second, under one header. */
export function streamHeader(): string {
  return `${['time', 'samples', 'AAS', ...WAIT_CLASSES, 'hidden'].map((h, i) => (i === 0 ? h.padEnd(12) : h.padStart(Math.max(h.length, 5)))).join(' ')}\n`;
}

export function streamLine(second: { at: number; samples: number; aas: number; byClass: Record<WaitClass, number>; hidden: number }): string {
  const cells = [new Date(second.at).toISOString().slice(11, 19).padEnd(12), String(second.samples).padStart(7), formatAas(second.aas).padStart(5)];
  for (const cls of WAIT_CLASSES) cells.push(formatAas(second.byClass[cls]).padStart(Math.max(cls.length, 5)));
  cells.push(String(second.hidden).padStart(6));
  return `${cells.join(' ')}\n`;
}

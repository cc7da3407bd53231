// GitHub Actions: workflow-command annotations on stdout (one per failing or warning check),
// a Markdown job summary and step outputs. This module only formats; `pgpreflight check`
// appends the summary to $GITHUB_STEP_SUMMARY and the outputs to $GITHUB_OUTPUT.
// Workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
// Escaping is exactly @actions/core's (toolkit packages/core/src/command.ts).
import { randomUUID } from 'node:crypto';
import { gateOfReport, type DatabaseSection, type GateReport } from '../gate/gate.js';
import type { CheckResult, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { GateReporter, Reporter, ReporterContext } from './types.js';
import { renderGate as renderMarkdown } from './markdown.js';

/** A command's message: %, CR and LF encoded, as @actions/core escapeData. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** A command's property value: also : and , encoded, as @actions/core escapeProperty. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function workflowCommand(command: string, properties: Record<string, string>, message: string): string {
  const props = Object.entries(properties)
    .map(([key, value]) => `${key}=${escapeProperty(value)}`)
    .join(',');
  return `::${command}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

const LEVEL: Partial<Record<Status, 'error' | 'warning'>> = { fail: 'error', error: 'error', warn: 'warning' };

function annotationFor(db: DatabaseSection, check: CheckResult, several: boolean): string | undefined {
  const level = LEVEL[check.status];
  if (!level) return undefined;
  const where = several ? ` [${db.name}]` : '';
  const lines = [check.summary];
  for (const finding of check.findings.filter((f) => f.severity !== 'info').slice(0, 10)) {
    const age = typeof finding.ageSeconds === 'number' ? `, ${formatDuration(finding.ageSeconds * 1000)}` : '';
    const pid = typeof finding.pid === 'number' ? `pid ${finding.pid}${age}: ` : '';
    lines.push(`- ${pid}${finding.message}${finding.remediation ? ` — fix: ${finding.remediation.sql}` : ''}`);
  }
  return workflowCommand(level, { title: `pgpreflight${where}: ${check.title} (${check.id})` }, lines.join('\n'));
}

const FINDING_LEVEL: Partial<Record<string, 'error' | 'warning'>> = { fail: 'error', error: 'error', warn: 'warning' };

/** Findings about a migration file also get an annotation on their file and line, shown in the PR diff. */
function fileAnnotations(check: CheckResult): string[] {
  return check.findings.flatMap((finding) => {
    const level = FINDING_LEVEL[finding.severity];
    if (!level || !finding.file) return [];
    const properties: Record<string, string> = { title: `pgpreflight: ${check.id}`, file: finding.file };
    if (typeof finding.line === 'number') properties.line = String(finding.line);
    const fix = finding.remediation ? ` — fix: ${finding.remediation.sql}` : '';
    return [workflowCommand(level, properties, `${finding.message}${fix}`)];
  });
}

/** Annotations, one per failing or warning check (and per database that could not be checked). */
export const renderGate: GateReporter = (gate, { exitCode }) => {
  const several = gate.databases.length > 1;
  const lines: string[] = [];
  for (const db of gate.databases) {
    if (!db.report) {
      const level = db.optional ? 'warning' : 'error';
      lines.push(workflowCommand(level, { title: `pgpreflight${several ? ` [${db.name}]` : ''}: could not check the database` }, db.error ?? 'could not be checked'));
      continue;
    }
    for (const check of db.report.checks) {
      const annotation = annotationFor(db, check, several);
      if (annotation) lines.push(annotation);
      lines.push(...fileAnnotations(check));
    }
  }
  const blocked = gate.blockedBy.length > 0 && several ? ` (blocked by ${gate.blockedBy.join(', ')})` : '';
  lines.push(`pgpreflight: verdict ${gate.verdict}${blocked}, exit ${exitCode}; checked ${gate.databases.map((db) => db.display).join(', ')}`);
  return `${lines.join('\n')}\n`;
};

const github: Reporter = (report, context) => renderGate(gateOfReport(report, context.exitCode), context);

export default github;

export interface GithubStepFiles {
  /** Markdown appended to $GITHUB_STEP_SUMMARY. */
  summary: string;
  /** Step outputs: verdict, failed-checks, report-path. */
  outputs: Record<string, string>;
}

/** The job summary and step outputs of a run; `failed-checks` is `db:check` with several databases. */
export function stepFiles(gate: GateReport, context: ReporterContext, reportPath: string): GithubStepFiles {
  const several = gate.databases.length > 1;
  const failed = gate.databases.flatMap((db) => db.blocking.map((id) => (several ? `${db.name}:${id}` : id)));
  return {
    summary: renderMarkdown(gate, context),
    outputs: { verdict: gate.verdict, 'failed-checks': failed.join(','), 'report-path': reportPath },
  };
}

/** $GITHUB_OUTPUT lines in the heredoc form @actions/core writes (a random delimiter per value). */
export function outputFileText(outputs: Record<string, string>): string {
  return Object.entries(outputs)
    .map(([name, value]) => {
      const delimiter = `ghadelimiter_${randomUUID()}`;
      return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
    })
    .join('');
}

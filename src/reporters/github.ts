// GitHub Actions: workflow-command annotations on stdout, short and few: one per root blocker
// (on the migration file and line that would queue behind it, when the run had --migration),
// one per migration finding on its file and line, and one per check that did not pass for
// the rest; then a Markdown job summary and step outputs. This module only formats;
// `pgpreflight check` appends the summary to $GITHUB_STEP_SUMMARY and the outputs to $GITHUB_OUTPUT.
// Workflow commands: https://docs.github.com/actions/reference/workflow-commands-for-github-actions
// Escaping is exactly @actions/core's (toolkit packages/core/src/command.ts).
import { randomUUID } from 'node:crypto';
import type { DatabaseSection, GateReport } from '../gate/gate.js';
import type { Finding, Report, RootCause, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { Reporter, ReporterContext } from './types.js';
import markdown from './markdown.js';
import { heldText, stateText, viewOf, whoOf } from './view.js';

/** GitHub shows at most 10 error and 10 warning annotations of a step. */
export const ANNOTATIONS_PER_LEVEL = 10;
/** An annotation's message, at most (the fix SQL is never cut). */
export const ANNOTATION_CHARS = 500;

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

type Level = 'error' | 'warning';

interface Annotation {
  level: Level;
  properties: Record<string, string>;
  message: string;
}

const LEVEL: Partial<Record<Status | Finding['severity'], Level>> = { fail: 'error', error: 'error', warn: 'warning' };
const age = (seconds: number | null): string => (seconds === null ? 'unknown' : formatDuration(seconds * 1000));

/** Text cut at a word boundary to `max` characters, then `tail` (never cut). */
function short(text: string, max: number, tail = ''): string {
  const room = max - tail.length;
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= room) return `${flat}${tail}`;
  const cut = flat.slice(0, room - 1);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), room / 2))}…${tail}`;
}

const bare = (name: string): string => (name.split('.').pop() ?? name).replace(/"/g, '').toLowerCase();

/** The migration statement that would queue behind this root: the first one on a relation it holds. */
function migrationPlace(report: Report, root: RootCause): { file: string; line?: number } | undefined {
  const held = new Set(root.holds.map((h) => h.relation).filter((r): r is string => r !== null).map(bare));
  const located = report.checks.flatMap((c) => c.findings).filter((f) => typeof f.file === 'string');
  const place = located.find((f) => f.target !== undefined && held.has(bare(f.target))) ?? located[0];
  return place?.file === undefined ? undefined : { file: place.file, ...(typeof place.line === 'number' ? { line: place.line } : {}) };
}

function rootAnnotation(report: Report, root: RootCause, where: string): Annotation {
  const who = [root.application, root.user].filter(Boolean).join(', ');
  const fix = root.remediation ? ` Fix: ${root.remediation.sql}` : '';
  const facts = `${whoOf(root)}${who ? ` (${who})` : ''}, ${stateText(root)}${root.xactAgeSeconds !== null ? ` for ${age(root.xactAgeSeconds)}` : ''}, holds ${heldText(root)}; ${root.waiting} session(s) queued behind it, oldest ${age(root.oldestWaitSeconds)}.`;
  const place = migrationPlace(report, root);
  return {
    level: 'error',
    properties: { title: `pgpreflight${where}: root blocker ${whoOf(root)}`, ...(place ? { file: place.file, ...(place.line ? { line: String(place.line) } : {}) } : {}) },
    message: short(facts, ANNOTATION_CHARS, fix),
  };
}

function findingText(f: Finding): string {
  const fix = f.remediation ? ` Fix: ${f.remediation.sql}` : '';
  return short(f.message, ANNOTATION_CHARS, fix);
}

/** Annotations for one database, most important first. */
function annotationsOf(db: DatabaseSection, several: boolean): Annotation[] {
  const where = several ? ` [${db.name}]` : '';
  if (!db.report) return [{ level: db.optional ? 'warning' : 'error', properties: { title: `pgpreflight${where}: could not check the database` }, message: short(db.error ?? 'could not be checked', ANNOTATION_CHARS) }];
  const report = db.report;
  const view = viewOf(report);
  const out = view.rootCauses.map((root) => rootAnnotation(report, root, where));
  // Findings on a migration file: on their file and line, shown in the pull request's diff.
  const onFiles = view.findings.filter((e) => typeof e.finding.file === 'string' && LEVEL[e.finding.severity]);
  for (const { finding, check } of onFiles) {
    out.push({
      level: LEVEL[finding.severity] as Level,
      properties: { title: `pgpreflight${where}: ${check}`, file: finding.file as string, ...(typeof finding.line === 'number' ? { line: String(finding.line) } : {}) },
      message: findingText(finding),
    });
  }
  // Every other session once, under its worst finding, titled with every check that flagged it.
  for (const entry of view.findings) {
    const f = entry.finding;
    const level = LEVEL[f.severity];
    if (!level || f.file !== undefined || entry.pids.length === 0) continue;
    const who = entry.count > 1 ? `${entry.count} sessions` : `pid ${entry.pids[0]}`;
    out.push({ level, properties: { title: `pgpreflight${where}: ${who} (${entry.checks.join(', ')})` }, message: findingText(f) });
  }
  // The rest by check: its summary, its first finding and how many more.
  for (const check of view.problems) {
    const level = LEVEL[check.status];
    if (!level) continue;
    const rest = view.findings.filter((e) => e.check === check.id && e.pids.length === 0 && e.finding.file === undefined && e.finding.severity !== 'info');
    const covered = check.findings.some((f) => typeof f.pid === 'number' || typeof f.file === 'string') || view.findings.some((e) => e.checks.includes(check.id));
    if (rest.length === 0 && covered) continue;
    const first = rest[0]?.finding;
    const more = rest.length > 1 ? ` (+${rest.length - 1} more in the job summary)` : '';
    const fix = first?.remediation ? ` Fix: ${first.remediation.sql}` : '';
    const message = first ? short(`${check.summary}: ${first.message}`, ANNOTATION_CHARS, `${fix}${more}`) : short(check.summary, ANNOTATION_CHARS);
    out.push({ level, properties: { title: `pgpreflight${where}: ${check.title} (${check.id})` }, message });
  }
  return out;
}

/** Annotations (at most 10 per level, as GitHub shows) and a last plain line with the verdict. */
const github: Reporter = (gate) => {
  const several = gate.databases.length > 1;
  const all = gate.databases.flatMap((db) => annotationsOf(db, several));
  const lines: string[] = [];
  const left: Record<Level, number> = { error: 0, warning: 0 };
  for (const level of ['error', 'warning'] as const) {
    const mine = all.filter((a) => a.level === level);
    for (const a of mine.slice(0, ANNOTATIONS_PER_LEVEL)) lines.push(workflowCommand(a.level, a.properties, a.message));
    left[level] = Math.max(0, mine.length - ANNOTATIONS_PER_LEVEL);
  }
  if (left.error + left.warning > 0) lines.push(workflowCommand('notice', { title: 'pgpreflight' }, `${left.error + left.warning} more finding(s) than GitHub shows as annotations: see the job summary`));
  const blocked = gate.blockedBy.length > 0 && several ? ` (blocked by ${gate.blockedBy.join(', ')})` : '';
  lines.push(`pgpreflight: verdict ${gate.verdict}${blocked}, exit ${gate.exitCode}; checked ${gate.databases.map((db) => db.address).join(', ')}`);
  return `${lines.join('\n')}\n`;
};

export default github;

export interface GithubStepFiles {
  /** Markdown appended to $GITHUB_STEP_SUMMARY. */
  summary: string;
  /** Step outputs: verdict, failed-checks, report-path. */
  outputs: Record<string, string>;
}

/** What the step outputs need of a document; version 1's gate document has it too. */
export type OutputSource = Pick<GateReport, 'verdict'> & { databases: readonly Pick<DatabaseSection, 'name' | 'blocking'>[] };

/** Step outputs: verdict, failed-checks (`db:check` with several databases), report-path. */
export function stepOutputs(gate: OutputSource, reportPath: string): Record<string, string> {
  const several = gate.databases.length > 1;
  const failed = gate.databases.flatMap((db) => db.blocking.map((id) => (several ? `${db.name}:${id}` : id)));
  return { verdict: gate.verdict, 'failed-checks': failed.join(','), 'report-path': reportPath };
}

/** The job summary and step outputs of a run. */
export function stepFiles(gate: GateReport, context: ReporterContext, reportPath: string): GithubStepFiles {
  return { summary: markdown(gate, context), outputs: stepOutputs(gate, reportPath) };
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


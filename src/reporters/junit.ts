// JUnit XML for CI systems that read test reports: one <testsuite> per database, one
// <testcase> per check and target table. A check that blocks on a table is a <failure>
// whose message is its summary and whose body lists the findings; a database that could
// not be checked, or a check that could not evaluate, is an <error>.
import type { DatabaseSection, GateReport } from '../gate/gate.js';
import type { CheckResult, Finding, Report, Status } from '../core/types.js';
import { formatDuration } from '../core/units.js';
import type { Reporter } from './types.js';

/** Text safe inside XML content and attribute values; characters XML 1.0 forbids are dropped. */
export function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const ORDER: Status[] = ['pass', 'skip', 'warn', 'fail', 'error'];
const SEVERITY_STATUS: Record<Finding['severity'], Status> = { info: 'pass', warn: 'warn', fail: 'fail', error: 'error' };

function findingText(finding: Finding): string {
  const facts: string[] = [];
  if (typeof finding.pid === 'number') facts.push(`pid ${finding.pid}`);
  if (finding.user) facts.push(`user ${finding.user}`);
  if (finding.application) facts.push(`app ${finding.application}`);
  if (typeof finding.ageSeconds === 'number') facts.push(`age ${formatDuration(finding.ageSeconds * 1000)}`);
  if (finding.state) facts.push(finding.state);
  if (finding.lockMode) facts.push(`${finding.lockMode} ${finding.granted === false ? 'waiting' : 'granted'}`);
  const lines = [`[${finding.severity}] ${finding.message}`];
  if (facts.length > 0) lines.push(`  ${facts.join(' · ')}`);
  if (finding.query) lines.push(`  query: ${finding.query.replace(/\s+/g, ' ').trim()}`);
  if (finding.remediation) lines.push(`  fix: ${finding.remediation.sql}  -- ${finding.remediation.note}`);
  return lines.join('\n');
}

interface Case {
  classname: string;
  name: string;
  /** failure, error, skipped or nothing (passed). */
  outcome: 'passed' | 'failure' | 'error' | 'skipped';
  message: string;
  body: string;
}

/** pgpreflight.<check>, or pgpreflight.<database>.<check> with several databases; dots only between parts. */
function classnameOf(db: DatabaseSection, several: boolean, last: string): string {
  return several ? `pgpreflight.${db.name.replace(/[^A-Za-z0-9_-]+/g, '_')}.${last}` : `pgpreflight.${last}`;
}

function casesOfCheck(db: DatabaseSection, several: boolean, report: Report, check: CheckResult): Case[] {
  const classname = classnameOf(db, several, check.id);
  const targets = report.targets.length > 0 ? report.targets.map((t) => t.name) : [undefined];
  const blocks = db.blocking.includes(check.id);
  return targets.map((target) => {
    // Findings without a target (replication lag, sessions elsewhere) concern every table.
    const findings = check.findings.filter((f) => target === undefined || f.target === undefined || f.target === target);
    const worst = check.status === 'skip' || check.status === 'error' ? check.status : findings.reduce<Status>((w, f) => (ORDER.indexOf(SEVERITY_STATUS[f.severity]) > ORDER.indexOf(w) ? SEVERITY_STATUS[f.severity] : w), 'pass');
    const outcome: Case['outcome'] = worst === 'error' ? 'error' : worst === 'skip' ? 'skipped' : blocks && (worst === 'fail' || worst === 'warn') ? 'failure' : 'passed';
    const shown = findings.filter((f) => f.severity !== 'info');
    return {
      classname,
      name: target === undefined ? check.id : `${check.id} on ${target}`,
      outcome,
      message: check.summary,
      body: shown.map(findingText).join('\n'),
    };
  });
}

function casesOf(db: DatabaseSection, several: boolean): Case[] {
  if (!db.report) {
    return [{ classname: classnameOf(db, several, 'connect'), name: 'connect', outcome: db.optional ? 'skipped' : 'error', message: db.error ?? 'could not be checked', body: '' }];
  }
  const report = db.report;
  return report.checks.flatMap((check) => casesOfCheck(db, several, report, check));
}

function caseXml(c: Case): string {
  const open = `    <testcase classname="${xml(c.classname)}" name="${xml(c.name)}" time="0">`;
  if (c.outcome === 'passed') return c.body === '' ? `${open}</testcase>` : `${open}\n      <system-out>${xml(c.body)}</system-out>\n    </testcase>`;
  if (c.outcome === 'skipped') return `${open}\n      <skipped message="${xml(c.message)}"/>\n    </testcase>`;
  const type = c.outcome === 'failure' ? 'fail' : 'error';
  return `${open}\n      <${c.outcome} message="${xml(c.message)}" type="${type}">${xml(c.body || c.message)}</${c.outcome}>\n    </testcase>`;
}

const junit: Reporter = (gate: GateReport) => {
  const several = gate.databases.length > 1;
  const suites = gate.databases.map((db) => {
    const cases = casesOf(db, several);
    const count = (outcome: Case['outcome']): number => cases.filter((c) => c.outcome === outcome).length;
    const seconds = ((db.report?.durationMs ?? 0) / 1000).toFixed(3);
    const stamp = db.report ? ` timestamp="${xml(new Date().toISOString().slice(0, 19))}"` : '';
    return [
      `  <testsuite name="${xml(`pgpreflight ${db.name}`)}" tests="${cases.length}" failures="${count('failure')}" errors="${count('error')}" skipped="${count('skipped')}" time="${seconds}"${stamp} hostname="${xml(db.address)}">`,
      `    <properties>\n      <property name="database" value="${xml(db.address)}"/>\n      <property name="verdict" value="${db.verdict}"/>\n    </properties>`,
      ...cases.map(caseXml),
      '  </testsuite>',
    ].join('\n');
  });
  const all = gate.databases.flatMap((db) => casesOf(db, several));
  const total = (outcome: Case['outcome']): number => all.filter((c) => c.outcome === outcome).length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="pgpreflight" tests="${all.length}" failures="${total('failure')}" errors="${total('error')}" skipped="${total('skipped')}" time="${(gate.durationMs / 1000).toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
};

export default junit;

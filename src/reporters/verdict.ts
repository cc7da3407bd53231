// The verdict in words, for the formats that spell it out (table, markdown). A pass is
// only "safe to migrate now" when the live server was looked at: --offline read the SQL
// alone, and a run that evaluated nothing never reads as safe.
import type { Report, Status } from '../core/types.js';

export function verdictText(verdict: Status, exitCode: number, offline: boolean): string {
  if (offline && (verdict === 'pass' || verdict === 'warn')) {
    return `the migration's SQL passed static analysis${verdict === 'warn' ? ', with warnings' : ''}; no server was looked at (--offline), so it says nothing about locks, sessions or sizes right now: run the gate without --offline at deploy time`;
  }
  const text: Record<Status, string> = {
    pass: 'safe to migrate now',
    skip: 'nothing was evaluated: the gate stays closed',
    warn: exitCode === 0 ? 'safe to migrate, with warnings' : 'blocked by warnings (--fail-on warn)',
    fail: 'deploy blocked',
    error: 'could not evaluate: the gate stays closed',
  };
  return text[verdict];
}

/** True for a report of `check --offline`: nothing live was read. */
export function isOffline(report: Report | null | undefined): boolean {
  return report?.offline === true;
}

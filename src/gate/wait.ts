// --wait: when the gate blocks, look again with exponential backoff and jitter until it
// opens or the deadline passes. A blip (a short transaction, a server restarting) then
// delays the deploy instead of failing it. Bad input and auth failures are not retried:
// another look cannot fix them. Each attempt prints one line to stderr.
import type { GateResult } from './gate.js';
import { formatDuration } from '../core/units.js';

export const FIRST_RETRY_MS = 1000;

/**
 * The pause before retry number `retry` (1-based): 1 s, 2 s, 4 s ... capped at maxMs, with
 * ±20% jitter so that many pipelines waiting on one server do not look in lockstep.
 */
export function backoffDelay(retry: number, maxMs: number, random: () => number = Math.random, firstMs = FIRST_RETRY_MS): number {
  const base = Math.min(maxMs, firstMs * 2 ** Math.max(0, retry - 1));
  return Math.min(maxMs, Math.round(base * (0.8 + 0.4 * random())));
}

export interface WaitOptions {
  /** The whole wait budget (--wait). */
  waitMs: number;
  /** Longest pause between attempts (--wait-max-interval). */
  maxIntervalMs: number;
  /** Aborted on SIGINT: the wait stops at once. */
  signal: AbortSignal;
  attempt: () => Promise<GateResult>;
  /** Receives one line per attempt (stderr). */
  log: (line: string) => void;
  random?: () => number;
}

export type WaitOutcome =
  | { kind: 'finished'; result: GateResult; attempts: number; elapsedMs: number }
  | { kind: 'interrupted'; last: GateResult | undefined; attempts: number; elapsedMs: number };

class Interrupted extends Error {}

function interruptible<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Interrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new Interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return interruptible(
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
    signal,
  ).finally(() => clearTimeout(timer));
}

/** What still blocks, in one short phrase: `shard-2: locks, idle-in-transaction (pids 812, 813)`. */
export function describeBlockers(result: GateResult): string {
  const parts: string[] = [];
  for (const section of result.gate.databases) {
    if (section.exitCode === 0 || (section.optional && section.report === null)) continue;
    const prefix = result.gate.databases.length > 1 ? `${section.name}: ` : '';
    if (section.report === null) {
      // The first sentence says what failed; the full line with the fix ends the run if it lasts.
      parts.push(`${prefix}${(section.error ?? 'could not be checked').split('. ')[0]}`);
      continue;
    }
    const pids = new Set<number>();
    for (const check of section.report.checks) {
      if (!section.blocking.includes(check.id)) continue;
      for (const finding of check.findings) if (finding.severity !== 'info' && typeof finding.pid === 'number') pids.add(finding.pid);
    }
    const shownPids = [...pids].slice(0, 5);
    const pidText = shownPids.length === 0 ? '' : ` (pid${shownPids.length > 1 ? 's' : ''} ${shownPids.join(', ')}${pids.size > shownPids.length ? ', ...' : ''})`;
    parts.push(`${prefix}${section.blocking.join(', ') || section.verdict}${pidText}`);
  }
  return parts.join('; ');
}

/** Attempts until the gate opens, cannot be helped by waiting, or the deadline passes. */
export async function waitForClearWindow(options: WaitOptions): Promise<WaitOutcome> {
  const started = Date.now();
  const deadline = started + options.waitMs;
  let attempts = 0;
  let last: GateResult | undefined;
  try {
    for (;;) {
      attempts += 1;
      const result = await interruptible(options.attempt(), options.signal);
      last = result;
      const elapsed = Date.now() - started;
      const head = `pgpreflight: attempt ${attempts} · ${formatDuration(elapsed)} elapsed`;
      if (result.exitCode === 0) {
        options.log(`${head} · gate open (${result.gate.verdict})`);
        return { kind: 'finished', result, attempts, elapsedMs: elapsed };
      }
      if (!result.retryable) {
        options.log(`${head} · not retried: ${describeBlockers(result)}`);
        return { kind: 'finished', result, attempts, elapsedMs: elapsed };
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        options.log(`${head} · still blocked at the --wait deadline: ${describeBlockers(result)}`);
        return { kind: 'finished', result, attempts, elapsedMs: elapsed };
      }
      const delay = Math.min(remaining, backoffDelay(attempts, options.maxIntervalMs, options.random));
      options.log(`${head} · blocked: ${describeBlockers(result)} · next look in ${formatDuration(delay)}`);
      await pause(delay, options.signal);
    }
  } catch (error) {
    if (error instanceof Interrupted) return { kind: 'interrupted', last, attempts, elapsedMs: Date.now() - started };
    throw error;
  }
}

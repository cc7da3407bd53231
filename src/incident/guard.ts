// `pgpreflight run -- <command>`: the migration guard.
//
// Each attempt runs the gate, then the migration command with lock_timeout and
// statement_timeout in PGOPTIONS and a recognisable PGAPPNAME, so any libpq or
// node-postgres based tool picks them up without code changes. While the command
// runs, the guard looks at the lock queue on its own connection; when the
// migration's backend has waited too long, or too many queries queue behind it, it
// cancels that backend so the queue drains at once, and names who was in the way.
// A failure caused by a lock is retried with exponential backoff and jitter.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type pg from 'pg';
import { BLOCKING_TREE_QUERIES, preparedBlockersOf, relationNames, waitersBehind, waitingLocks } from './blocking-tree.js';
import { blockingGraph } from '../../checks/locks.js';
import { sessionsByPid } from '../../checks/support.js';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { GUARD_APPLICATION_NAME, judgeGuard, readGuardRights } from './guard-privileges.js';
import { boundedLook, ServerLost, trackConnectionErrors } from './bounded-look.js';
import { PreflightError, redact } from '../core/errors.js';
import { runGate, type GateResult } from '../gate/gate.js';
import { KeptConnections } from '../gate/connections.js';
import { APPLICATION_NAME, type FailOn, type RunRequest } from '../gate/runner.js';
import { describeBlockers, waitForClearWindow } from '../gate/wait.js';
import { takeSnapshot } from '../gate/snapshot.js';
import type { LockRow, Report, Snapshot } from '../core/types.js';
import { formatDuration } from '../core/units.js';

export { GUARD_APPLICATION_NAME } from './guard-privileges.js';
/** The PGAPPNAME given to the migration: how the guard finds its backend. */
export const migrationApplicationName = (): string => `pgpreflight-migration-${process.pid}`;

/** Longest pause between attempts, whatever the backoff says. */
export const MAX_RETRY_DELAY_MS = 60_000;

/**
 * How a lock failure shows in a migration tool's output: SQLSTATE 55P03
 * (lock_not_available) where the tool prints codes, psql's and most drivers'
 * English messages for it otherwise (lock_timeout, or NOWAIT).
 * https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
const LOCK_FAILURE_OUTPUT = /\b55P03\b|canceling statement due to lock timeout|could not obtain lock on/i;

export interface GuardRequest {
  gate: Omit<RunRequest, 'connection'>;
  connection: ConnectionSpec;
  failOn: FailOn;
  command: string;
  args: readonly string[];
  /** Environment for the child, before PGOPTIONS and PGAPPNAME are added. */
  env: Record<string, string | undefined>;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
  maxQueueWaitMs: number;
  maxQueued: number;
  retries: number;
  retryDelayMs: number;
  /** How often the guard looks at the lock queue. */
  pollMs: number;
  /** Before each attempt, look again with backoff until the gate opens, up to this long (0: one look). */
  waitMs: number;
  /** Longest pause between those looks. */
  waitMaxIntervalMs: number;
}

export interface GuardOutput {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Formats a blocked gate's report for stderr. */
  renderGate: (report: Report, exitCode: number) => string;
}

/** Who the migration waited for, as seen by the guard. */
export interface Culprit {
  pid: number | null;
  gid: string | null;
  state: string | null;
  xactAgeSeconds: number | null;
  user: string | null;
  application: string | null;
  query: string | null;
}

export interface GuardCancel {
  pid: number;
  reason: 'wait' | 'queue';
  waitedMs: number;
  queued: number;
  mode: string;
  relation: string | null;
  culprits: Culprit[];
}

/** PGOPTIONS for the child: the caller's own options first, the guard's timeouts last so they win. */
export function childPgOptions(existing: string | undefined, lockTimeoutMs: number, statementTimeoutMs: number): string {
  const ours = `-c lock_timeout=${Math.round(lockTimeoutMs)} -c statement_timeout=${Math.round(statementTimeoutMs)}`;
  return existing && existing.trim() !== '' ? `${existing.trim()} ${ours}` : ours;
}

/** Exponential backoff with equal jitter: half the step fixed, half random. */
export function backoffMs(retry: number, baseMs: number, random: () => number = Math.random): number {
  const step = Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

export function describeCulprit(c: Culprit): string {
  if (c.pid === null) return `prepared transaction '${c.gid ?? '?'}' (open ${c.xactAgeSeconds === null ? 'unknown' : formatDuration(c.xactAgeSeconds * 1000)})`;
  const facts = [
    c.state ?? 'state hidden',
    c.xactAgeSeconds === null ? null : `transaction ${formatDuration(c.xactAgeSeconds * 1000)}`,
    c.user ? `user ${c.user}` : null,
    c.application ? `app ${c.application}` : null,
    c.query ? `query: ${JSON.stringify(c.query.replace(/\s+/g, ' ').trim().slice(0, 120))}` : null,
  ].filter((f): f is string => f !== null);
  return `pid ${c.pid} (${facts.join(', ')})`;
}

function culpritsOf(snapshot: Snapshot, waiting: LockRow): Culprit[] {
  const sessions = sessionsByPid(snapshot);
  const out: Culprit[] = [];
  for (const pid of waiting.blockingPids) {
    if (pid === 0) {
      for (const p of preparedBlockersOf(waiting, snapshot)) out.push({ pid: null, gid: p.gid, state: 'prepared', xactAgeSeconds: p.ageSeconds, user: p.owner, application: null, query: null });
      continue;
    }
    const s = sessions.get(pid);
    out.push({ pid, gid: null, state: s?.state ?? null, xactAgeSeconds: s?.xactAgeSeconds ?? null, user: s?.user ?? null, application: s?.application ?? null, query: s?.query ?? null });
  }
  return out;
}

/** What one look at the queue says about the migration's backends. */
export interface QueueLook {
  /** The migration backend that waits for a lock, if any. */
  waiting: { pid: number; waitedMs: number; queued: number; mode: string; relation: string | null; culprits: Culprit[] } | null;
}

/** Reads the queue once, from a snapshot on the guard's own connection. */
export function lookAtQueue(snapshot: Snapshot, applicationName: string, firstSeenWaiting: Map<number, number>, now: number): QueueLook {
  const graph = blockingGraph(snapshot);
  const waits = waitingLocks(snapshot);
  const names = relationNames(snapshot);
  const migration = snapshot.sessions.filter((s) => s.application === applicationName);
  for (const s of migration) {
    const lock = waits.get(s.pid);
    if (!lock) {
      firstSeenWaiting.delete(s.pid);
      continue;
    }
    if (!firstSeenWaiting.has(s.pid)) firstSeenWaiting.set(s.pid, now);
    // waitstart can be NULL for a moment after the wait begins; fall back to when the guard first saw it.
    const waitedMs = lock.waitSeconds !== null ? lock.waitSeconds * 1000 : now - (firstSeenWaiting.get(s.pid) ?? now);
    return {
      waiting: {
        pid: s.pid,
        waitedMs,
        queued: waitersBehind(s.pid, graph).size,
        mode: lock.mode,
        relation: lock.relation === null ? null : names.get(lock.relation) ?? String(lock.relation),
        culprits: culpritsOf(snapshot, lock),
      },
    };
  }
  return { waiting: null };
}

interface AttemptOutcome {
  exitCode: number;
  signal: NodeJS.Signals | null;
  lockFailure: boolean;
  cancels: GuardCancel[];
  /** Last blockers seen while the migration waited (for a lock_timeout the guard did not cause). */
  lastCulprits: Culprit[];
  guardProblem: string | null;
  /**
   * The guard was connected and then lost the server (it stopped answering within
   * --timeout, or the connection died): the one-line reason. The command is stopped.
   */
  lostServer: string | null;
  /** The guard sent the command SIGTERM because it lost the server. */
  stoppedCommand: boolean;
  /** The guard saw a backend with the migration's application_name at least once. */
  sawMigration: boolean;
  durationMs: number;
}

const sleep = (ms: number, interrupted: Promise<void>): Promise<void> => Promise.race([new Promise<void>((r) => setTimeout(r, ms)), interrupted]);

/** How long a stopped command gets between SIGTERM and SIGKILL. */
const STOP_GRACE_MS = 5000;

/**
 * Watches the queue until `done` resolves; cancels the migration's backend when it must.
 * Every look is bounded by --timeout (src/incident/bounded-look.ts). Once connected, losing
 * the server (no answer within --timeout, a dead connection) stops the command: the guard
 * can no longer bound the queue, and a migration on a frozen or unreachable server is stuck
 * anyway. When the command fails on its own, one last look tells a failed migration from a
 * lost server. Any other problem (the guard cannot connect, a query it may not run) leaves
 * the command running under lock_timeout, with a warning.
 */
async function watchQueue(request: GuardRequest, appName: string, done: Promise<{ code: number | null } | undefined>, outcome: AttemptOutcome, stopCommand: () => void, warn: (line: string) => void): Promise<void> {
  let client: pg.Client | undefined;
  let finished = false;
  let judged = false;
  void done.then(() => (finished = true));
  const firstSeen = new Map<number, number>();
  const display = request.connection.display;
  const timeoutMs = request.gate.timeoutMs;
  try {
    client = await connect(request.connection, { applicationName: GUARD_APPLICATION_NAME, timeoutMs });
    const guard = client;
    trackConnectionErrors(guard);
    while (!finished) {
      // No targets: every waiting lock is in the snapshot anyway, and a migration that renames
      // or drops its table must not make the guard's own lookup fail.
      const snapshot = await boundedLook(guard, display, timeoutMs, () =>
        takeSnapshot(guard, { tables: [], checks: [], options: {}, statementTimeoutMs: timeoutMs, queries: BLOCKING_TREE_QUERIES }),
      );
      const migration = snapshot.sessions.find((s) => s.application === appName);
      if (migration) outcome.sawMigration = true;
      // The role the migration really uses, seen once: say at once if the guard cannot cancel it.
      if (migration && !judged) {
        judged = true;
        const rights = await boundedLook(guard, display, timeoutMs, () => readGuardRights(guard, migration.user ?? undefined));
        const verdict = judgeGuard(rights, migration.user ?? undefined);
        if (verdict.canCancel !== true) warn(`pgpreflight run: warning: ${verdict.text}`);
      }
      const { waiting } = lookAtQueue(snapshot, appName, firstSeen, Date.now());
      if (waiting) {
        if (waiting.culprits.length > 0) outcome.lastCulprits = waiting.culprits;
        const reason = waiting.waitedMs > request.maxQueueWaitMs ? 'wait' : waiting.queued > request.maxQueued ? 'queue' : null;
        if (reason !== null && !finished) {
          // pg_cancel_backend ends the waiting statement only; the queue behind it drains at once.
          // https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
          // Qualified: outside the snapshot's pinned search_path a database's search_path could shadow it.
          await boundedLook(guard, display, timeoutMs, () => guard.query('SELECT pg_catalog.pg_cancel_backend($1::int)', [waiting.pid]));
          outcome.cancels.push({ pid: waiting.pid, reason, waitedMs: waiting.waitedMs, queued: waiting.queued, mode: waiting.mode, relation: waiting.relation, culprits: waiting.culprits });
          firstSeen.delete(waiting.pid);
        }
      }
      await sleep(request.pollMs, done.then(() => undefined));
    }
    const exit = await done;
    if (exit && exit.code !== 0) await boundedLook(guard, display, timeoutMs, () => guard.query('SELECT 1'));
  } catch (error) {
    if (error instanceof ServerLost) {
      outcome.lostServer = error.message;
      if (!finished) {
        outcome.stoppedCommand = true;
        stopCommand();
      }
    } else if (!finished) {
      outcome.guardProblem = `the guard stopped watching (${(error as Error).message}); the migration goes on under lock_timeout`;
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** Runs the command once under the guard. */
async function attemptCommand(request: GuardRequest, out: GuardOutput, appName: string, signals: SignalForwarder): Promise<AttemptOutcome> {
  const started = performance.now();
  const outcome: AttemptOutcome = { exitCode: 0, signal: null, lockFailure: false, cancels: [], lastCulprits: [], guardProblem: null, lostServer: null, stoppedCommand: false, sawMigration: false, durationMs: 0 };
  const env = {
    ...request.env,
    PGOPTIONS: childPgOptions(request.env.PGOPTIONS, request.lockTimeoutMs, request.statementTimeoutMs),
    PGAPPNAME: appName,
  };
  const child = spawn(request.command, [...request.args], { env, stdio: ['inherit', 'pipe', 'pipe'] });
  let tail = '';
  const scan = (chunk: Buffer, sink: NodeJS.WritableStream): void => {
    sink.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-65_536);
    if (LOCK_FAILURE_OUTPUT.test(tail)) outcome.lockFailure = true;
  };
  child.stdout.on('data', (chunk: Buffer) => scan(chunk, out.stdout));
  child.stderr.on('data', (chunk: Buffer) => scan(chunk, out.stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  exited.catch(() => undefined);
  signals.forwardTo(child);
  const stopCommand = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, STOP_GRACE_MS).unref();
  };
  const watcher = watchQueue(request, appName, exited.catch(() => undefined), outcome, stopCommand, (line) => void out.stderr.write(`${redact(line, request.connection.secrets)}\n`));
  let result: { code: number | null; signal: NodeJS.Signals | null };
  try {
    result = await exited;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new PreflightError(
      e.code === 'ENOENT' ? `cannot run "${request.command}": command not found. Check the command after --, and PATH` : `cannot run "${request.command}": ${e.message}`,
      { cause: error },
    );
  } finally {
    signals.forwardTo(null);
    await watcher;
  }
  outcome.signal = result.signal;
  outcome.exitCode = result.code ?? 128 + (result.signal ? constants.signals[result.signal] ?? 0 : 0);
  if (outcome.cancels.length > 0 && outcome.exitCode !== 0) outcome.lockFailure = true;
  outcome.durationMs = performance.now() - started;
  return outcome;
}

/** Forwards Ctrl-C (and SIGTERM) to the running child and stops further attempts. */
class SignalForwarder {
  interrupted = false;
  private child: ReturnType<typeof spawn> | null = null;
  private wake: () => void = () => undefined;
  readonly whenInterrupted = new Promise<void>((resolve) => (this.wake = resolve));
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.interrupted = true;
    this.wake();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  };
  install(): void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }
  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
  forwardTo(child: ReturnType<typeof spawn> | null): void {
    this.child = child;
  }
}

function cancelText(cancel: GuardCancel): string {
  const why = cancel.reason === 'wait' ? `it waited ${formatDuration(cancel.waitedMs)}` : `${cancel.queued} queries queued behind it`;
  const on = `${cancel.mode}${cancel.relation ? ` on ${cancel.relation}` : ''}`;
  const by = cancel.culprits.length > 0 ? cancel.culprits.map(describeCulprit).join('; ') : 'an unknown holder';
  return `guard cancelled pid ${cancel.pid} waiting for ${on} (${why}, ${cancel.queued} queued behind it); blocked by ${by}`;
}

/**
 * The gate before an attempt, judging the session `run` will start (its PGOPTIONS timeouts
 * count as set): one look, or with --wait looks with backoff until it opens. A failure to
 * look that may pass (connection refused, a timeout) is retryable, as with `check --wait`.
 * Null when Ctrl-C interrupted the wait.
 */
async function gateBeforeAttempt(request: GuardRequest, signals: SignalForwarder, say: (text: string) => void): Promise<GateResult | null> {
  // --wait's looks share one connection, closed before the command starts.
  const connections = request.waitMs > 0 ? new KeptConnections(APPLICATION_NAME) : undefined;
  const look = (): Promise<GateResult> =>
    runGate({
      ...request.gate,
      migrationSession: { lockTimeoutMs: request.lockTimeoutMs, statementTimeoutMs: request.statementTimeoutMs },
      databases: [{ name: request.connection.display, connection: request.connection, optional: false }],
      failOn: request.failOn,
      concurrency: 1,
      connections,
    });
  if (request.waitMs <= 0) return look();
  const controller = new AbortController();
  void signals.whenInterrupted.then(() => controller.abort());
  const outcome = await waitForClearWindow({ waitMs: request.waitMs, maxIntervalMs: request.waitMaxIntervalMs, signal: controller.signal, attempt: look, log: say }).finally(() => connections?.close());
  return outcome.kind === 'interrupted' ? null : outcome.result;
}

/** Runs the gate and the command, retrying blocked gates and lock failures. Returns the exit code. */
export async function runGuarded(request: GuardRequest, out: GuardOutput): Promise<number> {
  const appName = migrationApplicationName();
  const attempts = request.retries + 1;
  const signals = new SignalForwarder();
  const say = (text: string): void => void out.stderr.write(`${redact(text, request.connection.secrets)}\n`);
  signals.install();
  try {
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      const label = `pgpreflight run: attempt ${attempt}/${attempts}:`;
      const last = attempt === attempts;
      const gated = await gateBeforeAttempt(request, signals, say);
      if (gated === null || signals.interrupted) {
        say(`${label} interrupted before the command started`);
        return 130;
      }
      let retryReason: string;
      if (gated.exitCode !== 0) {
        const section = gated.gate.databases[0];
        const report = section?.report ?? null;
        retryReason = report
          ? `gate ${report.verdict} (${describeBlockers(gated)}), command not started`
          : `gate could not look (${section?.error ?? 'unknown error'}), command not started`;
        if (!gated.retryable || last) {
          // A database that cannot be looked at ends with the one-line error of every other command.
          if (!report) throw new PreflightError(section?.error ?? 'the gate could not look at the database');
          out.stderr.write(redact(out.renderGate(report, gated.exitCode), request.connection.secrets));
          say(`${label} ${retryReason}; exit ${gated.exitCode}${gated.retryable ? ', no retries left' : ', not retried: waiting does not change it'}`);
          return gated.exitCode;
        }
      } else {
        const report = gated.gate.databases[0]?.report;
        const outcome = await attemptCommand(request, out, appName, signals);
        const took = formatDuration(outcome.durationMs);
        if (outcome.guardProblem) say(`pgpreflight run: warning: ${outcome.guardProblem}`);
        const cancels = outcome.cancels.map(cancelText).join('; ');
        if (signals.interrupted) {
          say(`${label} interrupted; the signal was forwarded to the command, which exited ${outcome.exitCode}${outcome.signal ? ` (${outcome.signal})` : ''} after ${took}`);
          return outcome.exitCode;
        }
        if (outcome.lostServer && outcome.exitCode !== 0) {
          const command = outcome.stoppedCommand
            ? `the guard stopped the command (SIGTERM), which exited ${outcome.exitCode}${outcome.signal ? ` (${outcome.signal})` : ''}`
            : `the command exited ${outcome.exitCode}`;
          say(`${label} the guard lost the server after ${took}: ${outcome.lostServer.replace(/\.?$/, '')}; ${command}. Its transaction rolls back when the server sees the connection close; check the server, then run again. Not retried, exit 2`);
          return 2;
        }
        if (outcome.exitCode === 0) {
          say(
            outcome.cancels.length > 0
              ? `${label} command exited 0 after ${took} although the ${cancels}: the tool may ignore errors (psql needs -v ON_ERROR_STOP=1); check the migration`
              : `${label} command succeeded in ${took} (gate ${report?.verdict ?? gated.gate.verdict})`,
          );
          return 0;
        }
        if (!outcome.lockFailure) {
          say(`${label} command failed with exit ${outcome.exitCode} after ${took}: not a lock failure, not retried`);
          return outcome.exitCode;
        }
        retryReason =
          outcome.cancels.length > 0
            ? cancels
            : `lock_timeout (${formatDuration(request.lockTimeoutMs)}) hit${outcome.lastCulprits.length > 0 ? `; blocked by ${outcome.lastCulprits.map(describeCulprit).join('; ')}` : ''}${
                outcome.sawMigration ? '' : ` (the guard never saw a backend named ${appName}: the tool may set its own application_name)`
              }`;
        if (last) {
          say(`${label} ${retryReason}; exit ${outcome.exitCode} after ${took}, no retries left`);
          return outcome.exitCode;
        }
      }
      const delay = backoffMs(attempt, request.retryDelayMs);
      say(`${label} ${retryReason}; retrying in ${formatDuration(delay)}`);
      await sleep(delay, signals.whenInterrupted);
      if (signals.interrupted) return 130;
    }
    return 1;
  } finally {
    signals.dispose();
  }
}

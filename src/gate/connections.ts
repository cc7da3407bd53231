// Connections kept open between the looks of one command: the attempts of `check --wait`
// and `run --wait`, the refreshes of `locks --watch` (`run`'s guard keeps its own, and stops
// the command when it loses it: src/incident/guard.ts). A look
// on a kept connection costs its batches and nothing else (no TCP, TLS or startup), and
// remembers the targets it resolved so the next look needs a single batch
// (src/gate/snapshot.ts). A connection that was lost (server restart, terminated backend,
// a pooler's idle timeout) is replaced: before a look when the loss was already seen, or
// once during a look that failed on it, within the same deadline; when no new one can be had
// (the server is restarting, was killed), the look fails with what ended the old one, as
// a look on a connection of its own would (src/incident/bounded-look.ts). A watchdog ends a look
// that outlives its deadline, so no look waits on a silent server past --timeout.
import type pg from 'pg';
import { connect, type ConnectionSpec } from '../core/connection.js';
import { describeConnectionError, PreflightError } from '../core/errors.js';
import type { SnapshotMemory } from './snapshot.js';

interface Kept {
  client: pg.Client;
  memory: SnapshotMemory;
  /** The socket closed or failed: the next look connects again. */
  lost: boolean;
  /** What ended it while idle (a restart's 57P01, a reset), when the server said. */
  lossError?: unknown;
  busy: boolean;
  /** In the map, for the next look; false for a second, concurrent look at the same database. */
  kept: boolean;
}

export interface LookOptions {
  timeoutMs: number;
  /** Epoch ms by which this look (connecting included) must be done. */
  deadline: number;
}

// Failures that mean the connection is gone, not that the look went wrong on a live one:
// socket errors, and PostgreSQL's admin-shutdown class (https://www.postgresql.org/docs/current/errcodes-appendix.html).
const LOSS_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03']);

/** Whether a failure, or what caused it (a one-line PreflightError wraps the driver's), is the connection's loss. */
function isConnectionLoss(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && LOSS_CODES.has(code)) return true;
    if (typeof message === 'string' && /Connection terminated|not queryable|Client was closed/i.test(message)) return true;
    current = cause;
  }
  return false;
}

function streamOf(client: pg.Client): { destroy(): void; unref?(): unknown } | undefined {
  return (client as unknown as { connection?: { stream?: { destroy(): void; unref?(): unknown } } }).connection?.stream;
}

function destroy(client: pg.Client): void {
  streamOf(client)?.destroy();
}

/**
 * Sends Terminate and closes; a server that does not close its side within a second is cut
 * off. `detach`: nobody waits for the close, so neither should the process: the socket stops
 * holding it open once the Terminate is written (a pending write still does), which saves
 * the round trip of the server's own close at the end of a run.
 */
function end(client: pg.Client, detach = false): Promise<void> {
  const cutOff = setTimeout(() => destroy(client), 1000);
  const closing = client
    .end()
    .catch(() => undefined)
    .finally(() => clearTimeout(cutOff));
  if (detach) {
    cutOff.unref();
    streamOf(client)?.unref?.();
  }
  return closing;
}

export class KeptConnections {
  private readonly kept = new Map<string, Kept>();

  constructor(private readonly applicationName: string) {}

  /**
   * Runs `work` on the database's kept connection, connecting when there is none or it
   * was lost. Errors are the work's own, or the one-line --timeout message when the
   * watchdog ended the look.
   */
  async look<T>(spec: ConnectionSpec, options: LookOptions, work: (client: pg.Client, memory: SnapshotMemory) => Promise<T>): Promise<T> {
    const key = `${spec.display}\u0000${spec.sslMode}`;
    let entry = this.kept.get(key);
    // Why the connection this look replaces was lost: the reason to give when no new one can be had.
    let replacing: { lossError?: unknown } | undefined;
    if (entry && !entry.busy && entry.lost) {
      this.kept.delete(key);
      await end(entry.client);
      replacing = entry;
      entry = undefined;
    }
    // A database named twice in one gate, looked at concurrently: the second gets its own connection.
    const reuse = entry !== undefined && !entry.busy ? entry : undefined;
    let timedOut = false;
    let current: pg.Client | undefined;
    const watchdog = setTimeout(() => {
      timedOut = true;
      if (current) destroy(current);
    }, Math.max(1, options.deadline - Date.now()) + 500);
    // A server that ended the kept connection and now refuses a new one (it is restarting,
    // it was killed) is described by what ended it: the loss is the news, not the refusal.
    const replace = async (lost: { lossError?: unknown } | undefined): Promise<Kept> => {
      try {
        return await open();
      } catch (error) {
        if (lost === undefined || timedOut) throw error;
        throw lost.lossError === undefined ? error : describeConnectionError(lost.lossError, spec.display, spec.user);
      }
    };
    const open = async (): Promise<Kept> => {
      const client = await connect(spec, { applicationName: this.applicationName, timeoutMs: options.timeoutMs, deadline: options.deadline });
      const fresh: Kept = { client, memory: {}, lost: false, busy: true, kept: !this.kept.has(key) };
      client.on('error', (error: unknown) => {
        fresh.lost = true;
        fresh.lossError ??= error;
      });
      client.on('end', () => (fresh.lost = true));
      if (fresh.kept) this.kept.set(key, fresh);
      return fresh;
    };
    let used: Kept | undefined;
    try {
      used = reuse ?? (await replace(replacing));
      const reused = used === reuse;
      used.busy = true;
      current = used.client;
      try {
        return await work(used.client, used.memory);
      } catch (error) {
        if (!reused || timedOut || Date.now() >= options.deadline || !(used.lost || isConnectionLoss(error))) throw error;
        // The kept connection died since the last look: one fresh connection, same deadline.
        this.kept.delete(key);
        await end(used.client);
        const lost = used;
        used = undefined;
        used = await replace({ lossError: lost.lossError ?? error });
        current = used.client;
        return await work(used.client, used.memory);
      }
    } catch (error) {
      if (used) used.lost = true;
      if (timedOut) {
        throw new PreflightError(`${spec.display} did not answer within --timeout ${options.timeoutMs} ms. Check the server's load and network, or raise --timeout`, { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(watchdog);
      if (used) used.busy = false;
      // Not kept (a second look at a busy database, or a lost one): close it now.
      if (used && (!used.kept || used.lost)) {
        if (this.kept.get(key) === used) this.kept.delete(key);
        await end(used.client);
      }
    }
  }

  /**
   * Closes every kept connection (each with a Terminate message, as libpq does). With
   * `detach`, for a caller that does not wait: the process may exit before the server closes.
   */
  async close(options: { detach?: boolean } = {}): Promise<void> {
    const all = [...this.kept.values()];
    this.kept.clear();
    await Promise.all(all.map((entry) => end(entry.client, options.detach)));
  }
}

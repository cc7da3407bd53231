// One look at the server on a connection that stays open between looks (`locks --watch`,
// `run`'s guard), bounded like the gate's own run (src/gate/runner.ts): statement_timeout
// cannot end a query on a server that stopped answering (frozen, cut off the network), so a
// watchdog destroys the socket at --timeout and the look fails with one line instead of
// hanging. A connection that died between two looks (server killed or restarted) is
// described by what ended it, not by node-postgres' "not queryable".
import type pg from 'pg';
import { describeConnectionError, PreflightError } from '../core/errors.js';

const lastErrors = new WeakMap<pg.Client, Error>();

/** The look failed because the server went away (no answer, connection ended), not because of the query. */
export class ServerLost extends PreflightError {}

/** Errors that end a connection rather than one statement. */
const CONNECTION_ENDED = /Connection terminated|not queryable|ECONNRESET|EPIPE|ECONNREFUSED/i;
const CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED']);

/** Remembers the error that ends this connection while it is idle. */
export function trackConnectionErrors(client: pg.Client): void {
  client.on('error', (error: Error) => {
    if (!lastErrors.has(client)) lastErrors.set(client, error);
  });
}

/** The watchdog's slack over the statement_timeout the look sets for itself. */
const SLACK_MS = 500;

/** `user` is the role connected, for messages that name it (describeConnectionError). */
export async function boundedLook<T>(client: pg.Client, display: string, timeoutMs: number, look: () => Promise<T>, user?: string): Promise<T> {
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  }, timeoutMs + SLACK_MS);
  try {
    return await look();
  } catch (error) {
    if (timedOut) {
      throw new ServerLost(`${display} did not answer within --timeout ${timeoutMs} ms. Check the server's load and network, or raise --timeout`, { cause: error });
    }
    const ended = lastErrors.get(client);
    const { code, message } = (error ?? {}) as { code?: string; message?: string };
    if (ended || CONNECTION_CODES.has(code ?? '') || CONNECTION_ENDED.test(message ?? '')) {
      throw new ServerLost(describeConnectionError(ended ?? error, display, user).message, { cause: error });
    }
    throw describeConnectionError(error, display, user);
  } finally {
    clearTimeout(watchdog);
  }
}

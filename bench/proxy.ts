// A TCP proxy on 127.0.0.1 that adds network distance in front of a local server and
// counts what a client costs there: TCP connections accepted, and round trips. Used by
// `npm run bench -- network` (bench/network.ts) and by the tests that pin "one
// connection, a bounded number of round trips" (test/round-trips.test.ts).
//
// Distance: each chunk is delivered rttMs/2 after it arrived, in order, in each direction;
// a new connection reaches the server a full rttMs after it was accepted (the SYN and
// SYN-ACK a real network would cost), so a client's first bytes arrive 1.5 RTT after its
// connect() began, as on a real link.
//
// Round trips: a client→server burst that begins after the server last spoke (or as the
// connection's first bytes). A pipelined batch of many statements is one; so is the
// Terminate message at the end, which gets no answer. The TCP handshake is not counted.
// A client whose last chunk ended inside a protocol message was still sending, not waiting:
// on a loaded machine a large batch can reach the proxy in two pieces with the server's first
// answers in between, and that is still one round trip. Framing is followed in the clear
// only; once TLS starts, every burst after the server spoke counts.
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

export interface ProxyCounts {
  /** TCP connections the proxy accepted. */
  connections: number;
  /** Client→server bursts, over all connections. */
  roundTrips: number;
  /** Client→server bursts of each connection, in the order they were accepted. */
  perConnection: number[];
  /** Bytes client→server and server→client. */
  bytesUp: number;
  bytesDown: number;
}

export interface DelayProxy {
  readonly port: number;
  /** The counts since the start or the last reset(). */
  counts(): ProxyCounts;
  reset(): void;
  /** Round-trip time added from now on (new chunks). */
  setRtt(ms: number): void;
  /** Destroys every open connection (a network failure seen from the client). */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * Follows the frontend protocol's message framing (https://www.postgresql.org/docs/current/protocol-message-formats.html):
 * the first message (SSLRequest or StartupMessage) and the StartupMessage after an 'N' have
 * no type byte; every later one is a type byte and an Int32 length that counts itself.
 */
class FrontendFraming {
  private mode: 'untyped' | 'typed' | 'opaque' = 'untyped';
  private header: number[] = [];
  private remaining = 0;
  private serverSpoke = false;

  /** Feeds a client chunk; true when it ends at a message boundary (or the stream is encrypted). */
  client(chunk: Buffer): boolean {
    if (this.mode === 'opaque') return true;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header.push(chunk[i] as number);
      i += 1;
      const size = this.mode === 'untyped' ? 4 : 5;
      if (this.header.length === size) {
        this.remaining = Math.max(0, Buffer.from(this.header.slice(size - 4)).readInt32BE(0) - 4);
        this.header = [];
        this.mode = 'typed';
      }
    }
    return this.header.length === 0 && this.remaining === 0;
  }

  /** The server's first answer: a lone 'N' declines TLS (a StartupMessage follows), a lone 'S' starts it. */
  server(chunk: Buffer): void {
    if (this.serverSpoke) return;
    this.serverSpoke = true;
    if (chunk.length === 1 && chunk[0] === 0x4e) this.mode = 'untyped';
    else if (chunk.length === 1 && chunk[0] === 0x53) this.mode = 'opaque';
  }
}

/** Delivers chunks to `to` after `delayMs()`, never overtaking an earlier chunk. */
function delayedPipe(from: Socket, to: Socket, delayMs: () => number, onChunk: (chunk: Buffer) => void, notBefore: () => number): void {
  let last = 0;
  from.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    const at = Math.max(Date.now() + delayMs(), last, notBefore());
    last = at;
    const wait = at - Date.now();
    if (wait <= 0) to.write(chunk);
    else setTimeout(() => to.write(chunk), wait);
  });
  from.on('end', () => {
    const wait = Math.max(last, notBefore()) - Date.now();
    if (wait <= 0) to.end();
    else setTimeout(() => to.end(), wait);
  });
}

export async function startDelayProxy(upstream: { host: string; port: number }, rttMs = 0): Promise<DelayProxy> {
  let rtt = rttMs;
  let counts: ProxyCounts = { connections: 0, roundTrips: 0, perConnection: [], bytesUp: 0, bytesDown: 0 };
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    counts.connections += 1;
    const index = counts.perConnection.push(0) - 1;
    const mine = counts;
    client.setNoDelay(true);
    const readyAt = Date.now() + rtt;
    const server = netConnect({ host: upstream.host, port: upstream.port });
    server.setNoDelay(true);
    open.add(client);
    open.add(server);
    // Who spoke last on this connection: a client chunk after the server's (or the first) starts a round trip.
    let lastSpeaker: 'client' | 'server' = 'server';
    const framing = new FrontendFraming();
    let atBoundary = true;
    delayedPipe(
      client,
      server,
      () => rtt / 2,
      (chunk) => {
        mine.bytesUp += chunk.length;
        if (lastSpeaker === 'server' && atBoundary) {
          mine.roundTrips += 1;
          mine.perConnection[index] = (mine.perConnection[index] ?? 0) + 1;
        }
        atBoundary = framing.client(chunk);
        lastSpeaker = 'client';
      },
      () => readyAt + rtt / 2,
    );
    delayedPipe(
      server,
      client,
      () => rtt / 2,
      (chunk) => {
        mine.bytesDown += chunk.length;
        framing.server(chunk);
        lastSpeaker = 'server';
      },
      () => 0,
    );
    const close = (): void => {
      client.destroy();
      server.destroy();
      open.delete(client);
      open.delete(server);
    };
    client.on('error', close);
    server.on('error', close);
    client.on('close', () => setTimeout(close, rtt));
    server.on('close', () => setTimeout(close, rtt));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  return {
    port: address.port,
    counts: () => ({ ...counts, perConnection: [...counts.perConnection] }),
    reset: () => {
      counts = { connections: 0, roundTrips: 0, perConnection: [], bytesUp: 0, bytesDown: 0 };
    },
    setRtt: (ms) => {
      rtt = ms;
    },
    dropConnections: () => {
      for (const socket of open) socket.destroy();
      open.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        open.clear();
        server.close(() => resolve());
      }),
  };
}

// The SSLRequest exchange, against a fake server that records every byte: after 'N' the
// startup continues on the same socket for prefer (libpq's behaviour), never for require;
// bytes injected after 'S' are refused before anything else is sent (CVE-2021-23222);
// a server that never answers costs --timeout, not more.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, resolveConnection } from '../src/core/connection.js';
import { PreflightError } from '../src/core/errors.js';

const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

interface Fake {
  port: number;
  /** Bytes received, per accepted connection. */
  received: Buffer[];
  server: Server;
}

let fake: Fake | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (fake ? fake.server.close(() => resolve()) : resolve()));
  fake = undefined;
});

/** A server that answers the SSLRequest with `answer` and then closes once it has read the next message (or stays silent). */
async function fakeServer(answer: string | null): Promise<Fake> {
  const received: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const index = received.push(Buffer.alloc(0)) - 1;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      const before = received[index] as Buffer;
      received[index] = Buffer.concat([before, chunk]);
      if (answer === null) return;
      if (before.length === 0) socket.write(answer);
      else socket.destroy();
    });
  });
  server.on('close', () => sockets.forEach((s) => s.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  const made = { port: address.port, received, server };
  fake = made;
  return made;
}

const spec = (port: number, sslmode: string) => resolveConnection(`postgresql://app@127.0.0.1:${port}/app?sslmode=${sslmode}`, {});

async function connectError(port: number, sslmode: string, timeoutMs = 5000): Promise<Error> {
  const error = await connect(spec(port, sslmode), { applicationName: 'test', timeoutMs }).then(
    () => new Error('connected'),
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(PreflightError);
  return error;
}

/** The user name in a StartupMessage: proof that the startup was sent. */
const startupSent = (bytes: Buffer): boolean => bytes.includes(Buffer.from('user\0app\0'));

describe('SSL negotiation', () => {
  it("prefer: after 'N' the startup goes on over the same socket", async () => {
    const server = await fakeServer('N');
    await connectError(server.port, 'prefer');
    expect(server.received).toHaveLength(1);
    const bytes = server.received[0] as Buffer;
    expect(bytes.subarray(0, 8).equals(SSL_REQUEST)).toBe(true);
    expect(startupSent(bytes.subarray(8))).toBe(true);
  });

  it("require: 'N' is refused with one line, and no startup is sent", async () => {
    const server = await fakeServer('N');
    const error = await connectError(server.port, 'require');
    expect(error.message).toMatch(/does not support SSL, but sslmode requires it/);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]?.equals(SSL_REQUEST)).toBe(true);
  });

  it("bytes after 'S' were not encrypted: refused before the TLS handshake or any startup", async () => {
    const server = await fakeServer('S\u0000\u0000injected');
    const error = await connectError(server.port, 'prefer');
    expect(error.message).toMatch(/unencrypted data after SSL response/);
    expect(server.received).toHaveLength(1);
    expect(server.received[0]?.equals(SSL_REQUEST)).toBe(true);
  });

  it('a server that never answers the SSLRequest costs --timeout, one connection', async () => {
    const server = await fakeServer(null);
    const error = await connectError(server.port, 'prefer', 500);
    expect(error.message).toMatch(/did not answer within --timeout 500 ms/);
    expect(server.received).toHaveLength(1);
  });
});

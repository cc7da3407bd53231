// sslmode as libpq users know it, against a real server with ssl = on and a
// certificate authority made here with openssl. pg_hba.conf makes the mode observable:
// tls_only may log in only over TLS, plain_only only without it, cert_user only with a
// client certificate, so a successful run proves which kind of connection was used.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDelayProxy } from '../bench/proxy.js';
import { createTestPki } from './support/certs.js';
import { type CliResult, expectOneLineFailure, runCli, useCluster } from './helpers.js';

const pki = createTestPki('cert_user');
const cluster = useCluster({
  settings: { ssl: true, ssl_cert_file: 'server.crt', ssl_key_file: 'server.key', ssl_ca_file: 'root.crt' },
  hba: [
    'hostnossl all tls_only 127.0.0.1/32 reject',
    'hostssl all plain_only 127.0.0.1/32 reject',
    'hostssl all cert_user 127.0.0.1/32 cert',
    'host all cert_user 127.0.0.1/32 reject',
  ],
  beforeStart: (dataDir) => pki.installServerFiles(dataDir),
});

afterAll(() => pki.remove());

function url(user: string, host: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return `postgresql://${user}@${host}:${cluster().port}/postgres${query ? `?${query}` : ''}`;
}

function check(connection: string, env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['check', '--url', connection, '--table', 'orders', '--format', 'json', '--timeout', '5s'], env);
}

function expectPass(result: CliResult): void {
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
}

describe('tls', () => {
  beforeAll(async () => {
    await cluster().sql(
      `CREATE TABLE orders (id int PRIMARY KEY);
       CREATE ROLE tls_only LOGIN; CREATE ROLE plain_only LOGIN; CREATE ROLE cert_user LOGIN;
       GRANT pg_monitor TO tls_only, plain_only, cert_user`,
    );
  });

  describe('verify-full', () => {
    it('passes against the right CA and the name in the certificate', async () => {
      expectPass(await check(url('tls_only', 'localhost', { sslmode: 'verify-full', sslrootcert: pki.caCert })));
    });

    it('passes with PGSSLMODE and PGSSLROOTCERT instead of URL parameters', async () => {
      expectPass(await check(url('tls_only', 'localhost', {}), { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.caCert }));
    });

    it('fails with one line against the wrong CA', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', 'localhost', { sslmode: 'verify-full', sslrootcert: pki.otherCaCert })));
      expect(line).toMatch(/TLS verification/);
    });

    it('refuses to run without a root certificate, as libpq does', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', 'localhost', { sslmode: 'verify-full' }), { HOME: pki.dir }));
      expect(line).toMatch(/sslrootcert/);
    });

    it('sslrootcert=system trusts only the system CAs, which never signed this test CA', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', 'localhost', { sslmode: 'verify-full', sslrootcert: 'system' })));
      expect(line).toMatch(/TLS verification/);
    });

    it('fails with one line when the host name is not in the certificate', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'verify-full', sslrootcert: pki.caCert })));
      expect(line).toMatch(/TLS verification/);
      expect(line).toMatch(/127\.0\.0\.1/);
    });
  });

  describe('verify-ca', () => {
    it('checks the CA but not the host name', async () => {
      expectPass(await check(url('tls_only', '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: pki.caCert })));
    });

    it('fails with one line against the wrong CA', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: pki.otherCaCert })));
      expect(line).toMatch(/TLS verification/);
    });

    it('refuses to run without a root certificate, as libpq does', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'verify-ca' }), { HOME: pki.dir }));
      expect(line).toMatch(/sslrootcert/);
    });

    it('names a missing sslrootcert file', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'verify-ca', sslrootcert: `${pki.dir}/missing.crt` })));
      expect(line).toContain('missing.crt');
    });
  });

  describe('require, prefer, allow, disable', () => {
    it('require encrypts without verifying (no CA given)', async () => {
      expectPass(await check(url('tls_only', '127.0.0.1', { sslmode: 'require' })));
    });

    it('require with sslrootcert verifies the CA, like verify-ca', async () => {
      const line = expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'require', sslrootcert: pki.otherCaCert })));
      expect(line).toMatch(/TLS verification/);
    });

    it('require does not fall back to a plain connection', async () => {
      const line = expectOneLineFailure(await check(url('plain_only', '127.0.0.1', { sslmode: 'require' })));
      expect(line).toMatch(/plain_only|pg_hba/);
    });

    it('prefer uses TLS when the server offers it', async () => {
      expectPass(await check(url('tls_only', '127.0.0.1', { sslmode: 'prefer' })));
    });

    it('prefer (the default) falls back to plain when the TLS login is refused', async () => {
      expectPass(await check(url('plain_only', '127.0.0.1', {})));
    });

    it('allow tries plain first, then TLS', async () => {
      expectPass(await check(url('tls_only', '127.0.0.1', { sslmode: 'allow' })));
      expectPass(await check(url('plain_only', '127.0.0.1', { sslmode: 'allow' })));
    });

    it('disable never uses TLS', async () => {
      expectPass(await check(url('plain_only', '127.0.0.1', { sslmode: 'disable' })));
      expectOneLineFailure(await check(url('tls_only', '127.0.0.1', { sslmode: 'disable' })));
    });
  });

  describe('client certificates', () => {
    it('sslcert and sslkey log in a role through pg_hba `cert`', async () => {
      expectPass(await check(url('cert_user', 'localhost', { sslmode: 'verify-full', sslrootcert: pki.caCert, sslcert: pki.clientCert, sslkey: pki.clientKey })));
    });

    it('without a client certificate the same login fails with one line', async () => {
      expectOneLineFailure(await check(url('cert_user', 'localhost', { sslmode: 'verify-full', sslrootcert: pki.caCert }), { HOME: pki.dir }));
    });
  });

  describe('connections per look (counted at a TCP proxy), as libpq makes them', () => {
    const viaProxy = async (user: string, params: Record<string, string>): Promise<{ result: CliResult; connections: number }> => {
      const proxy = await startDelayProxy({ host: '127.0.0.1', port: cluster().port });
      try {
        const result = await check(`postgresql://${user}@127.0.0.1:${proxy.port}/postgres?${new URLSearchParams(params).toString()}`);
        await new Promise((r) => setTimeout(r, 50));
        return { result, connections: proxy.counts().connections };
      } finally {
        await proxy.close();
      }
    };

    it('prefer against a TLS server: one connection, encrypted', async () => {
      const { result, connections } = await viaProxy('tls_only', { sslmode: 'prefer' });
      expectPass(result);
      expect(connections).toBe(1);
    });

    it('prefer when the TLS login is refused: a second, plain connection', async () => {
      const { result, connections } = await viaProxy('plain_only', { sslmode: 'prefer' });
      expectPass(result);
      expect(connections).toBe(2);
    });

    it('allow when the plain login is refused: a second, encrypted connection', async () => {
      const { result, connections } = await viaProxy('tls_only', { sslmode: 'allow' });
      expectPass(result);
      expect(connections).toBe(2);
    });
  });
});

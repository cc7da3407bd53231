// A throwaway certificate authority for the TLS tests, made with the openssl CLI:
// a CA, a server certificate for DNS:localhost signed by it, a client certificate
// whose CN is a role name (for pg_hba `cert` logins), and an unrelated second CA.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  caCert: string;
  otherCaCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Copies server.crt, server.key and root.crt into a data directory (key mode 0600, as PostgreSQL demands). */
  installServerFiles(dataDir: string): void;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Key pair plus certificate signed by caName (or self-signed when caName is undefined). */
function issue(dir: string, name: string, subject: string, caName: string | undefined, extensions: string): void {
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, extensions);
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', `${name}.key`]);
  if (caName === undefined) {
    openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-subj', subject, '-days', '2', '-out', `${name}.crt`, '-extensions', 'v3', '-config', ext]);
    return;
  }
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-out', `${name}.crt`, '-extfile', ext, '-extensions', 'v3']);
}

const CA_EXTENSIONS = '[req]\ndistinguished_name = dn\n[dn]\n[v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n';

export function createTestPki(clientRole: string): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'pgpreflight-pki-'));
  issue(dir, 'ca', '/CN=pgpreflight test CA', undefined, CA_EXTENSIONS);
  issue(dir, 'other-ca', '/CN=some other CA', undefined, CA_EXTENSIONS);
  issue(dir, 'server', '/CN=localhost', 'ca', '[v3]\nsubjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\n');
  issue(dir, 'client', `/CN=${clientRole}`, 'ca', '[v3]\nextendedKeyUsage = clientAuth\n');
  for (const key of ['ca.key', 'other-ca.key', 'server.key', 'client.key']) chmodSync(join(dir, key), 0o600);
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    otherCaCert: join(dir, 'other-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    installServerFiles(dataDir: string): void {
      copyFileSync(join(dir, 'server.crt'), join(dataDir, 'server.crt'));
      copyFileSync(join(dir, 'server.key'), join(dataDir, 'server.key'));
      copyFileSync(join(dir, 'ca.crt'), join(dataDir, 'root.crt'));
      chmodSync(join(dataDir, 'server.key'), 0o600);
    },
    remove(): void {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

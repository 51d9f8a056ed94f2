/**
 * A self-signed TLS certificate (EC P-256, one day) made with `openssl`, for tests of TLS pinning:
 * its PEM certificate and key, and its pin as the agent computes it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tlsPinOfCertificate } from '@launchplane/shared';

/** A certificate, its key and its pin. */
export interface SelfSignedCert {
  cert: string;
  key: string;
  pin: string;
  certPath: string;
  keyPath: string;
}

/** Makes `<dir>/<name>.pem` and `<dir>/<name>.key` for `127.0.0.1` (CN and IP SAN). */
export function selfSignedCert(dir: string, name: string): SelfSignedCert {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat(
      ['-keyout', keyPath, '-out', certPath, '-days', '1', '-subj', '/CN=127.0.0.1'],
      ['-addext', 'subjectAltName=IP:127.0.0.1'],
    ),
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certPath, 'utf8');
  return {
    cert,
    key: readFileSync(keyPath, 'utf8'),
    pin: tlsPinOfCertificate(cert),
    certPath,
    keyPath,
  };
}

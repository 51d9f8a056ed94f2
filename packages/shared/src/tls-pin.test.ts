import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from './agent-config.js';
import { LaunchplaneError } from './errors.js';
import { isTlsPin, tlsPinOfCertificate, tlsPinOfKey } from './tls-pin.js';

let dir: string;
let certPem: string;
let opensslPin: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lp-pin-'));
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=pin-test',
    ]),
    { stdio: 'ignore' },
  );
  certPem = readFileSync(cert, 'utf8');
  // The pin as the documented openssl pipeline computes it (docs/security.md).
  const spki = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], {
    input: execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', cert]),
  });
  opensslPin = `sha256//${createHash('sha256').update(spki).digest('base64')}`;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TLS pins', () => {
  it('a certificate pin is the documented openssl pipeline, byte for byte', () => {
    expect(tlsPinOfCertificate(certPem)).toBe(opensslPin);
    expect(isTlsPin(opensslPin)).toBe(true);
  });

  it('names the key: the certificate object, its key and a chain starting with it agree', () => {
    const x509 = new X509Certificate(certPem);
    expect(tlsPinOfKey(x509.publicKey)).toBe(opensslPin);
    expect(tlsPinOfCertificate(x509)).toBe(opensslPin);
    expect(tlsPinOfCertificate(`${certPem}${certPem}`)).toBe(opensslPin);
  });

  it('another key has another pin', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(tlsPinOfKey(other)).not.toBe(opensslPin);
  });

  it('an agent config takes a pin only for a wss:// coordinator, and only a well-formed one', () => {
    const config = (url: string, pin: string) =>
      parseAgentConfig(
        `hostId: host-a\ncoordinator:\n  url: ${url}\n  fingerprint: "SHA256:${'A'.repeat(43)}"\n  tlsPin: "${pin}"\n`,
      );
    const ok = config('wss://coord.example:7443/v1/agent', opensslPin);
    expect(ok.ok && ok.value.coordinator?.tlsPin).toBe(opensslPin);
    const plain = config('ws://127.0.0.1:7443/v1/agent', opensslPin);
    expect(plain.ok ? [] : plain.issues.map((i) => [i.path, i.message])).toEqual([
      ['coordinator.tlsPin', 'tlsPin needs a wss:// url'],
    ]);
    const bad = config('wss://coord.example:7443/v1/agent', 'sha256//short=');
    expect(bad.ok).toBe(false);
  });

  it('malformed pins and certificates are refused', () => {
    for (const bad of ['sha256//short=', `SHA256:${'A'.repeat(43)}`, `sha256//${'A'.repeat(44)}`]) {
      expect(isTlsPin(bad)).toBe(false);
    }
    expect(() => tlsPinOfCertificate('not a certificate')).toThrow(LaunchplaneError);
  });
});

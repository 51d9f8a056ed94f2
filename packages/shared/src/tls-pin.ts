/**
 * TLS public-key pins: `sha256//` + standard base64 (with padding) of SHA-256 over the DER
 * SubjectPublicKeyInfo of the server certificate's key, the format `curl --pinnedpubkey` takes.
 * A pin names a key, not a certificate, so a certificate renewed with the same key keeps it.
 */
import { Buffer } from 'node:buffer';
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { LaunchplaneError } from './errors.js';

/** The form of a TLS pin. */
export const TLS_PIN_PATTERN = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;

/** True when `value` is a well-formed pin. */
export function isTlsPin(value: string): boolean {
  return TLS_PIN_PATTERN.test(value);
}

/** The pin of a DER SubjectPublicKeyInfo. */
export function tlsPinOfSpki(spkiDer: Uint8Array): string {
  return `sha256//${createHash('sha256').update(spkiDer).digest('base64')}`;
}

/** The pin of a public key. */
export function tlsPinOfKey(publicKey: KeyObject): string {
  return tlsPinOfSpki(publicKey.export({ type: 'spki', format: 'der' }));
}

/** The pin of a certificate (PEM or DER; the first certificate of a PEM chain). */
export function tlsPinOfCertificate(cert: string | Uint8Array | X509Certificate): string {
  let x509: X509Certificate;
  try {
    x509 =
      cert instanceof X509Certificate
        ? cert
        : new X509Certificate(typeof cert === 'string' ? cert : Buffer.from(cert));
  } catch (cause) {
    throw new LaunchplaneError('LP_CONFIG_INVALID', 'Cannot read the TLS certificate', { cause });
  }
  return tlsPinOfKey(x509.publicKey);
}

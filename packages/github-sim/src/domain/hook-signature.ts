import { createHmac } from 'node:crypto';

/**
 * The signature headers GitHub puts on a delivery of a hook that has a secret: the hex HMAC of the
 * exact body sent, under the secret, with SHA-256 (`X-Hub-Signature-256: sha256=…`) and, for older
 * receivers, SHA-1 (`X-Hub-Signature: sha1=…`).
 */
export function signatureHeaders(
  body: string,
  secret: string,
): { 'x-hub-signature': string; 'x-hub-signature-256': string } {
  const hex = (alg: 'sha1' | 'sha256'): string =>
    createHmac(alg, secret).update(body, 'utf8').digest('hex');
  return {
    'x-hub-signature': `sha1=${hex('sha1')}`,
    'x-hub-signature-256': `sha256=${hex('sha256')}`,
  };
}

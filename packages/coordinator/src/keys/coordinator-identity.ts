/**
 * The coordinator's signing identity: an Ed25519 key in `<dataDir>/signing.key` (PKCS#8 PEM,
 * 0600), created at first start. Agents pin its public key at enrollment, so it is never
 * regenerated when it exists.
 */
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import {
  exportPrivateKeyPem,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  importPrivateKeyPem,
  publicKeyOf,
  type PublicJwk,
} from '@launchplane/shared';
import { readSecretFile, writeSecretFile } from './data-dir.js';

export const SIGNING_KEY_FILE = 'signing.key';

/** The coordinator's key and the forms of its public half that go on the wire. */
export interface CoordinatorIdentity {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: PublicJwk;
  /** `SHA256:…`; also the `kid` of every command. */
  fingerprint: string;
}

/** Builds an identity from a private key. */
export function identityOf(privateKey: KeyObject): CoordinatorIdentity {
  const publicKey = publicKeyOf(privateKey);
  return {
    privateKey,
    publicKey,
    publicJwk: exportPublicJwk(publicKey),
    fingerprint: fingerprint(publicKey),
  };
}

/** Loads `<dataDir>/signing.key`, creating it (0600) when absent. */
export async function loadOrCreateIdentity(
  dataDir: string,
): Promise<{ identity: CoordinatorIdentity; created: boolean }> {
  const path = join(dataDir, SIGNING_KEY_FILE);
  const pem = await readSecretFile(path);
  if (pem !== undefined) return { identity: identityOf(importPrivateKeyPem(pem)), created: false };
  const { privateKey } = generateEd25519KeyPair();
  await writeSecretFile(path, exportPrivateKeyPem(privateKey));
  return { identity: identityOf(privateKey), created: true };
}

/**
 * Ed25519 keys (docs/design/protocol.md "Keys, encodings and fingerprints"):
 * generation, RFC 8032 seeds, public JWKs,
 * PKCS#8 PEM files and `ssh-keygen -l` style fingerprints. Only `node:crypto` is used.
 */
import { Buffer } from 'node:buffer';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { base64urlEncode, tryBase64urlDecode } from './base64url.js';
import { LaunchplaneError } from './errors.js';
import type { PublicJwk } from './protocol.js';

/** A private key and its public half. */
export interface Ed25519KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

const SEED_BYTES = 32;
// DER prefix of a PKCS#8 OneAsymmetricKey holding an Ed25519 seed (RFC 8410 §7).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Generates a fresh Ed25519 key pair. */
export function generateEd25519KeyPair(): Ed25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey };
}

/**
 * Imports a private key from its 32-byte RFC 8032 seed, given as bytes or 64 hex digits.
 * Used for the protocol test vectors; real keys come from {@link generateEd25519KeyPair}.
 */
export function privateKeyFromSeed(seed: Uint8Array | string): KeyObject {
  let bytes: Buffer;
  if (typeof seed === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(seed)) {
      throw new LaunchplaneError('LP_CONFIG_INVALID', 'Ed25519 seed must be 64 hex digits');
    }
    bytes = Buffer.from(seed, 'hex');
  } else {
    bytes = Buffer.from(seed);
  }
  if (bytes.length !== SEED_BYTES) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Ed25519 seed must be ${SEED_BYTES} bytes, got ${bytes.length}`,
    );
  }
  return createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, bytes]),
    format: 'der',
    type: 'pkcs8',
  });
}

const publicOfPrivate = new WeakMap<KeyObject, KeyObject>();

/** The public half of a private Ed25519 key (memoized per KeyObject). */
export function publicKeyOf(privateKey: KeyObject): KeyObject {
  assertEd25519(privateKey, 'private');
  let publicKey = publicOfPrivate.get(privateKey);
  if (publicKey === undefined) {
    publicKey = createPublicKey(privateKey);
    publicOfPrivate.set(privateKey, publicKey);
  }
  return publicKey;
}

/** The raw 32-byte public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  assertEd25519(publicKey, 'public');
  const { x } = publicKey.export({ format: 'jwk' });
  const raw = x === undefined ? undefined : tryBase64urlDecode(x);
  if (raw?.length !== 32) throw new Error('Node.js exported an unexpected Ed25519 JWK');
  return raw;
}

/** Exports a public key as `{"kty":"OKP","crv":"Ed25519","x":…}`. */
export function exportPublicJwk(publicKey: KeyObject): PublicJwk {
  return { kty: 'OKP', crv: 'Ed25519', x: base64urlEncode(rawPublicKey(publicKey)) };
}

/**
 * Imports a public JWK received from a peer. Strict: exactly the members `kty` ("OKP"), `crv`
 * ("Ed25519") and `x` (canonical base64url of 32 bytes). Anything else, including a private
 * `d` member, is refused with LP_INVALID_MESSAGE.
 */
export function importPublicJwk(jwk: unknown): KeyObject {
  const refuse = (why: string): never => {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', `Invalid Ed25519 public JWK: ${why}`);
  };
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) refuse('not an object');
  const members = jwk as Record<string, unknown>;
  const extra = Object.keys(members).filter((k) => k !== 'kty' && k !== 'crv' && k !== 'x');
  if (extra.length > 0) refuse(`unexpected member ${JSON.stringify(extra[0])}`);
  if (members.kty !== 'OKP') refuse('kty must be "OKP"');
  if (members.crv !== 'Ed25519') refuse('crv must be "Ed25519"');
  const raw = typeof members.x === 'string' ? tryBase64urlDecode(members.x) : undefined;
  if (raw?.length !== 32) refuse('x must be 32 bytes of base64url');
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: members.x as string },
      format: 'jwk',
    });
  } catch (cause) {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Invalid Ed25519 public JWK: not a key', {
      cause,
    });
  }
}

/** Exports a private key as PKCS#8 PEM, for a key file (mode 0600 is the caller's job). */
export function exportPrivateKeyPem(privateKey: KeyObject): string {
  assertEd25519(privateKey, 'private');
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Imports a PKCS#8 PEM private key; refuses anything but an unencrypted Ed25519 key. */
export function importPrivateKeyPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    throw new LaunchplaneError('LP_CONFIG_INVALID', 'Cannot read private key: not a PEM key', {
      cause,
      recovery: 'Re-enroll the host to generate a new key file',
    });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Cannot use private key: type "${key.asymmetricKeyType ?? 'unknown'}" is not Ed25519`,
      { recovery: 'Re-enroll the host to generate a new key file' },
    );
  }
  return key;
}

const fingerprints = new WeakMap<KeyObject, string>();

/**
 * The key's fingerprint: `SHA256:` + unpadded standard base64 of SHA-256 over the raw
 * 32-byte key, as `ssh-keygen -l` prints it. Also the JWS `kid`. Memoized per KeyObject.
 */
export function fingerprint(publicKey: KeyObject): string {
  let value = fingerprints.get(publicKey);
  if (value === undefined) {
    const digest = createHash('sha256').update(rawPublicKey(publicKey)).digest('base64');
    value = `SHA256:${digest.replace(/=+$/, '')}`;
    fingerprints.set(publicKey, value);
  }
  return value;
}

/** Throws a TypeError unless `key` is an Ed25519 key of the given kind. */
export function assertEd25519(key: KeyObject, kind: 'public' | 'private'): void {
  if (key.type !== kind || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `Expected an Ed25519 ${kind} key, got a ${key.asymmetricKeyType ?? key.type} ${key.type} key`,
    );
  }
}

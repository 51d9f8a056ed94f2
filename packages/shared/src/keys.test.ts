import { Buffer } from 'node:buffer';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LaunchplaneError } from './errors.js';
import {
  exportPrivateKeyPem,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  importPrivateKeyPem,
  importPublicJwk,
  privateKeyFromSeed,
  publicKeyOf,
  rawPublicKey,
} from './keys.js';

interface KeyVector {
  seedHex: string;
  publicJwk: { kty: string; crv: string; x: string };
  fingerprint: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('./protocol-vectors.json', import.meta.url), 'utf8'),
) as { coordinator: KeyVector; agent: KeyVector };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return (error as LaunchplaneError).code;
  }
  throw new Error('expected a LaunchplaneError, nothing was thrown');
}

describe('keys reproduce the protocol vectors', () => {
  for (const who of ['coordinator', 'agent'] as const) {
    const vector = vectors[who];
    test(`${who}: JWK and fingerprint from the RFC 8032 seed`, () => {
      const publicKey = publicKeyOf(privateKeyFromSeed(vector.seedHex));
      expect(exportPublicJwk(publicKey)).toEqual(vector.publicJwk);
      expect(fingerprint(publicKey)).toBe(vector.fingerprint);
      expect(fingerprint(importPublicJwk(vector.publicJwk))).toBe(vector.fingerprint);
    });
    test(`${who}: seed given as bytes gives the same key`, () => {
      const fromBytes = privateKeyFromSeed(Buffer.from(vector.seedHex, 'hex'));
      expect(exportPublicJwk(publicKeyOf(fromBytes))).toEqual(vector.publicJwk);
    });
  }
});

describe('importPublicJwk() is strict', () => {
  const good = vectors.agent.publicJwk;
  const x32 = Buffer.alloc(32, 7).toString('base64url');
  test.each([
    ['a private member d', { ...good, d: vectors.agent.seedHex }],
    ['an extra member', { ...good, kid: 'x' }],
    ['kty RSA', { ...good, kty: 'RSA' }],
    ['crv X25519', { ...good, crv: 'X25519' }],
    ['crv Ed448', { ...good, crv: 'Ed448' }],
    ['x of 31 bytes', { ...good, x: Buffer.alloc(31, 7).toString('base64url') }],
    ['x of 33 bytes', { ...good, x: Buffer.alloc(33, 7).toString('base64url') }],
    ['x padded', { ...good, x: `${x32}=` }],
    [
      'x in standard base64',
      { ...good, x: Buffer.alloc(32, 0xfb).toString('base64').slice(0, 43) },
    ],
    ['x with non-zero trailing bits', { ...good, x: `${good.x.slice(0, 42)}x` }],
    ['x missing', { kty: 'OKP', crv: 'Ed25519' }],
    ['x a number', { ...good, x: 5 }],
    ['an array', [good]],
    ['null', null],
    ['a string', JSON.stringify(good)],
  ])('refuses %s with LP_INVALID_MESSAGE', (_name, jwk) => {
    expect(codeOf(() => importPublicJwk(jwk))).toBe('LP_INVALID_MESSAGE');
  });

  test('round-trips any generated key', () => {
    const { publicKey } = generateEd25519KeyPair();
    const jwk = exportPublicJwk(publicKey);
    expect(Object.keys(jwk).sort()).toEqual(['crv', 'kty', 'x']);
    expect(fingerprint(importPublicJwk(jwk))).toBe(fingerprint(publicKey));
  });
});

describe('fingerprint()', () => {
  test('is SHA256: + unpadded base64 of SHA-256 over the raw key, for any key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const publicKey = publicKeyOf(privateKeyFromSeed(seed));
        const fp = fingerprint(publicKey);
        expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
        expect(rawPublicKey(publicKey)).toHaveLength(32);
      }),
      { numRuns: 50 },
    );
  });

  test('differs between the two vector keys', () => {
    expect(vectors.agent.fingerprint).not.toBe(vectors.coordinator.fingerprint);
  });
});

describe('private key files', () => {
  test('PKCS#8 PEM round-trips and signs the same', () => {
    const { privateKey } = generateEd25519KeyPair();
    const pem = exportPrivateKeyPem(privateKey);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const back = importPrivateKeyPem(pem);
    expect(fingerprint(publicKeyOf(back))).toBe(fingerprint(publicKeyOf(privateKey)));
  });

  test('an RSA key file is refused with LP_CONFIG_INVALID', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(codeOf(() => importPrivateKeyPem(pem))).toBe('LP_CONFIG_INVALID');
  });

  test('garbage is refused with LP_CONFIG_INVALID and a recovery hint', () => {
    try {
      importPrivateKeyPem('not a key');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LaunchplaneError);
      expect((error as LaunchplaneError).code).toBe('LP_CONFIG_INVALID');
      expect((error as LaunchplaneError).recovery).toMatch(/enroll/i);
    }
  });

  test('a seed of the wrong size or spelling is refused', () => {
    expect(codeOf(() => privateKeyFromSeed('abcd'))).toBe('LP_CONFIG_INVALID');
    expect(codeOf(() => privateKeyFromSeed('z'.repeat(64)))).toBe('LP_CONFIG_INVALID');
    expect(codeOf(() => privateKeyFromSeed(new Uint8Array(31)))).toBe('LP_CONFIG_INVALID');
  });

  test('key kinds are checked: a public key cannot be exported as a private key file', () => {
    const { publicKey } = generateEd25519KeyPair();
    expect(() => exportPrivateKeyPem(publicKey)).toThrow(TypeError);
    expect(() => publicKeyOf(publicKey)).toThrow(TypeError);
  });
});

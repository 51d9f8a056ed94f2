import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LaunchplaneError, type ErrorCode } from './errors.js';
import { helloSigningText, newNonce, signHello, verifyHello } from './hello.js';
import { generateEd25519KeyPair, privateKeyFromSeed, publicKeyOf } from './keys.js';

const vectors = JSON.parse(
  readFileSync(new URL('./protocol-vectors.json', import.meta.url), 'utf8'),
) as {
  agent: { seedHex: string };
  coordinator: { seedHex: string };
  hello: { coordinatorId: string; hostId: string; nonce: string; signedText: string; sig: string };
};
const { hello } = vectors;
const agentKey = privateKeyFromSeed(vectors.agent.seedHex);
const agentPublic = publicKeyOf(agentKey);
const options = { publicKey: agentPublic, coordinatorId: hello.coordinatorId, nonce: hello.nonce };
const answer = { hostId: hello.hostId, nonce: hello.nonce, sig: hello.sig };

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return (error as LaunchplaneError).code;
  }
  throw new Error('expected a LaunchplaneError, nothing was thrown');
}

describe('hello reproduces the protocol vector', () => {
  test('signing text', () => {
    expect(helloSigningText(hello)).toBe(hello.signedText);
  });

  test('signature, byte for byte', () => {
    expect(signHello(hello, agentKey)).toBe(hello.sig);
  });

  test('the vector signature verifies', () => {
    expect(() => verifyHello(answer, options)).not.toThrow();
  });
});

describe('verifyHello() refuses with LP_SIGNATURE_INVALID', () => {
  test('an answer to another challenge (different nonce)', () => {
    const nonce = newNonce();
    const sig = signHello({ ...hello, nonce }, agentKey);
    expect(codeOf(() => verifyHello({ ...answer, nonce, sig }, options))).toBe(
      'LP_SIGNATURE_INVALID',
    );
  });

  test('a signature made for another coordinator', () => {
    const sig = signHello({ ...hello, coordinatorId: 'coord-other' }, agentKey);
    expect(codeOf(() => verifyHello({ ...answer, sig }, options))).toBe('LP_SIGNATURE_INVALID');
  });

  test('a host claiming another host id', () => {
    expect(codeOf(() => verifyHello({ ...answer, hostId: 'host-b' }, options))).toBe(
      'LP_SIGNATURE_INVALID',
    );
  });

  test('a signature by a key other than the enrolled one', () => {
    const sig = signHello(hello, privateKeyFromSeed(vectors.coordinator.seedHex));
    expect(codeOf(() => verifyHello({ ...answer, sig }, options))).toBe('LP_SIGNATURE_INVALID');
  });

  test('any change to any byte of the signature', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: hello.sig.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (index, mask) => {
          const bytes = Buffer.from(hello.sig, 'latin1');
          bytes[index]! ^= mask;
          const sig = bytes.toString('latin1');
          expect(codeOf(() => verifyHello({ ...answer, sig }, options))).toBe(
            'LP_SIGNATURE_INVALID',
          );
        },
      ),
    );
  });

  test('an empty or truncated signature', () => {
    for (const sig of ['', hello.sig.slice(0, 85), `${hello.sig}A`]) {
      expect(codeOf(() => verifyHello({ ...answer, sig }, options))).toBe('LP_SIGNATURE_INVALID');
    }
  });
});

describe('helloSigningText() refuses ambiguous input with LP_INVALID_MESSAGE', () => {
  test.each([
    ['a host id with a line break', { ...hello, hostId: 'host-a\ncoord-test' }],
    ['a coordinator id with a carriage return', { ...hello, coordinatorId: 'coord\r' }],
    ['an empty host id', { ...hello, hostId: '' }],
    ['a short nonce', { ...hello, nonce: 'AAEC' }],
    ['a nonce with a line break', { ...hello, nonce: `${hello.nonce.slice(0, 42)}\n` }],
  ])('%s', (_name, fields) => {
    expect(codeOf(() => helloSigningText(fields))).toBe('LP_INVALID_MESSAGE');
  });
});

describe('newNonce()', () => {
  test('is 32 random bytes in base64url, different every time', () => {
    const nonces = new Set(Array.from({ length: 100 }, () => newNonce()));
    expect(nonces.size).toBe(100);
    for (const nonce of nonces) {
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(nonce, 'base64url')).toHaveLength(32);
    }
  });

  test('signs and verifies round trip with a fresh key', () => {
    const { privateKey, publicKey } = generateEd25519KeyPair();
    const nonce = newNonce();
    const sig = signHello({ coordinatorId: 'c1', hostId: 'h1', nonce }, privateKey);
    expect(() =>
      verifyHello({ hostId: 'h1', nonce, sig }, { publicKey, coordinatorId: 'c1', nonce }),
    ).not.toThrow();
  });
});

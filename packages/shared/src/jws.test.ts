import { Buffer } from 'node:buffer';
import { z } from 'zod';
import { describe, expect, test } from 'vitest';
import { LaunchplaneError, type ErrorCode } from './errors.js';
import { DEFAULT_MAX_JWS_LENGTH, parsePayload, signJws, verifyJwsCompact } from './jws.js';
import { fingerprint, generateEd25519KeyPair } from './keys.js';

const { privateKey, publicKey } = generateEd25519KeyPair();
const typ = 'launchplane-test';

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return (error as LaunchplaneError).code;
  }
  throw new Error('expected a LaunchplaneError, nothing was thrown');
}

describe('signJws()/verifyJwsCompact()', () => {
  test('round-trip any JSON payload; kid defaults to the key fingerprint', () => {
    for (const payload of [{ a: 1 }, [1, 'two'], 'text', 42, null, { nested: { é: '😀' } }]) {
      const jws = signJws(payload, { privateKey, typ });
      const verified = verifyJwsCompact(jws, { publicKey, typ });
      expect(verified.payload).toEqual(payload);
      expect(verified.header).toEqual({ alg: 'EdDSA', typ, kid: fingerprint(publicKey) });
    }
  });

  test('the header members are exactly alg, typ, kid, in that order', () => {
    const jws = signJws({}, { privateKey, typ, kid: 'k1' });
    const header = Buffer.from(jws.split('.')[0]!, 'base64url').toString();
    expect(header).toBe(`{"alg":"EdDSA","typ":"${typ}","kid":"k1"}`);
    expect(verifyJwsCompact(jws, { publicKey, typ, kid: 'k1' }).header.kid).toBe('k1');
    expect(codeOf(() => verifyJwsCompact(jws, { publicKey, typ }))).toBe('LP_BAD_HEADER');
  });

  test('signing something that is not JSON is a TypeError', () => {
    expect(() => signJws(undefined, { privateKey, typ })).toThrow(TypeError);
    expect(() => signJws(() => 1, { privateKey, typ })).toThrow(TypeError);
  });

  test('characters outside Latin-1 cannot alias the signed bytes', () => {
    // U+0141 truncates to 0x41 ("A") in a Latin-1 conversion; it must not pass for "A".
    const jws = signJws({ pad: 'AAAA' }, { privateKey, typ });
    const at = jws.indexOf('A', jws.indexOf('.') + 1);
    const aliased = `${jws.slice(0, at)}\u0141${jws.slice(at + 1)}`;
    expect(codeOf(() => verifyJwsCompact(aliased, { publicKey, typ }))).toBe('LP_INVALID_MESSAGE');
  });

  test('the size cap defaults to 128 KiB', () => {
    expect(DEFAULT_MAX_JWS_LENGTH).toBe(128 * 1024);
    const jws = signJws({ pad: 'x'.repeat(DEFAULT_MAX_JWS_LENGTH) }, { privateKey, typ });
    expect(codeOf(() => verifyJwsCompact(jws, { publicKey, typ }))).toBe('LP_INVALID_MESSAGE');
    expect(verifyJwsCompact(jws, { publicKey, typ, maxLength: jws.length }).payload).toBeDefined();
  });

  test('a key of the wrong kind is a programming error (TypeError)', () => {
    expect(() => signJws({}, { privateKey: publicKey, typ })).toThrow(TypeError);
    expect(() => verifyJwsCompact('a.b.c', { publicKey: privateKey, typ })).toThrow(TypeError);
  });
});

describe('parsePayload()', () => {
  const schema = z.strictObject({ name: z.string(), secret: z.string().min(100) });

  test('returns the parsed value', () => {
    const value = { name: 'n', secret: 's'.repeat(100) };
    expect(parsePayload(schema, value)).toEqual(value);
  });

  test('a mismatch is LP_INVALID_MESSAGE with paths and codes, never the values', () => {
    try {
      parsePayload(schema, { name: 'n', secret: 'hunter2', extra: 1 }, 'Thing');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LaunchplaneError);
      const e = error as LaunchplaneError;
      expect(e.code).toBe('LP_INVALID_MESSAGE');
      expect(e.message).toMatch(/^Thing does not match its schema/);
      expect(JSON.stringify(e.details)).not.toContain('hunter2');
      expect(e.message).not.toContain('hunter2');
      expect(e.details.issues).toEqual(
        expect.arrayContaining([expect.objectContaining({ path: 'secret', code: 'too_small' })]),
      );
    }
  });
});

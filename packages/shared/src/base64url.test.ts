import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { base64urlEncode, isBase64urlAlphabet, tryBase64urlDecode } from './base64url.js';

describe('tryBase64urlDecode()', () => {
  test('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = base64urlEncode(bytes);
        expect(isBase64urlAlphabet(text)).toBe(true);
        expect(tryBase64urlDecode(text)).toEqual(Buffer.from(bytes));
      }),
    );
  });

  test('accepts exactly one spelling per byte string', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,12}$/), (text) => {
        const bytes = tryBase64urlDecode(text);
        if (bytes !== undefined) expect(base64urlEncode(bytes)).toBe(text);
      }),
    );
  });

  test.each([
    ['non-zero trailing bits', 'AB'],
    ['padding', 'AA=='],
    ['standard alphabet', 'a+/b'],
    ['whitespace', 'AA AA'],
    ['impossible length', 'AAAAA'],
    ['a non-ASCII letter', 'AAé'],
  ])('refuses %s', (_name, text) => {
    expect(tryBase64urlDecode(text)).toBeUndefined();
  });

  test('encodes strings as UTF-8', () => {
    expect(base64urlEncode('é')).toBe(Buffer.from('é', 'utf8').toString('base64url'));
  });
});

test('tryBase64urlDecode() accepts a text exactly when decoding and re-encoding gives it back', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{0,9}$/), (text) => {
      const roundTrips = Buffer.from(text, 'base64url').toString('base64url') === text;
      expect(tryBase64urlDecode(text) !== undefined).toBe(roundTrips);
    }),
    { numRuns: 2000 },
  );
});

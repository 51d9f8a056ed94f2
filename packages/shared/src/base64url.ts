/**
 * Strict base64url (RFC 4648 §5, unpadded) as JWS and the hello signature use it.
 *
 * `Buffer.from(text, 'base64url')` silently skips characters outside the alphabet and ignores
 * non-zero trailing bits, so two different strings can decode to the same bytes. Signed
 * envelopes must have exactly one spelling, hence the canonical round-trip check.
 */
import { Buffer } from 'node:buffer';

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** Encodes bytes (or the UTF-8 bytes of a string) as unpadded base64url. */
export function base64urlEncode(data: Uint8Array | string): string {
  return (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)).toString(
    'base64url',
  );
}

/** True when `text` uses only the base64url alphabet (no padding, no whitespace). */
export function isBase64urlAlphabet(text: string): boolean {
  return ALPHABET.test(text);
}

/**
 * Decodes unpadded base64url, or returns undefined when `text` is not the one canonical
 * encoding of some byte string (foreign characters, padding, impossible length, non-zero
 * trailing bits).
 */
export function tryBase64urlDecode(text: string): Buffer | undefined {
  return ALPHABET.test(text) ? decodeCanonicalAlphabet(text) : undefined;
}

/**
 * {@link tryBase64urlDecode} for text already known to use only the alphabet: checks the length
 * and that the unused low bits of the last character are zero (RFC 4648 §3.5), which is what
 * makes the encoding canonical, without re-encoding.
 */
export function decodeCanonicalAlphabet(text: string): Buffer | undefined {
  const rest = text.length % 4;
  if (rest === 1) return undefined;
  if (rest !== 0) {
    const last = sextet(text.charCodeAt(text.length - 1));
    if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  return Buffer.from(text, 'base64url');
}

function sextet(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41; // A-Z
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26; // a-z
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52; // 0-9
  return c === 0x2d ? 62 : 63; // - or _
}

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
  if (!ALPHABET.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}

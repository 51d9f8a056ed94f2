/**
 * JWS compact serialization (RFC 7515) restricted to what Launchplane needs: EdDSA over Ed25519
 * (RFC 8037), a protected header of exactly `{"alg","typ","kid"}`, a JSON payload.
 *
 * Verification runs the order of
 * docs/design/protocol.md "Verification order" and stops at the first failure, each with its own
 * stable code: structure → header → signature → payload JSON. Nothing in the header or payload
 * is trusted before the signature over the received bytes has been checked, except what is
 * needed to pick the key (`alg`, `typ`, `kid` — which must equal fixed, pinned values).
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { sign, verify, type KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { base64urlEncode, decodeCanonicalAlphabet, isBase64urlAlphabet } from './base64url.js';
import { LaunchplaneError } from './errors.js';
import { assertEd25519, fingerprint, publicKeyOf } from './keys.js';
import { parseStrictJson } from './strict-json.js';

/** The only JWS algorithm Launchplane accepts. */
export const JWS_ALG = 'EdDSA';

/** Default cap on a compact JWS, in characters; below the 256 KiB WebSocket frame limit. */
export const DEFAULT_MAX_JWS_LENGTH = 128 * 1024;

const ED25519_SIGNATURE_BYTES = 64;
const HEADER_MEMBERS = new Set(['alg', 'typ', 'kid']);

/** The protected header of every Launchplane JWS, members in this order. */
export interface JwsHeader {
  alg: typeof JWS_ALG;
  /** Message kind: `launchplane-command`, `launchplane-result`, `launchplane-event`. */
  typ: string;
  /** Fingerprint of the signing key ({@link fingerprint}). */
  kid: string;
}

/** Options of {@link signJws}. */
export interface SignJwsOptions {
  privateKey: KeyObject;
  typ: string;
  /** Defaults to the fingerprint of `privateKey`'s public half. */
  kid?: string;
}

/**
 * Signs `payload` as a compact JWS. The payload is serialized with `JSON.stringify` as given
 * (insertion order), which is what the protocol vectors use.
 */
export function signJws(payload: unknown, options: SignJwsOptions): string {
  const { privateKey, typ } = options;
  assertEd25519(privateKey, 'private');
  const kid = options.kid ?? fingerprint(publicKeyOf(privateKey));
  const payloadJson = JSON.stringify(payload) as string | undefined;
  if (payloadJson === undefined) throw new TypeError('Cannot sign a payload that is not JSON');
  const signingInput = `${encodedHeader(typ, kid)}.${base64urlEncode(payloadJson)}`;
  const signature = sign(null, Buffer.from(signingInput, 'latin1'), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

// A signer uses one or two (typ, kid) pairs for its whole life; the cap only bounds misuse.
const HEADER_CACHE_LIMIT = 64;
const headerCache = new Map<string, string>();

/** The base64url protected header `{"alg","typ","kid"}`, in that member order. */
function encodedHeader(typ: string, kid: string): string {
  const cacheKey = `${typ}\n${kid}`;
  let encoded = headerCache.get(cacheKey);
  if (encoded === undefined) {
    const header: JwsHeader = { alg: JWS_ALG, typ, kid };
    encoded = base64urlEncode(JSON.stringify(header));
    if (headerCache.size >= HEADER_CACHE_LIMIT) headerCache.clear();
    headerCache.set(cacheKey, encoded);
  }
  return encoded;
}

/** Options of {@link verifyJwsCompact}. */
export interface VerifyJwsOptions {
  /** The pinned public key of the expected signer. */
  publicKey: KeyObject;
  /** The exact `typ` this message must carry. */
  typ: string;
  /** The pinned `kid`; defaults to the fingerprint of `publicKey`. */
  kid?: string;
  /** Longest accepted compact JWS, in characters. Default {@link DEFAULT_MAX_JWS_LENGTH}. */
  maxLength?: number;
}

/** A JWS whose header and signature have been checked; the payload is strict JSON. */
export interface VerifiedJws {
  header: JwsHeader;
  payload: unknown;
}

/**
 * Verifies a compact JWS: structure (LP_INVALID_MESSAGE) → header (LP_BAD_HEADER) →
 * Ed25519 signature over the received `header.payload` bytes (LP_SIGNATURE_INVALID) →
 * payload is one strict JSON value (LP_INVALID_MESSAGE). Throws LaunchplaneError.
 */
export function verifyJwsCompact(jws: unknown, options: VerifyJwsOptions): VerifiedJws {
  const { publicKey, typ } = options;
  assertEd25519(publicKey, 'public');
  const maxLength = options.maxLength ?? DEFAULT_MAX_JWS_LENGTH;

  // Structure.
  if (typeof jws !== 'string') throw invalid('JWS must be a string');
  if (jws.length > maxLength) {
    throw invalid(`JWS is ${jws.length} characters, more than the limit of ${maxLength}`);
  }
  const firstDot = jws.indexOf('.');
  const lastDot = jws.lastIndexOf('.');
  const secondDot = firstDot === -1 ? -1 : jws.indexOf('.', firstDot + 1);
  if (firstDot === -1 || secondDot !== lastDot) {
    throw invalid('JWS must have exactly three dot-separated parts');
  }
  const headerPart = jws.slice(0, firstDot);
  const payloadPart = jws.slice(firstDot + 1, lastDot);
  const signaturePart = jws.slice(lastDot + 1);
  // An empty signature passes here so that `alg: "none"` tokens are refused for their header.
  if (
    headerPart.length === 0 ||
    payloadPart.length === 0 ||
    !isBase64urlAlphabet(headerPart) ||
    !isBase64urlAlphabet(payloadPart) ||
    !isBase64urlAlphabet(signaturePart)
  ) {
    throw invalid('JWS parts must be unpadded base64url, header and payload non-empty');
  }

  // Header.
  const header = parseHeader(headerPart);
  if (header.alg !== JWS_ALG) {
    throw badHeader(`JWS algorithm ${quote(header.alg)} is not allowed; only "${JWS_ALG}" is`);
  }
  if (header.typ !== typ) {
    throw badHeader(`JWS type ${quote(header.typ)} is not the expected "${typ}"`);
  }
  const pinnedKid = options.kid ?? fingerprint(publicKey);
  if (header.kid !== pinnedKid) {
    throw badHeader(`JWS key ${quote(header.kid)} is not the pinned key "${pinnedKid}"`, {
      recovery: 'Check that this host is enrolled with the coordinator that sent the message',
    });
  }

  // Signature over the bytes as received: never re-encode before verifying.
  const signature = decodeCanonicalAlphabet(signaturePart);
  if (signature?.length !== ED25519_SIGNATURE_BYTES) {
    throw badSignature('JWS signature is not 64 bytes of canonical base64url');
  }
  const signingInput = Buffer.from(jws.slice(0, lastDot), 'latin1');
  if (!verify(null, signingInput, publicKey, signature)) {
    throw badSignature('JWS signature does not verify with the pinned key');
  }

  // Payload.
  const payloadBytes = decodeCanonicalAlphabet(payloadPart);
  if (payloadBytes === undefined) throw invalid('JWS payload is not canonical base64url');
  let payload: unknown;
  try {
    payload = parseStrictJson(decodeUtf8(payloadBytes));
  } catch (cause) {
    throw invalid(`JWS payload is not strict JSON: ${errorMessage(cause)}`, cause);
  }
  return { header: { alg: JWS_ALG, typ, kid: pinnedKid }, payload };
}

/**
 * Parses a verified payload with a zod schema; any mismatch (including unknown members of a
 * strict schema) is LP_INVALID_MESSAGE. Issue paths and codes go into `details`, never values,
 * so secrets in a payload cannot leak into logs.
 */
export function parsePayload<S extends z.ZodType>(
  schema: S,
  payload: unknown,
  what = 'Message',
): z.output<S> {
  const parsed = schema.safeParse(payload);
  if (parsed.success) return parsed.data;
  throw payloadSchemaError(parsed.error, what);
}

/** The LP_INVALID_MESSAGE error for a payload that failed its schema. */
export function payloadSchemaError(error: z.ZodError, what: string): LaunchplaneError {
  const issues = error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    code: issue.code,
  }));
  const first = error.issues[0];
  const where = first === undefined || first.path.length === 0 ? '' : ` at "${issues[0]?.path}"`;
  return new LaunchplaneError(
    'LP_INVALID_MESSAGE',
    `${what} does not match its schema${where}: ${first?.message ?? 'invalid'}`,
    { details: { issues }, cause: error },
  );
}

interface ParsedHeader {
  alg: unknown;
  typ: unknown;
  kid: unknown;
}

function parseHeader(headerPart: string): ParsedHeader {
  const bytes = decodeCanonicalAlphabet(headerPart);
  if (bytes === undefined) throw badHeader('JWS header is not canonical base64url');
  let value: unknown;
  try {
    value = parseStrictJson(decodeUtf8(bytes), { maxDepth: 2 });
  } catch (cause) {
    throw badHeader(`JWS header is not strict JSON: ${errorMessage(cause)}`, { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badHeader('JWS header is not a JSON object');
  }
  for (const name of Object.keys(value)) {
    // `crit` included: Launchplane understands no extensions, so it must refuse them all.
    if (!HEADER_MEMBERS.has(name)) {
      throw badHeader(`JWS header parameter ${quote(name)} is not allowed`);
    }
  }
  const { alg, typ, kid } = value as Record<string, unknown>;
  return { alg, typ, kid };
}

/** Decodes UTF-8, refusing invalid sequences instead of replacing them with U+FFFD. */
function decodeUtf8(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new Error('not valid UTF-8');
  return bytes.toString('utf8');
}

function quote(value: unknown): string {
  if (typeof value !== 'string') return value === undefined ? '(missing)' : typeof value;
  const shown = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(shown);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function invalid(message: string, cause?: unknown): LaunchplaneError {
  return new LaunchplaneError('LP_INVALID_MESSAGE', message, cause === undefined ? {} : { cause });
}

function badHeader(
  message: string,
  options: { recovery?: string; cause?: unknown } = {},
): LaunchplaneError {
  return new LaunchplaneError('LP_BAD_HEADER', message, options);
}

function badSignature(message: string): LaunchplaneError {
  return new LaunchplaneError('LP_SIGNATURE_INVALID', message);
}

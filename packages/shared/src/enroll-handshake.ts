/**
 * The enrollment handshake (docs/security.md "Enrollment handshake"). Three texts, each one value
 * per line after a fixed first line, so no two different field lists can produce the same text:
 *
 * 1. The coordinator signs (Ed25519, its pinned key) `launchplane/v1/enroll-challenge` with its
 *    id, the host id, the agent's fresh nonce, its own single-use nonce and that nonce's expiry.
 *    The agent checks it against the key it was told to pin before it sends anything secret; the
 *    agent's nonce makes an old signed answer useless.
 * 2. The agent proves it holds the enrollment token without sending it: HMAC-SHA256 under
 *    SHA-256 of the token's secret part (what the coordinator stores) over
 *    `launchplane/v1/enroll-proof` with the coordinator id, host id, token id, the fingerprint of
 *    the host key being enrolled and both nonces. A proxy that swaps the host key breaks the
 *    proof; a proof is worth nothing for another key, another coordinator or another challenge.
 * 3. The coordinator signs `launchplane/v1/enrolled` with the host key fingerprint it recorded
 *    and the agent URL, so the agent only reports success for its own key.
 *
 * Plain `node:crypto`: these are fixed texts, not JOSE objects (see docs/security.md).
 */
import { Buffer } from 'node:buffer';
import { createHash, createHmac, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { tryBase64urlDecode } from './base64url.js';
import { LaunchplaneError } from './errors.js';
import { assertEd25519 } from './keys.js';

/** How long a coordinator's enrollment challenge may be answered, in seconds. */
export const ENROLL_CHALLENGE_TTL_SEC = 60;

const CHALLENGE_PREFIX = 'launchplane/v1/enroll-challenge';
const PROOF_PREFIX = 'launchplane/v1/enroll-proof';
const ENROLLED_PREFIX = 'launchplane/v1/enrolled';
const NONCE_BYTES = 32;

/** What the coordinator's challenge signature binds. */
export interface EnrollChallengeFields {
  coordinatorId: string;
  hostId: string;
  /** The agent's nonce: 32 random bytes, base64url, chosen fresh for this enrollment. */
  agentNonce: string;
  /** The coordinator's single-use nonce: 32 random bytes, base64url. */
  nonce: string;
  /** Unix seconds after which the coordinator no longer accepts an answer to `nonce`. */
  expiresAt: number;
}

/** What the agent's proof binds. */
export interface EnrollProofFields {
  coordinatorId: string;
  hostId: string;
  /** The public id of the enrollment token (`lpe_<id>_…`). */
  tokenId: string;
  /** `SHA256:…` of the host key being enrolled. */
  hostFingerprint: string;
  agentNonce: string;
  nonce: string;
}

/** What the coordinator's enrollment answer binds. */
export interface EnrolledFields {
  coordinatorId: string;
  hostId: string;
  /** The fingerprint of the host key the coordinator recorded. */
  hostFingerprint: string;
  agentUrl: string;
  /** The coordinator nonce the enrollment answered. */
  nonce: string;
}

function line(name: string, value: string): string {
  if (value.length === 0 || value.length > 2048 || /[\r\n]/.test(value)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Enrollment ${name} must be one non-empty line`,
    );
  }
  return value;
}

function nonceLine(name: string, value: string): string {
  if (tryBase64urlDecode(value)?.length !== NONCE_BYTES) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Enrollment ${name} must be ${NONCE_BYTES} bytes of base64url`,
    );
  }
  return value;
}

/** The exact text the coordinator signs for a challenge. */
export function enrollChallengeSigningText(f: EnrollChallengeFields): string {
  if (!Number.isSafeInteger(f.expiresAt) || f.expiresAt < 0) {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Enrollment expiresAt must be Unix seconds');
  }
  return [
    CHALLENGE_PREFIX,
    line('coordinatorId', f.coordinatorId),
    line('hostId', f.hostId),
    nonceLine('agentNonce', f.agentNonce),
    nonceLine('nonce', f.nonce),
    String(f.expiresAt),
  ].join('\n');
}

/** The exact text the agent's proof is computed over. */
export function enrollProofText(f: EnrollProofFields): string {
  return [
    PROOF_PREFIX,
    line('coordinatorId', f.coordinatorId),
    line('hostId', f.hostId),
    line('tokenId', f.tokenId),
    line('hostFingerprint', f.hostFingerprint),
    nonceLine('agentNonce', f.agentNonce),
    nonceLine('nonce', f.nonce),
  ].join('\n');
}

/** The exact text the coordinator signs when it answers an enrollment. */
export function enrolledSigningText(f: EnrolledFields): string {
  return [
    ENROLLED_PREFIX,
    line('coordinatorId', f.coordinatorId),
    line('hostId', f.hostId),
    line('hostFingerprint', f.hostFingerprint),
    line('agentUrl', f.agentUrl),
    nonceLine('nonce', f.nonce),
  ].join('\n');
}

function signText(text: string, privateKey: KeyObject): string {
  assertEd25519(privateKey, 'private');
  return sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64url');
}

function verifyText(text: string, sig: string, publicKey: KeyObject): boolean {
  assertEd25519(publicKey, 'public');
  const signature = tryBase64urlDecode(sig);
  return signature?.length === 64 && verify(null, Buffer.from(text, 'utf8'), publicKey, signature);
}

/** Signs a challenge with the coordinator's key; base64url. */
export function signEnrollChallenge(f: EnrollChallengeFields, privateKey: KeyObject): string {
  return signText(enrollChallengeSigningText(f), privateKey);
}

/** True when `sig` is the coordinator's signature over exactly these challenge fields. */
export function verifyEnrollChallenge(
  f: EnrollChallengeFields,
  sig: string,
  publicKey: KeyObject,
): boolean {
  return verifyText(enrollChallengeSigningText(f), sig, publicKey);
}

/** Signs an enrollment answer with the coordinator's key; base64url. */
export function signEnrolled(f: EnrolledFields, privateKey: KeyObject): string {
  return signText(enrolledSigningText(f), privateKey);
}

/** True when `sig` is the coordinator's signature over exactly these answer fields. */
export function verifyEnrolled(f: EnrolledFields, sig: string, publicKey: KeyObject): boolean {
  return verifyText(enrolledSigningText(f), sig, publicKey);
}

/**
 * The proof key of an enrollment token: SHA-256 over the UTF-8 of its secret part. The
 * coordinator stores exactly this (hex), never the secret.
 */
export function enrollProofKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** The agent's proof: HMAC-SHA256 under `key` over {@link enrollProofText}; base64url (43). */
export function computeEnrollProof(key: Uint8Array, f: EnrollProofFields): string {
  return createHmac('sha256', key).update(enrollProofText(f), 'utf8').digest('base64url');
}

/** Constant-time check of a presented proof. */
export function enrollProofMatches(key: Uint8Array, f: EnrollProofFields, proof: string): boolean {
  const expected = createHmac('sha256', key).update(enrollProofText(f), 'utf8').digest();
  const presented = tryBase64urlDecode(proof);
  return presented?.length === expected.length && timingSafeEqual(presented, expected);
}

/** The parts of an enrollment token `lpe_<16 hex id>_<43 base64url secret>`. */
export interface EnrollmentTokenParts {
  id: string;
  secret: string;
}

const ENROLLMENT_TOKEN = /^lpe_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** Splits an enrollment token; undefined when it is not one. */
export function parseEnrollmentToken(value: string): EnrollmentTokenParts | undefined {
  const m = ENROLLMENT_TOKEN.exec(value);
  if (m === null) return undefined;
  return { id: m[1] ?? '', secret: m[2] ?? '' };
}

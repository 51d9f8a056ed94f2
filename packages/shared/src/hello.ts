/**
 * Session authentication (docs/design/protocol.md "Challenge, hello, welcome"):
 * the coordinator sends a random nonce, the
 * agent answers with an Ed25519 signature over
 * `launchplane/v1/hello\n<coordinatorId>\n<hostId>\n<nonce>`.
 */
import { Buffer } from 'node:buffer';
import { randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { tryBase64urlDecode } from './base64url.js';
import { LaunchplaneError } from './errors.js';
import { assertEd25519 } from './keys.js';

const HELLO_PREFIX = 'launchplane/v1/hello';
const NONCE_BYTES = 32;

/** The values a hello signature binds together. */
export interface HelloFields {
  coordinatorId: string;
  hostId: string;
  /** The challenge nonce: 32 random bytes, base64url. */
  nonce: string;
}

/** A fresh challenge nonce: 32 random bytes, unpadded base64url. */
export function newNonce(): string {
  return randomBytes(NONCE_BYTES).toString('base64url');
}

/**
 * The exact text the agent signs. Refuses (LP_INVALID_MESSAGE) empty values, values with a
 * line break (they would make two different triples sign the same text) and a nonce that is not
 * 32 bytes of canonical base64url.
 */
export function helloSigningText(fields: HelloFields): string {
  const { coordinatorId, hostId, nonce } = fields;
  for (const [name, value] of [
    ['coordinatorId', coordinatorId],
    ['hostId', hostId],
  ] as const) {
    if (value.length === 0 || /[\r\n]/.test(value)) {
      throw new LaunchplaneError('LP_INVALID_MESSAGE', `Hello ${name} must be one non-empty line`);
    }
  }
  if (tryBase64urlDecode(nonce)?.length !== NONCE_BYTES) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Hello nonce must be ${NONCE_BYTES} bytes of base64url`,
    );
  }
  return `${HELLO_PREFIX}\n${coordinatorId}\n${hostId}\n${nonce}`;
}

/** Signs the hello text with the agent's private key; returns the signature, base64url. */
export function signHello(fields: HelloFields, privateKey: KeyObject): string {
  assertEd25519(privateKey, 'private');
  return sign(null, Buffer.from(helloSigningText(fields), 'utf8'), privateKey).toString(
    'base64url',
  );
}

/** The parts of an agent's hello that {@link verifyHello} checks. */
export interface HelloAnswer {
  hostId: string;
  nonce: string;
  sig: string;
}

/** Options of {@link verifyHello}. */
export interface VerifyHelloOptions {
  /** The key enrolled for `hello.hostId`. */
  publicKey: KeyObject;
  /** This coordinator's id. */
  coordinatorId: string;
  /** The nonce this coordinator sent in its challenge on this connection. */
  nonce: string;
}

/**
 * Verifies an agent's hello against the challenge this coordinator issued. Throws
 * LP_SIGNATURE_INVALID when the nonce is not the one issued or the signature does not verify,
 * LP_INVALID_MESSAGE when a field is malformed.
 */
export function verifyHello(hello: HelloAnswer, options: VerifyHelloOptions): void {
  assertEd25519(options.publicKey, 'public');
  const text = helloSigningText({
    coordinatorId: options.coordinatorId,
    hostId: hello.hostId,
    nonce: options.nonce,
  });
  if (hello.nonce !== options.nonce) {
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      `Hello from host "${hello.hostId}" answers a different challenge`,
      { details: { hostId: hello.hostId } },
    );
  }
  const signature = tryBase64urlDecode(hello.sig);
  if (
    signature?.length !== 64 ||
    !verify(null, Buffer.from(text, 'utf8'), options.publicKey, signature)
  ) {
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      `Hello signature from host "${hello.hostId}" does not verify with its enrolled key`,
      { details: { hostId: hello.hostId }, recovery: 'Re-enroll the host if its key changed' },
    );
  }
}

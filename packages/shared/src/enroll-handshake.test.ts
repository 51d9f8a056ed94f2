import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  computeEnrollProof,
  enrollChallengeSigningText,
  enrollProofKey,
  enrollProofMatches,
  enrollProofText,
  parseEnrollmentToken,
  signEnrollChallenge,
  signEnrolled,
  verifyEnrollChallenge,
  verifyEnrolled,
  type EnrollChallengeFields,
  type EnrollProofFields,
  type EnrolledFields,
} from './enroll-handshake.js';
import { LaunchplaneError } from './errors.js';
import { newNonce } from './hello.js';
import { fingerprint, generateEd25519KeyPair } from './keys.js';

const coordinator = generateEd25519KeyPair();
const host = generateEd25519KeyPair();
const agentNonce = newNonce();
const nonce = newNonce();

const challenge: EnrollChallengeFields = {
  coordinatorId: 'ctl-1',
  hostId: 'host-a',
  agentNonce,
  nonce,
  expiresAt: 1_790_000_060,
};
const proofFields: EnrollProofFields = {
  coordinatorId: 'ctl-1',
  hostId: 'host-a',
  tokenId: '0123456789abcdef',
  hostFingerprint: fingerprint(host.publicKey),
  agentNonce,
  nonce,
};
const enrolled: EnrolledFields = {
  coordinatorId: 'ctl-1',
  hostId: 'host-a',
  hostFingerprint: fingerprint(host.publicKey),
  agentUrl: 'wss://coord.example:7443/v1/agent',
  nonce,
};

describe('enrollment challenge', () => {
  it('is one value per line after a fixed first line', () => {
    expect(enrollChallengeSigningText(challenge)).toBe(
      `launchplane/v1/enroll-challenge\nctl-1\nhost-a\n${agentNonce}\n${nonce}\n1790000060`,
    );
  });

  it('verifies with the coordinator key, and with nothing else', () => {
    const sig = signEnrollChallenge(challenge, coordinator.privateKey);
    expect(verifyEnrollChallenge(challenge, sig, coordinator.publicKey)).toBe(true);
    expect(verifyEnrollChallenge(challenge, sig, generateEd25519KeyPair().publicKey)).toBe(false);
  });

  it('an old answer (another agent nonce) or any changed field does not verify', () => {
    const sig = signEnrollChallenge(challenge, coordinator.privateKey);
    for (const changed of [
      { ...challenge, agentNonce: newNonce() },
      { ...challenge, nonce: newNonce() },
      { ...challenge, hostId: 'host-b' },
      { ...challenge, coordinatorId: 'ctl-2' },
      { ...challenge, expiresAt: challenge.expiresAt + 1 },
    ]) {
      expect(verifyEnrollChallenge(changed, sig, coordinator.publicKey)).toBe(false);
    }
    expect(verifyEnrollChallenge(challenge, 'A'.repeat(86), coordinator.publicKey)).toBe(false);
    expect(verifyEnrollChallenge(challenge, 'not base64url!', coordinator.publicKey)).toBe(false);
  });

  it('refuses fields that would make two field lists sign one text', () => {
    for (const bad of [
      { ...challenge, hostId: 'host-a\nhost-b' },
      { ...challenge, coordinatorId: '' },
      { ...challenge, agentNonce: 'short' },
      { ...challenge, nonce: randomBytes(31).toString('base64url') },
      { ...challenge, expiresAt: -1 },
      { ...challenge, expiresAt: 1.5 },
    ]) {
      expect(() => enrollChallengeSigningText(bad)).toThrow(LaunchplaneError);
    }
  });
});

describe('enrollment proof', () => {
  const secret = randomBytes(32).toString('base64url');
  const key = enrollProofKey(secret);

  it('the key is SHA-256 of the secret, which is what the coordinator stores', () => {
    expect(key.toString('hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(enrollProofKey(secret).equals(key)).toBe(true);
  });

  it('matches only under the same key over the same fields', () => {
    const proof = computeEnrollProof(key, proofFields);
    expect(proof).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(enrollProofMatches(key, proofFields, proof)).toBe(true);
    expect(enrollProofMatches(enrollProofKey('another secret'), proofFields, proof)).toBe(false);
    expect(enrollProofMatches(key, proofFields, proof.slice(0, 42))).toBe(false);
  });

  it('is worth nothing for a swapped host key, another challenge, host, token or coordinator', () => {
    const proof = computeEnrollProof(key, proofFields);
    const attacker = generateEd25519KeyPair();
    for (const changed of [
      { ...proofFields, hostFingerprint: fingerprint(attacker.publicKey) },
      { ...proofFields, nonce: newNonce() },
      { ...proofFields, agentNonce: newNonce() },
      { ...proofFields, hostId: 'host-b' },
      { ...proofFields, tokenId: 'fedcba9876543210' },
      { ...proofFields, coordinatorId: 'ctl-2' },
    ]) {
      expect(enrollProofMatches(key, changed, proof)).toBe(false);
    }
  });

  it('never contains the secret', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (bytes) => {
        const s = Buffer.from(bytes).toString('base64url');
        const text = enrollProofText(proofFields);
        const proof = computeEnrollProof(enrollProofKey(s), proofFields);
        expect(proof).not.toContain(s);
        expect(text).not.toContain(s);
      }),
      { numRuns: 200 },
    );
  });
});

describe('enrollment answer', () => {
  it('binds the recorded host key and the agent URL', () => {
    const sig = signEnrolled(enrolled, coordinator.privateKey);
    expect(verifyEnrolled(enrolled, sig, coordinator.publicKey)).toBe(true);
    for (const changed of [
      { ...enrolled, hostFingerprint: fingerprint(generateEd25519KeyPair().publicKey) },
      { ...enrolled, agentUrl: 'wss://attacker.example/v1/agent' },
      { ...enrolled, nonce: newNonce() },
    ]) {
      expect(verifyEnrolled(changed, sig, coordinator.publicKey)).toBe(false);
    }
  });
});

describe('parseEnrollmentToken', () => {
  it('splits lpe_<id>_<secret> and refuses anything else', () => {
    const secret = randomBytes(32).toString('base64url');
    expect(parseEnrollmentToken(`lpe_0123456789abcdef_${secret}`)).toEqual({
      id: '0123456789abcdef',
      secret,
    });
    for (const bad of [
      `lpt_0123456789abcdef_${secret}`,
      `lpe_0123456789ABCDEF_${secret}`,
      `lpe_0123456789abcdef_${secret}x`,
      `lpe_0123456789abcdef_${secret} `,
      'lpe_garbage_garbagegarbage',
      '',
    ]) {
      expect(parseEnrollmentToken(bad)).toBeUndefined();
    }
  });
});

/**
 * Host enrollment (docs/security.md "Enrollment handshake"): single-use, host-bound, short-lived
 * tokens; signed, single-use challenges; and the `POST /v1/enroll` decision on a proof of the
 * token that is bound to the host key. The token is burnt in the same transaction that records
 * the host. A refusal records nothing but an audit entry: its own record once the proof verified
 * (someone holds the token), else a count in the per-source tally (see `pre-auth-guard.ts`).
 */
import { randomBytes } from 'node:crypto';
import {
  ENROLL_CHALLENGE_TTL_SEC,
  LaunchplaneError,
  enrollProofMatches,
  fingerprint,
  importPublicJwk,
  newNonce,
  signEnrollChallenge,
  signEnrolled,
  type EnrollChallengeResponse,
  type EnrollRequest,
  type EnrollResponse,
} from '@launchplane/shared';
import type { CoordinatorIdentity } from '../keys/coordinator-identity.js';
import type { CoordinatorStore, EnrollmentTokenRecord, HostRecord } from '../ports/store.js';
import { writeAudit } from '../audit/audit-writer.js';
import { mintToken } from './secret-tokens.js';
/** Longest life of an enrollment token, in seconds (docs/security.md "Enrollment handshake"). */
export const MAX_ENROLLMENT_TTL_SEC = 60 * 60;
export const DEFAULT_ENROLLMENT_TTL_SEC = 15 * 60;

/** Creates a single-use enrollment token bound to `hostId`; `value` is shown once. */
export async function createEnrollmentToken(
  store: CoordinatorStore,
  opts: { hostId: string; ttlSec: number; actor: string; now: number },
): Promise<{ record: EnrollmentTokenRecord; value: string }> {
  if (!Number.isInteger(opts.ttlSec) || opts.ttlSec < 1 || opts.ttlSec > MAX_ENROLLMENT_TTL_SEC) {
    throw new LaunchplaneError(
      'LP_USAGE',
      `Enrollment token TTL must be between 1 s and ${MAX_ENROLLMENT_TTL_SEC / 60} min, got ${opts.ttlSec} s`,
    );
  }
  const minted = mintToken('enrollment');
  const record: EnrollmentTokenRecord = {
    id: minted.id,
    hostId: opts.hostId,
    hash: minted.hash,
    createdAt: opts.now,
    expiresAt: opts.now + opts.ttlSec,
    usedAt: undefined,
    createdBy: opts.actor,
  };
  await store.putEnrollmentToken(record);
  return { record, value: minted.value };
}

/** One issued challenge, kept until answered or expired. */
export interface IssuedChallenge {
  nonce: string;
  hostId: string;
  agentNonce: string;
  expiresAt: number;
  /** The source key it was issued to (its slot is released when it is answered or expires). */
  source: string;
}

/** Options of {@link EnrollmentChallenges}. */
export interface EnrollmentChallengesOptions {
  /** Most challenges open at once, all sources together. Default 10 000. */
  maxOpen?: number;
  /** Called when a challenge is answered or expires, to give back its source's slot. */
  onSettled?: (challenge: IssuedChallenge) => void;
}

/**
 * The coordinator's open enrollment challenges, in memory: each nonce is answered at most once and
 * only until it expires ({@link ENROLL_CHALLENGE_TTL_SEC}). A coordinator restart forgets them;
 * the agent then simply enrolls again.
 */
export class EnrollmentChallenges {
  readonly #open = new Map<string, IssuedChallenge>();
  readonly #maxOpen: number;
  readonly #onSettled: (challenge: IssuedChallenge) => void;

  constructor(opts: EnrollmentChallengesOptions = {}) {
    this.#maxOpen = opts.maxOpen ?? 10_000;
    this.#onSettled = opts.onSettled ?? (() => undefined);
  }

  /** Open challenges (tests). */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Issues and signs a challenge for `hostId` and the agent's nonce. Throws LP_RATE_LIMITED when
   * too many are open.
   */
  issue(
    req: { hostId: string; agentNonce: string; source: string },
    ctx: { coordinatorId: string; identity: CoordinatorIdentity; now: number },
  ): EnrollChallengeResponse {
    this.prune(ctx.now);
    if (this.#open.size >= this.#maxOpen) {
      throw new LaunchplaneError('LP_RATE_LIMITED', 'Too many enrollments are in progress', {
        recovery: 'Try again in a minute',
        details: { retryAfterSec: ENROLL_CHALLENGE_TTL_SEC },
      });
    }
    const challenge: IssuedChallenge = {
      nonce: newNonce(),
      hostId: req.hostId,
      agentNonce: req.agentNonce,
      expiresAt: ctx.now + ENROLL_CHALLENGE_TTL_SEC,
      source: req.source,
    };
    this.#open.set(challenge.nonce, challenge);
    return {
      coordinatorId: ctx.coordinatorId,
      coordinatorKey: ctx.identity.publicJwk,
      nonce: challenge.nonce,
      expiresAt: challenge.expiresAt,
      sig: signEnrollChallenge(
        {
          coordinatorId: ctx.coordinatorId,
          hostId: challenge.hostId,
          agentNonce: challenge.agentNonce,
          nonce: challenge.nonce,
          expiresAt: challenge.expiresAt,
        },
        ctx.identity.privateKey,
      ),
    };
  }

  /** Takes the challenge of `nonce` for good; undefined when unknown, used or expired. */
  take(nonce: string, now: number): IssuedChallenge | undefined {
    const challenge = this.#open.get(nonce);
    if (challenge === undefined) return undefined;
    this.#open.delete(nonce);
    this.#onSettled(challenge);
    return challenge.expiresAt > now ? challenge : undefined;
  }

  /** Forgets expired challenges. */
  prune(now: number): void {
    for (const [nonce, challenge] of this.#open) {
      if (challenge.expiresAt <= now) {
        this.#open.delete(nonce);
        this.#onSettled(challenge);
      }
    }
  }
}

/** What the coordinator answers with besides the host id. */
export interface EnrollmentContext {
  coordinatorId: string;
  identity: CoordinatorIdentity;
  agentUrl: string;
  now: number;
  /** The challenge `req.nonce` named, taken from {@link EnrollmentChallenges}; undefined if none. */
  challenge: IssuedChallenge | undefined;
  /** How the request arrived, for the audit record. */
  transport: { tls: boolean; loopback: boolean };
}

const audited = new WeakSet<object>();

/**
 * True when {@link enroll} wrote this refusal's audit record itself (the proof verified). Any
 * other refusal was unauthenticated and belongs in the per-source tally.
 */
export function isAuditedRefusal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && audited.has(err);
}

// Checked against when the token id is unknown, so a miss costs what a wrong proof costs.
const DUMMY_PROOF_KEY = randomBytes(32);

/**
 * Decides an enrollment request. Unauthenticated refusals, all LP_TOKEN_INVALID or
 * LP_UNAUTHENTICATED with one message each whatever the cause: no open challenge for the nonce
 * (unknown, used, expired, or issued for another host id), unknown token id, or a proof that does
 * not verify (wrong token, or a host key other than the one the agent proved for). After the
 * proof verified: token used → LP_TOKEN_INVALID, expired → LP_EXPIRED, token for another host
 * → LP_FORBIDDEN, host revoked → LP_HOST_REVOKED, host enrolled with a different key →
 * LP_CONFLICT. The same host presenting the same key again (a retry after a lost answer, or a
 * fresh token) gets the same answer and changes nothing.
 */
export async function enroll(
  store: CoordinatorStore,
  req: EnrollRequest,
  ctx: EnrollmentContext,
): Promise<EnrollResponse> {
  const { now, challenge } = ctx;
  if (challenge === undefined || challenge.nonce !== req.nonce || challenge.hostId !== req.hostId) {
    throw new LaunchplaneError(
      'LP_UNAUTHENTICATED',
      'The enrollment challenge is unknown, already answered or expired',
      { recovery: 'Run launchplane-agent enroll again' },
    );
  }
  // Throws LP_INVALID_MESSAGE for a JWK that is not an Ed25519 public key.
  const hostFingerprint = fingerprint(importPublicJwk(req.publicKey));
  const token = await store.getEnrollmentToken(req.tokenId);
  const proven = enrollProofMatches(
    token === undefined ? DUMMY_PROOF_KEY : Buffer.from(token.hash, 'hex'),
    {
      coordinatorId: ctx.coordinatorId,
      hostId: req.hostId,
      tokenId: req.tokenId,
      hostFingerprint,
      agentNonce: challenge.agentNonce,
      nonce: challenge.nonce,
    },
    req.proof,
  );
  if (token === undefined || !proven) {
    throw new LaunchplaneError('LP_TOKEN_INVALID', 'The enrollment token is not valid', {
      recovery: 'Ask an admin for a new one: launchplane enroll-token create --host <hostId>',
    });
  }

  const actor = `enroll:${token.id}`;
  const transport = {
    transport: ctx.transport.tls ? 'https' : 'http',
    // Plain HTTP from another machine: the enrollment ran with --insecure.
    ...(ctx.transport.tls || ctx.transport.loopback ? {} : { insecure: true }),
  };
  const answer: EnrollResponse = {
    hostId: req.hostId,
    coordinatorId: ctx.coordinatorId,
    coordinatorKey: ctx.identity.publicJwk,
    agentUrl: ctx.agentUrl,
    hostFingerprint,
    sig: signEnrolled(
      {
        coordinatorId: ctx.coordinatorId,
        hostId: req.hostId,
        hostFingerprint,
        agentUrl: ctx.agentUrl,
        nonce: challenge.nonce,
      },
      ctx.identity.privateKey,
    ),
  };
  try {
    await store.transaction(async (tx) => {
      const current = await tx.getEnrollmentToken(token.id);
      if (current === undefined) {
        throw new LaunchplaneError('LP_TOKEN_INVALID', 'The enrollment token is not valid');
      }
      if (current.hostId !== req.hostId) {
        throw new LaunchplaneError(
          'LP_FORBIDDEN',
          `The enrollment token was issued for host "${current.hostId}", not "${req.hostId}"`,
          { recovery: 'Use the token created for this host id, or create one for it' },
        );
      }
      const existing = await tx.getHost(req.hostId);
      if (existing?.revokedAt !== undefined) {
        throw new LaunchplaneError('LP_HOST_REVOKED', `Host "${req.hostId}" has been revoked`, {
          recovery: 'A revoked host id cannot enroll again; enroll the machine under a new host id',
        });
      }
      const sameKey = existing !== undefined && existing.fingerprint === hostFingerprint;
      if (current.usedAt !== undefined) {
        // A retry of an enrollment that already succeeded gets the same answer.
        if (sameKey) return;
        throw new LaunchplaneError(
          'LP_TOKEN_INVALID',
          'The enrollment token has already been used',
          { recovery: 'Enrollment tokens are single use; create a new one' },
        );
      }
      if (current.expiresAt <= now) {
        throw new LaunchplaneError('LP_EXPIRED', 'The enrollment token has expired', {
          recovery: 'Create a new one: launchplane enroll-token create --host <hostId>',
        });
      }
      if (existing !== undefined && !sameKey) {
        throw new LaunchplaneError(
          'LP_CONFLICT',
          `Host "${req.hostId}" is already enrolled with a different key`,
          {
            recovery:
              'If the machine was rebuilt, revoke the old host and enroll under a new host id',
          },
        );
      }
      await tx.putEnrollmentToken({ ...current, usedAt: now });
      if (existing === undefined) {
        const host: HostRecord = {
          hostId: req.hostId,
          publicKey: req.publicKey,
          fingerprint: hostFingerprint,
          enrolledAt: now,
          revokedAt: undefined,
          lastSeenAt: undefined,
          agentVersion: req.agentVersion,
          optIn: undefined,
          capabilities: [],
        };
        await tx.putHost(host);
      }
      await writeAudit(tx, now, {
        actor,
        action: 'host.enroll',
        outcome: 'ok',
        hostId: req.hostId,
        params: {
          fingerprint: hostFingerprint,
          agentVersion: req.agentVersion,
          again: sameKey,
          ...transport,
        },
      });
    });
    return answer;
  } catch (err) {
    const e = err instanceof LaunchplaneError ? err : undefined;
    await writeAudit(store, now, {
      actor,
      action: 'host.enroll',
      outcome: 'refused',
      hostId: req.hostId,
      params: { fingerprint: hostFingerprint, agentVersion: req.agentVersion, ...transport },
      code: e?.code ?? 'LP_INTERNAL',
      message: e?.message ?? 'Internal error',
      recovery: e?.recovery,
    });
    if (typeof err === 'object' && err !== null) audited.add(err);
    throw err;
  }
}

/**
 * Host enrollment (PROTOCOL.md "Enrollment"): single-use, host-bound, short-lived tokens, and the
 * `POST /v1/enroll` decision. The token is burnt in the same transaction that records the host;
 * a refusal records nothing but an audit entry.
 */
import {
  LaunchplaneError,
  fingerprint,
  importPublicJwk,
  type EnrollRequest,
  type EnrollResponse,
  type PublicJwk,
} from '@launchplane/shared';
import type { CoordinatorStore, EnrollmentTokenRecord, HostRecord } from '../ports/store.js';
import { writeAudit } from './audit-writer.js';
import { mintToken, parseToken, secretMatches } from './secret-tokens.js';

/** Longest life of an enrollment token, in seconds (PROTOCOL.md). */
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

/** What the coordinator answers with besides the host id. */
export interface EnrollmentContext {
  coordinatorId: string;
  coordinatorKey: PublicJwk;
  agentUrl: string;
  now: number;
}

/**
 * Decides an enrollment request. Refusals: unknown/wrong/used token → LP_TOKEN_INVALID, expired
 * → LP_EXPIRED, token for another host → LP_FORBIDDEN, host revoked → LP_HOST_REVOKED, host
 * enrolled with a different key → LP_CONFLICT. The same host presenting the same key again
 * (a retry after a lost answer, or a fresh token) gets the same answer and changes nothing.
 */
export async function enroll(
  store: CoordinatorStore,
  req: EnrollRequest,
  ctx: EnrollmentContext,
): Promise<EnrollResponse> {
  const { now } = ctx;
  const parsed = parseToken('enrollment', req.token);
  let hostFingerprint: string;
  try {
    hostFingerprint = fingerprint(importPublicJwk(req.publicKey));
  } catch (err) {
    await writeAudit(store, now, {
      actor: parsed === undefined ? 'anonymous' : `enroll:${parsed.id}`,
      action: 'host.enroll',
      outcome: 'refused',
      hostId: req.hostId,
      code: 'LP_INVALID_MESSAGE',
      message: 'The public key is not an Ed25519 JWK',
    });
    throw err;
  }
  const answer: EnrollResponse = {
    hostId: req.hostId,
    coordinatorId: ctx.coordinatorId,
    coordinatorKey: ctx.coordinatorKey,
    agentUrl: ctx.agentUrl,
  };
  try {
    const outcome = await store.transaction(async (tx) => {
      const token = parsed === undefined ? undefined : await tx.getEnrollmentToken(parsed.id);
      if (
        token === undefined ||
        parsed === undefined ||
        !secretMatches(parsed.secret, token.hash)
      ) {
        throw new LaunchplaneError('LP_TOKEN_INVALID', 'The enrollment token is not valid', {
          recovery: 'Ask an admin for a new one: launchplane enroll-token create --host <hostId>',
        });
      }
      if (token.hostId !== req.hostId) {
        throw new LaunchplaneError(
          'LP_FORBIDDEN',
          `The enrollment token was issued for host "${token.hostId}", not "${req.hostId}"`,
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
      if (token.usedAt !== undefined) {
        // A retry of an enrollment that already succeeded gets the same answer.
        if (sameKey) return 'repeat' as const;
        throw new LaunchplaneError(
          'LP_TOKEN_INVALID',
          'The enrollment token has already been used',
          {
            recovery: 'Enrollment tokens are single use; create a new one',
          },
        );
      }
      if (token.expiresAt <= now) {
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
      await tx.putEnrollmentToken({ ...token, usedAt: now });
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
        actor: `enroll:${token.id}`,
        action: 'host.enroll',
        outcome: 'ok',
        hostId: req.hostId,
        params: { fingerprint: hostFingerprint, agentVersion: req.agentVersion, again: sameKey },
      });
      return 'enrolled' as const;
    });
    void outcome;
    return answer;
  } catch (err) {
    const e = err instanceof LaunchplaneError ? err : undefined;
    await writeAudit(store, now, {
      actor: parsed === undefined ? 'anonymous' : `enroll:${parsed.id}`,
      action: 'host.enroll',
      outcome: 'refused',
      hostId: req.hostId,
      params: { fingerprint: hostFingerprint, agentVersion: req.agentVersion },
      code: e?.code ?? 'LP_INTERNAL',
      message: e?.message ?? 'Internal error',
      recovery: e?.recovery,
    });
    throw err;
  }
}

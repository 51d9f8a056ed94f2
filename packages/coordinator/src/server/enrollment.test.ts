import { describe, expect, it } from 'vitest';
import {
  LaunchplaneError,
  computeEnrollProof,
  enrollProofKey,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  importPublicJwk,
  newNonce,
  parseEnrollmentToken,
  verifyEnrollChallenge,
  verifyEnrolled,
  type EnrollRequest,
} from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { retryingEveryTransaction } from '../adapters/store-contract.test-helper.js';
import { identityOf } from '../keys/coordinator-identity.js';
import {
  EnrollmentChallenges,
  createEnrollmentToken,
  enroll,
  isAuditedRefusal,
  type IssuedChallenge,
} from './enrollment.js';

const identity = identityOf(generateEd25519KeyPair().privateKey);
const COORDINATOR_ID = 'ctl';
const AGENT_URL = 'ws://127.0.0.1:1/v1/agent';

/** An agent's side: a challenge answered with a proof for `key` (or a proof for `proveFor`). */
function attempt(
  challenges: EnrollmentChallenges,
  token: string,
  opts: {
    hostId?: string;
    now: number;
    key?: ReturnType<typeof generateEd25519KeyPair>;
    proveFor?: ReturnType<typeof generateEd25519KeyPair>;
  },
): { req: EnrollRequest; challenge: IssuedChallenge | undefined } {
  const hostId = opts.hostId ?? 'host-a';
  const key = opts.key ?? generateEd25519KeyPair();
  const agentNonce = newNonce();
  const answer = challenges.issue(
    { hostId, agentNonce, source: '127.0.0.1' },
    { coordinatorId: COORDINATOR_ID, identity, now: opts.now },
  );
  const parts = parseEnrollmentToken(token) ?? { id: '0000000000000000', secret: token };
  const proof = computeEnrollProof(enrollProofKey(parts.secret), {
    coordinatorId: COORDINATOR_ID,
    hostId,
    tokenId: parts.id,
    hostFingerprint: fingerprint((opts.proveFor ?? key).publicKey),
    agentNonce,
    nonce: answer.nonce,
  });
  return {
    req: {
      tokenId: parts.id,
      hostId,
      publicKey: exportPublicJwk(key.publicKey),
      agentVersion: '1',
      nonce: answer.nonce,
      proof,
    },
    challenge: challenges.take(answer.nonce, opts.now),
  };
}

const ctx = (now: number, challenge: IssuedChallenge | undefined) => ({
  coordinatorId: COORDINATOR_ID,
  identity,
  agentUrl: AGENT_URL,
  now,
  challenge,
  transport: { tls: false, loopback: true },
});

async function newToken(store: SqliteCoordinatorStore, now = 0, hostId = 'host-a') {
  return (await createEnrollmentToken(store, { hostId, ttlSec: 60, actor: 'a', now })).value;
}

describe('enrollment', () => {
  it('createEnrollmentToken refuses a TTL above 60 minutes or below 1 s', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    for (const ttlSec of [0, 3601, 1.5]) {
      await expect(
        createEnrollmentToken(store, { hostId: 'h', ttlSec, actor: 'a', now: 0 }),
      ).rejects.toMatchObject({ code: 'LP_USAGE' });
    }
    await store.close();
  });

  it('a challenge is signed by the coordinator key over the agent nonce, and answered once', () => {
    const challenges = new EnrollmentChallenges();
    const agentNonce = newNonce();
    const answer = challenges.issue(
      { hostId: 'host-a', agentNonce, source: '127.0.0.1' },
      { coordinatorId: COORDINATOR_ID, identity, now: 100 },
    );
    expect(answer.expiresAt).toBe(160);
    expect(
      verifyEnrollChallenge(
        { hostId: 'host-a', agentNonce, ...answer },
        answer.sig,
        importPublicJwk(answer.coordinatorKey),
      ),
    ).toBe(true);
    expect(challenges.take(answer.nonce, 101)?.agentNonce).toBe(agentNonce);
    expect(challenges.take(answer.nonce, 101)).toBeUndefined();
  });

  it('a challenge expires, and too many open ones are refused with LP_RATE_LIMITED', () => {
    const settled: string[] = [];
    const challenges = new EnrollmentChallenges({
      maxOpen: 2,
      onSettled: (c) => settled.push(c.nonce),
    });
    const issue = (now: number) =>
      challenges.issue(
        { hostId: 'host-a', agentNonce: newNonce(), source: '127.0.0.1' },
        { coordinatorId: COORDINATOR_ID, identity, now },
      );
    const a = issue(100);
    issue(100);
    expect(() => issue(100)).toThrow(expect.objectContaining({ code: 'LP_RATE_LIMITED' }));
    expect(challenges.take(a.nonce, 160)).toBeUndefined();
    // Expired ones are forgotten, and their slots given back, on the next issue.
    issue(161);
    expect(challenges.size).toBe(1);
    expect(settled).toHaveLength(2);
  });

  it('enrolls with a proof, answers with a signature over the recorded key, burns the token', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const key = generateEd25519KeyPair();
    const { req, challenge } = attempt(new EnrollmentChallenges(), token, { now: 1, key });
    const answer = await enroll(store, req, ctx(1, challenge));
    expect(answer.hostFingerprint).toBe(fingerprint(key.publicKey));
    expect(
      verifyEnrolled(
        { ...answer, nonce: req.nonce },
        answer.sig,
        importPublicJwk(answer.coordinatorKey),
      ),
    ).toBe(true);
    expect((await store.getHost('host-a'))?.fingerprint).toBe(fingerprint(key.publicKey));
    const id = parseEnrollmentToken(token)?.id ?? '';
    expect((await store.getEnrollmentToken(id))?.usedAt).toBe(1);
    expect(JSON.stringify(await store.listAudit({}))).not.toContain(req.proof);
    await store.close();
  });

  it('enrolls once when the store runs the transaction again (a retried serialization failure)', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const key = generateEd25519KeyPair();
    const { req, challenge } = attempt(new EnrollmentChallenges(), token, { now: 1, key });
    const answer = await enroll(retryingEveryTransaction(store), req, ctx(1, challenge));
    expect(answer.hostFingerprint).toBe(fingerprint(key.publicKey));
    expect((await store.listHosts()).map((h) => h.hostId)).toEqual(['host-a']);
    const id = parseEnrollmentToken(token)?.id ?? '';
    expect((await store.getEnrollmentToken(id))?.usedAt).toBe(1);
    await store.close();
  });

  it('a token expires exactly at expiresAt', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store, 100);
    const challenges = new EnrollmentChallenges();
    const late = attempt(challenges, token, { now: 160 });
    const err = await enroll(store, late.req, ctx(160, late.challenge)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_EXPIRED');
    const ok = attempt(challenges, token, { now: 159 });
    expect((await enroll(store, ok.req, ctx(159, ok.challenge))).hostId).toBe('host-a');
    await store.close();
  });

  it('a proof made for another host key (a swapped key) is refused, and nothing is recorded', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const attacker = generateEd25519KeyPair();
    const { req, challenge } = attempt(new EnrollmentChallenges(), token, {
      now: 1,
      key: attacker,
      proveFor: generateEd25519KeyPair(),
    });
    const err = await enroll(store, req, ctx(1, challenge)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LP_TOKEN_INVALID' });
    // Unauthenticated: counted per source by the server, not audited here.
    expect(isAuditedRefusal(err)).toBe(false);
    expect(await store.listHosts()).toEqual([]);
    expect(await store.listAudit({})).toEqual([]);
    const id = parseEnrollmentToken(token)?.id ?? '';
    expect((await store.getEnrollmentToken(id))?.usedAt).toBeUndefined();
    await store.close();
  });

  it('no challenge, a challenge for another host, an unknown token id: one unauthenticated answer each', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const challenges = new EnrollmentChallenges();
    const a = attempt(challenges, token, { now: 1 });
    await expect(enroll(store, a.req, ctx(1, undefined))).rejects.toMatchObject({
      code: 'LP_UNAUTHENTICATED',
    });
    const b = attempt(challenges, token, { now: 1, hostId: 'host-b' });
    await expect(
      enroll(store, { ...b.req, hostId: 'host-a' }, ctx(1, b.challenge)),
    ).rejects.toMatchObject({ code: 'LP_UNAUTHENTICATED' });
    const c = attempt(challenges, 'lpe_nope', { now: 1 });
    await expect(enroll(store, c.req, ctx(1, c.challenge))).rejects.toMatchObject({
      code: 'LP_TOKEN_INVALID',
    });
    expect(await store.listAudit({})).toEqual([]);
    await store.close();
  });

  it('refusals after a verified proof are audited one by one and leave no host', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const challenges = new EnrollmentChallenges();
    const forB = attempt(challenges, token, { now: 1, hostId: 'host-b' });
    const err = await enroll(store, forB.req, ctx(1, forB.challenge)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LP_FORBIDDEN' });
    expect(isAuditedRefusal(err)).toBe(true);
    expect(await store.listHosts()).toEqual([]);
    const audit = await store.listAudit({});
    expect(audit.map((r) => [r.action, r.outcome, r.code])).toEqual([
      ['host.enroll', 'refused', 'LP_FORBIDDEN'],
    ]);
    expect(audit[0]?.params).toMatchObject({ transport: 'http' });
    await store.close();
  });

  it('plain HTTP from another machine is audited as insecure', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const token = await newToken(store);
    const { req, challenge } = attempt(new EnrollmentChallenges(), token, { now: 1 });
    await enroll(store, req, { ...ctx(1, challenge), transport: { tls: false, loopback: false } });
    const [record] = await store.listAudit({});
    expect(record?.params).toMatchObject({ transport: 'http', insecure: true });
    await store.close();
  });
});

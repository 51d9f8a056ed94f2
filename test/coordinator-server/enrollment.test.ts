import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportPublicJwk, fingerprint, verifyEnrolled } from '@launchplane/shared';
import { enrollHost, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function enrollToken(hostId: string, ttlSec?: number): Promise<string> {
  const r = await h.api('POST', '/v1/enrollment-tokens', {
    body: { hostId, ...(ttlSec === undefined ? {} : { ttlSec }) },
  });
  expect(r.status).toBe(201);
  return String(r.body.token);
}

async function refusals(): Promise<{ code?: string; hostId?: string }[]> {
  const r = await h.api('GET', '/v1/audit?limit=1000');
  return (
    r.body.records as { action: string; outcome: string; code?: string; hostId?: string }[]
  ).filter((x) => x.action === 'host.enroll' && x.outcome === 'refused');
}

describe('enrollment', () => {
  it('an enrollment token is printed with the coordinator fingerprint, stored only hashed', async () => {
    const r = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-a' } });
    expect(r.status).toBe(201);
    expect(r.body.coordinatorFingerprint).toBe(h.coordinator.identity.fingerprint);
    expect(Number(r.body.expiresAt) - h.clock.now).toBe(15 * 60);
    const rec = await h.coordinator.store.getEnrollmentToken(String(r.body.id));
    expect(rec?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rec)).not.toContain(String(r.body.token).slice(21));
  });

  it('refuses a TTL above 60 minutes', async () => {
    const r = await h.api('POST', '/v1/enrollment-tokens', {
      body: { hostId: 'host-a', ttlSec: 3601 },
    });
    expect(r.status).toBe(400);
    expect((r.body.error as { code: string }).code).toBe('LP_USAGE');
  });

  it('enrolls a host: 201 with the coordinator key and agent URL; the token is burnt', async () => {
    const token = await enrollToken('host-a');
    const key = newHostKey();
    const r = await enrollHost(h.baseUrl, { token, hostId: 'host-a', publicKey: key.publicKey });
    expect(r.status).toBe(201);
    const { sig, ...answer } = r.body;
    expect(answer).toEqual({
      hostId: 'host-a',
      coordinatorId: h.coordinator.coordinatorId,
      coordinatorKey: h.coordinator.identity.publicJwk,
      agentUrl: h.agentUrl,
      hostFingerprint: fingerprint(key.publicKey),
    });
    // Signed by the coordinator key over the recorded host key, the agent URL and the nonce.
    expect(
      verifyEnrolled(
        { ...answer, nonce: r.attempt?.request.nonce ?? '' },
        sig,
        h.coordinator.identity.publicKey,
      ),
    ).toBe(true);
    expect(h.agentUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/v1\/agent$/);
    const host = await h.coordinator.store.getHost('host-a');
    expect(host?.fingerprint).toBe(fingerprint(key.publicKey));
    expect(host?.publicKey).toEqual(exportPublicJwk(key.publicKey));

    // A retry with the same key (lost answer) gets the same answer and changes nothing.
    const again = await enrollHost(h.baseUrl, {
      token,
      hostId: 'host-a',
      publicKey: key.publicKey,
    });
    expect(again.status).toBe(201);
    expect({ ...again.body, sig: '' }).toEqual({ ...r.body, sig: '' });
    expect((await h.coordinator.store.getHost('host-a'))?.enrolledAt).toBe(host?.enrolledAt);
  });

  it('a used token is refused for another key, and nothing is recorded but an audit entry', async () => {
    const token = await enrollToken('host-a');
    const key = newHostKey();
    expect(
      (await enrollHost(h.baseUrl, { token, hostId: 'host-a', publicKey: key.publicKey })).status,
    ).toBe(201);
    const other = newHostKey();
    const r = await enrollHost(h.baseUrl, { token, hostId: 'host-a', publicKey: other.publicKey });
    expect(r.status).toBe(401);
    expect(r.body.error?.code).toBe('LP_TOKEN_INVALID');
    expect((await h.coordinator.store.getHost('host-a'))?.fingerprint).toBe(
      fingerprint(key.publicKey),
    );
    expect((await refusals()).map((x) => x.code)).toEqual(['LP_TOKEN_INVALID']);
  });

  it('an expired token is refused with LP_EXPIRED and stays unused', async () => {
    const token = await enrollToken('host-a', 60);
    h.clock.now += 61;
    const r = await enrollHost(h.baseUrl, {
      token,
      hostId: 'host-a',
      publicKey: newHostKey().publicKey,
    });
    expect(r.status).toBe(401);
    expect(r.body.error?.code).toBe('LP_EXPIRED');
    expect(await h.coordinator.store.getHost('host-a')).toBeUndefined();
    expect((await refusals()).map((x) => x.code)).toEqual(['LP_EXPIRED']);
  });

  it('a token for another host is refused with LP_FORBIDDEN and remains usable for its own host', async () => {
    const token = await enrollToken('host-a');
    const key = newHostKey();
    const r = await enrollHost(h.baseUrl, { token, hostId: 'host-b', publicKey: key.publicKey });
    expect(r.status).toBe(403);
    expect(r.body.error?.code).toBe('LP_FORBIDDEN');
    expect(await h.coordinator.store.getHost('host-b')).toBeUndefined();
    const ok = await enrollHost(h.baseUrl, { token, hostId: 'host-a', publicKey: key.publicKey });
    expect(ok.status).toBe(201);
  });

  it('the same hostId with a new key is refused with LP_CONFLICT; the fresh token is not burnt', async () => {
    const key = newHostKey();
    await enrollHost(h.baseUrl, {
      token: await enrollToken('host-a'),
      hostId: 'host-a',
      publicKey: key.publicKey,
    });
    const token2 = await enrollToken('host-a');
    const r = await enrollHost(h.baseUrl, {
      token: token2,
      hostId: 'host-a',
      publicKey: newHostKey().publicKey,
    });
    expect(r.status).toBe(409);
    expect(r.body.error?.code).toBe('LP_CONFLICT');
    expect((await h.coordinator.store.getHost('host-a'))?.fingerprint).toBe(
      fingerprint(key.publicKey),
    );
    const id = token2.split('_')[1] ?? '';
    expect((await h.coordinator.store.getEnrollmentToken(id))?.usedAt).toBeUndefined();
    // The same key with a fresh token is an idempotent re-enrollment.
    const same = await enrollHost(h.baseUrl, {
      token: token2,
      hostId: 'host-a',
      publicKey: key.publicKey,
    });
    expect(same.status).toBe(201);
  });

  it('a garbage token, a malformed key and a malformed body are refused with codes', async () => {
    const garbage = await enrollHost(h.baseUrl, {
      token: 'lpe_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      hostId: 'host-a',
      publicKey: newHostKey().publicKey,
    });
    expect(garbage.status).toBe(401);
    expect(garbage.body.error?.code).toBe('LP_TOKEN_INVALID');
    const bad = await fetch(`${h.baseUrl}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"token":"x","token":"y"}',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('LP_USAGE');
    const huge = await fetch(`${h.baseUrl}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'x'.repeat(20_000) }),
    });
    expect(huge.status).toBe(413);
    expect(await h.coordinator.store.listHosts()).toEqual([]);
  });

  it('a revoked host cannot enroll again', async () => {
    const key = newHostKey();
    await enrollHost(h.baseUrl, {
      token: await enrollToken('host-a'),
      hostId: 'host-a',
      publicKey: key.publicKey,
    });
    expect((await h.api('POST', '/v1/hosts/host-a/revoke')).status).toBe(200);
    const r = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-a' } });
    expect(r.status).toBe(403);
    expect((r.body.error as { code: string }).code).toBe('LP_HOST_REVOKED');
  });

  it('two concurrent enrollments with one token: exactly one host is recorded', async () => {
    const token = await enrollToken('host-a');
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        enrollHost(h.baseUrl, { token, hostId: 'host-a', publicKey: newHostKey().publicKey }),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(
      results
        .filter((r) => r.status !== 201)
        .every((r) => r.body.error?.code === 'LP_TOKEN_INVALID'),
    ).toBe(true);
    expect(await h.coordinator.store.listHosts()).toHaveLength(1);
  });
});

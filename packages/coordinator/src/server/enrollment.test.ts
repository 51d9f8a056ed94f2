import { describe, expect, it } from 'vitest';
import { LaunchplaneError, exportPublicJwk, generateEd25519KeyPair } from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { createEnrollmentToken, enroll } from './enrollment.js';

const ctx = (now: number) => ({
  coordinatorId: 'ctl',
  coordinatorKey: exportPublicJwk(generateEd25519KeyPair().publicKey),
  agentUrl: 'ws://127.0.0.1:1/v1/agent',
  now,
});

function request(token: string, hostId = 'host-a') {
  return {
    token,
    hostId,
    publicKey: exportPublicJwk(generateEd25519KeyPair().publicKey),
    agentVersion: '1',
  };
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

  it('a token expires exactly at expiresAt', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const { value } = await createEnrollmentToken(store, {
      hostId: 'host-a',
      ttlSec: 60,
      actor: 'a',
      now: 100,
    });
    const err = await enroll(store, request(value), ctx(160)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_EXPIRED');
    const ok = await enroll(store, request(value), ctx(159));
    expect(ok.hostId).toBe('host-a');
    await store.close();
  });

  it('every refusal leaves an audit record and no host', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const { value } = await createEnrollmentToken(store, {
      hostId: 'host-a',
      ttlSec: 60,
      actor: 'a',
      now: 0,
    });
    await expect(enroll(store, request(value, 'host-b'), ctx(1))).rejects.toMatchObject({
      code: 'LP_FORBIDDEN',
    });
    await expect(enroll(store, request('lpe_nope'), ctx(1))).rejects.toMatchObject({
      code: 'LP_TOKEN_INVALID',
    });
    expect(await store.listHosts()).toEqual([]);
    const audit = await store.listAudit({});
    expect(audit.map((r) => [r.outcome, r.code])).toEqual([
      ['refused', 'LP_FORBIDDEN'],
      ['refused', 'LP_TOKEN_INVALID'],
    ]);
    await store.close();
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { FakeCoordinator, TEST_COORDINATOR_ID } from './fake-coordinator.test-helper.js';
import { probeCoordinator } from './probe-coordinator.js';

describe('probeCoordinator()', () => {
  let coordinator: FakeCoordinator;
  beforeEach(async () => {
    coordinator = await FakeCoordinator.start();
  });
  afterEach(async () => {
    await coordinator.close();
  });

  it('succeeds on a challenge from the enrolled coordinator, and never says hello', async () => {
    const result = probeCoordinator({ url: coordinator.url, coordinatorId: TEST_COORDINATOR_ID });
    const peer = await coordinator.connection();
    peer.challenge();
    expect(await result).toEqual({ ok: true });
    expect((await peer.closed).code).toBe(1000);
    expect(peer.received).toEqual([]);
  });

  it('fails on a challenge from another coordinator', async () => {
    const result = probeCoordinator({ url: coordinator.url, coordinatorId: TEST_COORDINATOR_ID });
    (await coordinator.connection()).challenge('someone-else');
    const r = await result;
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain('someone-else');
  });

  it('fails when the first frame is not a challenge, or none comes in time', async () => {
    const bad = probeCoordinator({ url: coordinator.url, coordinatorId: TEST_COORDINATOR_ID });
    (await coordinator.connection()).send({ type: 'welcome', heartbeatSec: 15 });
    expect(await bad).toEqual({ ok: false, reason: 'first frame is not a valid challenge' });
    const silent = await probeCoordinator({
      url: coordinator.url,
      coordinatorId: TEST_COORDINATOR_ID,
      timeoutMs: 100,
    });
    expect(silent.ok).toBe(false);
  });

  it('fails when nothing listens', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const r = await probeCoordinator({
      url: `ws://127.0.0.1:${port}/v1/agent`,
      coordinatorId: TEST_COORDINATOR_ID,
    });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toContain('ECONNREFUSED');
  });
});

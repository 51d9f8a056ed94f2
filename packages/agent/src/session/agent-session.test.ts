import { Buffer } from 'node:buffer';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InventoryMessage } from '@launchplane/shared';
import { AgentSession } from './agent-session.js';
import type { AgentSessionOptions, SessionCore, SessionStatus } from './agent-session.js';

import {
  FakeCoordinator,
  TEST_COORDINATOR_ID,
  TEST_HOST_ID,
} from './fake-coordinator.test-helper.js';
import type { Peer } from './fake-coordinator.test-helper.js';

const HOST_ID = TEST_HOST_ID;
const COORDINATOR_ID = TEST_COORDINATOR_ID;

/** The core seam, in memory: a durable outbox that only `ackEvents` shrinks. */
class FakeCore implements SessionCore {
  events: { seq: number; jws: string }[] = [];
  acked: number[] = [];
  handled: string[] = [];
  inventoryCalls = 0;
  #inventoryListeners = new Set<() => void>();
  #eventListeners = new Set<() => void>();
  handle: (jws: string) => Promise<string> = (jws) =>
    Promise.resolve(`res.${jws.split('.')[1]}.sig`);

  async handleCommand(jws: string): Promise<string> {
    this.handled.push(jws);
    return this.handle(jws);
  }
  inventory(): InventoryMessage {
    this.inventoryCalls++;
    return {
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['systemd'], maxLanes: 2 },
      lanes: [],
      capabilities: ['gpu'],
    };
  }
  onInventoryChange(listener: () => void): () => void {
    this.#inventoryListeners.add(listener);
    return () => this.#inventoryListeners.delete(listener);
  }
  pendingEvents(limit = 100): { seq: number; jws: string }[] {
    return this.events.slice(0, limit);
  }
  ackEvents(uptoSeq: number): void {
    this.acked.push(uptoSeq);
    this.events = this.events.filter((e) => e.seq > uptoSeq);
  }
  onEvent(listener: () => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }
  addEvent(seq: number): void {
    this.events.push({ seq, jws: `ev.${seq}.sig` });
    for (const l of this.#eventListeners) l();
  }
  changeInventory(): void {
    for (const l of this.#inventoryListeners) l();
  }
}

describe('AgentSession', () => {
  let coordinator: FakeCoordinator;
  let core: FakeCore;
  let session: AgentSession | undefined;
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const statuses: SessionStatus[] = [];

  beforeEach(async () => {
    coordinator = await FakeCoordinator.start();
    core = new FakeCore();
    statuses.length = 0;
  });
  afterEach(async () => {
    await session?.stop();
    session = undefined;
    await coordinator.close();
  });

  function startSession(extra: Partial<AgentSessionOptions> = {}): AgentSession {
    session = new AgentSession({
      url: coordinator.url,
      hostId: HOST_ID,
      coordinatorId: COORDINATOR_ID,
      hostKey: privateKey,
      agentVersion: '0.1.0-test',
      core,
      backoff: { baseMs: 5, capMs: 20, random: () => 0.5 },
      onStatus: (s) => statuses.push(s),
      ...extra,
    });
    session.start();
    return session;
  }

  it('authenticates, then sends inventory and the pending outbox, and hands commands to the core', async () => {
    core.addEvent(1);
    core.addEvent(2);
    startSession();
    const peer = await coordinator.connection();
    expect(coordinator.protocols[0]).toBe('launchplane.v1');
    await coordinator.authenticate(peer, publicKey);
    expect(await peer.next()).toMatchObject({ type: 'inventory', capabilities: ['gpu'] });
    expect(await peer.next()).toEqual({ type: 'event', seq: 1, jws: 'ev.1.sig' });
    expect(await peer.next()).toEqual({ type: 'event', seq: 2, jws: 'ev.2.sig' });
    peer.send({ type: 'command', jws: 'hdr.cmd1.sig' });
    expect(await peer.next()).toEqual({ type: 'result', jws: 'res.cmd1.sig' });
    expect(core.handled).toEqual(['hdr.cmd1.sig']);
    peer.send({ type: 'ack', seq: 2 });
    // Frames are handled in order: this command's result proves the ack was processed.
    peer.send({ type: 'command', jws: 'hdr.cmd2.sig' });
    expect(await peer.next()).toEqual({ type: 'result', jws: 'res.cmd2.sig' });
    expect(core.acked).toEqual([2]);
    core.addEvent(3);
    expect(await peer.next()).toEqual({ type: 'event', seq: 3, jws: 'ev.3.sig' });
    core.changeInventory();
    expect(await peer.next()).toMatchObject({ type: 'inventory' });
    expect(session?.status().state).toBe('connected');
  });

  it('refuses a challenge from a coordinator it did not enroll with: closes 4401, sends no hello', async () => {
    startSession();
    const peer = await coordinator.connection();
    peer.challenge('evil-coordinator');
    const closed = await peer.closed;
    expect(closed.code).toBe(4401);
    expect(peer.received).toEqual([]);
    expect(statuses.some((s) => s.lastError?.includes('evil-coordinator'))).toBe(true);
  });

  const invalidFrames: [string, (peer: Peer) => void][] = [
    ['text that is not JSON', (p) => p.send('{"type":"challenge",')],
    ['an unknown message type', (p) => p.send({ type: 'shutdown' })],
    ['a binary frame', (p) => p.ws.send(Buffer.from('{"type":"welcome","heartbeatSec":15}'))],
    [
      'a challenge with an extra field',
      (p) =>
        p.send({
          type: 'challenge',
          nonce: randomBytes(32).toString('base64url'),
          coordinatorId: COORDINATOR_ID,
          x: 1,
        }),
    ],
    [
      'a challenge with a short nonce',
      (p) => p.send({ type: 'challenge', nonce: 'abc', coordinatorId: COORDINATOR_ID }),
    ],
    ['a welcome before any hello', (p) => p.send({ type: 'welcome', heartbeatSec: 15 })],
    ['a command before welcome', (p) => p.send({ type: 'command', jws: 'a.b.c' })],
    ['an ack before welcome', (p) => p.send({ type: 'ack', seq: 1 })],
    ['a JSON array', (p) => p.send('[]')],
  ];
  for (const [what, sendIt] of invalidFrames) {
    it(`closes with 4400 on ${what} and never authenticates`, async () => {
      startSession();
      const peer = await coordinator.connection();
      sendIt(peer);
      expect((await peer.closed).code).toBe(4400);
      expect(peer.received.filter((m) => (m as { type: string }).type === 'hello')).toEqual([]);
      expect(core.handled).toEqual([]);
    });
  }

  it('closes with 4400 on an invalid frame after welcome, and on a second challenge', async () => {
    startSession();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next(); // inventory
    peer.send({ type: 'command', jws: 'not a jws' });
    expect((await peer.closed).code).toBe(4400);
    expect(core.handled).toEqual([]);

    const again = await coordinator.connection();
    await coordinator.authenticate(again, publicKey);
    await again.next();
    again.challenge();
    expect((await again.closed).code).toBe(4400);
  });

  it('closes with 4400 on an ack for an event it never sent, and does not drop that event', async () => {
    core.addEvent(1);
    startSession();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next(); // inventory
    await peer.next(); // event 1
    peer.send({ type: 'ack', seq: 7 });
    expect((await peer.closed).code).toBe(4400);
    expect(core.acked).toEqual([]);
    expect(core.events.map((e) => e.seq)).toEqual([1]);
  });

  it('reconnects after the coordinator drops the connection, and authenticates again', async () => {
    startSession();
    const first = await coordinator.connection();
    await coordinator.authenticate(first, publicKey);
    await first.next();
    first.ws.terminate();
    const second = await coordinator.connection();
    await coordinator.authenticate(second, publicKey);
    expect(await second.next()).toMatchObject({ type: 'inventory' });
    expect(statuses.some((s) => s.state === 'backoff')).toBe(true);
  });

  it('keeps reconnecting while the coordinator refuses, then recovers', async () => {
    startSession();
    for (let n = 0; n < 3; n++) {
      const peer = await coordinator.connection();
      peer.ws.close(4401, 'authentication failed');
    }
    const ok = await coordinator.connection();
    await coordinator.authenticate(ok, publicKey);
    expect(await ok.next()).toMatchObject({ type: 'inventory' });
    const attempts = statuses.filter((s) => s.state === 'backoff').map((s) => s.attempt);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('resets the backoff after a stable session, and only then', async () => {
    startSession({ stableAfterMs: 0 });
    for (let n = 0; n < 2; n++) (await coordinator.connection()).ws.close(4401, 'no');
    const ok = await coordinator.connection();
    await coordinator.authenticate(ok, publicKey);
    await ok.next();
    ok.ws.terminate();
    const again = await coordinator.connection();
    await coordinator.authenticate(again, publicKey);
    await again.next();
    const attempts = statuses.filter((s) => s.state === 'backoff').map((s) => s.attempt);
    // Two refusals grow the attempt; the welcomed session resets it before the next delay.
    expect(attempts).toEqual([1, 2, 1]);
  });

  it('does not reset the backoff after a session shorter than stableAfterMs', async () => {
    startSession({ stableAfterMs: 60_000 });
    (await coordinator.connection()).ws.close(4401, 'no');
    const ok = await coordinator.connection();
    await coordinator.authenticate(ok, publicKey);
    await ok.next();
    ok.ws.terminate();
    await coordinator.connection();
    const attempts = statuses.filter((s) => s.state === 'backoff').map((s) => s.attempt);
    expect(attempts).toEqual([1, 2]);
  });

  it('resends unacknowledged events after a reconnect until they are acked', async () => {
    for (const seq of [1, 2, 3]) core.addEvent(seq);
    startSession();
    const first = await coordinator.connection();
    await coordinator.authenticate(first, publicKey);
    await first.next(); // inventory
    for (const seq of [1, 2, 3]) expect(await first.next()).toMatchObject({ type: 'event', seq });
    first.send({ type: 'ack', seq: 1 });
    first.send({ type: 'command', jws: 'hdr.sync.sig' }); // its result proves the ack was read
    expect(await first.next()).toMatchObject({ type: 'result' });
    first.ws.terminate();

    const second = await coordinator.connection();
    await coordinator.authenticate(second, publicKey);
    await second.next(); // inventory
    expect(await second.next()).toEqual({ type: 'event', seq: 2, jws: 'ev.2.sig' });
    expect(await second.next()).toEqual({ type: 'event', seq: 3, jws: 'ev.3.sig' });
    second.send({ type: 'ack', seq: 2 });
    second.send({ type: 'ack', seq: 3 });
    second.send({ type: 'command', jws: 'hdr.sync2.sig' });
    expect(await second.next()).toMatchObject({ type: 'result' });
    expect(core.acked).toEqual([1, 2, 3]);
    expect(core.events).toEqual([]);
  });

  it('sends at most eventWindow unacknowledged events, and more as acks arrive', async () => {
    for (const seq of [1, 2, 3, 4, 5]) core.addEvent(seq);
    startSession({ eventWindow: 2 });
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next();
    expect(await peer.next()).toMatchObject({ seq: 1 });
    expect(await peer.next()).toMatchObject({ seq: 2 });
    peer.send({ type: 'command', jws: 'hdr.sync.sig' });
    expect(await peer.next()).toMatchObject({ type: 'result' });
    peer.send({ type: 'ack', seq: 1 });
    expect(await peer.next()).toMatchObject({ type: 'event', seq: 3 });
    peer.send({ type: 'ack', seq: 3 });
    expect(await peer.next()).toMatchObject({ type: 'event', seq: 4 });
    expect(await peer.next()).toMatchObject({ type: 'event', seq: 5 });
  });

  it('closes with 1011 and reconnects when the core fails while handling a frame', async () => {
    let broken = true;
    core.ackEvents = (seq) => {
      if (broken) throw new Error('ledger is gone');
      core.acked.push(seq);
    };
    core.addEvent(1);
    startSession();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next();
    await peer.next();
    peer.send({ type: 'ack', seq: 1 });
    expect((await peer.closed).code).toBe(1011);
    broken = false;
    const again = await coordinator.connection();
    await coordinator.authenticate(again, publicKey);
    await again.next();
    expect(await again.next()).toEqual({ type: 'event', seq: 1, jws: 'ev.1.sig' });
  });

  it('hands commands to the core at once, in arrival order, and answers each when it is ready', async () => {
    const order: string[] = [];
    let releaseFirst: () => void = () => undefined;
    core.handle = async (jws) => {
      order.push(`start ${jws}`);
      if (jws === 'h.one.s') await new Promise<void>((r) => (releaseFirst = r));
      order.push(`end ${jws}`);
      return `r.${jws.split('.')[1]}.s`;
    };
    startSession();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next();
    peer.send({ type: 'command', jws: 'h.one.s' });
    peer.send({ type: 'command', jws: 'h.two.s' });
    // The core orders commands itself (AgentCore's queue); the session does not hold the second
    // back behind a slow first, and its result goes back first.
    expect(await peer.next()).toEqual({ type: 'result', jws: 'r.two.s' });
    expect(order).toEqual(['start h.one.s', 'start h.two.s', 'end h.two.s']);
    releaseFirst();
    expect(await peer.next()).toEqual({ type: 'result', jws: 'r.one.s' });
  });

  it('terminates and reconnects when the coordinator goes silent past the heartbeat deadline', async () => {
    startSession({ heartbeatTimeoutMs: 150 });
    const first = await coordinator.connection();
    await coordinator.authenticate(first, publicKey, 1);
    await first.next();
    // No pings, no messages: the agent must give up on this socket by itself.
    expect((await first.closed).code).toBe(1006);
    const second = await coordinator.connection();
    await coordinator.authenticate(second, publicKey);
    expect(await second.next()).toMatchObject({ type: 'inventory' });
    expect(statuses.some((s) => s.lastError?.startsWith('No heartbeat'))).toBe(true);
  });

  it('stays connected while the coordinator keeps pinging', async () => {
    startSession({ heartbeatTimeoutMs: 1000 });
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey, 1);
    await peer.next();
    for (let n = 0; n < 15; n++) {
      const pong = new Promise((resolve) => peer.ws.once('pong', resolve));
      peer.ws.ping();
      await pong;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(coordinator.peers).toHaveLength(1);
    expect(session?.status().state).toBe('connected');
  });

  it('closes with 4408 when the coordinator never sends a challenge', async () => {
    startSession({ handshakeTimeoutMs: 100 });
    const peer = await coordinator.connection();
    expect((await peer.closed).code).toBe(4408);
    expect(peer.received).toEqual([]);
  });

  it('stop() closes with 1000, waits for a running command and does not reconnect', async () => {
    let release: () => void = () => undefined;
    core.handle = async () => {
      await new Promise<void>((r) => (release = r));
      return 'r.late.s';
    };
    const s = startSession();
    const peer = await coordinator.connection();
    await coordinator.authenticate(peer, publicKey);
    await peer.next();
    peer.send({ type: 'command', jws: 'h.slow.s' });
    while (core.handled.length === 0) await new Promise((r) => setTimeout(r, 5));
    const stopped = s.stop();
    release();
    await stopped;
    expect(await peer.next()).toEqual({ type: 'result', jws: 'r.late.s' });
    expect((await peer.closed).code).toBe(1000);
    expect(s.status().state).toBe('stopped');
    await new Promise((r) => setTimeout(r, 50));
    expect(coordinator.peers).toHaveLength(1);
  });

  it('does not follow redirects', async () => {
    const http = await import('node:http');
    const server = http.createServer((_req, res) => {
      res.writeHead(302, { location: coordinator.url }).end();
    });
    server.on('upgrade', (_req, socket) => {
      // The client may reset the connection once it has read the 302; an
      // upgraded socket has no error listener of its own.
      socket.on('error', () => {});
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${coordinator.url}\r\n\r\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      startSession({ url: `ws://127.0.0.1:${port}/v1/agent` });
      while (!statuses.some((s) => s.state === 'backoff')) {
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(coordinator.peers).toHaveLength(0);
      expect(statuses.find((s) => s.lastError !== undefined)?.lastError).toMatch(/302/);
    } finally {
      await session?.stop();
      session = undefined;
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

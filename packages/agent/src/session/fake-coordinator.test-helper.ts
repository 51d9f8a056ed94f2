/**
 * Test fixture: a minimal coordinator speaking the protocol on 127.0.0.1 port 0, with a test
 * coordinator id. Used by the session and daemon tests.
 */
import { Buffer } from 'node:buffer';
import { randomBytes, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';

export const TEST_HOST_ID = 'host-a';
export const TEST_COORDINATOR_ID = 'coord-1';

/** One agent connection as the fake coordinator sees it. */
export class Peer {
  readonly ws: WebSocket;
  readonly received: unknown[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: ((m: unknown) => void)[] = [];

  constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const msg = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as unknown;
      this.received.push(msg);
      const w = this.#waiters.shift();
      if (w !== undefined) w(msg);
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }
  #cursor = 0;
  /** The next message this peer has not consumed yet. */
  async next(): Promise<Record<string, unknown>> {
    const idx = this.#cursor++;
    if (idx < this.received.length) return this.received[idx] as Record<string, unknown>;
    return new Promise((resolve) => {
      this.#waiters.push(() => resolve(this.received[idx] as Record<string, unknown>));
    });
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }
  challenge(coordinatorId = TEST_COORDINATOR_ID): string {
    const nonce = randomBytes(32).toString('base64url');
    this.send({ type: 'challenge', nonce, coordinatorId });
    return nonce;
  }
}

/** A minimal coordinator speaking docs/design/protocol.md on 127.0.0.1, port 0. */
export class FakeCoordinator {
  readonly wss: WebSocketServer;
  readonly peers: Peer[] = [];
  readonly protocols: string[] = [];
  #waiters: ((p: Peer) => void)[] = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (ws, req) => {
      this.protocols.push(String(req.headers['sec-websocket-protocol']));
      const peer = new Peer(ws);
      this.peers.push(peer);
      this.#waiters.shift()?.(peer);
    });
  }
  static async start(): Promise<FakeCoordinator> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (set) => (set.has('launchplane.v1') ? 'launchplane.v1' : false),
    });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    return new FakeCoordinator(wss);
  }
  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/v1/agent`;
  }
  #taken = 0;
  /** The next connection not yet taken. */
  async connection(): Promise<Peer> {
    const idx = this.#taken++;
    const existing = this.peers[idx];
    if (existing !== undefined) return existing;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  /** Challenge, check the hello signature, welcome. */
  async authenticate(peer: Peer, hostPublic: KeyObject, heartbeatSec = 15): Promise<void> {
    const nonce = peer.challenge();
    const hello = await peer.next();
    expect(hello).toMatchObject({ type: 'hello', hostId: TEST_HOST_ID, nonce });
    const text = `launchplane/v1/hello\n${TEST_COORDINATOR_ID}\n${TEST_HOST_ID}\n${nonce}`;
    expect(
      verify(null, Buffer.from(text), hostPublic, Buffer.from(String(hello['sig']), 'base64url')),
    ).toBe(true);
    peer.send({ type: 'welcome', heartbeatSec });
  }
  async close(): Promise<void> {
    for (const p of this.peers) p.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/**
 * WebSocket abuse against the agent's real session (`AgentSession` from @launchplane/agent, real
 * sockets on 127.0.0.1): the agent dials a malicious coordinator that answers its upgrade with a
 * redirect, negotiates compression it was not offered, sends frames over 256 KiB, a message in
 * 20,000 fragments, invalid UTF-8, or a compressed frame. Each must be refused (the handshake
 * fails, or the agent closes with a code), never followed, never reach the core, and the same
 * session must still authenticate with a well-behaved coordinator afterwards.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSession, type SessionCore } from '@launchplane/agent';
import { generateEd25519KeyPair, type InventoryMessage } from '@launchplane/shared';
import { FrameReader, OP, acceptKey, closeCodeOf, frame, fragments } from './raw-ws.js';
import { recordBadInput } from './record.js';

const COORDINATOR_ID = 'coord-evil';
const HOST_ID = 'host-a';

/** What the malicious coordinator does with the next upgrade. */
type Mode =
  { kind: 'redirect' } | { kind: 'deflate' } | { kind: 'send'; bytes: Buffer } | { kind: 'good' };

interface Upgrade {
  req: IncomingMessage;
  socket: Socket;
  reader: FrameReader;
  ended: Promise<void>;
}

class WatchingCore implements SessionCore {
  commands = 0;
  acks = 0;
  handleCommand(): Promise<string> {
    this.commands++;
    return Promise.resolve('a.b.c');
  }
  inventory(): InventoryMessage {
    return {
      type: 'inventory',
      optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
      lanes: [],
      capabilities: [],
    };
  }
  onInventoryChange(): () => void {
    return () => undefined;
  }
  pendingEvents(): { seq: number; jws: string }[] {
    return [];
  }
  ackEvents(): void {
    this.acks++;
  }
  onEvent(): () => void {
    return () => undefined;
  }
}

let evil: Server;
let decoy: Server;
let decoyHits = 0;
/** Upgraded sockets: the HTTP server no longer tracks them, so close() would wait for them. */
const sockets = new Set<Socket>();
let mode: Mode = { kind: 'good' };
let waiting: ((u: Upgrade) => void) | undefined;
const core = new WatchingCore();
const keys = generateEd25519KeyPair();
let session: AgentSession;

function handshake101(req: IncomingMessage, extra: string[] = []): string {
  const key = String(req.headers['sec-websocket-key']);
  return [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    'Sec-WebSocket-Protocol: launchplane.v1',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

function port(s: Server): number {
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  decoy = createServer((_req, res) => res.end());
  decoy.on('upgrade', (_req, socket: Socket) => {
    decoyHits++;
    socket.destroy();
  });
  decoy.on('request', () => decoyHits++);
  evil = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  evil.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    const reader = new FrameReader();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('data', (d: Buffer) => reader.push(d));
    socket.on('error', () => undefined);
    const ended = new Promise<void>((r) => socket.once('close', () => r()));
    const m = mode;
    switch (m.kind) {
      case 'redirect':
        socket.end(
          `HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:${port(decoy)}/v1/agent\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
        );
        break;
      case 'deflate':
        socket.write(handshake101(req, ['Sec-WebSocket-Extensions: permessage-deflate']));
        break;
      case 'send':
        socket.write(handshake101(req));
        socket.write(m.bytes);
        break;
      case 'good':
        socket.write(handshake101(req));
        break;
    }
    const w = waiting;
    waiting = undefined;
    w?.({ req, socket, reader, ended });
  });
  await Promise.all(
    [evil, decoy].map(
      (s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve())),
    ),
  );
  session = new AgentSession({
    url: `ws://127.0.0.1:${port(evil)}/v1/agent`,
    hostId: HOST_ID,
    coordinatorId: COORDINATOR_ID,
    hostKey: keys.privateKey,
    agentVersion: '0.1.0-abuse',
    core,
    backoff: { baseMs: 20, capMs: 100 },
  });
});

afterAll(async () => {
  await session.stop();
  for (const s of sockets) s.destroy();
  for (const s of [evil, decoy]) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** Sets the mode for the next dial and returns that upgrade once it arrived. */
function nextUpgrade(m: Mode): Promise<Upgrade> {
  mode = m;
  return new Promise((resolve) => (waiting = resolve));
}

/** What the agent did on that connection: its close code, or "no frames" when it just dropped. */
async function agentReaction(u: Upgrade): Promise<string> {
  // Until the agent dropped the socket or sent its close frame (it would wait for our answer).
  let ended = false;
  void u.ended.then(() => (ended = true));
  const deadline = Date.now() + 15_000;
  while (
    !ended &&
    session.status().state !== 'backoff' &&
    Date.now() < deadline &&
    !u.reader.frames.some((f) => f.opcode === OP.close)
  ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  u.socket.destroy();
  const close = u.reader.frames.find((f) => f.opcode === OP.close);
  if (close !== undefined) return `close ${closeCodeOf(close.payload)}`;
  const texts = u.reader.frames.filter((f) => f.opcode === OP.text);
  return texts.length === 0 ? 'dropped, nothing sent' : `sent ${texts.length} frames`;
}

const table: { abuse: string; expected: string; got: string }[] = [];

async function scenario(abuse: string, expected: string, m: Mode, extra?: (u: Upgrade) => void) {
  const upgrade = nextUpgrade(m);
  if (session.status().state === 'idle') session.start();
  const u = await upgrade;
  extra?.(u);
  const got = await agentReaction(u);
  table.push({ abuse, expected, got });
  const untouched = core.commands === 0 && core.acks === 0;
  recordBadInput({
    scenario: `ws abuse vs agent session: ${abuse}`,
    injected: `1 ${abuse}`,
    survived: got === expected && untouched,
    counts: {
      tried: 1,
      refused: got === expected ? 1 : 0,
      coreCommands: core.commands,
      coreAcks: core.acks,
      redirectsFollowed: decoyHits,
    },
  });
  expect(got, abuse).toBe(expected);
  expect(untouched).toBe(true);
}

describe('the agent session against a malicious coordinator', () => {
  it('offers no compression and does not follow a redirect', async () => {
    await scenario(
      '302 redirect answer to the upgrade',
      'dropped, nothing sent',
      { kind: 'redirect' },
      (u) => {
        expect(u.req.headers['sec-websocket-extensions']).toBeUndefined();
        expect(u.req.headers['sec-websocket-protocol']).toBe('launchplane.v1');
      },
    );
    // Give a follower every chance to dial the decoy before counting.
    await new Promise((r) => setTimeout(r, 300));
    expect(decoyHits).toBe(0);
    expect(session.status().lastError).toMatch(/302/);
  });

  it('refuses a handshake that negotiates compression it did not offer', async () => {
    await scenario('101 with permessage-deflate not offered', 'dropped, nothing sent', {
      kind: 'deflate',
    });
    expect(session.status().lastError).toMatch(/extension/i);
  });

  it('closes on a frame over 256 KiB (1009), 20,000 fragments (1008), invalid UTF-8 (1007), a compressed frame (1002)', async () => {
    const big = Buffer.from(JSON.stringify({ type: 'challenge', pad: 'x'.repeat(300 * 1024) }));
    await scenario('300 KiB frame in place of the challenge', 'close 1009', {
      kind: 'send',
      bytes: frame(OP.text, big),
    });
    const junk = Buffer.from(JSON.stringify({ type: 'challenge', pad: 'y'.repeat(20_000) }));
    await scenario('message in 20,000 one-byte fragments', 'close 1008', {
      kind: 'send',
      bytes: fragments(junk.subarray(0, 20_000), 20_000, false),
    });
    await scenario('junk message in 500 fragments', 'close 4400', {
      kind: 'send',
      bytes: fragments(junk, 500, false),
    });
    const bad = Buffer.concat([
      Buffer.from('{"type":"challenge","nonce":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    await scenario('invalid UTF-8 text frame', 'close 1007', {
      kind: 'send',
      bytes: frame(OP.text, bad),
    });
    await scenario('RSV1 (compressed) frame', 'close 1002', {
      kind: 'send',
      bytes: frame(
        OP.text,
        Buffer.from([0xab, 0x56, 0x2a, 0xa9, 0x2c, 0x48, 0x55, 0xb2, 0x02, 0x00]),
        { rsv1: true },
      ),
    });
    await scenario('binary frame', 'close 4400', {
      kind: 'send',
      bytes: frame(OP.binary, Buffer.from('{"type":"welcome","heartbeatSec":15}')),
    });
  });

  it('still authenticates with a well-behaved coordinator afterwards', async () => {
    const upgrade = nextUpgrade({ kind: 'good' });
    const u = await upgrade;
    const nonce = randomBytes(32).toString('base64url');
    u.socket.write(
      frame(
        OP.text,
        Buffer.from(JSON.stringify({ type: 'challenge', nonce, coordinatorId: COORDINATOR_ID })),
      ),
    );
    const deadline = Date.now() + 10_000;
    while (!u.reader.frames.some((f) => f.opcode === OP.text) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const hello = JSON.parse(
      String(u.reader.frames.find((f) => f.opcode === OP.text)?.payload),
    ) as Record<string, unknown>;
    expect(hello).toMatchObject({ type: 'hello', hostId: HOST_ID, nonce });
    u.socket.write(
      frame(OP.text, Buffer.from(JSON.stringify({ type: 'welcome', heartbeatSec: 15 }))),
    );
    while (session.status().state !== 'connected' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(session.status().state).toBe('connected');
    u.socket.destroy();
    console.table(table);
    expect(table.every((r) => r.got === r.expected)).toBe(true);
    expect(decoyHits).toBe(0);
  });
});

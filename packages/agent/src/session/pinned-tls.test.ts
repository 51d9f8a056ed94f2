import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { selfSignedCert, type SelfSignedCert } from './self-signed-cert.test-helper.js';
import { AgentSession, type SessionCore, type SessionStatus } from './agent-session.js';
import { pinnedConnect } from './pinned-tls.js';
import { probeCoordinator } from './probe-coordinator.js';

let dir: string;
const certs: Record<'good' | 'other', SelfSignedCert> = {} as never;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lp-pin-'));
  for (const name of ['good', 'other'] as const) certs[name] = selfSignedCert(dir, name);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A raw TLS server that records every application byte it receives. */
async function recordingTlsServer(cert: {
  cert: string;
  key: string;
}): Promise<{ server: TlsServer; port: number; bytes: () => number; connections: () => number }> {
  let bytes = 0;
  let connections = 0;
  const server = createTlsServer({ cert: cert.cert, key: cert.key }, (socket) => {
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      socket.end('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n');
    });
    socket.on('error', () => undefined);
  });
  // TCP connections: the client got as far as seeing the key.
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    bytes: () => bytes,
    connections: () => connections,
  };
}

function get(port: number, pin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/secret-path?token=do-not-send',
      createConnection: pinnedConnect(pin),
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('pinnedConnect', () => {
  const servers: TlsServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  });

  it('hands the socket over only when the key matches; on a mismatch not one byte is sent', async () => {
    const good = await recordingTlsServer(certs.good);
    servers.push(good.server);
    expect(await get(good.port, certs.good.pin)).toBe(204);
    expect(good.bytes()).toBeGreaterThan(0);

    const intruder = await recordingTlsServer(certs.other);
    servers.push(intruder.server);
    const err = await get(intruder.port, certs.good.pin).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LP_TLS_PIN_MISMATCH' });
    expect((err as Error).message).toContain(certs.other.pin);
    await new Promise((r) => setTimeout(r, 50));
    // The connection was made (that is how the key was seen), but no request bytes followed.
    expect(intruder.connections()).toBe(1);
    expect(intruder.bytes()).toBe(0);
  });
});

class IdleCore implements SessionCore {
  handleCommand(): Promise<string> {
    return Promise.resolve('');
  }
  inventory() {
    return {
      type: 'inventory' as const,
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
  ackEvents(): void {}
  onEvent(): () => void {
    return () => undefined;
  }
}

describe('the agent session and the doctor probe with a TLS pin', () => {
  let https: HttpsServer | undefined;
  let session: AgentSession | undefined;
  afterEach(async () => {
    await session?.stop();
    session = undefined;
    https?.closeAllConnections();
    if (https !== undefined) await new Promise<void>((r) => https?.close(() => r()));
    https = undefined;
  });

  /** A wss:// coordinator with `cert` that challenges every connection it gets. */
  async function wssCoordinator(cert: { cert: string; key: string }) {
    https = createHttpsServer({ cert: cert.cert, key: cert.key });
    const wss = new WebSocketServer({
      server: https,
      handleProtocols: (set) => (set.has('launchplane.v1') ? 'launchplane.v1' : false),
    });
    let connections = 0;
    let requests = 0;
    https.on('request', () => requests++);
    wss.on('connection', (ws) => {
      connections++;
      ws.send(
        JSON.stringify({ type: 'challenge', nonce: 'A'.repeat(43), coordinatorId: 'coord-1' }),
      );
      ws.on('message', () => ws.close(4401, 'test'));
    });
    await new Promise<void>((r) => https?.listen(0, '127.0.0.1', r));
    const port = (https.address() as AddressInfo).port;
    return {
      url: `wss://127.0.0.1:${port}/v1/agent`,
      seen: () => ({ connections, requests }),
    };
  }

  function start(url: string, tlsPin: string, statuses: SessionStatus[]): AgentSession {
    session = new AgentSession({
      url,
      hostId: 'host-a',
      coordinatorId: 'coord-1',
      hostKey: generateKeyPairSync('ed25519').privateKey,
      agentVersion: '0.1.0-test',
      core: new IdleCore(),
      tlsPin,
      backoff: { baseMs: 1000, capMs: 1000, random: () => 0.5 },
      onStatus: (s) => statuses.push(s),
    });
    session.start();
    return session;
  }

  async function until(check: () => boolean): Promise<void> {
    for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  }

  it('dials a self-signed coordinator whose key is pinned', async () => {
    const c = await wssCoordinator(certs.good);
    const statuses: SessionStatus[] = [];
    start(c.url, certs.good.pin, statuses);
    await until(() => c.seen().connections > 0);
    expect(c.seen().connections).toBe(1);
    expect(
      await probeCoordinator({ url: c.url, coordinatorId: 'coord-1', tlsPin: certs.good.pin }),
    ).toEqual({ ok: true });
  });

  it('refuses a coordinator with another key before the WebSocket handshake', async () => {
    const c = await wssCoordinator(certs.other);
    const statuses: SessionStatus[] = [];
    start(c.url, certs.good.pin, statuses);
    await until(() =>
      statuses.some((s) => s.lastError?.startsWith('LP_TLS_PIN_MISMATCH') === true),
    );
    expect(
      statuses.map((s) => s.lastError).find((e) => e?.startsWith('LP_TLS_PIN_MISMATCH')),
    ).toContain(certs.other.pin);
    expect(c.seen()).toEqual({ connections: 0, requests: 0 });
    const probe = await probeCoordinator({
      url: c.url,
      coordinatorId: 'coord-1',
      tlsPin: certs.good.pin,
    });
    expect(probe.ok).toBe(false);
    expect(probe.ok ? '' : probe.reason).toContain('not the pinned');
    expect(c.seen()).toEqual({ connections: 0, requests: 0 });
  });
});

/**
 * Pre-authentication abuse (issue 12 item 6) against a real coordinator on loopback. Sources are
 * told apart by binding clients to other loopback addresses (127.0.0.2, 127.0.0.3): to the
 * coordinator each is another source address.
 *
 * - One source holding its share of pending handshakes cannot starve another source's agent.
 * - One source holding its share of unauthenticated requests or open challenges is refused
 *   more, while another source is served.
 * - 10,000 bad-token requests from one source are rate-limited and leave a handful of audit
 *   records whose counts add up to 10,000; an operator on that address is still served.
 */
import { Agent, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { newNonce } from '@launchplane/shared';
import { FakeAgent, enrollHost, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness | undefined;
const open: { close(): void }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) o.close();
  await h?.close();
  h = undefined;
});

async function harness(yaml: string): Promise<Harness> {
  h = await startHarness({ yaml });
  return h;
}

/** One HTTP request from `localAddress`; resolves with the status and the error code. */
function call(
  base: string,
  opts: {
    method?: string;
    path: string;
    token?: string;
    body?: unknown;
    localAddress?: string;
    agent?: Agent;
  },
): Promise<{ status: number; code: string | undefined; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const text = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(`${base}${opts.path}`, {
      method: opts.method ?? 'GET',
      ...(opts.agent === undefined ? {} : { agent: opts.agent }),
      ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
      headers: {
        ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
        ...(text === undefined
          ? {}
          : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }),
      },
    });
    req.on('response', (res: IncomingMessage) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(data) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, code, retryAfter });
      });
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** Starts a request whose body never comes: it holds a pending slot until closed. */
async function stalledRequest(base: string, localAddress: string): Promise<Socket> {
  const url = new URL(base);
  const socket = connect({ host: url.hostname, port: Number(url.port), localAddress });
  await new Promise<void>((r) => socket.once('connect', r));
  socket.on('error', () => undefined);
  socket.write(
    'POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
  );
  open.push({ close: () => socket.destroy() });
  return socket;
}

describe('per-source limits before authentication', () => {
  it('one address holding its pending handshakes cannot starve another address’s agent', async () => {
    const c = await harness(
      'agents: { handshakeTimeoutSec: 30 }\nlimits: { pendingHandshakes: 4 }\n',
    );
    const key = newHostKey();
    const t = await c.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-a' } });
    expect(
      (
        await enrollHost(c.baseUrl, {
          token: String(t.body.token),
          hostId: 'host-a',
          publicKey: key.publicKey,
        })
      ).status,
    ).toBe(201);

    // The attacker opens sockets from 127.0.0.2 and never says hello.
    for (let i = 0; i < 4; i++) {
      const a = await FakeAgent.open(c.agentUrl, { localAddress: '127.0.0.2' });
      open.push({ close: () => a.ws.terminate() });
      await a.next('challenge');
    }
    await expect(FakeAgent.open(c.agentUrl, { localAddress: '127.0.0.2' })).rejects.toThrow(
      /upgrade refused: 429/,
    );
    expect(c.coordinator.server.hub.pendingHandshakes).toBe(4);

    // The host's own agent, from another address, is welcomed.
    const agent = await FakeAgent.connect(c.agentUrl, {
      hostId: 'host-a',
      privateKey: key.privateKey,
      localAddress: '127.0.0.1',
    });
    open.push({ close: () => agent.ws.terminate() });
    expect(c.coordinator.server.hub.session('host-a')).toBeDefined();
  });

  it('peers that reset their upgrade connections mid-refusal do not take the coordinator down', async () => {
    const c = await harness('');
    const { port } = new URL(c.agentUrl);
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve) => {
        const s: Socket = connect(Number(port), '127.0.0.1', () => {
          s.write(
            `GET /${i % 2 === 0 ? 'nope' : 'v1/agent'} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n` +
              'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n',
          );
          // Reset (RST, not FIN) as soon as the refusal starts to arrive, or at once.
          const reset = () => {
            s.resetAndDestroy();
            resolve();
          };
          if (i % 3 === 0) reset();
          else s.once('data', reset);
        });
        s.on('error', () => resolve());
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await c.api('GET', '/v1/hosts')).status).toBe(200);
  });

  it('one address holding its pending requests or open challenges is refused more; another is served', async () => {
    const c = await harness('limits: { pendingRequests: 2, pendingChallenges: 2 }\n');
    await stalledRequest(c.baseUrl, '127.0.0.2');
    await stalledRequest(c.baseUrl, '127.0.0.2');
    await new Promise((r) => setTimeout(r, 100));
    const refused = await call(c.baseUrl, { path: '/v1/hosts', localAddress: '127.0.0.2' });
    expect(refused).toMatchObject({ status: 429, code: 'LP_RATE_LIMITED' });
    expect(
      await call(c.baseUrl, { path: '/v1/hosts', token: c.adminToken, localAddress: '127.0.0.3' }),
    ).toMatchObject({ status: 200 });

    const challenge = (localAddress: string) =>
      call(c.baseUrl, {
        method: 'POST',
        path: '/v1/enroll/challenge',
        body: { hostId: 'host-a', agentNonce: newNonce() },
        localAddress,
      });
    expect((await challenge('127.0.0.4')).status).toBe(200);
    expect((await challenge('127.0.0.4')).status).toBe(200);
    expect(await challenge('127.0.0.4')).toMatchObject({ status: 429, code: 'LP_RATE_LIMITED' });
    expect((await challenge('127.0.0.3')).status).toBe(200);
  });

  it('10,000 bad-token requests from one address: rate-limited, a handful of audit records whose counts add up', async () => {
    const c = await harness('');
    const agent = new Agent({ keepAlive: true, maxSockets: 16, localAddress: '127.0.0.2' });
    const statuses: Record<string, number> = {};
    const total = 10_000;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          next++;
          const r = await call(c.baseUrl, {
            path: '/v1/hosts',
            token: 'lpt_garbage_garbage',
            agent,
          });
          const key = `${r.status} ${r.code ?? ''}`;
          statuses[key] = (statuses[key] ?? 0) + 1;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    agent.destroy();
    // The first 60 refusals of the minute are answered (a few more when requests race, or when
    // a slow run crosses into another minute); the rest are turned away unchecked.
    const answered = statuses['401 LP_TOKEN_INVALID'] ?? 0;
    const limited = statuses['429 LP_RATE_LIMITED'] ?? 0;
    expect(Object.keys(statuses).sort()).toEqual(['401 LP_TOKEN_INVALID', '429 LP_RATE_LIMITED']);
    expect(answered).toBeGreaterThanOrEqual(60);
    expect(answered).toBeLessThan(60 * (1 + Math.ceil(seconds / 60)) + 16);
    expect(answered + limited).toBe(total);
    console.log(
      `10,000 bad-token requests in ${seconds.toFixed(1)} s (${Math.round(total / seconds)}/s)`,
    );

    // An operator's valid token from the same address is still served; another address is not
    // limited at all.
    expect(
      await call(c.baseUrl, { path: '/v1/hosts', token: c.adminToken, localAddress: '127.0.0.2' }),
    ).toMatchObject({ status: 200 });
    expect(
      await call(c.baseUrl, {
        path: '/v1/hosts',
        token: 'lpt_garbage_garbage',
        localAddress: '127.0.0.3',
      }),
    ).toMatchObject({ status: 401, code: 'LP_TOKEN_INVALID' });
    // Enrollment from the limited address is turned away too, with a Retry-After.
    const enrollment = await call(c.baseUrl, {
      method: 'POST',
      path: '/v1/enroll/challenge',
      body: { hostId: 'host-a', agentNonce: newNonce() },
      localAddress: '127.0.0.2',
    });
    expect(enrollment).toMatchObject({ status: 429, code: 'LP_RATE_LIMITED', retryAfter: '60' });

    await c.coordinator.server.guard.tally.flush();
    const records = (await c.coordinator.store.listAudit({ limit: 100_000 })).filter(
      (r) => r.params.source === '127.0.0.2',
    );
    expect(records.length).toBeGreaterThanOrEqual(1);
    expect(records.length).toBeLessThanOrEqual(3);
    expect(records.every((r) => r.actor === 'anonymous' && r.action === 'auth.refused')).toBe(true);
    const counted = records.reduce((n, r) => n + Number(r.params.count), 0);
    // Every bad-token request, plus the refused enrollment challenge.
    expect(counted).toBe(total + 1);
    const codes: Record<string, number> = {};
    for (const r of records) {
      for (const [code, n] of Object.entries(r.params.codes as Record<string, number>)) {
        codes[code] = (codes[code] ?? 0) + n;
      }
    }
    expect(codes).toEqual({ LP_TOKEN_INVALID: answered, LP_RATE_LIMITED: limited + 1 });
    expect(JSON.stringify(records)).not.toContain('lpt_garbage');
  }, 300_000);
});

/**
 * WebSocket abuse against a real `launchplane serve` process: frames over maxPayload, a message
 * in thousands of fragments, invalid UTF-8, a handshake with 2,000 headers, compression offered
 * and then used anyway, and a few hundred junk frames through a real socket. Each is refused
 * with a close code or an HTTP status, and the process stays up and still welcomes a good agent.
 */
import type { KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signHello } from '@launchplane/shared';
import { FakeAgent } from '../../coordinator-server/fake-agent.js';
import { OP, frame, fragments, rawUpgrade, type RawClient } from './raw-ws.js';
import { recordBadInput } from './record.js';
import { startServe, type ServeProcess } from './serve-process.js';

let serve: ServeProcess;
let key: { privateKey: KeyObject; publicKey: KeyObject };

beforeAll(async () => {
  // Loopback is exempt from the per-source limits: this suite sends hundreds of junk frames from
  // one address to test the frame parsing, not the rate limit (test/coordinator-server has that).
  serve = await startServe('agents: { handshakeTimeoutSec: 5 }\nlimits: { exempt: [127.0.0.1] }\n');
  key = await serve.enroll('host-a');
});
afterAll(async () => {
  // SIGTERM after all the abuse: a clean exit, not a crash.
  expect(await serve.stop()).toBe(0);
});

async function waitFor<T>(get: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function textFrames(c: RawClient): Record<string, unknown>[] {
  return c.reader.frames
    .filter((f) => f.opcode === OP.text)
    .map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>);
}

/** A raw connection that has answered the challenge and got its welcome. */
async function authenticated(): Promise<RawClient> {
  const c = await rawUpgrade(serve.port);
  expect(c.status).toBe(101);
  const challenge = await waitFor(
    () => textFrames(c).find((f) => f.type === 'challenge'),
    'challenge',
  );
  const nonce = String(challenge.nonce);
  const hello = {
    type: 'hello',
    hostId: 'host-a',
    nonce,
    agentVersion: '0.0.0-abuse',
    sig: signHello(
      { coordinatorId: String(challenge.coordinatorId), hostId: 'host-a', nonce },
      key.privateKey,
    ),
  };
  c.socket.write(frame(OP.text, Buffer.from(JSON.stringify(hello)), { mask: true }));
  await waitFor(() => textFrames(c).find((f) => f.type === 'welcome'), 'welcome');
  return c;
}

/** Sends `bytes` on a connection (raw or after hello) and returns the server's close code. */
async function closeCodeAfter(c: RawClient, bytes: Buffer): Promise<number | undefined> {
  c.socket.write(bytes);
  await Promise.race([c.ended, new Promise((r) => setTimeout(r, 15_000))]);
  c.socket.destroy();
  return c.closeCode();
}

interface Row {
  abuse: string;
  expected: string;
  got: string;
}
const table: Row[] = [];

async function scenario(
  abuse: string,
  expected: string,
  run: () => Promise<string>,
): Promise<void> {
  const got = await run();
  table.push({ abuse, expected, got });
  let alive = true;
  try {
    await serve.assertServes('host-a', key.privateKey);
  } catch {
    alive = false;
  }
  recordBadInput({
    scenario: `ws abuse vs launchplane serve: ${abuse}`,
    injected: `1 ${abuse}`,
    survived: alive && got === expected,
    counts: { tried: 1, refused: got === expected ? 1 : 0, processDied: alive ? 0 : 1 },
  });
  expect(got, abuse).toBe(expected);
  expect(alive, `serve still serves after: ${abuse}`).toBe(true);
}

describe('launchplane serve under WebSocket abuse', () => {
  it('a 300 KiB frame before and after the hello is refused with 1009', async () => {
    const big = Buffer.from(JSON.stringify({ type: 'inventory', pad: 'x'.repeat(300 * 1024) }));
    await scenario('300 KiB frame before hello', 'close 1009', async () => {
      const c = await rawUpgrade(serve.port);
      return `close ${await closeCodeAfter(c, frame(OP.text, big, { mask: true }))}`;
    });
    await scenario('300 KiB frame after welcome', 'close 1009', async () => {
      const c = await authenticated();
      return `close ${await closeCodeAfter(c, frame(OP.text, big, { mask: true }))}`;
    });
  });

  it('fragments: 1,000 are reassembled and refused as a bad frame, 20,000 are cut by the fragment cap, past 256 KiB by the size cap', async () => {
    const junk = Buffer.from(JSON.stringify({ type: 'inventory', pad: 'y'.repeat(20_000) }));
    await scenario('junk message in 1,000 fragments after welcome', 'close 4400', async () => {
      const c = await authenticated();
      return `close ${await closeCodeAfter(c, fragments(junk, 1_000, true))}`;
    });
    await scenario(
      'junk message in 20,000 one-byte fragments after welcome',
      'close 1008',
      async () => {
        const c = await authenticated();
        return `close ${await closeCodeAfter(c, fragments(junk.subarray(0, 20_000), 20_000, true))}`;
      },
    );
    const huge = Buffer.alloc(300 * 1024, 0x61);
    await scenario('300 KiB message in 3,072 fragments', 'close 1009', async () => {
      const c = await rawUpgrade(serve.port);
      return `close ${await closeCodeAfter(c, fragments(huge, 3072, true))}`;
    });
  });

  it('a text frame with invalid UTF-8 is refused with 1007', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"type":"hello","hostId":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    await scenario('invalid UTF-8 text frame before hello', 'close 1007', async () => {
      const c = await rawUpgrade(serve.port);
      return `close ${await closeCodeAfter(c, frame(OP.text, bad, { mask: true }))}`;
    });
    await scenario('invalid UTF-8 text frame after welcome', 'close 1007', async () => {
      const c = await authenticated();
      return `close ${await closeCodeAfter(c, frame(OP.text, bad, { mask: true }))}`;
    });
  });

  it('an upgrade with 2,000 headers is refused with 431 before any session', async () => {
    await scenario('handshake with 2,000 headers', 'HTTP 431', async () => {
      const extra = Array.from({ length: 2000 }, (_, i) => `X-Abuse-${i}: ${'v'.repeat(8)}`);
      const c = await rawUpgrade(serve.port, { extraHeaders: extra });
      c.socket.destroy();
      return `HTTP ${c.status}`;
    });
  });

  it('compression offered is not negotiated, and a compressed frame sent anyway is refused with 1002', async () => {
    await scenario('permessage-deflate offered', 'HTTP 101 without extensions', async () => {
      const c = await rawUpgrade(serve.port, {
        extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'],
      });
      c.socket.destroy();
      const ext = c.headers['sec-websocket-extensions'];
      return `HTTP ${c.status}${ext === undefined ? ' without extensions' : ` with ${ext}`}`;
    });
    await scenario('RSV1 (compressed) frame after offering deflate', 'close 1002', async () => {
      const c = await rawUpgrade(serve.port, {
        extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'],
      });
      const payload = Buffer.from([
        0xab, 0x56, 0x2a, 0xa9, 0x2c, 0x48, 0x55, 0xb2, 0x52, 0x02, 0x00,
      ]);
      return `close ${await closeCodeAfter(c, frame(OP.text, payload, { mask: true, rsv1: true }))}`;
    });
  });

  it('upgrades to other paths or without the subprotocol are refused over HTTP', async () => {
    await scenario('upgrade to /v1/../v1/agent', 'HTTP 404', async () => {
      const c = await rawUpgrade(serve.port, { path: '/v1/agent/../../etc' });
      c.socket.destroy();
      return `HTTP ${c.status}`;
    });
    await scenario('upgrade without subprotocol', 'HTTP 400', async () => {
      const c = await rawUpgrade(serve.port, { protocol: null });
      c.socket.destroy();
      return `HTTP ${c.status}`;
    });
  });

  it('300 junk frames through real sockets are each refused with 4400 or 4401', async () => {
    const byCode: Record<string, number> = {};
    let tried = 0;
    const junk = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ maxLength: 200 }),
      fc
        .record(
          {
            type: fc.constantFrom('hello', 'inventory', 'result', 'event', 'welcome', 'ack'),
            hostId: fc.oneof(fc.constant('host-a'), fc.string({ maxLength: 20 })),
            seq: fc.oneof(fc.integer(), fc.double()),
            jws: fc.string({ maxLength: 60 }),
          },
          { requiredKeys: ['type'] },
        )
        .map((o) => JSON.stringify(o)),
    );
    await fc.assert(
      fc.asyncProperty(junk, fc.boolean(), async (text, afterHello) => {
        tried++;
        const a = afterHello
          ? await FakeAgent.connect(serve.agentUrl, {
              hostId: 'host-a',
              privateKey: key.privateKey,
            })
          : await FakeAgent.open(serve.agentUrl);
        a.ws.send(text);
        const { code } = await a.closed;
        byCode[String(code)] = (byCode[String(code)] ?? 0) + 1;
        expect([4400, 4401], text).toContain(code);
      }),
      { numRuns: 300 },
    );
    await serve.assertServes('host-a', key.privateKey);
    const refused = Object.values(byCode).reduce((s, n) => s + n, 0);
    recordBadInput({
      scenario: 'fuzz: junk frames into launchplane serve (real sockets)',
      injected: `${tried} junk frames`,
      survived: refused === tried,
      counts: {
        tried,
        refused,
        ...Object.fromEntries(Object.entries(byCode).map(([k, v]) => [`close${k}`, v])),
      },
    });
  }, 120_000);

  it('prints the abuse → refusal table', () => {
    console.table(table);
    expect(table.every((r) => r.got === r.expected)).toBe(true);
    expect(table.length).toBeGreaterThanOrEqual(12);
  });
});

/**
 * Attacks on the enrollment path (issue 12 item 4), each against the real agent code
 * (`enroll()` and the agent session from packages/agent) and a real coordinator, with a
 * man-in-the-middle proxy between them on 127.0.0.1:
 *
 * - a proxy that swaps the host key in the enrollment request;
 * - a proxy that answers the challenge with an old signed answer (replay);
 * - a proxy that presents another coordinator key;
 * - a TLS proxy that presents another certificate.
 *
 * Each must fail before the token, or any proof usable for another key, leaves the agent, and the
 * coordinator must never record the attacker's key. Plain HTTP on loopback is allowed, so the
 * handshake itself has to hold there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  connect as tlsConnect,
  createServer as createTlsServer,
  type Server as TlsServer,
} from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AgentSession, enroll, loadEnrolledHost } from '@launchplane/agent';
import type { SessionStatus } from '@launchplane/agent';
import {
  LaunchplaneError,
  exportPublicJwk,
  fingerprint,
  generateEd25519KeyPair,
  newNonce,
  signEnrollChallenge,
  type EnrollRequest,
} from '@launchplane/shared';
import {
  selfSignedCert,
  type SelfSignedCert,
} from '../../packages/agent/src/session/self-signed-cert.test-helper.js';
import { enrollHost, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

/** What a proxy does with one request on its way to the coordinator. */
type Tamper = (req: {
  url: string;
  body: string;
}) => { forward: string } | { answer: { status: number; body: string } };

/** An HTTP man in the middle: records what passes, and may rewrite or answer it. */
class HttpMitm {
  readonly seen: { url: string; body: string }[] = [];
  readonly answers: { url: string; body: string }[] = [];
  tamper: Tamper = (r) => ({ forward: r.body });
  readonly #server: Server;
  #upstream = '';

  constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const url = req.url ?? '/';
        this.seen.push({ url, body });
        const action = this.tamper({ url, body });
        if ('answer' in action) {
          res.writeHead(action.answer.status, { 'content-type': 'application/json' });
          res.end(action.answer.body);
          return;
        }
        const up = request(`${this.#upstream}${url}`, {
          method: req.method,
          headers: { 'content-type': 'application/json' },
        });
        up.on('response', (r: IncomingMessage) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => {
            this.answers.push({ url, body: text });
            res.writeHead(r.statusCode ?? 502, { 'content-type': 'application/json' });
            res.end(text);
          });
        });
        up.on('error', () => res.writeHead(502).end());
        up.end(action.forward);
      });
    });
  }

  async listen(upstream: string): Promise<string> {
    this.#upstream = upstream;
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

let h: Harness;
let mitm: HttpMitm;
let mitmUrl: string;
let dir: string;

beforeEach(async () => {
  h = await startHarness();
  mitm = new HttpMitm();
  mitmUrl = await mitm.listen(h.baseUrl);
  dir = mkdtempSync(join(tmpdir(), 'lp-mitm-'));
});
afterEach(async () => {
  await mitm.close();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function enrollmentToken(hostId = 'host-a'): Promise<string> {
  const r = await h.api('POST', '/v1/enrollment-tokens', { body: { hostId } });
  expect(r.status).toBe(201);
  return String(r.body.token);
}

function agentEnroll(token: string, coordinatorUrl = mitmUrl) {
  return enroll({
    coordinatorUrl,
    token,
    hostId: 'host-a',
    expectedFingerprint: h.coordinator.identity.fingerprint,
    configPath: join(dir, 'agent.yaml'),
    dataDir: join(dir, 'data'),
    agentVersion: '0.0.0-attack',
  });
}

async function failure(p: Promise<unknown>): Promise<LaunchplaneError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LaunchplaneError);
  return err as LaunchplaneError;
}

/** Nothing that crossed the proxy carries the token or its secret part. */
function expectTokenNeverSeen(token: string): void {
  // `lpe_` + 16 hex digits + `_`, then the secret (whose base64url may itself hold `_`).
  const secret = token.slice(21);
  expect(secret).toHaveLength(43);
  const wire = JSON.stringify([mitm.seen, mitm.answers]);
  expect(wire).not.toContain(token);
  expect(wire).not.toContain(secret);
}

describe('a man in the middle of the enrollment (plain HTTP on loopback)', () => {
  it('passes an honest enrollment through untouched (control)', async () => {
    const token = await enrollmentToken();
    const result = await agentEnroll(token);
    expect(result.coordinatorFingerprint).toBe(h.coordinator.identity.fingerprint);
    expect((await h.coordinator.store.getHost('host-a'))?.fingerprint).toBe(result.hostFingerprint);
    expectTokenNeverSeen(token);
  });

  it('swapping the host key: the proof does not verify, the attacker key is never recorded, and the proof is useless for it', async () => {
    const token = await enrollmentToken();
    const attacker = generateEd25519KeyPair();
    let captured: EnrollRequest | undefined;
    mitm.tamper = ({ url, body }) => {
      if (url !== '/v1/enroll') return { forward: body };
      captured = JSON.parse(body) as EnrollRequest;
      return {
        forward: JSON.stringify({ ...captured, publicKey: exportPublicJwk(attacker.publicKey) }),
      };
    };
    const err = await failure(agentEnroll(token));
    expect(err.code).toBe('LP_TOKEN_INVALID');
    expect(await h.coordinator.store.getHost('host-a')).toBeUndefined();
    expectTokenNeverSeen(token);

    // What the proxy holds cannot enroll its key: not with a fresh challenge (the proof is bound
    // to the agent's key and challenge), not by replaying the request (the nonce is spent).
    const proof = captured as EnrollRequest;
    const agentNonce = newNonce();
    const fresh = await fetch(`${h.baseUrl}/v1/enroll/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hostId: 'host-a', agentNonce }),
    });
    const { nonce } = (await fresh.json()) as { nonce: string };
    for (const attempt of [
      { ...proof, publicKey: exportPublicJwk(attacker.publicKey), nonce },
      { ...proof, publicKey: exportPublicJwk(attacker.publicKey) },
      proof,
    ]) {
      const r = await fetch(`${h.baseUrl}/v1/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(attempt),
      });
      expect(r.status).toBe(401);
    }
    expect(await h.coordinator.store.listHosts()).toEqual([]);
    // The token was never proven, so it is not burnt: the real host can still enroll directly.
    mitm.tamper = ({ body }) => ({ forward: body });
    const ok = await agentEnroll(token, h.baseUrl);
    expect((await h.coordinator.store.getHost('host-a'))?.fingerprint).toBe(ok.hostFingerprint);
    expect(ok.hostFingerprint).not.toBe(fingerprint(attacker.publicKey));
  });

  it('replaying an old challenge answer: refused before any proof is sent', async () => {
    // The proxy watched an earlier enrollment and kept the coordinator's signed challenge.
    const earlier = await enrollHost(h.baseUrl, {
      token: await enrollmentToken('host-old'),
      hostId: 'host-a',
      publicKey: newHostKey().publicKey,
    });
    const { agentNonce: _unused, ...oldAnswer } = earlier.attempt?.challenge ?? { agentNonce: '' };
    void _unused;
    const token = await enrollmentToken();
    mitm.tamper = ({ url, body }) =>
      url === '/v1/enroll/challenge'
        ? { answer: { status: 200, body: JSON.stringify(oldAnswer) } }
        : { forward: body };
    const err = await failure(agentEnroll(token));
    expect(err.code).toBe('LP_SIGNATURE_INVALID');
    expect(mitm.seen.map((s) => s.url)).toEqual(['/v1/enroll/challenge']);
    expect(await h.coordinator.store.getHost('host-a')).toBeUndefined();
    expectTokenNeverSeen(token);
  });

  it('presenting another coordinator key: refused before any proof is sent', async () => {
    const token = await enrollmentToken();
    const impostor = generateEd25519KeyPair();
    mitm.tamper = ({ url, body }) => {
      if (url !== '/v1/enroll/challenge') return { forward: body };
      // A well-formed challenge, correctly signed, by a key that is not the pinned one.
      const req = JSON.parse(body) as { hostId: string; agentNonce: string };
      const nonce = newNonce();
      const expiresAt = h.clock.now + 60;
      return {
        answer: {
          status: 200,
          body: JSON.stringify({
            coordinatorId: h.coordinator.coordinatorId,
            coordinatorKey: exportPublicJwk(impostor.publicKey),
            nonce,
            expiresAt,
            sig: signEnrollChallenge(
              { coordinatorId: h.coordinator.coordinatorId, ...req, nonce, expiresAt },
              impostor.privateKey,
            ),
          }),
        },
      };
    };
    const err = await failure(agentEnroll(token));
    expect(err.code).toBe('LP_UNAUTHENTICATED');
    expect(err.message).toContain(fingerprint(impostor.publicKey));
    expect(mitm.seen.map((s) => s.url)).toEqual(['/v1/enroll/challenge']);
    expect(await h.coordinator.store.listHosts()).toEqual([]);
    expectTokenNeverSeen(token);
  });
});

describe('a TLS man in the middle with another certificate', () => {
  let certDir: string;
  let real: SelfSignedCert;
  let other: SelfSignedCert;
  let th: Harness;
  let proxy: TlsServer;
  let proxyPort: number;
  let proxyBytes = 0;

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'lp-mitm-tls-'));
    real = selfSignedCert(certDir, 'coordinator');
    other = selfSignedCert(certDir, 'intruder');
    th = await startHarness({ yaml: `tls: { cert: ${real.certPath}, key: ${real.keyPath} }\n` });
    const upstreamPort = Number(new URL(th.baseUrl).port);
    // Terminates TLS with its own certificate and relays the cleartext to the coordinator.
    proxy = createTlsServer({ cert: other.cert, key: other.key }, (client) => {
      const upstream = tlsConnect({
        host: '127.0.0.1',
        port: upstreamPort,
        rejectUnauthorized: false,
      });
      client.on('data', (d: Buffer) => {
        proxyBytes += d.length;
        upstream.write(d);
      });
      upstream.on('data', (d: Buffer) => client.write(d));
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end);
      client.on('close', end);
      upstream.on('error', end);
      upstream.on('close', end);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = (proxy.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => proxy.close(() => r()));
    await th.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  /** `POST /v1/enrollment-tokens` over https, trusting the coordinator's own certificate. */
  function createToken(hostId: string): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ hostId });
      const req = httpsRequest(`${th.baseUrl}/v1/enrollment-tokens`, {
        method: 'POST',
        ca: real.cert,
        headers: {
          authorization: `Bearer ${th.adminToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      });
      req.on('response', (res: IncomingMessage) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  it('the coordinator prints its TLS pin with the enrollment token', async () => {
    const r = await createToken('host-t');
    expect(r.tlsPin).toBe(real.pin);
    expect(th.coordinator.server.tlsPin).toBe(real.pin);
  });

  it('enrollment through it is refused before a byte is sent; directly, the pin is stored', async () => {
    const token = String((await createToken('host-t')).token);
    const opts = {
      token,
      hostId: 'host-t',
      expectedFingerprint: th.coordinator.identity.fingerprint,
      tlsPin: real.pin,
      configPath: join(dir, 'agent.yaml'),
      dataDir: join(dir, 'data'),
      agentVersion: '0.0.0-attack',
    };
    proxyBytes = 0;
    const err = await failure(
      enroll({ ...opts, coordinatorUrl: `https://127.0.0.1:${proxyPort}` }),
    );
    expect(err.code).toBe('LP_TLS_PIN_MISMATCH');
    expect(err.message).toContain(other.pin);
    expect(proxyBytes).toBe(0);
    expect(await th.coordinator.store.getHost('host-t')).toBeUndefined();

    const ok = await enroll({ ...opts, coordinatorUrl: th.baseUrl });
    expect(ok.tlsPin).toBe(real.pin);

    // The session checks the pin on every connection: through the proxy it never says hello.
    const host = await loadEnrolledHost(opts.configPath);
    expect(host.config.coordinator.tlsPin).toBe(real.pin);
    const statuses: SessionStatus[] = [];
    const session = new AgentSession({
      url: `wss://127.0.0.1:${proxyPort}/v1/agent`,
      hostId: 'host-t',
      coordinatorId: host.coordinatorId,
      hostKey: host.hostKey,
      agentVersion: '0.0.0-attack',
      tlsPin: real.pin,
      core: {
        handleCommand: () => Promise.resolve(''),
        inventory: () => ({
          type: 'inventory',
          optIn: { repositories: [], organizations: [], backends: [], maxLanes: 0 },
          lanes: [],
          capabilities: [],
        }),
        onInventoryChange: () => () => undefined,
        pendingEvents: () => [],
        ackEvents: () => undefined,
        onEvent: () => () => undefined,
      },
      backoff: { baseMs: 60_000, capMs: 60_000, random: () => 0.5 },
      onStatus: (s) => statuses.push(s),
    });
    session.start();
    for (
      let i = 0;
      i < 200 && !statuses.some((s) => s.lastError?.startsWith('LP_TLS_PIN_MISMATCH'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await session.stop();
    expect(statuses.some((s) => s.lastError?.startsWith('LP_TLS_PIN_MISMATCH'))).toBe(true);
    expect(proxyBytes).toBe(0);
    expect(th.coordinator.server.hub.session('host-t')).toBeUndefined();
  });
});

import { createPublicKey, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError, generateEd25519KeyPair, parseAgentConfig } from '@launchplane/shared';
import { selfSignedCert, type SelfSignedCert } from '../session/self-signed-cert.test-helper.js';
import { enroll, isLoopbackHost } from './enroll.js';
import type { EnrollOptions } from './enroll.js';
import {
  COORDINATOR_ID,
  startFakeEnrollCoordinator,
  type FakeEnrollCoordinator,
} from './fake-enroll-coordinator.test-helper.js';

const TOKEN_ID = '0123456789abcdef';
const SECRET = randomBytes(32).toString('base64url');
const TOKEN = `lpe_${TOKEN_ID}_${SECRET}`;
const OTHER_FP = `SHA256:${'B'.repeat(43)}`;

let certDir: string;
let tls: SelfSignedCert;
let otherTls: SelfSignedCert;

beforeAll(async () => {
  certDir = await mkdtemp(join(tmpdir(), 'lp-enroll-tls-'));
  tls = selfSignedCert(certDir, 'coordinator');
  otherTls = selfSignedCert(certDir, 'intruder');
});
afterAll(async () => {
  await rm(certDir, { recursive: true, force: true });
});

describe('enroll()', () => {
  let dir: string;
  let fake: FakeEnrollCoordinator;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-enroll-'));
    fake = await startFakeEnrollCoordinator();
    fake.tokens.set(TOKEN_ID, SECRET);
  });
  afterEach(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  function opts(extra: Partial<EnrollOptions> = {}, fromConfig = false): EnrollOptions {
    return {
      coordinatorUrl: fake.url,
      token: TOKEN,
      hostId: 'host-a',
      expectedFingerprint: fake.fingerprint,
      configPath: join(dir, 'etc', 'agent.yaml'),
      ...(fromConfig ? {} : { dataDir: join(dir, 'data') }),
      agentVersion: '0.1.0-test',
      ...extra,
    };
  }

  async function expectCode(p: Promise<unknown>, code: string): Promise<LaunchplaneError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe(code);
    for (const text of [
      (err as LaunchplaneError).message,
      (err as LaunchplaneError).recovery ?? '',
    ]) {
      expect(text).not.toContain(SECRET);
    }
    return err as LaunchplaneError;
  }

  async function exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      () => false,
    );
  }

  /** Nothing the host sent carries the token or its secret part. */
  function expectTokenNeverSent(): void {
    for (const r of fake.received) {
      expect(r.body).not.toContain(SECRET);
      expect(r.body).not.toContain(TOKEN);
    }
  }

  it('authenticates the coordinator, proves the token, pins the key and creates the config', async () => {
    const result = await enroll(opts());
    expect(result).toMatchObject({
      hostId: 'host-a',
      coordinatorId: COORDINATOR_ID,
      agentUrl: 'wss://coord.example:7443/v1/agent',
      coordinatorFingerprint: fake.fingerprint,
      keyCreated: true,
      configCreated: true,
      insecure: false,
    });
    expect(fake.received.map((r) => r.url)).toEqual(['/v1/enroll/challenge', '/v1/enroll']);
    expectTokenNeverSent();
    const sent = JSON.parse(fake.received[1]?.body ?? '') as Record<string, unknown>;
    expect(sent).toMatchObject({ tokenId: TOKEN_ID, hostId: 'host-a', agentVersion: '0.1.0-test' });
    expect(fake.hosts.get('host-a')).toBe(result.hostFingerprint);

    const keyPath = join(dir, 'data', 'private', 'host.key');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'data', 'private'))).mode & 0o777).toBe(0o700);
    const pem = await readFile(keyPath, 'utf8');
    // The public key sent is the one of the stored private key.
    expect(createPublicKey(pem).export({ format: 'jwk' }).x).toBe(
      (sent['publicKey'] as { x: string }).x,
    );
    const config = parseAgentConfig(await readFile(join(dir, 'etc', 'agent.yaml'), 'utf8'));
    expect(config.ok).toBe(true);
    if (!config.ok) return;
    expect(config.value.coordinator).toEqual({
      url: 'wss://coord.example:7443/v1/agent',
      fingerprint: fake.fingerprint,
      coordinatorId: COORDINATOR_ID,
    });
    // Fail closed: a fresh config allows nothing.
    expect(config.value.optIn).toEqual({
      repositories: [],
      organizations: [],
      backends: [],
      maxLanes: 0,
    });
  });

  it('re-enrolling the same host reuses its key', async () => {
    const first = await enroll(opts());
    const second = await enroll(opts());
    expect(second.keyCreated).toBe(false);
    expect(second.configCreated).toBe(false);
    expect(second.hostFingerprint).toBe(first.hostFingerprint);
  });

  it('refuses to reuse a key made for another host, before contacting the coordinator', async () => {
    await enroll(opts());
    await rm(join(dir, 'etc'), { recursive: true });
    const before = await readFile(join(dir, 'data', 'private', 'host.key'), 'utf8');
    fake.received.length = 0;
    await expectCode(enroll(opts({ hostId: 'host-b' })), 'LP_CONFLICT');
    expect(fake.received).toEqual([]);
    expect(await readFile(join(dir, 'data', 'private', 'host.key'), 'utf8')).toBe(before);
  });

  describe('attacks on the path: each fails before the proof leaves the host', () => {
    it('a coordinator presenting another key is refused after the challenge, writing nothing', async () => {
      fake.misbehave.presentKey = generateEd25519KeyPair();
      const err = await expectCode(enroll(opts()), 'LP_UNAUTHENTICATED');
      expect(err.message).toContain(fake.fingerprint);
      expect(fake.received.map((r) => r.url)).toEqual(['/v1/enroll/challenge']);
      expect(await exists(join(dir, 'data', 'private', 'coordinator.jwk'))).toBe(false);
      expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
    });

    it('a replayed challenge answer (signed over another nonce) is refused', async () => {
      fake.misbehave.replayFirstChallenge = true;
      // A first enrollment gets the answer the "attacker" will replay.
      await enroll(opts());
      await rm(join(dir, 'etc'), { recursive: true });
      fake.received.length = 0;
      await expectCode(enroll(opts()), 'LP_SIGNATURE_INVALID');
      expect(fake.received.map((r) => r.url)).toEqual(['/v1/enroll/challenge']);
    });

    it('a pinned fingerprint other than the coordinator key is refused without sending a proof', async () => {
      await expectCode(enroll(opts({ expectedFingerprint: OTHER_FP })), 'LP_UNAUTHENTICATED');
      expect(fake.received.map((r) => r.url)).toEqual(['/v1/enroll/challenge']);
    });

    it('a confirmation for another host key is refused and nothing is written', async () => {
      fake.misbehave.confirmOtherKey = true;
      await expectCode(enroll(opts()), 'LP_SIGNATURE_INVALID');
      expect(await exists(join(dir, 'data', 'private', 'coordinator.jwk'))).toBe(false);
      expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
    });
  });

  describe('transport', () => {
    it('plain http:// to another machine is refused without --insecure, before any request', async () => {
      const err = await expectCode(
        enroll(opts({ coordinatorUrl: 'http://coord.example:7443' })),
        'LP_USAGE',
      );
      expect(err.recovery).toContain('--insecure');
      expect(await exists(join(dir, 'data'))).toBe(false);
      await expectCode(
        enroll(
          opts({
            coordinatorUrl: 'http://coord.example:7443',
            tlsPin: tls.pin,
          }),
        ),
        'LP_USAGE',
      );
    });

    it('a plain ws:// agent URL to another machine is refused unless insecure', async () => {
      fake.misbehave.agentUrl = 'ws://coord.example:7443/v1/agent';
      await expectCode(enroll(opts()), 'LP_CONFIG_INVALID');
      expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
      fake.misbehave.agentUrl = 'ws://127.0.0.1:7443/v1/agent';
      expect((await enroll(opts())).agentUrl).toBe('ws://127.0.0.1:7443/v1/agent');
    });

    it('knows loopback names', () => {
      for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]'])
        expect(isLoopbackHost(h)).toBe(true);
      for (const h of ['coord.example', '10.0.0.1', '[::2]', '128.0.0.1', 'localhost.example']) {
        expect(isLoopbackHost(h)).toBe(false);
      }
    });
  });

  it('surfaces the code of a 4xx answer without echoing the token', async () => {
    fake.misbehave.fixed = {
      status: 401,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        error: { code: 'LP_TOKEN_INVALID', message: `Token ${TOKEN} was already used` },
      }),
    };
    const err = await expectCode(enroll(opts()), 'LP_TOKEN_INVALID');
    expect(err.message).toContain('already used');
    expect(err.message).toContain('[redacted]');
    expect(await exists(join(dir, 'data', 'private', 'coordinator.jwk'))).toBe(false);
    expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
  });

  it('maps a 403 without a body to LP_FORBIDDEN and a 429 to LP_RATE_LIMITED', async () => {
    fake.misbehave.fixed = { status: 403 };
    await expectCode(enroll(opts()), 'LP_FORBIDDEN');
    fake.misbehave.fixed = { status: 429 };
    await expectCode(enroll(opts()), 'LP_RATE_LIMITED');
  });

  it('does not follow a redirect', async () => {
    fake.misbehave.fixed = { status: 307, headers: { location: `${fake.url}/elsewhere` } };
    await expectCode(enroll(opts()), 'LP_INVALID_MESSAGE');
    expect(fake.received.map((r) => r.url)).toEqual(['/v1/enroll/challenge']);
  });

  it('refuses an answer that is not a challenge, or larger than maxResponseBytes', async () => {
    fake.misbehave.fixed = { status: 200, body: JSON.stringify({ coordinatorId: 'c' }) };
    await expectCode(enroll(opts()), 'LP_INVALID_MESSAGE');
    fake.misbehave.fixed = { status: 200, body: 'x'.repeat(200_000) };
    await expectCode(enroll(opts({ maxResponseBytes: 1024 })), 'LP_INVALID_MESSAGE');
    expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
  });

  it('gives up after the timeout', async () => {
    fake.misbehave.silent = true;
    await expectCode(enroll(opts({ timeoutMs: 100 })), 'LP_TIMEOUT');
  });

  it('refuses a malformed token, host id, URL, fingerprint or pin as usage errors without a request', async () => {
    await expectCode(enroll(opts({ token: 'short' })), 'LP_USAGE');
    await expectCode(enroll(opts({ token: `${TOKEN} x` })), 'LP_USAGE');
    await expectCode(enroll(opts({ token: `lpt_${TOKEN_ID}_${SECRET}` })), 'LP_USAGE');
    await expectCode(enroll(opts({ hostId: 'Host_A' })), 'LP_USAGE');
    await expectCode(enroll(opts({ coordinatorUrl: 'ftp://x' })), 'LP_USAGE');
    await expectCode(enroll(opts({ expectedFingerprint: 'SHA256:short' })), 'LP_USAGE');
    await expectCode(enroll(opts({ tlsPin: 'sha256//short' })), 'LP_USAGE');
    expect(fake.received).toEqual([]);
  });

  it('keeps comments and other keys of an existing config', async () => {
    const configPath = join(dir, 'etc', 'agent.yaml');
    await mkdir(join(dir, 'etc'));
    const text = [
      '# Host A: build machine in rack 4',
      'hostId: host-a',
      `dataDir: ${join(dir, 'data')}`,
      'optIn:',
      '  repositories: [acme/api] # only the API',
      '  backends: [systemd]',
      '  maxLanes: 3',
      'capabilities: [gpu]',
      '',
    ].join('\n');
    await writeFile(configPath, text);
    const result = await enroll(opts({}, true));
    expect(result.configCreated).toBe(false);
    const after = await readFile(configPath, 'utf8');
    expect(after).toContain('# Host A: build machine in rack 4');
    expect(after).toContain('# only the API');
    const parsed = parseAgentConfig(after);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.optIn.repositories).toEqual(['acme/api']);
    expect(parsed.value.coordinator?.coordinatorId).toBe(COORDINATOR_ID);
  });

  it('refuses to enroll into a config that belongs to another host, before any request', async () => {
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'agent.yaml'), 'hostId: host-b\n');
    await expectCode(enroll(opts()), 'LP_CONFLICT');
    expect(fake.received).toEqual([]);
  });

  it('refuses to enroll into an invalid config, naming the path, before any request', async () => {
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'agent.yaml'), 'hostId: host-a\noptIn:\n  maxLanes: -1\n');
    const err = await expectCode(enroll(opts({}, true)), 'LP_CONFIG_INVALID');
    expect(err.message).toContain('optIn.maxLanes');
    expect(fake.received).toEqual([]);
  });
});

describe('enroll() over https with a TLS pin', () => {
  let dir: string;
  const fakes: FakeEnrollCoordinator[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-enroll-pin-'));
  });
  afterEach(async () => {
    for (const f of fakes.splice(0)) await f.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function fakeWith(cert: { cert: string; key: string }): Promise<FakeEnrollCoordinator> {
    const f = await startFakeEnrollCoordinator(cert);
    f.tokens.set(TOKEN_ID, SECRET);
    fakes.push(f);
    return f;
  }
  const opts = (f: FakeEnrollCoordinator, tlsPin: string): EnrollOptions => ({
    coordinatorUrl: f.url,
    token: TOKEN,
    hostId: 'host-a',
    expectedFingerprint: f.fingerprint,
    tlsPin,
    configPath: join(dir, 'agent.yaml'),
    dataDir: join(dir, 'data'),
    agentVersion: '0.1.0-test',
  });

  it('trusts a self-signed certificate with the pinned key and stores the pin in the config', async () => {
    const f = await fakeWith(tls);
    const pin = tls.pin;
    const result = await enroll(opts(f, pin));
    expect(result.tlsPin).toBe(pin);
    const config = parseAgentConfig(await readFile(join(dir, 'agent.yaml'), 'utf8'));
    expect(config.ok && config.value.coordinator?.tlsPin).toBe(pin);
  });

  it('a certificate with another key is refused before a request is sent', async () => {
    const f = await fakeWith(otherTls);
    const err = await enroll(opts(f, tls.pin)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LP_TLS_PIN_MISMATCH' });
    expect((err as LaunchplaneError).message).toContain(otherTls.pin);
    expect(f.received).toEqual([]);
    expect(await stat(join(dir, 'agent.yaml')).catch(() => undefined)).toBeUndefined();
  });

  it('without a pin, a self-signed certificate is not trusted', async () => {
    const f = await fakeWith(tls);
    const { tlsPin: _unused, ...rest } = opts(f, 'unused');
    void _unused;
    const err = await enroll(rest).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'LP_BACKEND_UNAVAILABLE' });
    expect(f.received).toEqual([]);
  });
});

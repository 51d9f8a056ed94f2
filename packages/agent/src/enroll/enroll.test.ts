import { Buffer } from 'node:buffer';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError, parseAgentConfig } from '@launchplane/shared';
import { enroll } from './enroll.js';
import type { EnrollOptions } from './enroll.js';

const TOKEN = 'lpe_0123456789abcdef-SECRET';
const coordinatorPair = generateKeyPairSync('ed25519');
const coordinatorJwk = coordinatorPair.publicKey.export({ format: 'jwk' });
const rawX = Buffer.from(String(coordinatorJwk.x), 'base64url');
const COORDINATOR_FP = `SHA256:${createHash('sha256').update(rawX).digest('base64').replace(/=+$/, '')}`;
const OTHER_FP = `SHA256:${'B'.repeat(43)}`;

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('enroll()', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let requests: { url: string | undefined; method: string | undefined; body: string }[];
  let handler: Handler;

  const created: Handler = (_req, body, res) => {
    const req = JSON.parse(body) as { hostId: string };
    res.writeHead(201, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        hostId: req.hostId,
        coordinatorId: 'coord-1',
        coordinatorKey: { kty: 'OKP', crv: 'Ed25519', x: coordinatorJwk.x },
        agentUrl: 'wss://coord.example:7443/v1/agent',
      }),
    );
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-enroll-'));
    requests = [];
    handler = created;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ url: req.url, method: req.method, body });
        handler(req, body, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  function opts(extra: Partial<EnrollOptions> = {}, fromConfig = false): EnrollOptions {
    return {
      coordinatorUrl: base,
      token: TOKEN,
      hostId: 'host-a',
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
    expect((err as LaunchplaneError).message).not.toContain(TOKEN);
    expect((err as LaunchplaneError).recovery ?? '').not.toContain(TOKEN);
    return err as LaunchplaneError;
  }

  async function exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      () => false,
    );
  }

  it('on 201 writes a 0600 host key in a 0700 data dir, pins the coordinator key and creates the config', async () => {
    const result = await enroll(opts({ expectedFingerprint: COORDINATOR_FP }));
    expect(result).toMatchObject({
      hostId: 'host-a',
      coordinatorId: 'coord-1',
      agentUrl: 'wss://coord.example:7443/v1/agent',
      coordinatorFingerprint: COORDINATOR_FP,
      keyCreated: true,
      configCreated: true,
    });
    expect(requests).toHaveLength(1);
    expect(requests[0]?.method).toBe('POST');
    expect(requests[0]?.url).toBe('/v1/enroll');
    const sent = JSON.parse(requests[0]?.body ?? '') as Record<string, unknown>;
    expect(sent).toMatchObject({ token: TOKEN, hostId: 'host-a', agentVersion: '0.1.0-test' });

    const keyPath = join(dir, 'data', 'private', 'host.key');
    expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'data', 'private'))).mode & 0o777).toBe(0o700);
    const pem = await readFile(keyPath, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // The public key sent is the one of the stored private key.
    expect(createPublicKey(pem).export({ format: 'jwk' }).x).toBe(
      (sent['publicKey'] as { x: string }).x,
    );
    const pinned = JSON.parse(
      await readFile(join(dir, 'data', 'private', 'coordinator.jwk'), 'utf8'),
    ) as unknown;
    expect(pinned).toEqual({ kty: 'OKP', crv: 'Ed25519', x: coordinatorJwk.x });

    const config = parseAgentConfig(await readFile(join(dir, 'etc', 'agent.yaml'), 'utf8'));
    expect(config.ok).toBe(true);
    if (!config.ok) return;
    expect(config.value.hostId).toBe('host-a');
    expect(config.value.dataDir).toBe(join(dir, 'data'));
    expect(config.value.coordinator).toEqual({
      url: 'wss://coord.example:7443/v1/agent',
      fingerprint: COORDINATOR_FP,
      coordinatorId: 'coord-1',
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
    const keys = requests.map((r) => (JSON.parse(r.body) as { publicKey: unknown }).publicKey);
    expect(keys[1]).toEqual(keys[0]);
  });

  it('refuses to reuse a key made for another host, before spending the token', async () => {
    await enroll(opts());
    await rm(join(dir, 'etc'), { recursive: true });
    const before = await readFile(join(dir, 'data', 'private', 'host.key'), 'utf8');
    await expectCode(enroll(opts({ hostId: 'host-b' })), 'LP_CONFLICT');
    expect(requests).toHaveLength(1);
    expect(await readFile(join(dir, 'data', 'private', 'host.key'), 'utf8')).toBe(before);
  });

  it('refuses a coordinator key whose fingerprint differs from --coordinator-fingerprint, writing nothing', async () => {
    const configPath = join(dir, 'etc', 'agent.yaml');
    const err = await expectCode(
      enroll(opts({ expectedFingerprint: OTHER_FP })),
      'LP_UNAUTHENTICATED',
    );
    expect(err.message).toContain(COORDINATOR_FP);
    expect(err.message).toContain(OTHER_FP);
    expect(await exists(join(dir, 'data', 'private', 'coordinator.jwk'))).toBe(false);
    expect(await exists(configPath)).toBe(false);
  });

  it('leaves an existing config untouched when the fingerprint differs', async () => {
    const configPath = join(dir, 'etc', 'agent.yaml');
    await mkdir(join(dir, 'etc'));
    const text = `hostId: host-a\ndataDir: ${join(dir, 'data')}\n`;
    await writeFile(configPath, text);
    await expectCode(enroll(opts({ expectedFingerprint: OTHER_FP })), 'LP_UNAUTHENTICATED');
    expect(await readFile(configPath, 'utf8')).toBe(text);
  });

  it('surfaces the code of a 4xx answer without echoing the token', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: { code: 'LP_TOKEN_INVALID', message: `Token ${TOKEN} was already used` },
        }),
      );
    };
    const err = await expectCode(enroll(opts()), 'LP_TOKEN_INVALID');
    expect(err.message).toContain('already used');
    expect(err.message).toContain('[redacted]');
    expect(await exists(join(dir, 'data', 'coordinator.jwk'))).toBe(false);
    expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
  });

  it('maps a 403 without a body to LP_FORBIDDEN', async () => {
    handler = (_req, _body, res) => res.writeHead(403).end();
    await expectCode(enroll(opts()), 'LP_FORBIDDEN');
  });

  it('does not follow a redirect', async () => {
    handler = (_req, _body, res) =>
      res.writeHead(307, { location: `${base}/elsewhere/v1/enroll` }).end();
    await expectCode(enroll(opts()), 'LP_INVALID_MESSAGE');
    expect(requests.map((r) => r.url)).toEqual(['/v1/enroll']);
  });

  it('refuses an answer that is not an enrollment response, writing nothing', async () => {
    handler = (_req, _body, res) =>
      res.writeHead(201).end(JSON.stringify({ hostId: 'host-a', coordinatorId: 'c' }));
    await expectCode(enroll(opts()), 'LP_INVALID_MESSAGE');
    expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
  });

  it('refuses an answer larger than maxResponseBytes', async () => {
    handler = (_req, _body, res) => res.writeHead(201).end('x'.repeat(200_000));
    await expectCode(enroll(opts({ maxResponseBytes: 1024 })), 'LP_INVALID_MESSAGE');
    expect(await exists(join(dir, 'etc', 'agent.yaml'))).toBe(false);
  });

  it('refuses an answer for another host', async () => {
    handler = (req, body, res) => created(req, body.replace('host-a', 'host-z'), res);
    await expectCode(enroll(opts()), 'LP_INVALID_MESSAGE');
    expect(await exists(join(dir, 'data', 'coordinator.jwk'))).toBe(false);
  });

  it('gives up after the timeout', async () => {
    handler = () => undefined;
    await expectCode(enroll(opts({ timeoutMs: 100 })), 'LP_TIMEOUT');
  });

  it('refuses a malformed token, host id or URL as usage errors without a request', async () => {
    await expectCode(enroll(opts({ token: 'short' })), 'LP_USAGE');
    await expectCode(enroll(opts({ token: `${TOKEN} x` })), 'LP_USAGE');
    await expectCode(enroll(opts({ hostId: 'Host_A' })), 'LP_USAGE');
    await expectCode(enroll(opts({ coordinatorUrl: 'ftp://x' })), 'LP_USAGE');
    await expectCode(enroll(opts({ expectedFingerprint: 'SHA256:short' })), 'LP_USAGE');
    expect(requests).toEqual([]);
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
    expect(parsed.value.optIn.maxLanes).toBe(3);
    expect(parsed.value.capabilities).toEqual(['gpu']);
    expect(parsed.value.coordinator?.coordinatorId).toBe('coord-1');
  });

  it('refuses to enroll into a config that belongs to another host, before any request', async () => {
    const configPath = join(dir, 'etc', 'agent.yaml');
    await mkdir(join(dir, 'etc'));
    await writeFile(configPath, 'hostId: host-b\n');
    await expectCode(enroll(opts()), 'LP_CONFLICT');
    expect(requests).toEqual([]);
  });

  it('refuses to enroll into an invalid config, naming the path, before any request', async () => {
    const configPath = join(dir, 'etc', 'agent.yaml');
    await mkdir(join(dir, 'etc'));
    await writeFile(configPath, 'hostId: host-a\noptIn:\n  maxLanes: -1\n');
    const err = await expectCode(enroll(opts({}, true)), 'LP_CONFIG_INVALID');
    expect(err.message).toContain('optIn.maxLanes');
    expect(requests).toEqual([]);
  });
});

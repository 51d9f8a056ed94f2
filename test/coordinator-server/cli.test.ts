import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, auditCommand, runCli } from '@launchplane/coordinator';
import { FakeAgent, enrollHost, newHostKey } from './fake-agent.js';
import { startHarness, type Harness } from './harness.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

let h: Harness;
let dir: string;
beforeAll(async () => {
  h = await startHarness();
  dir = mkdtempSync(join(tmpdir(), 'lp-cli-'));
});
afterAll(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

async function cli(args: string[], token = h.adminToken) {
  const c = capture();
  const status = await runCli([...args, '--url', h.baseUrl, '--token', token], c.io);
  return { status, out: c.out(), err: c.err() };
}

const POLICY = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 1 }
`;

describe('launchplane CLI against a coordinator', () => {
  it('token create prints the token once; --json prints one document', async () => {
    const r = await cli(['token', 'create', '--role', 'viewer', '--name', 'ci']);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^lpt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\n$/);
    expect(r.err).toContain('created viewer token "ci"');
    const j = await cli(['token', 'create', '--role', 'operator', '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ role: 'operator', name: 'operator' });
  });

  it('a viewer token cannot create tokens: error line with code and hint, exit 1', async () => {
    const viewer = (await cli(['token', 'create', '--role', 'viewer'])).out.trim();
    const r = await cli(['token', 'create', '--role', 'admin'], viewer);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^error LP_FORBIDDEN: Token role "viewer" cannot POST \/v1\/tokens/);
    expect(r.err).toContain('hint: ');
    expect(r.out).toBe('');
  });

  it('bad usage exits 2; an unreachable coordinator exits 1 with a code', async () => {
    expect((await cli(['token', 'create'])).status).toBe(2);
    const c = capture();
    const status = await runCli(
      ['hosts', '--url', 'http://127.0.0.1:1', '--token', h.adminToken],
      c.io,
    );
    expect(status).toBe(1);
    expect(c.err()).toMatch(/^error LP_BACKEND_UNAVAILABLE: Cannot reach the coordinator/);
    const noUrl = capture();
    const saved = process.env.LAUNCHPLANE_URL;
    delete process.env.LAUNCHPLANE_URL;
    expect(await runCli(['hosts', '--token', 'x'], noUrl.io)).toBe(2);
    if (saved !== undefined) process.env.LAUNCHPLANE_URL = saved;
  });

  it('enroll-token create, enrollment, hosts table and JSON, hosts revoke', async () => {
    const e = await cli(['enroll-token', 'create', '--host', 'host-a', '--ttl', '10m', '--json']);
    expect(e.status).toBe(0);
    const created = JSON.parse(e.out) as {
      token: string;
      coordinatorFingerprint: string;
      expiresAt: number;
    };
    expect(created.coordinatorFingerprint).toBe(h.coordinator.identity.fingerprint);
    const human = await cli(['enroll-token', 'create', '--host', 'host-b']);
    expect(human.out).toContain(`fingerprint: ${h.coordinator.identity.fingerprint}`);
    expect(human.out).toContain('launchplane-agent enroll --coordinator');
    // The line to run carries both what to pin and no token: it reads the token from stdin.
    const line = human.out.split('\n').find((l) => l.includes('launchplane-agent enroll')) ?? '';
    expect(line).toContain(`--coordinator-fingerprint ${h.coordinator.identity.fingerprint}`);
    expect(line).toContain('--token-file -');
    expect(line).not.toMatch(/lpe_/);
    expect((await cli(['enroll-token', 'create', '--host', 'host-a', '--ttl', '2h'])).status).toBe(
      2,
    );

    const key = newHostKey();
    expect(
      (
        await enrollHost(h.baseUrl, {
          token: created.token,
          hostId: 'host-a',
          publicKey: key.publicKey,
        })
      ).status,
    ).toBe(201);
    const agent = await FakeAgent.connect(h.agentUrl, {
      hostId: 'host-a',
      privateKey: key.privateKey,
    });
    agent.send({
      type: 'inventory',
      optIn: { repositories: ['acme/api'], organizations: [], backends: ['systemd'], maxLanes: 2 },
      lanes: [],
      capabilities: [],
    });
    await expect
      .poll(async () => (await h.coordinator.store.getHost('host-a'))?.optIn)
      .toBeDefined();

    const table = await cli(['hosts']);
    expect(table.out).toMatch(/^HOST\s+STATE\s+LAST SEEN\s+LAST HEALTH\s+AGENT\s+LANES\s+OPT-IN\n/);
    // A fake agent sends no health frames: its last health pass is unknown ("-").
    expect(table.out).toMatch(
      /host-a\s+connected\s+\S+\s+-\s+0\.0\.0-test\s+0\s+acme\/api \[systemd\] max 2/,
    );
    const json = JSON.parse((await cli(['hosts', '--json'])).out) as {
      hosts: { hostId: string; connected: boolean }[];
    };
    expect(json.hosts[0]).toMatchObject({ hostId: 'host-a', connected: true });

    const revoke = await cli(['hosts', 'revoke', 'host-a']);
    expect(revoke.status).toBe(0);
    expect(revoke.out).toContain('its session was closed');
    expect((await agent.closed).code).toBe(4403);
    expect((await cli(['hosts', 'revoke', 'host-nope'])).err).toMatch(/^error LP_NOT_FOUND/);
  });

  it('policy apply: local validation first, dry run, apply, unchanged', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nallowedHosts: 3\n');
    const b = await cli(['policy', 'apply', bad]);
    expect(b.status).toBe(1);
    expect(b.err).toContain('allowedHosts');
    expect(b.err).toContain('error LP_POLICY_INVALID');
    const good = join(dir, 'good.yaml');
    writeFileSync(good, POLICY);
    const dry = await cli(['policy', 'apply', good, '--dry-run']);
    expect(dry.out).toMatch(/^dry run: would store a new policy version \(1 pool, 1 lane\)/);
    expect(await h.coordinator.store.currentPolicy()).toBeUndefined();
    const applied = await cli(['policy', 'apply', good]);
    expect(applied.out).toMatch(
      /^applied policy version 1 \(1 pool, 1 lane\)\ndigest sha256:[0-9a-f]{64}\n$/,
    );
    const again = JSON.parse((await cli(['policy', 'apply', good, '--json'])).out) as {
      changed: boolean;
      version: number;
    };
    expect(again).toMatchObject({ changed: false, version: 1 });
  });

  it('audit lists records as a table or one JSON document, filtered by host', async () => {
    const t = await cli(['audit']);
    expect(t.status).toBe(0);
    expect(t.out).toMatch(/^SEQ\s+TIME\s+ACTOR\s+ACTION\s+HOST\s+LANE\s+OUTCOME\s+CODE\n/);
    expect(t.out).toContain('policy.apply');
    const j = JSON.parse((await cli(['audit', '--host', 'host-a', '--json'])).out) as {
      records: { hostId?: string; action: string }[];
    };
    expect(j.records.length).toBeGreaterThan(0);
    expect(j.records.every((r) => r.hostId === 'host-a')).toBe(true);
    expect(j.records.map((r) => r.action)).toEqual(
      expect.arrayContaining(['host.enroll', 'host.revoke']),
    );
    expect(JSON.stringify(j)).not.toContain(h.adminToken);
    expect((await cli(['audit', '--since', 'yesterday'])).status).toBe(2);
  });

  it('audit names an operator by its token name, not by its id', async () => {
    const made = JSON.parse(
      (await cli(['token', 'create', '--role', 'admin', '--name', 'release-bot', '--json'])).out,
    ) as { id: string; token: string };
    writeFileSync(join(dir, 'named.yaml'), POLICY.replace('linux', 'named'));
    expect((await cli(['policy', 'apply', join(dir, 'named.yaml')], made.token)).status).toBe(0);
    const t = await cli(['audit']);
    const line = t.out
      .split('\n')
      .find((l) => l.includes('policy.apply') && l.includes('release-bot'));
    expect(line, t.out).toContain(`release-bot (${made.id.slice(0, 8)}…)`);
    const j = JSON.parse((await cli(['audit', '--json'])).out) as {
      records: { actor: string }[];
      actors: Record<string, { name: string }>;
    };
    // The stored record keeps the token id (filters and the chain never depend on a name).
    expect(j.records.some((r) => r.actor === made.id)).toBe(true);
    expect(j.actors[made.id]).toMatchObject({ name: 'release-bot', role: 'admin' });
  });

  it('audit --follow prints new records as they arrive, one JSON line each, until stopped', async () => {
    const lines: string[] = [];
    const abort = new AbortController();
    const client = new ApiClient({ url: h.baseUrl, token: h.adminToken });
    const following = auditCommand(
      { stdout: (t) => void lines.push(t), stderr: () => undefined },
      client,
      { follow: true, json: true, pollMs: 20, signal: abort.signal, host: 'host-c' },
    );
    await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-c' } });
    await expect.poll(() => lines.length).toBeGreaterThanOrEqual(1);
    await h.api('POST', '/v1/enrollment-tokens', { body: { hostId: 'host-c' } });
    await expect.poll(() => lines.length).toBe(2);
    abort.abort();
    expect(await following).toBe(0);
    const records = lines.map(
      (l) => JSON.parse(l) as { seq: number; action: string; hostId: string },
    );
    expect(records.map((r) => r.action)).toEqual(['enroll-token.create', 'enroll-token.create']);
    expect(records[1]!.seq).toBeGreaterThan(records[0]!.seq);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '@launchplane/coordinator';
import { startHarness, type Harness } from './harness.js';

// A stand-in for the control API that C2 mounts: proves mounted routes get the same checks.
const extra: Route[] = [
  {
    method: 'POST',
    path: '/v1/test/operate/:id',
    role: 'operator',
    handler: (ctx) =>
      Promise.resolve({ status: 200, body: { id: ctx.params.id, actor: ctx.actor } }),
  },
];

let h: Harness;
let viewer: { id: string; token: string };
let operator: { id: string; token: string };
beforeAll(async () => {
  h = await startHarness({ routes: [() => extra] });
  viewer = await h.token('viewer');
  operator = await h.token('operator');
});
afterAll(async () => {
  await h.close();
});

function concrete(path: string): string {
  return path.replace(/:[a-z]+/g, 'host-x');
}

async function refusedAudit(actor: string): Promise<{ code?: string; params: { path: string } }[]> {
  const r = await h.api('GET', '/v1/audit?limit=10000');
  return (
    r.body.records as {
      actor: string;
      action: string;
      outcome: string;
      code?: string;
      params: { path: string };
    }[]
  ).filter((x) => x.action === 'api.request' && x.outcome === 'refused' && x.actor === actor);
}

/** The anonymous refusals counted for 127.0.0.1, summed over their per-minute records. */
async function refusalCounts(): Promise<{
  rows: number;
  count: number;
  codes: Record<string, number>;
  text: string;
}> {
  await h.coordinator.server.guard.tally.flush();
  const r = await h.api('GET', '/v1/audit?limit=10000');
  const rows = (
    r.body.records as {
      actor: string;
      action: string;
      params: { source?: string; count?: number; codes?: Record<string, number> };
    }[]
  ).filter(
    (x) =>
      x.actor === 'anonymous' && x.action === 'auth.refused' && x.params.source === '127.0.0.1',
  );
  const codes: Record<string, number> = {};
  for (const row of rows) {
    for (const [code, n] of Object.entries(row.params.codes ?? {}))
      codes[code] = (codes[code] ?? 0) + n;
  }
  return {
    rows: rows.length,
    count: rows.reduce((n, x) => n + (x.params.count ?? 0), 0),
    codes,
    text: JSON.stringify(rows),
  };
}

describe('roles on every route', () => {
  it('mounts the admin API and extra routes', () => {
    const paths = h.coordinator.server.routes().map((r) => `${r.method} ${r.path}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        'POST /v1/tokens',
        'POST /v1/enrollment-tokens',
        'GET /v1/hosts',
        'POST /v1/hosts/:id/revoke',
        'POST /v1/policy',
        'GET /v1/policy',
        'GET /v1/audit',
        'POST /v1/test/operate/:id',
      ]),
    );
  });

  it('no token → 401 LP_UNAUTHENTICATED; garbage token → 401 LP_TOKEN_INVALID, on every route, each counted as anonymous', async () => {
    const before = await refusalCounts();
    const routes = h.coordinator.server.routes();
    for (const r of routes) {
      const none = await h.api(r.method, concrete(r.path), { token: undefined });
      expect(none.status, `${r.method} ${r.path}`).toBe(401);
      expect((none.body.error as { code: string }).code).toBe('LP_UNAUTHENTICATED');
      const garbage = await h.api(r.method, concrete(r.path), { token: 'lpt_garbage' });
      expect(garbage.status).toBe(401);
      expect((garbage.body.error as { code: string }).code).toBe('LP_TOKEN_INVALID');
    }
    // Unauthenticated refusals are counted into one record per source and minute.
    const after = await refusalCounts();
    expect(after.count - before.count).toBe(routes.length * 2);
    expect((after.codes.LP_UNAUTHENTICATED ?? 0) - (before.codes.LP_UNAUTHENTICATED ?? 0)).toBe(
      routes.length,
    );
    expect((after.codes.LP_TOKEN_INVALID ?? 0) - (before.codes.LP_TOKEN_INVALID ?? 0)).toBe(
      routes.length,
    );
    expect(after.rows).toBe(1);
    expect(after.text).not.toContain('lpt_garbage');
  });

  it('a token with a wrong secret is invalid, not a lookup of its id', async () => {
    const forged = `${viewer.token.slice(0, -4)}AAAA`;
    const r = await h.api('GET', '/v1/hosts', { token: forged });
    expect(r.status).toBe(401);
    expect((r.body.error as { code: string }).code).toBe('LP_TOKEN_INVALID');
  });

  it('a viewer reads but gets 403 LP_FORBIDDEN on every operator and admin route, audited with its token id', async () => {
    for (const r of h.coordinator.server.routes()) {
      const res = await h.api(r.method, concrete(r.path), {
        token: viewer.token,
        ...(r.method === 'GET' ? {} : { body: {} }),
      });
      if (r.role === 'viewer') {
        expect(res.status, `${r.method} ${r.path}`).not.toBe(403);
        expect(res.status).not.toBe(401);
      } else {
        expect(res.status, `${r.method} ${r.path}`).toBe(403);
        expect((res.body.error as { code: string }).code).toBe('LP_FORBIDDEN');
      }
    }
    const refused = await refusedAudit(viewer.id);
    expect(refused.map((x) => x.params.path)).toEqual(
      expect.arrayContaining(['/v1/policy', '/v1/tokens', '/v1/test/operate/:id']),
    );
    expect(refused.every((x) => x.code === 'LP_FORBIDDEN')).toBe(true);
  });

  it('a viewer cannot apply a policy; an operator cannot create tokens or enrollment tokens', async () => {
    const p = await h.api('POST', '/v1/policy', {
      token: viewer.token,
      body: { text: 'version: 1\n' },
    });
    expect(p.status).toBe(403);
    const t = await h.api('POST', '/v1/tokens', { token: operator.token, body: { role: 'admin' } });
    expect(t.status).toBe(403);
    expect((t.body.error as { code: string }).code).toBe('LP_FORBIDDEN');
    const e = await h.api('POST', '/v1/enrollment-tokens', {
      token: operator.token,
      body: { hostId: 'h' },
    });
    expect(e.status).toBe(403);
    expect(await h.coordinator.store.currentPolicy()).toBeUndefined();
  });

  it('an operator may call operator routes; the handler sees its token id as the actor', async () => {
    const r = await h.api('POST', '/v1/test/operate/abc', { token: operator.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id: 'abc', actor: operator.id });
  });

  it('a revoked token is refused with 401 LP_TOKEN_INVALID', async () => {
    const t = await h.token('operator');
    expect((await h.api('GET', '/v1/hosts', { token: t.token })).status).toBe(200);
    expect((await h.api('POST', `/v1/tokens/${t.id}/revoke`)).status).toBe(200);
    const r = await h.api('GET', '/v1/hosts', { token: t.token });
    expect(r.status).toBe(401);
    expect((r.body.error as { code: string }).code).toBe('LP_TOKEN_INVALID');
  });

  it('tokens are stored hashed; the secret appears nowhere in the store', async () => {
    const t = await h.token('viewer');
    const rec = await h.coordinator.store.getOperatorToken(t.id);
    const secret = t.token.split('_').slice(2).join('_');
    expect(rec?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await h.coordinator.store.listAudit({ limit: 10000 }))).not.toContain(
      secret,
    );
  });

  it('unknown routes are 404 after auth, wrong methods 405, oversized bodies 413, bad JSON 400', async () => {
    expect((await h.api('GET', '/v1/nope')).status).toBe(404);
    expect((await h.api('DELETE', '/v1/hosts')).status).toBe(405);
    const big = await h.api('POST', '/v1/policy', {
      raw: JSON.stringify({ text: 'x'.repeat(1100 * 1024) }),
    });
    expect(big.status).toBe(413);
    const dup = await h.api('POST', '/v1/tokens', { raw: '{"role":"viewer","role":"admin"}' });
    expect(dup.status).toBe(400);
    expect((dup.body.error as { code: string }).code).toBe('LP_USAGE');
    const extraField = await h.api('POST', '/v1/tokens', { body: { role: 'viewer', sneaky: 1 } });
    expect(extraField.status).toBe(400);
  });

  it('policy apply validates, stores a version with a canonical digest, and is idempotent on the digest', async () => {
    const text =
      'version: 1\nallowedHosts: [host-a]\nallowedRepositories: [acme/api]\npools:\n  build:\n    repository: acme/api\n    labels: [linux]\n    backend: systemd\n    lanes: { host-a: 1 }\n';
    const dry = await h.api('POST', '/v1/policy', { body: { text, dryRun: true } });
    expect(dry.status).toBe(200);
    expect(dry.body.dryRun).toBe(true);
    expect(await h.coordinator.store.currentPolicy()).toBeUndefined();
    const r = await h.api('POST', '/v1/policy', { body: { text } });
    expect(r.status).toBe(201);
    expect(r.body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.body.digest).toBe(dry.body.digest);
    expect(r.body.version).toBe(1);
    // Same content, other formatting: same digest, no new version.
    const reformatted = text.replace('[linux]', '\n      - linux').replace('  build:', '  build: ');
    const again = await h.api('POST', '/v1/policy', { body: { text: reformatted } });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ digest: r.body.digest, version: 1, changed: false });
    const bad = await h.api('POST', '/v1/policy', {
      body: { text: 'version: 1\nallowedHosts: 3\n' },
    });
    expect(bad.status).toBe(422);
    expect((bad.body.error as { code: string; message: string }).code).toBe('LP_POLICY_INVALID');
    expect((bad.body.error as { message: string }).message).toContain('allowedHosts');
    const current = await h.api('GET', '/v1/policy', { token: viewer.token });
    expect(current.body).toMatchObject({ version: 1, digest: r.body.digest, text });
  });
});

import { generateKeyPairSync, createSign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appFromPem } from './auth.js';
import { type Harness, TOKEN, connectRunner, startHarness } from './harness.test-helper.js';

interface RunnerBody {
  id: number;
  name: string;
  status: string;
  busy: boolean;
  labels: { id: number; name: string; type: string }[];
}

let h: Harness;
afterEach(async () => {
  await h.close();
});

async function addRunners(n: number, scope = 'acme/api'): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await h.json('POST', '/_sim/runners', {
      repository: scope,
      name: `r${i + 1}`,
      labels: ['x'],
    });
    expect(res.status).toBe(201);
  }
}

describe('list runners', () => {
  it('paginates with per_page and page and sends a GitHub-style Link header', async () => {
    h = await startHarness();
    await addRunners(5);
    const res = await h.json<{ total_count: number; runners: RunnerBody[] }>(
      'GET',
      '/repos/acme/api/actions/runners?per_page=2&page=2',
    );
    expect(res.body.total_count).toBe(5);
    expect(res.body.runners.map((r) => r.name)).toEqual(['r3', 'r4']);
    const link = res.res.headers.get('link') ?? '';
    const rels = Object.fromEntries(
      [...link.matchAll(/<([^>]+)>; rel="(\w+)"/g)].map((m) => [
        m[2],
        new URL(m[1] ?? '').searchParams.get('page'),
      ]),
    );
    expect(rels).toEqual({ prev: '1', next: '3', last: '3', first: '1' });
    expect(link.startsWith(`<${h.gh.url}/repos/acme/api/actions/runners?`)).toBe(true);
  });

  it('defaults to 30 per page, clamps per_page to 100 and omits Link on a single page', async () => {
    h = await startHarness();
    await addRunners(3);
    const one = await h.json<{ runners: RunnerBody[] }>('GET', '/repos/acme/api/actions/runners');
    expect(one.body.runners).toHaveLength(3);
    expect(one.res.headers.get('link')).toBeNull();
    const big = await h.json<{ runners: RunnerBody[] }>(
      'GET',
      '/repos/acme/api/actions/runners?per_page=1000',
    );
    expect(big.body.runners).toHaveLength(3);
  });

  it('filters by exact name and keeps repository and organization runners apart', async () => {
    h = await startHarness();
    await addRunners(2);
    await h.json('POST', '/_sim/runners', { organization: 'acme', name: 'r1', labels: [] });
    const byName = await h.json<{ total_count: number; runners: RunnerBody[] }>(
      'GET',
      '/repos/acme/api/actions/runners?name=r2',
    );
    expect(byName.body.runners.map((r) => r.name)).toEqual(['r2']);
    const org = await h.json<{ total_count: number }>('GET', '/orgs/acme/actions/runners');
    expect(org.body.total_count).toBe(1);
  });
});

describe('ETag and rate limit', () => {
  it('answers 304 to a matching If-None-Match without spending budget', async () => {
    h = await startHarness();
    await addRunners(1);
    const first = await h.api('GET', '/repos/acme/api/actions/runners');
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^W\/"[0-9a-f]+"$/);
    expect(first.headers.get('x-ratelimit-used')).toBe('1');
    const again = await h.api('GET', '/repos/acme/api/actions/runners', {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect(again.headers.get('x-ratelimit-used')).toBe('1');
    expect(again.headers.get('x-ratelimit-remaining')).toBe('4999');
    const counts = await h.json<
      Record<string, { total: number; counted: number; notModified: number }>
    >('GET', '/_sim/requests');
    expect(counts.body['actions/list-self-hosted-runners-for-repo']).toEqual({
      total: 2,
      counted: 1,
      notModified: 1,
    });
    // A change to the list changes the ETag, so the same conditional request now costs.
    await h.json('POST', '/_sim/runners', { repository: 'acme/api', name: 'late', labels: [] });
    const changed = await h.api('GET', '/repos/acme/api/actions/runners', {
      headers: { 'if-none-match': etag },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('x-ratelimit-used')).toBe('2');
  });

  it('sends x-ratelimit headers and refuses with 403 once the hourly budget is spent', async () => {
    h = await startHarness({ config: { rateLimit: 3 } });
    const seen: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await h.api('POST', '/repos/acme/api/actions/runners/registration-token');
      expect(r.status).toBe(201);
      seen.push(r.headers.get('x-ratelimit-remaining'));
      expect(r.headers.get('x-ratelimit-limit')).toBe('3');
      expect(r.headers.get('x-ratelimit-resource')).toBe('core');
      expect(Number(r.headers.get('x-ratelimit-reset'))).toBe(
        Math.floor(h.clock.now / 1000) + 3600,
      );
    }
    expect(seen).toEqual(['2', '1', '0']);
    const refused = await h.api('GET', '/repos/acme/api/actions/runners');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(((await refused.json()) as { message: string }).message).toMatch(
      /^API rate limit exceeded/,
    );
    h.clock.now += 3600_000;
    expect((await h.api('GET', '/repos/acme/api/actions/runners')).status).toBe(200);
  });

  it('keeps a separate budget per token', async () => {
    h = await startHarness({
      tokens: [TOKEN, 'ghp_other0000000000000000000000000000'],
      config: { rateLimit: 1 },
    });
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(200);
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(403);
    const other = await h.api('GET', '/orgs/acme/actions/runners', {
      token: 'ghp_other0000000000000000000000000000',
    });
    expect(other.status).toBe(200);
  });
});

describe('authentication', () => {
  it('answers 401 with GitHub error bodies for no token and for a wrong token', async () => {
    h = await startHarness();
    const none = await h.api('GET', '/repos/acme/api/actions/runners', { token: null });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({
      message: 'Requires authentication',
      documentation_url: expect.any(String),
    });
    const wrong = await h.api('GET', '/repos/acme/api/actions/runners', { token: 'ghp_nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ message: 'Bad credentials' });
    const tokenScheme = await fetch(`${h.gh.url}/orgs/acme/actions/runners`, {
      headers: { authorization: `token ${TOKEN}` },
    });
    expect(tokenScheme.status).toBe(200);
  });

  it('mints an installation token from a valid app JWT and refuses bad JWTs', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    h = await startHarness({ apps: [appFromPem(42, pub, [7])] });
    const now = Math.floor(h.clock.now / 1000);
    const jwt = (payload: object, key = privateKey): string => {
      const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
      const input = `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc(payload)}`;
      return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
    };
    const good = jwt({ iss: 42, iat: now - 30, exp: now + 570 });
    const res = await h.api('POST', '/app/installations/7/access_tokens', { token: good });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { token: string; expires_at: string };
    expect(body.token).toMatch(/^ghs_/);
    expect(Date.parse(body.expires_at)).toBe(h.clock.now + 3600_000);
    expect((await h.api('GET', '/orgs/acme/actions/runners', { token: body.token })).status).toBe(
      200,
    );
    // The installation token expires after one hour.
    h.clock.now += 3600_000;
    expect((await h.api('GET', '/orgs/acme/actions/runners', { token: body.token })).status).toBe(
      401,
    );

    const later = Math.floor(h.clock.now / 1000);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    for (const bad of [
      jwt({ iss: 42, iat: later - 30, exp: later + 570 }, other),
      jwt({ iss: 42, iat: later - 700, exp: later - 100 }),
      jwt({ iss: 42, iat: later, exp: later + 900 }),
      jwt({ iss: 43, iat: later, exp: later + 60 }),
      TOKEN,
    ]) {
      const r = await h.api('POST', '/app/installations/7/access_tokens', { token: bad });
      expect(r.status).toBe(401);
    }
    const unknownInstallation = await h.api('POST', '/app/installations/8/access_tokens', {
      token: jwt({ iss: 42, iat: later, exp: later + 60 }),
    });
    expect(unknownInstallation.status).toBe(404);
    // A JWT is not a token for the runner endpoints.
    const jwtOnRunners = await h.api('GET', '/orgs/acme/actions/runners', {
      token: jwt({ iss: 42, iat: later, exp: later + 60 }),
    });
    expect(jwtOnRunners.status).toBe(401);
  });
});

describe('runners and labels', () => {
  it('refuses DELETE with 422 while the runner runs a job, and deletes it once idle', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'worker-1', labels: ['gpu'] });
    const job = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['gpu'],
      durationMs: 1,
    });
    const poll = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
      secret: r.secret,
    });
    expect((poll.body['job'] as { id: number }).id).toBe(job.body.id);
    // busy still reads false (lag), yet GitHub refuses the delete: the job really runs.
    const view = await h.json<RunnerBody>('GET', `/repos/acme/api/actions/runners/${r.id}`);
    expect(view.body.busy).toBe(false);
    const refused = await h.json<{ message: string }>(
      'DELETE',
      `/repos/acme/api/actions/runners/${r.id}`,
    );
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('is still running a job');
    await h.runner('POST', `/_runner/jobs/${job.body.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });
    expect((await h.api('DELETE', `/repos/acme/api/actions/runners/${r.id}`)).status).toBe(204);
    expect((await h.api('DELETE', `/repos/acme/api/actions/runners/${r.id}`)).status).toBe(404);
    expect((await h.api('GET', `/repos/acme/api/actions/runners/${r.id}`)).status).toBe(404);
  });

  it('does not show a repository runner through another scope', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'a', labels: [] });
    expect((await h.api('GET', `/repos/acme/web/actions/runners/${r.id}`)).status).toBe(404);
    expect((await h.api('DELETE', `/orgs/acme/actions/runners/${r.id}`)).status).toBe(404);
  });

  it('adds, sets and removes custom labels and never removes read-only ones', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme', name: 'org-1', labels: ['a'] });
    const base = `/orgs/acme/actions/runners/${r.id}/labels`;
    type Labels = { total_count: number; labels: { name: string; type: string }[] };
    const names = (b: Labels): string[] => b.labels.map((l) => `${l.name}:${l.type}`);
    const listed = await h.json<Labels>('GET', base);
    expect(names(listed.body)).toEqual([
      'self-hosted:read-only',
      'Linux:read-only',
      'X64:read-only',
      'a:custom',
    ]);
    const added = await h.json<Labels>('POST', base, { labels: ['b', 'A'] });
    expect(names(added.body)).toContain('b:custom');
    expect(added.body.total_count).toBe(5);
    const set = await h.json<Labels>('PUT', base, { labels: ['c'] });
    expect(names(set.body)).toEqual([
      'self-hosted:read-only',
      'Linux:read-only',
      'X64:read-only',
      'c:custom',
    ]);
    expect((await h.json('DELETE', `${base}/nope`)).status).toBe(404);
    expect((await h.json('DELETE', `${base}/Linux`)).status).toBe(422);
    const removed = await h.json<Labels>('DELETE', `${base}/c`);
    expect(names(removed.body)).toEqual([
      'self-hosted:read-only',
      'Linux:read-only',
      'X64:read-only',
    ]);
    await h.json('POST', base, { labels: ['d', 'e'] });
    const cleared = await h.json<Labels>('DELETE', base);
    expect(cleared.body.total_count).toBe(3);
    expect((await h.json('POST', base, { labels: [] })).status).toBe(422);
    expect((await h.json('POST', base, { labels: ['x,y'] })).status).toBe(422);
    expect((await h.json('GET', `/orgs/acme/actions/runners/999/labels`)).status).toBe(404);
  });

  it('gives no default labels to a runner configured with --no-default-labels', async () => {
    h = await startHarness();
    const r = await connectRunner(h, {
      url: 'acme/api',
      name: 'bare',
      labels: ['only'],
      noDefaultLabels: true,
    });
    const res = await h.json<{ labels: { name: string }[] }>(
      'GET',
      `/repos/acme/api/actions/runners/${r.id}/labels`,
    );
    expect(res.body.labels.map((l) => l.name)).toEqual(['only']);
  });
});

describe('JIT config', () => {
  it('creates the runner at once, offline with its labels, and refuses duplicate names and bad input', async () => {
    h = await startHarness();
    const path = '/repos/acme/api/actions/runners/generate-jitconfig';
    const res = await h.json<{
      runner: RunnerBody & { ephemeral: boolean };
      encoded_jit_config: string;
    }>('POST', path, {
      name: 'jit-1',
      runner_group_id: 1,
      labels: ['launchplane', 'lp-pool-x'],
      work_folder: '_work',
    });
    expect(res.status).toBe(201);
    expect(res.body.runner).toMatchObject({
      name: 'jit-1',
      status: 'offline',
      busy: false,
      ephemeral: true,
    });
    expect(res.body.runner.labels.filter((l) => l.type === 'custom').map((l) => l.name)).toEqual([
      'launchplane',
      'lp-pool-x',
    ]);
    const listed = await h.json<{ runners: RunnerBody[] }>(
      'GET',
      '/repos/acme/api/actions/runners',
    );
    expect(listed.body.runners.map((r) => r.id)).toEqual([res.body.runner.id]);
    const files = JSON.parse(
      Buffer.from(res.body.encoded_jit_config, 'base64').toString(),
    ) as Record<string, string>;
    expect(Object.keys(files).sort()).toEqual([
      '.credentials',
      '.credentials_rsaparams',
      '.runner',
    ]);

    const dup = await h.json('POST', path, { name: 'jit-1', runner_group_id: 1, labels: ['a'] });
    expect(dup.status).toBe(409);
    for (const bad of [
      { runner_group_id: 1, labels: ['a'] },
      { name: 'n', runner_group_id: 1, labels: [] },
      { name: 'n', runner_group_id: '1', labels: ['a'] },
      { name: 'x'.repeat(65), runner_group_id: 1, labels: ['a'] },
    ]) {
      const r = await h.json<{ message: string; errors: string[] }>('POST', path, bad);
      expect(r.status).toBe(422);
      expect(r.body.errors.length).toBeGreaterThan(0);
    }
    expect(
      (await h.json('POST', path, { name: 'g', runner_group_id: 9, labels: ['a'] })).status,
    ).toBe(404);
  });

  it('lets the JIT config open exactly one session', async () => {
    h = await startHarness();
    const res = await h.json<{ encoded_jit_config: string; runner: { id: number } }>(
      'POST',
      '/orgs/acme/actions/runners/generate-jitconfig',
      { name: 'jit-2', runner_group_id: 1, labels: ['a'] },
    );
    const files = JSON.parse(
      Buffer.from(res.body.encoded_jit_config, 'base64').toString(),
    ) as Record<string, string>;
    const creds = JSON.parse(Buffer.from(files['.credentials'] ?? '', 'base64').toString()) as {
      data: { secret: string };
    };
    const s1 = await h.runner('POST', '/_runner/sessions', {
      secret: creds.data.secret,
      body: { version: 'v' },
    });
    expect(s1.status).toBe(201);
    const online = await h.json<RunnerBody>(
      'GET',
      `/orgs/acme/actions/runners/${res.body.runner.id}`,
    );
    expect(online.body.status).toBe('online');
    await h.runner('DELETE', `/_runner/sessions/${String(s1.body['sessionId'])}`, {
      secret: creds.data.secret,
    });
    const s2 = await h.runner('POST', '/_runner/sessions', {
      secret: creds.data.secret,
      body: { version: 'v' },
    });
    expect(s2.status).toBe(401);
  });
});

describe('faults', () => {
  it('injects server errors by count and by rate', async () => {
    h = await startHarness({ random: () => 0.5 });
    await h.json('PUT', '/_sim/faults', { serverErrorsNext: 2, serverErrorStatus: 503 });
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(503);
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(503);
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(200);
    await h.json('PUT', '/_sim/faults', { serverErrorRate: 0.6 });
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(502);
    await h.json('PUT', '/_sim/faults', { serverErrorRate: 0.4 });
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(200);
    expect((await h.json('PUT', '/_sim/faults', { serverErrorRate: 2 })).status).toBe(422);
    expect((await h.json('PUT', '/_sim/faults', { bogus: 1 })).status).toBe(422);
  });

  it('answers a secondary rate limit with retry-after and the secondary message', async () => {
    h = await startHarness();
    await h.json('PUT', '/_sim/faults', { secondaryRateLimitNext: 1, secondaryRetryAfterSec: 7 });
    const r = await h.api('GET', '/orgs/acme/actions/runners');
    expect(r.status).toBe(403);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(((await r.json()) as { message: string }).message).toMatch(/secondary rate limit/);
    expect(r.headers.get('x-ratelimit-remaining')).not.toBe('0');
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(200);
  });

  it('exhausts the primary budget on demand', async () => {
    h = await startHarness();
    await h.json('PATCH', '/_sim/faults', { budgetExhausted: true });
    const r = await h.api('GET', '/orgs/acme/actions/runners');
    expect(r.status).toBe(403);
    expect(r.headers.get('x-ratelimit-remaining')).toBe('0');
    await h.json('PATCH', '/_sim/faults', { budgetExhausted: false });
    expect((await h.api('GET', '/orgs/acme/actions/runners')).status).toBe(200);
  });

  it('adds latency to public requests', async () => {
    h = await startHarness({ realClock: true });
    await h.json('PUT', '/_sim/faults', { latencyMs: 150 });
    const t0 = performance.now();
    await h.api('GET', '/orgs/acme/actions/runners');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('busy and status realism', () => {
  it('turns busy true only after the lag, flips it mid-job, and keeps it past the job for the trail', async () => {
    h = await startHarness({
      config: { busyLag: { lagMs: 2000, flipAfterMs: 3000, flipMs: 1000, trailMs: 4000 } },
    });
    const r = await connectRunner(h, { url: 'acme/api', name: 'b', labels: [] });
    const job = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['self-hosted'],
      durationMs: 1,
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    const busyAt = async (): Promise<boolean> =>
      (await h.json<RunnerBody>('GET', `/repos/acme/api/actions/runners/${r.id}`)).body.busy;
    expect(await busyAt()).toBe(false);
    h.clock.now += 1999;
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, { secret: r.secret });
    expect(await busyAt()).toBe(false);
    h.clock.now += 1;
    expect(await busyAt()).toBe(true);
    h.clock.now += 3000;
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, { secret: r.secret });
    expect(await busyAt()).toBe(false);
    h.clock.now += 1000;
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, { secret: r.secret });
    expect(await busyAt()).toBe(true);
    await h.runner('POST', `/_runner/jobs/${job.body.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });
    // The job is over (DELETE is allowed), yet busy still reads true until the trail ends.
    expect(await busyAt()).toBe(true);
    h.clock.now += 3999;
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, { secret: r.secret });
    expect(await busyAt()).toBe(true);
    h.clock.now += 1;
    expect(await busyAt()).toBe(false);
  });

  it('marks a runner offline when heartbeats stop and fails the job it held', async () => {
    h = await startHarness({ config: { offlineAfterMs: 5000 } });
    const r = await connectRunner(h, { url: 'acme/api', name: 'o', labels: [] });
    const job = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: [],
      durationMs: 1,
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    const status = async (): Promise<string> =>
      (await h.json<RunnerBody>('GET', `/repos/acme/api/actions/runners/${r.id}`)).body.status;
    h.clock.now += 5000;
    expect(await status()).toBe('online');
    h.clock.now += 1;
    expect(await status()).toBe('offline');
    const j = await h.json<{ status: string; conclusion: string }>(
      'GET',
      `/_sim/jobs/${job.body.id}`,
    );
    expect(j.body).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });

  it('busy and status are configurable through the control API', async () => {
    h = await startHarness();
    const cfg = await h.json('PATCH', '/_sim/config', {
      busyLagMs: 0,
      busyTrailMs: 5,
      offlineAfterMs: 100,
    });
    expect(cfg.body).toMatchObject({ busyLagMs: 0, busyTrailMs: 5, offlineAfterMs: 100 });
    expect((await h.json('PATCH', '/_sim/config', { nope: 1 })).status).toBe(422);
    const r = await connectRunner(h, { url: 'acme/api', name: 'c', labels: [] });
    await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: [], durationMs: 1 });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    expect(
      (await h.json<RunnerBody>('GET', `/repos/acme/api/actions/runners/${r.id}`)).body.busy,
    ).toBe(true);
  });
});

describe('job routing', () => {
  it('routes a job only to an idle runner carrying all its labels, in its repository or organization', async () => {
    h = await startHarness();
    const other = await connectRunner(h, { url: 'acme/web', name: 'web', labels: ['gpu'] });
    const partial = await connectRunner(h, { url: 'acme/api', name: 'cpu', labels: ['cpu'] });
    const org = await connectRunner(h, { url: 'acme', name: 'org', labels: ['gpu', 'big'] });
    const job = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['GPU', 'big'],
      durationMs: 1,
    });
    for (const r of [other, partial]) {
      expect(
        (await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret }))
          .status,
      ).toBe(204);
    }
    const got = await h.runner('POST', `/_runner/sessions/${org.sessionId}/poll`, {
      secret: org.secret,
    });
    expect((got.body['job'] as { id: number; repository: string }).repository).toBe('acme/api');
    await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: ['gpu'], durationMs: 1 });
    // One job at a time: the busy org runner gets nothing more.
    expect(
      (await h.runner('POST', `/_runner/sessions/${org.sessionId}/poll`, { secret: org.secret }))
        .status,
    ).toBe(204);
    const jobs = await h.json<{
      jobs: { id: number; status: string; runnerName: string | null }[];
    }>('GET', '/_sim/jobs');
    expect(jobs.body.jobs.find((j) => j.id === job.body.id)).toMatchObject({
      status: 'in_progress',
      runnerName: 'org',
    });
  });

  it('deletes an ephemeral runner once its job completes', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'e', labels: [], ephemeral: true });
    const job = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: [],
      durationMs: 1,
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    await h.runner('POST', `/_runner/jobs/${job.body.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });
    expect((await h.api('GET', `/repos/acme/api/actions/runners/${r.id}`)).status).toBe(404);
  });

  it('refuses a second registration under the same name unless --replace, which keeps the id', async () => {
    h = await startHarness();
    const first = await connectRunner(h, { url: 'acme/api', name: 'same', labels: ['a'] });
    await expect(
      connectRunner(h, { url: 'acme/api', name: 'same', labels: ['b'] }),
    ).rejects.toThrow(/same name/);
    const tok = await h.json<{ token: string }>(
      'POST',
      '/repos/acme/api/actions/runners/registration-token',
    );
    const re = await h.runner('POST', '/_runner/register', {
      body: {
        url: `${h.gh.url}/acme/api`,
        token: tok.body.token,
        name: 'same',
        labels: ['b'],
        replace: true,
      },
    });
    expect((re.body['runner'] as { agentId: number }).agentId).toBe(first.id);
    const wrongScope = await h.runner('POST', '/_runner/register', {
      body: { url: `${h.gh.url}/acme/web`, token: tok.body.token, name: 'x', labels: [] },
    });
    expect(wrongScope.status).toBe(401);
  });
});

describe('control API and persistence', () => {
  it('adds tokens and apps at run time, and refuses malformed ones', async () => {
    h = await startHarness();
    const late = 'ghp_added_later_0000000000000000000';
    expect((await h.api('GET', '/orgs/acme/actions/runners', { token: late })).status).toBe(401);
    expect((await h.json('POST', '/_sim/tokens', { token: late })).status).toBe(204);
    expect((await h.api('GET', '/orgs/acme/actions/runners', { token: late })).status).toBe(200);
    expect((await h.json('POST', '/_sim/tokens', { token: 'short' })).status).toBe(422);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect((await h.json('POST', '/_sim/apps', { appId: 9, publicKey: 'nope' })).status).toBe(422);
    expect(
      (await h.json('POST', '/_sim/apps', { appId: 9, publicKey: pem, installationIds: 'x' }))
        .status,
    ).toBe(422);
    expect(
      (await h.json('POST', '/_sim/apps', { appId: 9, publicKey: pem, installationIds: [3] }))
        .status,
    ).toBe(204);
    const now = Math.floor(h.clock.now / 1000);
    const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc({ alg: 'RS256' })}.${enc({ iss: 9, iat: now, exp: now + 60 })}`;
    const jwt = `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
    expect((await h.api('POST', '/app/installations/3/access_tokens', { token: jwt })).status).toBe(
      201,
    );
  });

  it('changes an unmanaged runner through PATCH, and only an unmanaged one', async () => {
    h = await startHarness();
    const u = await h.json<{ id: number; status: string }>('POST', '/_sim/runners', {
      organization: 'acme',
      name: 'by-hand',
      labels: ['x'],
    });
    expect(u.body.status).toBe('online');
    const patched = await h.json<{ status: string; busy: boolean }>(
      'PATCH',
      `/_sim/runners/${u.body.id}`,
      {
        status: 'offline',
        busy: true,
      },
    );
    expect(patched.body).toMatchObject({ status: 'offline', busy: true });
    const r = await connectRunner(h, { url: 'acme', name: 'managed', labels: [] });
    expect((await h.json('PATCH', `/_sim/runners/${r.id}`, { status: 'offline' })).status).toBe(
      404,
    );
    expect(
      (await h.json('POST', '/_sim/runners', { organization: 'acme', name: 'by-hand' })).status,
    ).toBe(409);
  });

  it('requires the admin token when one is set', async () => {
    h = await startHarness({ adminToken: 'admin-secret-123' });
    expect((await fetch(`${h.gh.url}/_sim/jobs`)).status).toBe(401);
    const ok = await fetch(`${h.gh.url}/_sim/jobs`, {
      headers: { authorization: 'Bearer admin-secret-123' },
    });
    expect(ok.status).toBe(200);
  });

  it('keeps runners across a restart with --state, and reset forgets them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-sim-'));
    try {
      const stateFile = join(dir, 'state.json');
      h = await startHarness({ stateFile });
      await h.json('POST', '/_sim/runners', {
        repository: 'acme/api',
        name: 'kept',
        labels: ['k'],
      });
      await h.close();
      h = await startHarness({ stateFile });
      const listed = await h.json<{ runners: RunnerBody[] }>(
        'GET',
        '/repos/acme/api/actions/runners',
      );
      expect(listed.body.runners.map((r) => r.name)).toEqual(['kept']);
      expect((await h.json('POST', '/_sim/reset')).status).toBe(204);
      const after = await h.json<{ total_count: number }>('GET', '/repos/acme/api/actions/runners');
      expect(after.body.total_count).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cancels a queued job at once and a running job through the runner heartbeat', async () => {
    h = await startHarness();
    const queued = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['none'],
      durationMs: 1,
    });
    const c = await h.json<{ status: string }>('POST', `/_sim/jobs/${queued.body.id}/cancel`);
    expect(c.body.status).toBe('cancelled');
    const r = await connectRunner(h, { url: 'acme/api', name: 'h', labels: [] });
    const running = await h.json<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: [],
      durationMs: 1,
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    await h.json('POST', `/_sim/jobs/${running.body.id}/cancel`);
    const hb = await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, {
      secret: r.secret,
    });
    expect(hb.body['cancelJob']).toBe(running.body.id);
    expect((await h.json('POST', '/_sim/jobs', { labels: [] })).status).toBe(422);
  });
});

import { generateKeyPairSync } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { afterEach, describe, expect, it } from 'vitest';
import { appFromPem } from './auth.js';
import { type Harness, TOKEN, startHarness } from './harness.test-helper.js';

// The coordinator talks to the sim through Octokit; these tests use the same client stack.
const Client = Octokit.plugin(paginateRest, retry, throttling);

let h: Harness;
afterEach(async () => {
  await h.close();
});

function client(opts: { onSecondary?: () => boolean } = {}): InstanceType<typeof Client> {
  return new Client({
    baseUrl: h.gh.url,
    auth: TOKEN,
    retry: { retryAfterBaseValue: 10 },
    throttle: {
      retryAfterBaseValue: 10,
      onRateLimit: () => false,
      onSecondaryRateLimit: opts.onSecondary ?? (() => false),
    },
  });
}

describe('Octokit against the sim', { timeout: 30_000 }, () => {
  it('paginates all runners through the Link header', async () => {
    h = await startHarness({ realClock: true });
    for (let i = 0; i < 205; i++) {
      h.gh.sim.addUnmanagedRunner({
        scope: { kind: 'org', org: 'acme' },
        name: `r-${String(i).padStart(3, '0')}`,
        labels: [],
        status: 'online',
        busy: false,
        noDefaultLabels: false,
      });
    }
    const runners = await client().paginate('GET /orgs/{org}/actions/runners', {
      org: 'acme',
      per_page: 100,
    });
    expect(runners).toHaveLength(205);
    expect(new Set(runners.map((r) => r.id)).size).toBe(205);
    const counts = await h.json<Record<string, { counted: number }>>('GET', '/_sim/requests');
    expect(counts.body['actions/list-self-hosted-runners-for-org']?.counted).toBe(3);
  });

  it('authenticates as a GitHub App installation', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    h = await startHarness({
      realClock: true,
      apps: [appFromPem(1234, publicKey.export({ type: 'spki', format: 'pem' }).toString(), [99])],
    });
    const octokit = new Client({
      baseUrl: h.gh.url,
      authStrategy: createAppAuth,
      auth: {
        appId: 1234,
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        installationId: 99,
      },
      throttle: { onRateLimit: () => false, onSecondaryRateLimit: () => false },
    });
    const res = await octokit.request(
      'POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig',
      {
        owner: 'acme',
        repo: 'api',
        name: 'via-app',
        runner_group_id: 1,
        labels: ['launchplane'],
      },
    );
    expect(res.status).toBe(201);
    expect(res.data.runner.name).toBe('via-app');
    const counts = await h.json<Record<string, { total: number }>>('GET', '/_sim/requests');
    expect(counts.body['apps/create-installation-access-token']?.total).toBe(1);
  });

  it('retries injected 5xx and honours a secondary rate limit', async () => {
    h = await startHarness({ realClock: true });
    await h.json('PUT', '/_sim/faults', { serverErrorsNext: 1 });
    const ok = await client().request('GET /orgs/{org}/actions/runners', { org: 'acme' });
    expect(ok.status).toBe(200);
    const counts = await h.json<Record<string, { total: number }>>('GET', '/_sim/requests');
    expect(counts.body['actions/list-self-hosted-runners-for-org']?.total).toBe(2);
    let secondary = 0;
    await h.json('PUT', '/_sim/faults', { secondaryRateLimitNext: 1, secondaryRetryAfterSec: 1 });
    const after = await client({
      onSecondary: () => {
        secondary++;
        return true;
      },
    }).request('GET /orgs/{org}/actions/runners', { org: 'acme' });
    expect(after.status).toBe(200);
    expect(secondary).toBe(1);
  });

  it('surfaces 422 on deleting a runner that runs a job as a RequestError', async () => {
    h = await startHarness({ realClock: true });
    const r = await h.json<{ id: number }>('POST', '/_sim/runners', {
      repository: 'acme/api',
      name: 'busy',
      labels: [],
      busy: true,
    });
    await expect(
      client().request('DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}', {
        owner: 'acme',
        repo: 'api',
        runner_id: r.body.id,
      }),
    ).rejects.toMatchObject({ name: 'HttpError', status: 422 });
  });
});

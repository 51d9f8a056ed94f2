import { generateKeyPairSync } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { type GitHubSim, startGitHubSim } from '@launchplane/github-sim';
import { LaunchplaneError, type Scope } from '@launchplane/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  OctokitGitHubRunners,
  type OctokitGitHubRunnersOptions,
} from './octokit-github-runners.js';

const TOKEN = 'ghp_c3testtoken0000000000000000000000';
const REPO: Scope = { repository: 'acme/widgets' };
const ORG: Scope = { organization: 'acme' };

interface Count {
  total: number;
  counted: number;
  notModified: number;
}

let gh: GitHubSim;

beforeEach(async () => {
  gh = await startGitHubSim({ tokens: [TOKEN] });
});
afterEach(async () => {
  await gh.close();
});

/** A client for the sim with fast retries, so tests never wait on production backoff. */
function client(opts: Partial<OctokitGitHubRunnersOptions> = {}): OctokitGitHubRunners {
  return new OctokitGitHubRunners({
    auth: { kind: 'token', token: TOKEN },
    apiUrl: gh.url,
    retryBaseDelayMs: 5,
    minWriteIntervalMs: 0,
    ...opts,
  });
}

async function control(method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${gh.url}/_sim/${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`control ${method} ${path}: ${res.status} ${text}`);
  return text === '' ? undefined : JSON.parse(text);
}

/** Request counts the sim keeps per operation id, read through its control API. */
async function counts(): Promise<Record<string, Count>> {
  return (await control('GET', 'requests')) as Record<string, Count>;
}

async function countOf(op: string): Promise<Count> {
  return (await counts())[op] ?? { total: 0, counted: 0, notModified: 0 };
}

function scopeBody(scope: Scope): Record<string, string> {
  return 'repository' in scope
    ? { repository: scope.repository }
    : { organization: scope.organization };
}

async function addRunner(
  scope: Scope,
  name: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: number }> {
  return (await control('POST', 'runners', { ...scopeBody(scope), name, ...extra })) as {
    id: number;
  };
}

/**
 * Adds `count` online runners named `<prefix><i>` straight into the sim, in order: set-up for the
 * paging tests, which are about the listing, not the control API (230 requests cost seconds).
 */
function addRunnersInProcess(scope: Scope, names: (i: number) => string, count: number): void {
  const [owner = '', repo = ''] = 'repository' in scope ? scope.repository.split('/') : [];
  const simScope =
    'repository' in scope
      ? { kind: 'repo' as const, owner, repo }
      : { kind: 'org' as const, org: scope.organization };
  for (let i = 0; i < count; i++) {
    gh.sim.addUnmanagedRunner({
      scope: simScope,
      name: names(i),
      labels: [],
      status: 'online',
      busy: false,
      noDefaultLabels: false,
    });
  }
}

async function rejection(p: Promise<unknown>): Promise<LaunchplaneError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LaunchplaneError);
    return err as LaunchplaneError;
  }
  throw new Error('expected a rejection');
}

describe.each([
  ['repository', REPO, 'repo'],
  ['organization', ORG, 'org'],
] as const)('OctokitGitHubRunners in %s scope', (_name, scope, kind) => {
  it('lists, reads, labels and deletes runners', async () => {
    const gitHub = client();
    expect(await gitHub.listRunners(scope)).toEqual([]);
    const a = await addRunner(scope, 'hand-made-a', { labels: ['gpu'] });
    await addRunner(scope, 'hand-made-b', { status: 'offline' });

    const listed = await gitHub.listRunners(scope);
    expect(listed.map((r) => r.name).sort()).toEqual(['hand-made-a', 'hand-made-b']);
    const got = await gitHub.getRunner(scope, a.id);
    expect(got).toEqual({
      id: a.id,
      name: 'hand-made-a',
      os: 'Linux',
      status: 'online',
      busy: false,
      labels: ['self-hosted', 'Linux', 'X64', 'gpu'],
    });

    expect(await gitHub.setCustomLabels(scope, a.id, ['lp-draining'])).toEqual([
      'self-hosted',
      'Linux',
      'X64',
      'lp-draining',
    ]);
    expect((await gitHub.getRunner(scope, a.id))?.labels).toContain('lp-draining');
    expect(await gitHub.setCustomLabels(scope, a.id, [])).toEqual(['self-hosted', 'Linux', 'X64']);

    await gitHub.deleteRunner(scope, a.id);
    expect(await gitHub.getRunner(scope, a.id)).toBeUndefined();
    const missing = await rejection(gitHub.deleteRunner(scope, a.id));
    expect(missing.code).toBe('LP_NOT_FOUND');
    expect((await countOf(`actions/delete-self-hosted-runner-from-${kind}`)).total).toBe(2);
  });

  it('creates registration and remove tokens that expire in an hour', async () => {
    const gitHub = client();
    const before = Math.floor(Date.now() / 1000);
    const reg = await gitHub.createRegistrationToken(scope);
    const rem = await gitHub.createRemoveToken(scope);
    expect(reg.token).not.toBe(rem.token);
    for (const t of [reg, rem]) {
      expect(t.token.length).toBeGreaterThan(10);
      expect(t.expiresAt).toBeGreaterThanOrEqual(before + 3600 - 1);
      expect(t.expiresAt).toBeLessThanOrEqual(before + 3600 + 5);
    }
    expect((await countOf(`actions/create-registration-token-for-${kind}`)).total).toBe(1);
    expect((await countOf(`actions/create-remove-token-for-${kind}`)).total).toBe(1);
  });

  it('generates a JIT config whose runner exists offline with its labels', async () => {
    const gitHub = client();
    const jit = await gitHub.generateJitConfig(scope, {
      name: 'lp-host1-linux-abcdefgh',
      labels: ['launchplane', 'lp-pool-linux'],
      runnerGroupId: 1,
      workFolder: '_work',
    });
    expect(jit.encodedJitConfig.length).toBeGreaterThan(20);
    expect(jit.runner).toMatchObject({ name: 'lp-host1-linux-abcdefgh', status: 'offline' });
    expect(jit.runner.labels).toEqual(expect.arrayContaining(['launchplane', 'lp-pool-linux']));
    expect(await gitHub.getRunner(scope, jit.runner.id)).toEqual(jit.runner);

    const again = await rejection(
      gitHub.generateJitConfig(scope, {
        name: 'lp-host1-linux-abcdefgh',
        labels: ['launchplane'],
        runnerGroupId: 1,
      }),
    );
    expect(again.code).toBe('LP_CONFLICT');
    expect(again.message).toContain('lp-host1-linux-abcdefgh');
    expect(JSON.stringify(again)).not.toContain(jit.encodedJitConfig);
  });

  it('refuses to delete a runner that runs a job with LP_LANE_BUSY', async () => {
    const gitHub = client();
    const busy = await addRunner(scope, 'busy-one', { busy: true });
    const err = await rejection(gitHub.deleteRunner(scope, busy.id));
    expect(err.code).toBe('LP_LANE_BUSY');
    expect(err.details['status']).toBe(422);
    // A refusal is an answer, not a failure: it is not retried.
    expect((await countOf(`actions/delete-self-hosted-runner-from-${kind}`)).total).toBe(1);
    expect((await gitHub.getRunner(scope, busy.id))?.busy).toBe(true);
  });

  it('pages through more than 100 runners by the Link header', async () => {
    addRunnersInProcess(scope, (i) => `r-${String(i).padStart(3, '0')}`, 230);
    const gitHub = client();
    const runners = await gitHub.listRunners(scope);
    expect(runners).toHaveLength(230);
    expect(new Set(runners.map((r) => r.id)).size).toBe(230);
    expect((await countOf(`actions/list-self-hosted-runners-for-${kind}`)).total).toBe(3);
  });

  it('serves an unchanged list from the ETag cache: 304s, nothing counted', async () => {
    addRunnersInProcess(scope, (i) => `r-${i}`, 150);
    const gitHub = client();
    const op = `actions/list-self-hosted-runners-for-${kind}`;
    const first = await gitHub.listRunners(scope);
    const afterFirst = await countOf(op);
    expect(afterFirst).toEqual({ total: 2, counted: 2, notModified: 0 });
    const remaining = gitHub.rateLimit()?.remaining;

    const second = await gitHub.listRunners(scope);
    expect(second).toEqual(first);
    expect(await countOf(op)).toEqual({ total: 4, counted: 2, notModified: 2 });
    expect(gitHub.rateLimit()?.remaining).toBe(remaining);
    expect(gitHub.stats()).toMatchObject({ notModified: 2, cacheEntries: 2 });

    // A change on the second page costs exactly that page.
    const last = first.find((r) => r.name === 'r-149');
    await control('PATCH', `runners/${last?.id}`, { status: 'offline' });
    const third = await gitHub.listRunners(scope);
    expect(third.find((r) => r.name === 'r-149')?.status).toBe('offline');
    expect(await countOf(op)).toEqual({ total: 6, counted: 3, notModified: 3 });
  });
});

describe('OctokitGitHubRunners and what GitHub may send', () => {
  it('reads an unknown runner status as offline, logs it once per runner and value, and never rejects the answer', async () => {
    const warnings: Record<string, unknown>[] = [];
    const noop = (): void => undefined;
    const log = {
      debug: noop,
      info: noop,
      error: noop,
      warn: (fields: Record<string, unknown>) => void warnings.push(fields),
    };
    const gitHub = client({ log });
    const odd = await addRunner(REPO, 'odd-one');
    const plain = await addRunner(REPO, 'plain-one');
    await control('PUT', `runners/${odd.id}/status`, { status: 'maintenance' });
    for (let i = 0; i < 3; i++) {
      const listed = await gitHub.listRunners(REPO);
      expect(listed.find((r) => r.id === odd.id)).toMatchObject({
        status: 'offline',
        githubStatus: 'maintenance',
      });
      expect(listed.find((r) => r.id === plain.id)?.status).toBe('online');
      expect(listed.find((r) => r.id === plain.id)?.githubStatus).toBeUndefined();
      expect(await gitHub.getRunner(REPO, odd.id)).toMatchObject({ status: 'offline' });
    }
    expect(warnings).toEqual([
      { runnerId: odd.id, runnerName: 'odd-one', githubStatus: 'maintenance' },
    ]);
    // A new value is news: logged once more.
    await control('PUT', `runners/${odd.id}/status`, { status: 'Online' });
    expect((await gitHub.getRunner(REPO, odd.id))?.status).toBe('offline');
    await gitHub.listRunners(REPO);
    expect(warnings.map((w) => w.githubStatus)).toEqual(['maintenance', 'Online']);
  });

  it("lists an organization's runner groups, over several pages", async () => {
    for (let i = 0; i < 4; i++) {
      await control('POST', 'runner-groups', { organization: 'acme', name: `group-${i}` });
    }
    const groups = await client({ perPage: 2 }).listRunnerGroups('acme');
    expect(groups.map((g) => [g.name, g.default])).toEqual([
      ['Default', true],
      ['group-0', false],
      ['group-1', false],
      ['group-2', false],
      ['group-3', false],
    ]);
    expect((await countOf('actions/list-self-hosted-runner-groups-for-org')).total).toBe(3);
  });
});

describe('OctokitGitHubRunners as GitHubWorkflows', () => {
  const WF = '.github/workflows/launchplane-smoke.yml';

  async function declare(extra: Record<string, unknown> = {}): Promise<{ id: number }> {
    return (await control('POST', 'workflows', {
      repository: 'acme/widgets',
      path: WF,
      name: 'Launchplane smoke',
      runsOnInput: 'runner-label',
      ...extra,
    })) as { id: number };
  }

  it('reads a workflow by file name or id; an unknown one is undefined', async () => {
    const wf = await declare();
    const gh = client();
    expect(await gh.getWorkflow('acme/widgets', 'launchplane-smoke.yml')).toEqual({
      id: wf.id,
      name: 'Launchplane smoke',
      path: WF,
      state: 'active',
    });
    expect((await gh.getWorkflow('acme/widgets', String(wf.id)))?.id).toBe(wf.id);
    expect(await gh.getWorkflow('acme/widgets', 'nope.yml')).toBeUndefined();
  });

  it('dispatches, then finds the run by workflow, event and creation time, and its job', async () => {
    await declare();
    const gh = client();
    // An earlier run of the same workflow, before the time the caller asks from.
    await gh.dispatchWorkflow('acme/widgets', 'launchplane-smoke.yml', {
      ref: 'main',
      inputs: { 'runner-label': 'old' },
    });
    const since = Math.floor(Date.now() / 1000) + 1;
    await new Promise((r) => setTimeout(r, since * 1000 - Date.now() + 10));
    await gh.dispatchWorkflow('acme/widgets', 'launchplane-smoke.yml', {
      ref: 'main',
      inputs: { 'runner-label': 'lp-smoke-x' },
    });
    const runs = await gh.listRuns('acme/widgets', {
      workflow: 'launchplane-smoke.yml',
      event: 'workflow_dispatch',
      createdSinceSec: since,
    });
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ event: 'workflow_dispatch', status: 'queued', conclusion: null });
    expect(run.createdAt).toBeGreaterThanOrEqual(since);
    const jobs = await gh.listRunJobs('acme/widgets', run.id);
    expect(jobs.map((j) => [j.labels, j.status, j.runnerId])).toEqual([
      [['lp-smoke-x'], 'queued', null],
    ]);
    expect(await gh.getJob('acme/widgets', jobs[0]!.id)).toEqual(jobs[0]);
    expect(await gh.getRun('acme/widgets', run.id)).toEqual(run);
    expect(await gh.getRun('acme/widgets', 999_999)).toBeUndefined();
    expect(await gh.getJob('acme/widgets', 999_999)).toBeUndefined();
    expect(await gh.listRuns('acme/widgets', { status: 'queued' })).toHaveLength(2);
  });

  it('reads every page of a long run list', async () => {
    await declare();
    const gh = client({ perPage: 2 });
    for (let i = 0; i < 5; i++) {
      await gh.dispatchWorkflow('acme/widgets', 'launchplane-smoke.yml', {
        ref: 'main',
        inputs: { 'runner-label': `l${i}` },
      });
    }
    expect((await gh.listRuns('acme/widgets')).length).toBe(5);
    expect((await countOf('actions/list-workflow-runs-for-repo')).total).toBe(3);
  });

  it("maps a refused dispatch to LP_CONFLICT with GitHub's reason, an unknown workflow to LP_NOT_FOUND", async () => {
    await declare();
    const gh = client();
    const refused = await rejection(
      gh.dispatchWorkflow('acme/widgets', 'launchplane-smoke.yml', {
        ref: 'main',
        inputs: { 'runner-label': 'x', other: 'y' },
      }),
    );
    expect(refused.code).toBe('LP_CONFLICT');
    expect(refused.message).toContain('Unexpected inputs provided');
    const unknown = await rejection(
      gh.dispatchWorkflow('acme/widgets', 'nope.yml', { ref: 'main', inputs: {} }),
    );
    expect(unknown.code).toBe('LP_NOT_FOUND');
    expect((await control('GET', 'jobs')) as { jobs: unknown[] }).toEqual({ jobs: [] });
  });
});

describe('OctokitGitHubRunners options', () => {
  it('refuses limits that would make every call fail or wait forever', () => {
    for (const bad of [
      { perPage: 101 },
      { perPage: 0 },
      { maxPages: 0 },
      { callTimeoutMs: 0 },
      { retries: -1 },
      { retryBaseDelayMs: 0.5 },
    ]) {
      let err: unknown;
      try {
        client(bad);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(LaunchplaneError);
      expect((err as LaunchplaneError).code).toBe('LP_CONFIG_INVALID');
    }
    expect(() => client({ retries: 0, minWriteIntervalMs: 0 })).not.toThrow();
  });
});

describe('OctokitGitHubRunners against faults', () => {
  it('retries a burst of 5xx and then succeeds', async () => {
    await addRunner(REPO, 'one');
    await control('PATCH', 'faults', { serverErrorsNext: 2 });
    const runners = await client().listRunners(REPO);
    expect(runners.map((r) => r.name)).toEqual(['one']);
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(3);
  });

  it('gives up on persistent 5xx with LP_GITHUB_UNAVAILABLE after a bounded number of attempts', async () => {
    await control('PATCH', 'faults', { serverErrorRate: 1, serverErrorStatus: 503 });
    const gitHub = client({ retries: 3 });
    const err = await rejection(gitHub.listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_UNAVAILABLE');
    expect(err.details['status']).toBe(503);
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(4);
    // Writes are bounded the same way.
    const write = await rejection(gitHub.createRegistrationToken(REPO));
    expect(write.code).toBe('LP_GITHUB_UNAVAILABLE');
    expect((await countOf('actions/create-registration-token-for-repo')).total).toBe(4);
  });

  it('honours retry-after on a secondary rate limit, then succeeds', async () => {
    await control('PATCH', 'faults', { secondaryRateLimitNext: 1, secondaryRetryAfterSec: 1 });
    const gitHub = client();
    const started = Date.now();
    expect(await gitHub.listRunners(ORG)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect((await countOf('actions/list-self-hosted-runners-for-org')).total).toBe(2);
  });

  it('stops after maxSecondaryRetries with LP_GITHUB_RATE_LIMITED (429 too)', async () => {
    await control('PATCH', 'faults', {
      secondaryRateLimitNext: 10,
      secondaryRetryAfterSec: 1,
      secondaryStatus: 429,
    });
    const err = await rejection(client({ maxSecondaryRetries: 1 }).listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_RATE_LIMITED');
    expect(err.recovery).toContain('1 s');
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(2);
  });

  it('does not wait out a retry-after longer than maxRetryAfterSec', async () => {
    await control('PATCH', 'faults', { secondaryRateLimitNext: 5, secondaryRetryAfterSec: 600 });
    const err = await rejection(client({ maxRetryAfterSec: 60 }).getRunner(REPO, 1));
    expect(err.code).toBe('LP_GITHUB_RATE_LIMITED');
    expect(err.details['retryAfterSec']).toBe(600);
    expect((await countOf('actions/get-self-hosted-runner-for-repo')).total).toBe(1);
  });

  it('reports a spent budget at once as LP_GITHUB_RATE_LIMITED and sends nothing more', async () => {
    await control('PATCH', 'faults', { budgetExhausted: true });
    const gitHub = client();
    const err = await rejection(gitHub.listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_RATE_LIMITED');
    const reset = gitHub.rateLimit()?.resetAt ?? 0;
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(err.recovery).toContain(new Date(reset * 1000).toISOString().replace('.000Z', 'Z'));
    expect(gitHub.rateLimit()?.remaining).toBe(0);

    for (let i = 0; i < 5; i++) {
      const again = await rejection(gitHub.listRunners(REPO));
      expect(again.code).toBe('LP_GITHUB_RATE_LIMITED');
    }
    const writes = await rejection(gitHub.deleteRunner(REPO, 7));
    expect(writes.code).toBe('LP_GITHUB_RATE_LIMITED');
    const all = await counts();
    expect(Object.values(all).reduce((n, c) => n + c.total, 0)).toBe(1);
  });

  it('reports a budget spent by real use, then resumes after the window resets', async () => {
    let now = Date.now();
    await gh.close();
    gh = await startGitHubSim({ tokens: [TOKEN], config: { rateLimit: 3 }, now: () => now });
    const gitHub = client({ clock: { nowMs: () => now } });
    for (let i = 0; i < 3; i++) await gitHub.createRegistrationToken(REPO);
    expect(gitHub.rateLimit()?.remaining).toBe(0);
    const err = await rejection(gitHub.createRegistrationToken(REPO));
    expect(err.code).toBe('LP_GITHUB_RATE_LIMITED');
    expect((await countOf('actions/create-registration-token-for-repo')).total).toBe(3);
    // The sim's clock and the client's move an hour on: the budget is back.
    now += 3_605_000;
    await gitHub.createRegistrationToken(REPO);
    expect(gitHub.rateLimit()?.remaining).toBe(2);
  });

  it('maps 401 to LP_FORBIDDEN without retrying and never echoes the token', async () => {
    const bad = 'ghp_wrongtoken00000000000000000000000';
    const gitHub = client({ auth: { kind: 'token', token: bad } });
    const err = await rejection(gitHub.listRunners(REPO));
    expect(err.code).toBe('LP_FORBIDDEN');
    expect(err.details['status']).toBe(401);
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(1);
    const text = `${err.message} ${err.recovery} ${JSON.stringify(err)} ${JSON.stringify(err.details)}`;
    expect(text).not.toContain(bad);
    expect(err.cause).toBeUndefined();
  });

  it('never hands a token or JIT config to its logger, through failures and retries', async () => {
    const lines: string[] = [];
    const record = (fields: Record<string, unknown>, message: string): void => {
      lines.push(`${message} ${JSON.stringify(fields)}`);
    };
    const log = { debug: record, info: record, warn: record, error: record };
    const gitHub = client({ log });
    const reg = await gitHub.createRegistrationToken(REPO);
    const jit = await gitHub.generateJitConfig(REPO, {
      name: 'lp-log-check-abcdefgh',
      labels: ['x'],
      runnerGroupId: 1,
    });
    await control('PATCH', 'faults', { serverErrorsNext: 2, secondaryRateLimitNext: 1 });
    await gitHub.listRunners(REPO);
    await rejection(
      client({ log, auth: { kind: 'token', token: 'ghp_nope000000000000000' } }).listRunners(REPO),
    );
    for (const line of lines) {
      for (const secret of [TOKEN, reg.token, jit.encodedJitConfig, 'ghp_nope']) {
        expect(line).not.toContain(secret);
      }
    }
  });

  it('times out a slow attempt, retries it, and fails within its bounds', async () => {
    await control('PATCH', 'faults', { latencyMs: 400 });
    const gitHub = client({ requestTimeoutMs: 100, retries: 1 });
    const err = await rejection(gitHub.listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_UNAVAILABLE');
    expect(gitHub.stats().requests).toBe(2);
  });

  it('ends a call at its deadline, mid-backoff, and sends nothing after it', async () => {
    await control('PATCH', 'faults', { serverErrorRate: 1 });
    const gitHub = client({ retries: 10, retryBaseDelayMs: 2000, callTimeoutMs: 300 });
    const started = Date.now();
    const err = await rejection(gitHub.listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_UNAVAILABLE');
    expect(err.message).toContain('no answer within 300 ms');
    // The first backoff wait is 2 s: ending inside it proves the call did not wait it out.
    expect(Date.now() - started).toBeLessThan(1800);
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(1);
    // When the plugin's wait ends, its next attempt must not reach GitHub.
    await new Promise((r) => setTimeout(r, 2200 - (Date.now() - started)));
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(1);
  });

  it('does not start a secondary-limit wait that would outlast the call deadline', async () => {
    await control('PATCH', 'faults', { secondaryRateLimitNext: 1, secondaryRetryAfterSec: 5 });
    const err = await rejection(client({ callTimeoutMs: 300 }).listRunners(REPO));
    expect(err.code).toBe('LP_GITHUB_RATE_LIMITED');
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(1);
  });

  it('maps an unreachable API to LP_GITHUB_UNAVAILABLE after bounded retries', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const gitHub = client({ apiUrl: `http://127.0.0.1:${port}`, retries: 2 });
    const err = await rejection(gitHub.getRunner(REPO, 1));
    expect(err.code).toBe('LP_GITHUB_UNAVAILABLE');
    expect(gitHub.stats().requests).toBe(3);
  });

  it('re-reads a listing whose pages disagree, so no runner is missed', async () => {
    for (let i = 0; i < 120; i++) await addRunner(REPO, `r-${i}`);
    let injected = false;
    const gitHub = client({
      fetch: async (input, init) => {
        // Between page 1 and page 2 a runner is removed: page 2 alone would skip one runner.
        if (!injected && String(input instanceof Request ? input.url : input).includes('page=2')) {
          injected = true;
          const first = gh.sim.state.runners[0];
          if (first !== undefined) gh.sim.state.deleteRunner(first.id);
        }
        return fetch(input, init);
      },
    });
    const runners = await gitHub.listRunners(REPO);
    expect(runners).toHaveLength(119);
    expect(new Set(runners.map((r) => r.name)).size).toBe(119);
    expect(injected).toBe(true);
    // Two pages that disagreed, then two that agree.
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(4);
  });
});

describe('OctokitGitHubRunners when an answer is lost', () => {
  /** Forwards to the sim, but swaps the first answer to `method` for a 502 (the work is done). */
  function losingFirst(method: string): { fetch: typeof fetch; lost: () => number } {
    let lost = 0;
    return {
      lost: () => lost,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (init?.method !== method || lost > 0) return res;
        lost++;
        await res.body?.cancel();
        return new Response('{"message":"Bad Gateway"}', {
          status: 502,
          headers: { 'content-type': 'application/json' },
        });
      },
    };
  }

  it('treats a 404 on a retried delete as done: the first attempt deleted the runner', async () => {
    const r = await addRunner(REPO, 'deleted-first-time');
    const lossy = losingFirst('DELETE');
    const gitHub = client({ fetch: lossy.fetch });
    await gitHub.deleteRunner(REPO, r.id);
    expect(lossy.lost()).toBe(1);
    expect((await countOf('actions/delete-self-hosted-runner-from-repo')).total).toBe(2);
    expect(await gitHub.getRunner(REPO, r.id)).toBeUndefined();
  });

  it('reports a JIT runner made by a lost first attempt as LP_CONFLICT naming the runner', async () => {
    const lossy = losingFirst('POST');
    const gitHub = client({ fetch: lossy.fetch });
    const err = await rejection(
      gitHub.generateJitConfig(REPO, { name: 'lp-h-p-12345678', labels: ['x'], runnerGroupId: 1 }),
    );
    expect(err.code).toBe('LP_CONFLICT');
    expect(err.details['retried']).toBe(true);
    expect(err.recovery).toContain('lp-h-p-12345678');
    expect((await gitHub.listRunners(REPO)).map((r) => r.name)).toEqual(['lp-h-p-12345678']);
  });

  it('never reads "no such runner" from a 404 of a repository it cannot see', async () => {
    const gitHub = client({
      fetch: (input, init) =>
        String(input instanceof Request ? input.url : input).includes('/repos/ghost/')
          ? Promise.resolve(
              new Response('{"message":"Not Found"}', {
                status: 404,
                headers: { 'content-type': 'application/json' },
              }),
            )
          : fetch(input, init),
    });
    const err = await rejection(gitHub.getRunner({ repository: 'ghost/hidden' }, 5));
    expect(err.code).toBe('LP_NOT_FOUND');
    expect(err.recovery).toContain('credential');
    expect(await gitHub.getRunner(REPO, 5)).toBeUndefined();
  });
});

describe('OctokitGitHubRunners with GitHub App auth', () => {
  function appKeys(): { privateKey: string; publicKey: string } {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    return {
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    };
  }

  it('mints an installation token from the app JWT and reuses it', async () => {
    const keys = appKeys();
    await control('POST', 'apps', {
      appId: 4242,
      publicKey: keys.publicKey,
      installationIds: [77],
    });
    await addRunner(ORG, 'org-runner');
    const gitHub = client({
      auth: { kind: 'app', appId: 4242, privateKey: keys.privateKey, installationId: 77 },
    });
    expect((await gitHub.listRunners(ORG)).map((r) => r.name)).toEqual(['org-runner']);
    const reg = await gitHub.createRegistrationToken(ORG);
    expect(reg.token.length).toBeGreaterThan(10);
    expect(await gitHub.listRunners(ORG)).toHaveLength(1);
    expect((await countOf('apps/create-installation-access-token')).total).toBe(1);
    expect(await countOf('actions/list-self-hosted-runners-for-org')).toMatchObject({
      total: 2,
      notModified: 1,
    });
    expect(gitHub.rateLimit()?.limit).toBeGreaterThan(0);
  });

  it('refuses a wrong installation or key with LP_FORBIDDEN', async () => {
    const keys = appKeys();
    await control('POST', 'apps', { appId: 4243, publicKey: keys.publicKey, installationIds: [1] });
    const wrongInstall = client({
      auth: { kind: 'app', appId: 4243, privateKey: keys.privateKey, installationId: 2 },
    });
    const e1 = await rejection(wrongInstall.listRunners(REPO));
    expect(e1.code).toBe('LP_FORBIDDEN');
    const wrongKey = client({
      auth: { kind: 'app', appId: 4243, privateKey: appKeys().privateKey, installationId: 1 },
    });
    const e2 = await rejection(wrongKey.listRunners(REPO));
    expect(e2.code).toBe('LP_FORBIDDEN');
    expect(`${e2.message} ${JSON.stringify(e2)}`).not.toContain('PRIVATE KEY');
    expect((await countOf('actions/list-self-hosted-runners-for-repo')).total).toBe(0);
  });
});

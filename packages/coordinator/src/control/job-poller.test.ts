/**
 * The job poller with fakes: which repositories it lists, the budget floor, a failed listing,
 * polling off. (Against the simulator: test/coordinator-control/job-polling.test.ts.)
 */
import { LaunchplaneError } from '@launchplane/shared';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import type { RateLimitStatus } from '../ports/github-runners.js';
import type { GitHubWorkflows, WorkflowJob, WorkflowRun } from '../ports/github-workflows.js';
import { silentLogger } from '../ports/logger.js';
import { applyPolicyText } from '../server/admin-routes.js';
import { FakeClock } from './control-fakes.test-helper.js';
import { JobIngest } from './job-ingest.js';
import { JobPoller, type JobPollerOptions } from './job-poller.js';

const POLICY = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
allowedOrganizations: [corp]
pools:
  api:
    repository: acme/api
    backend: systemd
    lanes: { host-a: 2 }
    scaling: { mode: demand }
  fixed:
    repository: acme/api
    backend: systemd
    labels: [fixed]
    lanes: { host-a: 1 }
  corp:
    organization: corp
    backend: systemd
    labels: [corp]
    lanes: { host-a: 2 }
    scaling: { mode: demand, repositories: [corp/web, Corp/App] }
`;

/** Lists one queued run per repository with one job; records which repositories it was asked. */
class ListingWorkflows implements GitHubWorkflows {
  readonly asked: string[] = [];
  readonly failFor = new Set<string>();
  getWorkflow = () => Promise.resolve(undefined);
  dispatchWorkflow = () => Promise.resolve();
  getRun = () => Promise.resolve(undefined);
  getJob = () => Promise.resolve(undefined);

  listRuns(repository: string, query: { status?: string } = {}): Promise<WorkflowRun[]> {
    this.asked.push(`${repository} ${query.status ?? ''}`);
    if (this.failFor.has(repository)) {
      return Promise.reject(new LaunchplaneError('LP_GITHUB_UNAVAILABLE', 'GitHub answered 502'));
    }
    if (query.status !== 'queued') return Promise.resolve([]);
    return Promise.resolve([
      {
        id: runIdOf(repository),
        workflowId: 1,
        name: 'CI',
        event: 'push',
        status: 'queued',
        conclusion: null,
        headBranch: 'main',
        createdAt: 1000,
        htmlUrl: '',
      },
    ]);
  }

  listRunJobs(_repository: string, runId: number): Promise<WorkflowJob[]> {
    return Promise.resolve([
      {
        id: runId * 10,
        runId,
        name: 'build',
        status: 'queued',
        conclusion: null,
        labels: ['corp'],
        runnerId: null,
        runnerName: null,
        createdAt: 1000,
        startedAt: undefined,
        completedAt: undefined,
        htmlUrl: null,
      },
    ]);
  }
}

function runIdOf(repository: string): number {
  return ['acme/api', 'corp/app', 'corp/web'].indexOf(repository) + 1;
}

const OPTIONS: JobPollerOptions = {
  poll: { enabled: true, intervalSec: 60, minRateRemaining: 500 },
  retention: { completedSec: 86_400, staleSec: 604_800, deliveriesSec: 259_200 },
};

const stores: SqliteCoordinatorStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

async function setup(opts: JobPollerOptions = OPTIONS, rate?: RateLimitStatus) {
  const store = SqliteCoordinatorStore.open(':memory:');
  stores.push(store);
  const clock = new FakeClock();
  const now = () => Math.floor(clock.nowMs() / 1000);
  await applyPolicyText({ store, now }, { text: POLICY, dryRun: false, actor: 'test' });
  const workflows = new ListingWorkflows();
  const poller = new JobPoller(
    {
      store,
      workflows,
      rateLimit: () => rate,
      ingest: new JobIngest({ store, logger: silentLogger }),
      clock,
      logger: silentLogger,
    },
    opts,
  );
  return { store, workflows, poller, now };
}

describe('JobPoller', () => {
  it("lists the repositories of demand pools only: a repository pool's own, an organization pool's scaling.repositories", async () => {
    const { workflows, poller, store, now } = await setup();
    const round = await poller.pollOnce();
    expect(round.repositories).toEqual(['acme/api', 'corp/app', 'corp/web']);
    expect(workflows.asked).toEqual([
      'acme/api queued',
      'acme/api in_progress',
      'corp/app queued',
      'corp/app in_progress',
      'corp/web queued',
      'corp/web in_progress',
    ]);
    expect((await store.listJobs()).map((j) => [j.id, j.repository])).toEqual([
      [10, 'acme/api'],
      [20, 'corp/app'],
      [30, 'corp/web'],
    ]);
    const snap = await poller.snapshot(['acme/api', 'org:corp'], now());
    expect(snap.jobs.map((j) => j.id).sort()).toEqual([10, 20, 30]);
    expect(snap.observedAt).toBe(round.at);
  });

  it('skips a round while GitHub’s remaining budget is below minRateRemaining, and demand stays unknown', async () => {
    const { workflows, poller, now } = await setup(OPTIONS, {
      limit: 5000,
      remaining: 499,
      resetAt: 2_000_000_000,
    });
    const round = await poller.pollOnce();
    expect(round.skipped).toContain('(499) is below jobs.poll.minRateRemaining (500)');
    expect(workflows.asked).toEqual([]);
    await expect(poller.snapshot(['acme/api'], now())).rejects.toMatchObject({
      code: 'LP_GITHUB_UNAVAILABLE',
    });
  });

  it('a repository whose listing fails leaves its scope unknown, the others known', async () => {
    const { workflows, poller, now } = await setup();
    workflows.failFor.add('corp/web');
    const round = await poller.pollOnce();
    expect(round.failed).toEqual({ 'corp/web': 'LP_GITHUB_UNAVAILABLE: GitHub answered 502' });
    expect((await poller.snapshot(['acme/api'], now())).jobs.map((j) => j.id)).toEqual([10]);
    // The organization's scope is as old as its oldest listing: corp/app was listed, corp/web not.
    const org = await poller.snapshot(['org:corp'], now());
    expect(org.jobs.map((j) => j.id)).toEqual([20]);
    expect(org.observedAt).toBe(round.at);
  });

  it('with polling off, lists nothing and serves the stored jobs as of now', async () => {
    const { workflows, poller, now } = await setup({
      ...OPTIONS,
      poll: { ...OPTIONS.poll, enabled: false },
    });
    const round = await poller.pollOnce();
    expect(round.repositories).toEqual([]);
    expect(workflows.asked).toEqual([]);
    expect(await poller.snapshot(['acme/api'], now())).toEqual({ jobs: [], observedAt: now() });
  });
});

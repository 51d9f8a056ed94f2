/**
 * Demand from polling alone (no webhook configured) against the GitHub simulator behind the real
 * Octokit client: a job queued before the coordinator started reaches the job store and the
 * plan's demand; an unchanged GitHub costs nothing (conditional requests answered 304, counted by
 * the simulator's `/_sim/requests`); a job that finished unseen stops being demand. The views
 * on top: `launchplane jobs`, `launchplane why` and `GET /v1/capacity` against its JSON Schema.
 */
import { readFile } from 'node:fs/promises';
import { controlRouteFactory, type Control } from '@launchplane/coordinator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startGitHubSim, type GitHubSim } from '@launchplane/github-sim';
import { afterEach, describe, expect, it } from 'vitest';
import { signEvent } from '@launchplane/shared';
import {
  FakeAgent,
  enrollHost,
  laneRecordOf,
  laneReportOf,
  newHostKey,
} from '../coordinator-server/fake-agent.js';
import { startHarness, type Harness } from '../coordinator-server/harness.js';
import { cliClient, simJsonClient } from './world-io.js';

const PAT = 'ghp_jobpolling00000000000000000000000000';
const POLICY = `
version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    backend: systemd
    labels: [gpu]
    lanes: { host-a: 2 }
    scaling: { mode: demand, max: 2 }
`;

interface Counts {
  total: number;
  counted: number;
  notModified: number;
}
const LIST_RUNS = 'actions/list-workflow-runs-for-repo';
const LIST_JOBS = 'actions/list-jobs-for-workflow-run';
const GET_JOB = 'actions/get-job-for-workflow-run';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function world(): Promise<{
  sim: GitHubSim;
  simJson: ReturnType<typeof simJsonClient>;
  start(): Promise<{ harness: Harness; control: Control }>;
}> {
  const sim = await startGitHubSim({ tokens: [PAT] });
  cleanups.push(() => sim.close());
  const simJson = simJsonClient(sim.url, PAT);
  return {
    sim,
    simJson,
    async start() {
      let control: Control | undefined;
      const harness = await startHarness({
        yaml: [
          `github: { apiUrl: "${sim.url}", webUrl: "${sim.url}", auth: { token: "${PAT}" } }`,
          // Rounds are driven by the test; the loop's first round finds no policy yet.
          'jobs: { poll: { intervalSec: 3600 } }',
        ].join('\n'),
        routes: [controlRouteFactory({ onStarted: (c) => (control = c) })],
      });
      cleanups.push(() => harness.close());
      if (control === undefined) throw new Error('the control routes were not started');
      const c = control;
      cleanups.push(() => c.stop());
      harness.clock.now = Math.floor(Date.now() / 1000);
      const applied = await harness.api('POST', '/v1/policy', { body: { text: POLICY } });
      if (applied.status >= 300) throw new Error(`policy: ${JSON.stringify(applied.body)}`);
      return { harness, control: c };
    },
  };
}

describe('polling as the safety net of demand', () => {
  it('finds a job queued while the coordinator was down, and the plan counts it as waiting', async () => {
    const w = await world();
    const queued = await w.simJson<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['gpu'],
    });
    const { harness, control } = await w.start();
    expect(harness.coordinator.config.github.webhook).toBeUndefined();

    // Before any complete poll the demand is unknown, never "none".
    const before = await control.service.plan();
    expect(before.scaling?.pools[0]).toMatchObject({ pool: 'build', demandKnown: false });

    const round = await control.poller!.pollOnce();
    expect(round).toMatchObject({ repositories: ['acme/api'], failed: {} });
    const stored = await harness.coordinator.store.getJob(queued.id);
    expect(stored).toMatchObject({
      id: queued.id,
      repository: 'acme/api',
      labels: ['gpu'],
      status: 'queued',
      source: 'poll',
    });
    const plan = await control.service.plan();
    expect(plan.scaling?.pools[0]).toMatchObject({
      pool: 'build',
      demandKnown: true,
      waiting: 1,
      waitingJobs: [queued.id],
    });
  });

  it('spends no budget on an unchanged GitHub: every repeated list is a conditional request answered 304', async () => {
    const w = await world();
    await w.simJson('POST', '/_sim/jobs', { repository: 'acme/api', labels: ['gpu'] });
    const { control } = await w.start();
    const counts = () => w.simJson<Record<string, Counts>>('GET', '/_sim/requests');

    await control.poller!.pollOnce();
    const first = await counts();
    // Two run listings (queued, in_progress) and the jobs of the one queued run.
    expect(first[LIST_RUNS]).toMatchObject({ counted: 2, notModified: 0 });
    expect(first[LIST_JOBS]).toMatchObject({ counted: 1, notModified: 0 });

    await control.poller!.pollOnce();
    await control.poller!.pollOnce();
    const later = await counts();
    expect(later[LIST_RUNS]).toEqual({ total: 6, counted: 2, notModified: 4 });
    expect(later[LIST_JOBS]).toEqual({ total: 3, counted: 1, notModified: 2 });
    expect(later[GET_JOB]).toBeUndefined();

    // A new job changes the queued list: that one listing (and the new run's jobs) costs.
    const second = await w.simJson<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['gpu'],
    });
    await control.poller!.pollOnce();
    const after = await counts();
    expect(after[LIST_RUNS]!.counted).toBe(3);
    expect(after[LIST_JOBS]!.counted).toBe(2);
    const plan = await control.service.plan();
    expect(plan.scaling?.pools[0]?.waitingJobs).toContain(second.id);
  });

  it('a job whose run ended unseen is read once and stops being demand', async () => {
    const w = await world();
    const job = await w.simJson<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['gpu'],
    });
    const { harness, control } = await w.start();
    await control.poller!.pollOnce();
    expect((await harness.coordinator.store.getJob(job.id))?.status).toBe('queued');

    await w.simJson('POST', `/_sim/jobs/${job.id}/cancel`);
    const round = await control.poller!.pollOnce();
    expect(round.jobReads).toBe(1);
    expect(await harness.coordinator.store.getJob(job.id)).toMatchObject({
      status: 'completed',
      conclusion: 'cancelled',
    });
    const plan = await control.service.plan();
    expect(plan.scaling?.pools[0]).toMatchObject({ demandKnown: true, waiting: 0 });
  });

  it('launchplane jobs and why show the polled job; GET /v1/capacity follows docs/schemas/capacity.schema.json', async () => {
    const w = await world();
    const job = await w.simJson<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['gpu'],
    });
    const orphan = await w.simJson<{ id: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['self-hosted', 'gpu'],
    });
    const { harness, control } = await w.start();
    await control.poller!.pollOnce();
    const viewer = (await harness.token('viewer')).token;
    const cli = cliClient(harness.baseUrl);

    const listed = await cli(viewer, 'jobs', '--json');
    expect(listed.code).toBe(0);
    const jobs = listed.json<{ jobs: { jobId: number; pool: string | null; status: string }[] }>();
    expect(jobs.jobs.map((j) => [j.jobId, j.status, j.pool]).sort()).toEqual(
      [
        [job.id, 'queued', 'build'],
        [orphan.id, 'queued', null],
      ].sort(),
    );
    const table = await cli(viewer, 'jobs');
    expect(table.stdout).toMatch(new RegExp(`${job.id}\\s+acme/api\\s.*queued.*gpu\\s+build`));

    // By URL, as a GitHub page shows it; the host is not ours to judge.
    const url = `https://github.com/acme/api/actions/runs/${job.runId}/job/${job.id}`;
    const why = await cli(viewer, 'why', url, '--json');
    expect(why.code).toBe(0);
    // No host is enrolled: the pool has nowhere to put a lane.
    expect(why.json<{ reason: string }>().reason).toBe('no-host');
    const whyOrphan = await cli(viewer, 'why', String(orphan.id));
    expect(whyOrphan.stdout).toContain('no-pool: ');
    expect(whyOrphan.stdout).toContain('"self-hosted" never matches a lane');
    const unknown = await cli(viewer, 'why', '999999');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('LP_NOT_FOUND');
    const bad = await cli(viewer, 'why', 'https://github.com/acme/api/pulls/1');
    expect(bad.stderr).toContain('LP_USAGE');

    const capacity = await harness.api('GET', '/v1/capacity', { token: viewer });
    expect(capacity.status).toBe(200);
    const schema = JSON.parse(
      await readFile(new URL('../../docs/schemas/capacity.schema.json', import.meta.url), 'utf8'),
    ) as object;
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
    expect(validate(capacity.body), JSON.stringify(validate.errors)).toBe(true);
    expect(capacity.body).toMatchObject({
      windowSec: 3600,
      pools: [{ pool: 'build', mode: 'demand', queuedJobs: 1, headroom: 0, max: 2 }],
    });
    // A document missing a field fails the schema: the check can fail.
    expect(validate({ ...(capacity.body as object), pools: [{ pool: 'build' }] })).toBe(false);
  });

  it('a host reporting that a lane finished its job wakes the reconciler, not the next interval', async () => {
    const w = await world();
    const { harness, control } = await w.start();
    await waitForRounds(control, 1);
    const key = newHostKey();
    const token = await harness.api('POST', '/v1/enrollment-tokens', {
      body: { hostId: 'host-a' },
    });
    const enrolled = await enrollHost(harness.baseUrl, {
      token: String(token.body.token),
      hostId: 'host-a',
      publicKey: key.publicKey,
    });
    expect(enrolled.status).toBe(201);
    const lane = laneRecordOf('01jd0000000000000000000001', {
      runnerId: 1,
      labels: ['gpu'],
      state: 'busy',
    });
    await harness.coordinator.store.putLane(lane);
    const agent = await FakeAgent.connect(harness.agentUrl, {
      hostId: 'host-a',
      privateKey: key.privateKey,
    });
    cleanups.push(() => Promise.resolve(agent.ws.terminate()));
    // The interval is 30 s: only a wake makes a round within this test.
    const rounds = control.reconciler.rounds;
    agent.send({
      type: 'event',
      seq: 1,
      jws: signEvent(
        {
          iss: 'host-a',
          seq: 1,
          at: harness.clock.now,
          event: { kind: 'lane', lane: laneReportOf(lane, 'online') },
        },
        { privateKey: key.privateKey },
      ),
    });
    expect(await agent.next('ack')).toEqual({ type: 'ack', seq: 1 });
    await waitForRounds(control, rounds + 1);
    expect((await harness.coordinator.store.getLane(lane.laneId))?.state).toBe('online');
  });

  it('closing the coordinator stops its rounds and its poller before the store closes', async () => {
    const w = await world();
    const { harness, control } = await w.start();
    await waitForRounds(control, 1);
    await harness.close();
    const rounds = control.reconciler.rounds;
    // A stopped loop does not answer a wake; one left running would plan on a closed store.
    // (after reconcile.minGapSec, 1 s by default, which holds a woken round back)
    control.reconciler.wake();
    await new Promise((r) => setTimeout(r, 1500));
    expect(control.reconciler.rounds).toBe(rounds);
    await expect(control.poller!.pollOnce()).rejects.toThrow();
  });
});

async function waitForRounds(control: Control, n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (control.reconciler.rounds < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} reconciler rounds in 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

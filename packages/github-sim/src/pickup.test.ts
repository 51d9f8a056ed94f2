import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';

// How the sim hands queued jobs to runners: after the pick-up delay, to an idle online runner
// that matches (labels, scope, runner group), the oldest job first. The clock is the harness's.

let h: Harness;
afterEach(async () => {
  await h.close();
});

type Runner = { id: number; secret: string; sessionId: string };
interface SimJob {
  id: number;
  runId: number;
  status: string;
  conclusion: string | null;
  runnerId: number | null;
  runnerName: string | null;
}

/** One poll of `r`: the id of the job it got, or null. */
async function poll(r: Runner): Promise<number | null> {
  const res = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
    secret: r.secret,
  });
  if (res.status === 204) return null;
  expect(res.status).toBe(200);
  return (res.body['job'] as { id: number }).id;
}

async function enqueue(body: Record<string, unknown>): Promise<SimJob> {
  const res = await h.json<SimJob>('POST', '/_sim/jobs', { durationMs: 10, ...body });
  expect(res.status).toBe(201);
  return res.body;
}

async function simJob(id: number): Promise<SimJob> {
  return (await h.json<SimJob>('GET', `/_sim/jobs/${id}`)).body;
}

describe('pick-up delay', () => {
  it('offers a queued job to runners only once the delay has passed since it was queued', async () => {
    h = await startHarness({ config: { pickupDelayMs: 3000 } });
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: ['lp-pool-a'] });
    const job = await enqueue({ repository: 'acme/api', labels: ['lp-pool-a'] });

    expect(await poll(r)).toBeNull();
    h.clock.now += 2999;
    expect(await poll(r)).toBeNull();
    expect((await simJob(job.id)).status).toBe('queued');
    h.clock.now += 1;
    expect(await poll(r)).toBe(job.id);
    expect(await simJob(job.id)).toMatchObject({
      status: 'in_progress',
      runnerId: r.id,
      runnerName: 'r1',
    });
  });

  it('is a knob of /_sim/config, and 0 offers a job at once', async () => {
    h = await startHarness();
    expect((await h.json('GET', '/_sim/config')).body).toMatchObject({ pickupDelayMs: 0 });
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: ['a'] });
    const first = await enqueue({ repository: 'acme/api', labels: ['a'] });
    expect(await poll(r)).toBe(first.id);
    await h.runner('POST', `/_runner/jobs/${first.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });

    const cfg = await h.json('PATCH', '/_sim/config', { pickupDelayMs: 500 });
    expect(cfg.body).toMatchObject({ pickupDelayMs: 500 });
    expect((await h.json('PATCH', '/_sim/config', { pickupDelayMs: -1 })).status).toBe(422);
    const second = await enqueue({ repository: 'acme/api', labels: ['a'] });
    expect(await poll(r)).toBeNull();
    h.clock.now += 500;
    expect(await poll(r)).toBe(second.id);
  });

  it('a job that waited for approval is offered the delay after its approval, not its creation', async () => {
    h = await startHarness({ config: { pickupDelayMs: 1000 } });
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: ['a'] });
    const job = await enqueue({ repository: 'acme/api', labels: ['a'], waiting: true });
    expect(job.status).toBe('waiting');
    h.clock.now += 5000;
    expect(await poll(r)).toBeNull();

    const approved = await h.json<SimJob>('POST', `/_sim/jobs/${job.id}/approve`);
    expect(approved.body.status).toBe('queued');
    expect((await h.json('POST', `/_sim/jobs/${job.id}/approve`)).status).toBe(409);
    expect(await poll(r)).toBeNull();
    h.clock.now += 1000;
    expect(await poll(r)).toBe(job.id);
  });

  it('a long poll is answered with the job once its delay passes, without another poll', async () => {
    h = await startHarness({ realClock: true, config: { pickupDelayMs: 150, pollWaitMs: 5000 } });
    const r = await connectRunner(h, { url: 'acme/api', name: 'r1', labels: ['a'] });
    const job = await enqueue({ repository: 'acme/api', labels: ['a'] });
    expect(await poll(r)).toBe(job.id);
    const got = await simJob(job.id);
    expect(got.status).toBe('in_progress');
  });
});

describe('matching a job to a runner', () => {
  it('needs every job label on the runner, compared without regard to case', async () => {
    h = await startHarness();
    const some = await connectRunner(h, { url: 'acme/api', name: 'some', labels: ['gpu'] });
    const all = await connectRunner(h, { url: 'acme/api', name: 'all', labels: ['GPU', 'Big'] });
    const job = await enqueue({ repository: 'acme/api', labels: ['gpu', 'big', 'self-hosted'] });
    expect(await poll(some)).toBeNull();
    expect(await poll(all)).toBe(job.id);
  });

  it('serves a repository from its own runners and its organization’s, never another’s', async () => {
    h = await startHarness();
    const other = await connectRunner(h, { url: 'acme/web', name: 'web', labels: ['a'] });
    const elsewhere = await connectRunner(h, { url: 'umbrella', name: 'umb', labels: ['a'] });
    const org = await connectRunner(h, { url: 'acme', name: 'org', labels: ['a'] });
    const repo = await connectRunner(h, { url: 'acme/api', name: 'repo', labels: ['a'] });
    const first = await enqueue({ repository: 'acme/api', labels: ['a'] });
    const second = await enqueue({ repository: 'ACME/api', labels: ['a'] });
    expect(await poll(other)).toBeNull();
    expect(await poll(elsewhere)).toBeNull();
    expect(await poll(org)).toBe(first.id);
    expect(await poll(repo)).toBe(second.id);
    // An organization's job (its `.github` repository) is not a repository runner's.
    const orgJob = await enqueue({ organization: 'acme', labels: ['a'] });
    const repo2 = await connectRunner(h, { url: 'acme/api', name: 'repo2', labels: ['a'] });
    expect(await poll(repo2)).toBeNull();
    expect((await simJob(orgJob.id)).status).toBe('queued');
  });

  it('a job naming a runner group goes only to a runner of that group', async () => {
    h = await startHarness();
    await h.json('POST', '/_sim/runner-groups', { organization: 'acme', name: 'GPUs' });
    const plain = await connectRunner(h, { url: 'acme', name: 'plain', labels: ['a'] });
    const repo = await connectRunner(h, { url: 'acme/api', name: 'repo', labels: ['a'] });
    const grouped = await connectRunner(h, {
      url: 'acme',
      name: 'grouped',
      labels: ['a'],
      runnerGroup: 'gpus',
    });
    const job = await enqueue({ repository: 'acme/api', labels: ['a'], runnerGroup: 'gpus' });
    expect(await poll(plain)).toBeNull();
    expect(await poll(repo)).toBeNull();
    expect(await poll(grouped)).toBe(job.id);
    const rest = await h.json<{ runner_group_id: number; runner_group_name: string }>(
      'GET',
      `/repos/acme/api/actions/jobs/${job.id}`,
    );
    expect(rest.body).toMatchObject({ runner_group_name: 'GPUs' });
    expect(rest.body.runner_group_id).toBeGreaterThan(1);
  });

  it('a busy runner gets no second job; the oldest queued job goes first', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'r', labels: ['a'] });
    const older = await enqueue({ repository: 'acme/api', labels: ['a'] });
    const newer = await enqueue({ repository: 'acme/api', labels: ['a'] });
    expect(await poll(r)).toBe(older.id);
    expect(await poll(r)).toBeNull();
    await h.runner('POST', `/_runner/jobs/${older.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });
    expect(await poll(r)).toBe(newer.id);
  });

  it('a job no runner matches stays queued, in the REST lists the coordinator polls', async () => {
    h = await startHarness({ config: { pickupDelayMs: 100 } });
    const runners = [
      await connectRunner(h, { url: 'acme/api', name: 'x', labels: ['x'] }),
      await connectRunner(h, { url: 'acme', name: 'y', labels: ['y'] }),
    ];
    const job = await enqueue({ repository: 'acme/api', labels: ['lp-pool-none'] });
    // Long past the delay, every runner heartbeating (within offlineAfterMs) and polling.
    for (let i = 0; i < 5; i++) {
      h.clock.now += 4000;
      for (const r of runners) {
        await h.runner('POST', `/_runner/sessions/${r.sessionId}/heartbeat`, { secret: r.secret });
        expect(await poll(r)).toBeNull();
      }
    }
    const runs = await h.json<{ workflow_runs: { id: number }[] }>(
      'GET',
      '/repos/acme/api/actions/runs?status=queued',
    );
    expect(runs.body.workflow_runs.map((r) => r.id)).toEqual([job.runId]);
    const jobs = await h.json<{ jobs: Record<string, unknown>[] }>(
      'GET',
      `/repos/acme/api/actions/runs/${job.runId}/jobs?filter=latest`,
    );
    expect(jobs.body.jobs[0]).toMatchObject({
      status: 'queued',
      labels: ['lp-pool-none'],
      runner_id: null,
      runner_name: null,
      runner_group_id: null,
    });
  });
});

describe('job outcomes and control bodies', () => {
  it('conclusion failure runs the whole job, then records it failed', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'r', labels: ['a'] });
    const job = await enqueue({ repository: 'acme/api', labels: ['a'], conclusion: 'failure' });
    expect(job).toMatchObject({ failSetup: false, failSteps: true });
    const polled = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
      secret: r.secret,
    });
    expect(polled.body['job']).toMatchObject({ id: job.id, failSetup: false, durationMs: 10 });
    await h.runner('POST', `/_runner/jobs/${job.id}/complete`, {
      secret: r.secret,
      body: { result: 'succeeded' },
    });
    expect(await simJob(job.id)).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });

  it('refuses bad job bodies and makes nothing', async () => {
    h = await startHarness();
    for (const bad of [
      { repository: 'acme/api', labels: ['a,b'] },
      { repository: 'acme/api', labels: ['a'], conclusion: 'skipped' },
      { repository: 'acme/api', labels: ['a'], runnerGroup: ' ' },
      { repository: 'acme/api', labels: ['a'], waiting: 'yes' },
    ]) {
      const res = await h.json<{ code: string }>('POST', '/_sim/jobs', bad);
      expect(res.status).toBe(422);
      expect(res.body.code).toBe('SIM_INVALID');
    }
    expect((await h.json<{ jobs: unknown[] }>('GET', '/_sim/jobs')).body.jobs).toEqual([]);
  });

  it('a waiting job reads waiting in REST, and cancelling it completes it', async () => {
    h = await startHarness();
    const job = await enqueue({ repository: 'acme/api', labels: ['a'], waiting: true });
    const run = await h.json<{ status: string }>(
      'GET',
      `/repos/acme/api/actions/runs/${job.runId}`,
    );
    expect(run.body.status).toBe('waiting');
    const rest = await h.json<{ status: string }>('GET', `/repos/acme/api/actions/jobs/${job.id}`);
    expect(rest.body.status).toBe('waiting');
    await h.json('POST', `/_sim/jobs/${job.id}/cancel`);
    expect(await simJob(job.id)).toMatchObject({ status: 'cancelled', conclusion: 'cancelled' });
  });
});

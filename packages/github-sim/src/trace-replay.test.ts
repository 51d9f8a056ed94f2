import { afterEach, describe, expect, it } from 'vitest';
import { burstyTrace } from './domain/trace.js';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';
import type { TraceProgress } from './trace-replay.js';
import {
  type Received,
  type Receiver,
  json,
  startReceiver,
} from './webhook-receiver.test-helper.js';

// Trace replay by the sim's clock (the harness's, moved by hand): a job arrives when its
// atMs / speed has passed, as a queued run+job that the REST lists and the webhooks both show.

let h: Harness;
let rx: Receiver | undefined;
afterEach(async () => {
  await h.close();
  await rx?.close();
  rx = undefined;
});

interface SimJob {
  id: number;
  runId: number;
  repository: string;
  labels: string[];
  durationMs: number;
  status: string;
  conclusion: string | null;
  failSteps: boolean;
}

async function progress(withJobs = false): Promise<TraceProgress> {
  return (await h.json<TraceProgress>('GET', `/_sim/trace${withJobs ? '?jobs=1' : ''}`)).body;
}

async function simJobs(): Promise<SimJob[]> {
  return (await h.json<{ jobs: SimJob[] }>('GET', '/_sim/jobs')).body.jobs;
}

/** Moves the sim's clock to `ms` after `t0`. */
function at(t0: number, ms: number): void {
  h.clock.now = t0 + ms;
}

const job = (atMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  atMs,
  repository: 'acme/api',
  labels: ['lp-pool-a'],
  durationMs: 2_000,
  ...extra,
});

describe('trace replay', () => {
  it('queues each job once atMs / speed has passed, by the sim’s clock', async () => {
    h = await startHarness();
    const t0 = h.clock.now;
    const started = await h.json<TraceProgress>('POST', '/_sim/trace', {
      speed: 20,
      jobs: [job(5_000), job(0), job(1_000), job(1_000, { labels: ['lp-pool-b'] })],
    });
    expect(started.status).toBe(201);
    // The job at 0 arrives at once; the next ones at 1000 / 20 = 50 ms and 5000 / 20 = 250 ms.
    expect(started.body).toMatchObject({
      state: 'running',
      speed: 20,
      startedAt: t0,
      total: 4,
      released: 1,
      pending: 3,
      nextDueAt: t0 + 50,
    });

    at(t0, 49);
    expect(await progress()).toMatchObject({ released: 1, queued: 1 });
    at(t0, 50);
    expect(await progress()).toMatchObject({ released: 3, queued: 3, nextDueAt: t0 + 250 });
    at(t0, 249);
    expect(await progress()).toMatchObject({ released: 3 });
    at(t0, 250);
    const done = await progress(true);
    expect(done).toMatchObject({ state: 'done', released: 4, pending: 0, nextDueAt: null });
    // Jobs are listed in order of arrival, each with its place in the trace as posted.
    expect(done.jobs?.map((j) => [j.index, j.atMs, j.dueAt - t0])).toEqual([
      [1, 0, 0],
      [2, 1_000, 50],
      [3, 1_000, 50],
      [0, 5_000, 250],
    ]);

    const jobs = await simJobs();
    expect(jobs.map((j) => j.id)).toEqual(done.jobs?.map((j) => j.jobId));
    // Durations are divided by the speed too.
    expect(jobs.map((j) => j.durationMs)).toEqual([100, 100, 100, 100]);
    expect(jobs.map((j) => j.labels)).toEqual([
      ['lp-pool-a'],
      ['lp-pool-a'],
      ['lp-pool-b'],
      ['lp-pool-a'],
    ]);
  });

  it('each arrival is a queued run with one job, in the lists the coordinator polls', async () => {
    h = await startHarness();
    await h.json('POST', '/_sim/trace', { speed: 1, jobs: [job(0), job(0), job(1_000)] });
    const runs = await h.json<{ total_count: number; workflow_runs: { id: number }[] }>(
      'GET',
      '/repos/acme/api/actions/runs?status=queued',
    );
    expect(runs.body.total_count).toBe(2);
    for (const run of runs.body.workflow_runs) {
      const jobs = await h.json<{ jobs: { status: string; labels: string[] }[] }>(
        'GET',
        `/repos/acme/api/actions/runs/${run.id}/jobs?filter=latest`,
      );
      expect(jobs.body.jobs).toEqual([
        expect.objectContaining({ status: 'queued', labels: ['lp-pool-a'] }),
      ]);
    }
  });

  it('each arrival sends a queued webhook, and a runner runs it to its conclusion', async () => {
    h = await startHarness();
    rx = await startReceiver();
    await h.json('POST', '/_sim/hooks', { organization: 'acme', url: rx.url, secret: 's3cr3t' });
    await rx.count(1); // the ping
    const runner = await connectRunner(h, { url: 'acme', name: 'lane-1', labels: ['lp-pool-a'] });
    const t0 = h.clock.now;
    await h.json('POST', '/_sim/trace', {
      speed: 10,
      jobs: [job(0, { conclusion: 'failure' }), job(10_000)],
    });
    const [, queued] = await rx.count(2);
    expect(json(queued as Received)).toMatchObject({
      action: 'queued',
      workflow_job: { labels: ['lp-pool-a'] },
    });

    const polled = await h.runner('POST', `/_runner/sessions/${runner.sessionId}/poll`, {
      secret: runner.secret,
    });
    expect(polled.body['job']).toMatchObject({ durationMs: 200 });
    await h.runner('POST', `/_runner/jobs/${(polled.body['job'] as { id: number }).id}/complete`, {
      secret: runner.secret,
      body: { result: 'failed' },
    });
    at(t0, 1_000);
    expect(await progress()).toMatchObject({ released: 2 });
    await rx.count(5);
    expect(
      rx.received.slice(1).map((r) => {
        const p = json(r);
        return [p['action'], (p['workflow_job'] as { conclusion: string | null }).conclusion];
      }),
    ).toEqual([
      ['queued', null],
      ['in_progress', null],
      ['completed', 'failure'],
      ['queued', null],
    ]);
    expect(await progress()).toMatchObject({
      state: 'done',
      released: 2,
      queued: 1,
      completed: 1,
      failed: 1,
    });
  });

  it('an organization’s job runs in its .github repository', async () => {
    h = await startHarness();
    await h.json('POST', '/_sim/trace', {
      jobs: [{ atMs: 0, organization: 'acme', labels: ['x'], durationMs: 1 }],
    });
    const [only] = await simJobs();
    expect(only?.repository).toBe('acme/.github');
  });

  it('replays a seeded bursty trace whole, job for job', async () => {
    h = await startHarness();
    const trace = burstyTrace({
      seed: 7,
      bursts: 3,
      jobsPerBurst: [2, 5],
      burstGapMs: [60_000, 90_000],
      burstSpreadMs: 5_000,
      durationMs: [10_000, 30_000],
      labels: ['lp-pool-a'],
      repository: 'acme/api',
    });
    const t0 = h.clock.now;
    await h.json('POST', '/_sim/trace', { speed: 100, jobs: trace });
    at(t0, Math.max(...trace.map((j) => j.atMs)) / 100);
    const p = await progress(true);
    expect(p).toMatchObject({ state: 'done', total: trace.length, released: trace.length });
    const jobs = await simJobs();
    expect(jobs.map((j) => j.durationMs)).toEqual(trace.map((j) => Math.round(j.durationMs / 100)));
  });

  it('refuses a bad trace whole, naming the job, and schedules nothing', async () => {
    h = await startHarness();
    const bad = [
      { speed: 0, jobs: [job(0)] },
      { speed: 20_000, jobs: [job(0)] },
      { speed: '20', jobs: [job(0)] },
      { jobs: [] },
      { jobs: 'all of them' },
      { jobs: [job(0), job(-1)] },
      { jobs: [job(0), { atMs: 10, repository: 'acme/api', labels: ['x'] }] },
      { jobs: [job(0), job(10, { labels: 'lp-pool-a' })] },
      { jobs: [job(0), job(10, { conclusion: 'cancelled' })] },
      { jobs: [job(0), job(10, { repository: 'not a repository' })] },
    ];
    for (const body of bad) {
      const res = await h.json<{ message: string }>('POST', '/_sim/trace', body);
      expect(res.status).toBe(422);
    }
    const named = await h.json<{ message: string }>('POST', '/_sim/trace', {
      jobs: [job(0), job(-1)],
    });
    expect(named.body.message).toContain('jobs[1]');
    expect(await progress()).toMatchObject({ state: 'idle', total: 0 });
    expect(await simJobs()).toEqual([]);
  });

  it('one trace at a time: a second is refused until the first is stopped, which keeps its arrivals', async () => {
    h = await startHarness();
    const t0 = h.clock.now;
    await h.json('POST', '/_sim/trace', { jobs: [job(0), job(1_000)] });
    const second = await h.json<{ message: string }>('POST', '/_sim/trace', { jobs: [job(0)] });
    expect(second.status).toBe(409);
    expect(second.body.message).toContain('DELETE /_sim/trace');

    const stopped = await h.json<TraceProgress>('DELETE', '/_sim/trace');
    expect(stopped.body).toMatchObject({ state: 'cancelled', released: 1, pending: 1 });
    at(t0, 5_000);
    expect(await progress()).toMatchObject({ state: 'cancelled', released: 1 });
    expect(await simJobs()).toHaveLength(1);

    const third = await h.json<TraceProgress>('POST', '/_sim/trace', { jobs: [job(0)] });
    expect(third.status).toBe(201);
    expect(await simJobs()).toHaveLength(2);

    // A finished trace does not block the next one; reset forgets it.
    expect((await h.json('POST', '/_sim/trace', { jobs: [job(0)] })).status).toBe(201);
    await h.json('POST', '/_sim/reset');
    expect(await progress()).toMatchObject({ state: 'idle' });
  });
});

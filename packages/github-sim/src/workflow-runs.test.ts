import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, connectRunner, startHarness } from './harness.test-helper.js';

interface Run {
  id: number;
  status: string;
  conclusion: string | null;
  event: string;
  head_branch: string;
  created_at: string;
  workflow_id: number;
  run_number: number;
  name: string | null;
}
interface Job {
  id: number;
  run_id: number;
  status: string;
  conclusion: string | null;
  labels: string[];
  runner_id: number | null;
  runner_name: string | null;
  runner_group_name: string | null;
  workflow_name: string | null;
  head_branch: string | null;
  started_at: string;
  completed_at: string | null;
}
type Runs = { total_count: number; workflow_runs: Run[] };
type Jobs = { total_count: number; jobs: Job[] };

let h: Harness;
afterEach(async () => {
  await h.close();
});

const SMOKE = {
  repository: 'acme/api',
  path: '.github/workflows/launchplane-smoke.yml',
  name: 'Launchplane smoke',
  runsOnInput: 'runner-label',
  durationMs: 1,
};

async function declare(body: Record<string, unknown> = SMOKE): Promise<{ id: number }> {
  const res = await h.json<{ id: number }>('POST', '/_sim/workflows', body);
  expect(res.status).toBe(201);
  return res.body;
}

/** A runner polls once and reports the job it got with `result`. */
async function runOnce(
  r: { secret: string; sessionId: string },
  result: 'succeeded' | 'failed' = 'succeeded',
): Promise<number> {
  const polled = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
    secret: r.secret,
  });
  const job = polled.body['job'] as { id: number };
  const done = await h.runner('POST', `/_runner/jobs/${job.id}/complete`, {
    secret: r.secret,
    body: { result },
  });
  expect(done.status).toBe(204);
  return job.id;
}

describe('workflow dispatch', () => {
  it('queues a run whose one job runs on the label its input names, on the runner that has it', async () => {
    h = await startHarness();
    const wf = await declare();
    const other = await connectRunner(h, { url: 'acme/api', name: 'other', labels: ['gpu'] });
    const smoke = await connectRunner(h, {
      url: 'acme/api',
      name: 'lane-1',
      labels: ['lp-smoke-1'],
    });
    const res = await h.api(
      'POST',
      '/repos/acme/api/actions/workflows/launchplane-smoke.yml/dispatches',
      {
        body: { ref: 'main', inputs: { 'runner-label': 'lp-smoke-1' } },
      },
    );
    expect(res.status).toBe(204);

    const queued = await h.json<Runs>(
      'GET',
      '/repos/acme/api/actions/runs?status=queued&event=workflow_dispatch',
    );
    expect(queued.body.total_count).toBe(1);
    const run = queued.body.workflow_runs[0] as Run;
    expect(run).toMatchObject({
      status: 'queued',
      conclusion: null,
      event: 'workflow_dispatch',
      head_branch: 'main',
      workflow_id: wf.id,
      run_number: 1,
      name: 'Launchplane smoke',
    });
    const jobs = await h.json<Jobs>('GET', `/repos/acme/api/actions/runs/${run.id}/jobs`);
    expect(jobs.body.jobs).toHaveLength(1);
    expect(jobs.body.jobs[0]).toMatchObject({
      status: 'queued',
      labels: ['lp-smoke-1'],
      runner_id: null,
      runner_name: null,
      workflow_name: 'Launchplane smoke',
      head_branch: 'main',
    });

    // The runner without the label gets nothing; the one with it takes the job.
    const none = await h.runner('POST', `/_runner/sessions/${other.sessionId}/poll`, {
      secret: other.secret,
    });
    expect(none.status).toBe(204);
    const polled = await h.runner('POST', `/_runner/sessions/${smoke.sessionId}/poll`, {
      secret: smoke.secret,
    });
    const jobId = (polled.body['job'] as { id: number }).id;
    const running = await h.json<Job>('GET', `/repos/acme/api/actions/jobs/${jobId}`);
    expect(running.body).toMatchObject({
      status: 'in_progress',
      runner_id: smoke.id,
      runner_name: 'lane-1',
      runner_group_name: 'Default',
    });
    const inProgress = await h.json<Runs>('GET', '/repos/acme/api/actions/runs?status=in_progress');
    expect(inProgress.body.workflow_runs.map((r) => r.id)).toEqual([run.id]);

    h.clock.now += 5000;
    await h.runner('POST', `/_runner/jobs/${jobId}/complete`, {
      secret: smoke.secret,
      body: { result: 'succeeded' },
    });
    const done = await h.json<Run>('GET', `/repos/acme/api/actions/runs/${run.id}`);
    expect(done.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    const job = await h.json<Job>('GET', `/repos/acme/api/actions/jobs/${jobId}`);
    expect(job.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(Date.parse(job.body.completed_at ?? '')).toBe(h.clock.now);
    expect(
      (await h.json<Runs>('GET', '/repos/acme/api/actions/runs?status=success')).body.total_count,
    ).toBe(1);
    expect(
      (await h.json<Runs>('GET', '/repos/acme/api/actions/runs?status=queued')).body.total_count,
    ).toBe(0);
  });

  it('addresses a workflow by id or file name, and answers 200 with the run when asked to', async () => {
    h = await startHarness();
    const wf = await declare();
    const byId = await h.json<{ workflow_run_id: number; html_url: string }>(
      'POST',
      `/repos/acme/api/actions/workflows/${wf.id}/dispatches`,
      { ref: 'refs/heads/release', inputs: { 'runner-label': 'x' }, return_run_details: true },
    );
    expect(byId.status).toBe(200);
    const run = await h.json<Run>(
      'GET',
      `/repos/acme/api/actions/runs/${byId.body.workflow_run_id}`,
    );
    expect(run.body.head_branch).toBe('release');
    expect(byId.body.html_url).toBe(`${h.gh.url}/acme/api/actions/runs/${run.body.id}`);
    const got = await h.json<{ id: number; path: string; state: string }>(
      'GET',
      '/repos/acme/api/actions/workflows/launchplane-smoke.yml',
    );
    expect(got.body).toMatchObject({ id: wf.id, path: SMOKE.path, state: 'active' });
    const perWorkflow = await h.json<Runs>(
      'GET',
      '/repos/acme/api/actions/workflows/launchplane-smoke.yml/runs',
    );
    expect(perWorkflow.body.workflow_runs.map((r) => r.id)).toEqual([run.body.id]);
  });

  it('refuses like GitHub: unknown workflow, no ref, undeclared or missing inputs, no dispatch trigger', async () => {
    h = await startHarness();
    await declare();
    const post = (wf: string, body: unknown) =>
      h.json<{ message: string }>(
        'POST',
        `/repos/acme/api/actions/workflows/${wf}/dispatches`,
        body,
      );
    expect((await post('nope.yml', { ref: 'main' })).status).toBe(404);
    expect((await post('999', { ref: 'main' })).status).toBe(404);
    const noRef = await post('launchplane-smoke.yml', { inputs: { 'runner-label': 'x' } });
    expect(noRef.status).toBe(422);
    expect(noRef.body.message).toContain('"ref" wasn\'t supplied');
    const extra = await post('launchplane-smoke.yml', {
      ref: 'main',
      inputs: { 'runner-label': 'x', evil: 'y' },
    });
    expect(extra.status).toBe(422);
    expect(extra.body.message).toBe('Unexpected inputs provided: ["evil"]');
    const missing = await post('launchplane-smoke.yml', { ref: 'main' });
    expect(missing.status).toBe(422);
    expect(missing.body.message).toBe("Required input 'runner-label' not provided");
    // The workflow of POST /_sim/jobs has no workflow_dispatch trigger.
    await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: ['x'] });
    const implicit = await post('launchplane-sim-jobs.yml', { ref: 'main' });
    expect(implicit.status).toBe(422);
    expect(implicit.body.message).toBe("Workflow does not have 'workflow_dispatch' trigger");
    // Nothing was queued by the refusals: only the /_sim/jobs run exists.
    expect((await h.json<Runs>('GET', '/repos/acme/api/actions/runs')).body.total_count).toBe(1);
  });

  it('a workflow declared to fail fails on the runner that took it', async () => {
    h = await startHarness();
    await declare({ ...SMOKE, conclusion: 'failure' });
    const r = await connectRunner(h, { url: 'acme/api', name: 'lane-1', labels: ['l1'] });
    await h.api('POST', '/repos/acme/api/actions/workflows/launchplane-smoke.yml/dispatches', {
      body: { ref: 'main', inputs: { 'runner-label': 'l1' } },
    });
    const polled = await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, {
      secret: r.secret,
    });
    expect(polled.body['job']).toMatchObject({ failSetup: true });
    const jobId = await (async () => {
      const id = (polled.body['job'] as { id: number }).id;
      await h.runner('POST', `/_runner/jobs/${id}/complete`, {
        secret: r.secret,
        body: { result: 'failed' },
      });
      return id;
    })();
    const job = await h.json<Job>('GET', `/repos/acme/api/actions/jobs/${jobId}`);
    expect(job.body).toMatchObject({ conclusion: 'failure', runner_name: 'lane-1' });
    const run = await h.json<Run>('GET', `/repos/acme/api/actions/runs/${job.body.run_id}`);
    expect(run.body).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });
});

describe('runs of /_sim/jobs', () => {
  it('each job is the one job of a push run of its repository, listed newest first', async () => {
    h = await startHarness();
    const a = await h.json<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['x'],
    });
    h.clock.now += 1000;
    const b = await h.json<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['y'],
    });
    await h.json('POST', '/_sim/jobs', { repository: 'acme/web', labels: ['x'] });
    const runs = await h.json<Runs>('GET', '/repos/acme/api/actions/runs');
    expect(runs.body.workflow_runs.map((r) => r.id)).toEqual([b.body.runId, a.body.runId]);
    expect(runs.body.workflow_runs.map((r) => r.run_number)).toEqual([2, 1]);
    expect(runs.body.workflow_runs[0]).toMatchObject({ event: 'push', head_branch: 'main' });
    const jobs = await h.json<Jobs>(
      'GET',
      `/repos/acme/api/actions/runs/${a.body.runId}/jobs?filter=all`,
    );
    expect(jobs.body.jobs.map((j) => [j.id, j.labels])).toEqual([[a.body.id, ['x']]]);
    // Another repository's run and job are not this one's.
    const web = await h.json<Runs>('GET', '/repos/acme/web/actions/runs');
    const webRun = web.body.workflow_runs[0]?.id ?? 0;
    expect((await h.api('GET', `/repos/acme/api/actions/runs/${webRun}`)).status).toBe(404);
    expect((await h.api('GET', `/repos/acme/api/actions/jobs/${a.body.id + 2}`)).status).toBe(404);
  });

  it('a job cancelled while queued reads completed/cancelled, and so does its run', async () => {
    h = await startHarness();
    const j = await h.json<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['x'],
    });
    await h.json('POST', `/_sim/jobs/${j.body.id}/cancel`);
    const job = await h.json<Job>('GET', `/repos/acme/api/actions/jobs/${j.body.id}`);
    expect(job.body).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
    const run = await h.json<Run>('GET', `/repos/acme/api/actions/runs/${j.body.runId}`);
    expect(run.body).toMatchObject({ status: 'completed', conclusion: 'cancelled' });
  });

  it('a job on a runner that stopped heart-beating fails, and its run with it', async () => {
    h = await startHarness();
    const r = await connectRunner(h, { url: 'acme/api', name: 'r', labels: ['x'] });
    const j = await h.json<{ id: number; runId: number }>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['x'],
    });
    await h.runner('POST', `/_runner/sessions/${r.sessionId}/poll`, { secret: r.secret });
    h.clock.now += 60_000;
    const run = await h.json<Run>('GET', `/repos/acme/api/actions/runs/${j.body.runId}`);
    expect(run.body).toMatchObject({ status: 'completed', conclusion: 'failure' });
  });
});

describe('run list filters, pages and ETags', () => {
  it('created, event, branch and paging with Link; 304 for an unchanged list', async () => {
    h = await startHarness();
    await declare();
    const t0 = h.clock.now;
    for (let i = 0; i < 3; i++) {
      await h.api('POST', '/repos/acme/api/actions/workflows/launchplane-smoke.yml/dispatches', {
        body: { ref: i === 2 ? 'dev' : 'main', inputs: { 'runner-label': `l${i}` } },
      });
      h.clock.now += 10_000;
    }
    await h.json('POST', '/_sim/jobs', { repository: 'acme/api', labels: ['x'] });
    const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
    const list = async (q: string): Promise<Run[]> =>
      (await h.json<Runs>('GET', `/repos/acme/api/actions/runs?${q}`)).body.workflow_runs;
    expect(
      await list(`created=${encodeURIComponent(`>=${iso(t0 + 10_000)}`)}&event=workflow_dispatch`),
    ).toHaveLength(2);
    expect(await list(`created=${encodeURIComponent(`<${iso(t0 + 10_000)}`)}`)).toHaveLength(1);
    expect(await list(`created=${iso(t0)}..${iso(t0 + 10_000)}`)).toHaveLength(2);
    expect(await list('created=2026-01-01')).toHaveLength(4);
    expect(await list('created=2025-12-31')).toHaveLength(0);
    expect(await list('branch=dev')).toHaveLength(1);
    expect(await list('event=push')).toHaveLength(1);
    const bad = await h.api('GET', '/repos/acme/api/actions/runs?created=yesterday');
    expect(bad.status).toBe(422);

    const page = await h.json<Runs>('GET', '/repos/acme/api/actions/runs?per_page=3&page=1');
    expect(page.body.total_count).toBe(4);
    expect(page.body.workflow_runs).toHaveLength(3);
    expect(page.res.headers.get('link')).toContain('rel="next"');
    const etag = page.res.headers.get('etag') ?? '';
    const again = await h.api('GET', '/repos/acme/api/actions/runs?per_page=3&page=1', {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
  });

  it('keeps workflows and runs in the state file across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-runs-'));
    try {
      const stateFile = join(dir, 'state.json');
      h = await startHarness({ stateFile });
      await declare();
      const r = await connectRunner(h, { url: 'acme/api', name: 'lane-1', labels: ['l1'] });
      await h.api('POST', '/repos/acme/api/actions/workflows/launchplane-smoke.yml/dispatches', {
        body: { ref: 'main', inputs: { 'runner-label': 'l1' } },
      });
      await runOnce(r);
      await h.close();
      h = await startHarness({ stateFile });
      const runs = await h.json<Runs>('GET', '/repos/acme/api/actions/runs');
      expect(runs.body.workflow_runs).toHaveLength(1);
      expect(runs.body.workflow_runs[0]).toMatchObject({
        status: 'completed',
        conclusion: 'success',
      });
      // Run numbers go on where they stopped.
      await h.api('POST', '/repos/acme/api/actions/workflows/launchplane-smoke.yml/dispatches', {
        body: { ref: 'main', inputs: { 'runner-label': 'l1' } },
      });
      const next = await h.json<Runs>('GET', '/repos/acme/api/actions/runs?status=queued');
      expect(next.body.workflow_runs[0]?.run_number).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a state file from before workflow runs lists its jobs as runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sim-old-'));
    try {
      const stateFile = join(dir, 'state.json');
      const job = {
        id: 7,
        runId: 1007,
        repository: 'acme/api',
        scope: 'repo:acme/api',
        labels: ['x'],
        durationMs: 0,
        status: 'queued',
        conclusion: null,
        runnerId: null,
        runnerName: null,
        queuedAt: Date.UTC(2026, 0, 1),
        startedAt: null,
        completedAt: null,
        cancelRequested: false,
      };
      writeFileSync(
        stateFile,
        JSON.stringify({
          version: 1,
          nextRunnerId: 1,
          nextJobId: 8,
          nextLabelId: 1,
          labelIds: {},
          runners: [],
          jobs: [job],
          tokens: {},
        }),
      );
      h = await startHarness({ stateFile });
      const runs = await h.json<Runs>('GET', '/repos/acme/api/actions/runs');
      expect(runs.body.workflow_runs.map((r) => [r.id, r.status])).toEqual([[1007, 'queued']]);
      const jobs = await h.json<Jobs>('GET', '/repos/acme/api/actions/runs/1007/jobs');
      expect(jobs.body.jobs.map((j) => j.id)).toEqual([7]);
      const next = await h.json<{ runId: number }>('POST', '/_sim/jobs', {
        repository: 'acme/api',
        labels: ['x'],
      });
      expect(next.body.runId).toBe(1008);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('POST /_sim/workflows', () => {
  it('refuses a bad declaration and a second one of the same path', async () => {
    h = await startHarness();
    const post = (body: unknown) => h.json('POST', '/_sim/workflows', body);
    expect((await post({ ...SMOKE, path: 'smoke.yml' })).status).toBe(422);
    expect((await post({ ...SMOKE, labels: ['a'] })).status).toBe(422);
    expect((await post({ repository: 'acme/api', path: SMOKE.path })).status).toBe(422);
    expect((await post({ ...SMOKE, conclusion: 'maybe' })).status).toBe(422);
    expect((await post(SMOKE)).status).toBe(201);
    expect((await post(SMOKE)).status).toBe(409);
    const listed = await h.json<{ total_count: number }>(
      'GET',
      '/repos/acme/api/actions/workflows',
    );
    expect(listed.body.total_count).toBe(1);
  });
});

import { describe, expect, it } from 'vitest';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { retryingEveryTransaction } from '../adapters/store-contract.test-helper.js';
import type { WorkflowJob } from '../ports/github-workflows.js';
import { silentLogger } from '../ports/logger.js';
import { JobIngest, jobRecordOf } from './job-ingest.js';

/** A `workflow_job` delivery body in GitHub's shape (the members the store reads, and others). */
function delivery(action: string, job: Record<string, unknown>): string {
  return JSON.stringify({
    action,
    workflow_job: {
      id: 42,
      run_id: 420,
      run_attempt: 1,
      name: 'build',
      workflow_name: 'CI',
      head_branch: 'main',
      status: action,
      conclusion: null,
      labels: ['lp-pool-build', 'GPU'],
      runner_id: null,
      runner_name: null,
      runner_group_id: null,
      runner_group_name: null,
      created_at: '2026-01-01T00:00:00Z',
      started_at: '2026-01-01T00:00:00Z',
      completed_at: null,
      html_url: 'https://github.com/Acme/API/actions/runs/420/job/42',
      steps: [],
      ...job,
    },
    repository: { id: 1, full_name: 'Acme/API', private: true },
    sender: { login: 'octocat' },
  });
}

const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000;
const RUNNER = { runner_id: 9, runner_name: 'lp-host-a-build-1', runner_group_id: 1 };

function ingest() {
  const store = SqliteCoordinatorStore.open(':memory:');
  return { store, jobs: new JobIngest({ store, logger: silentLogger }) };
}

describe('JobIngest: webhook deliveries', () => {
  it('stores a queued job, then moves it forward with its runner and queue wait', async () => {
    const { store, jobs } = ingest();
    const queued = await jobs.receive({
      deliveryId: 'd-1',
      event: 'workflow_job',
      body: delivery('queued', {}),
      receivedAt: T0 + 1,
    });
    expect(queued).toEqual({ outcome: 'new', jobId: 42 });
    expect(await store.getJob(42)).toEqual({
      id: 42,
      runId: 420,
      repository: 'acme/api',
      labels: ['lp-pool-build', 'GPU'],
      status: 'queued',
      queuedAt: T0,
      name: 'build',
      workflowName: 'CI',
      htmlUrl: 'https://github.com/Acme/API/actions/runs/420/job/42',
      seenAt: T0 + 1,
      source: 'webhook',
    });
    const started = await jobs.receive({
      deliveryId: 'd-2',
      event: 'workflow_job',
      body: delivery('in_progress', { ...RUNNER, started_at: '2026-01-01T00:00:45Z' }),
      receivedAt: T0 + 46,
    });
    expect(started.outcome).toBe('advanced');
    expect(await store.getJob(42)).toMatchObject({
      status: 'in_progress',
      runnerId: 9,
      runnerName: 'lp-host-a-build-1',
      runnerGroupId: 1,
      startedAt: T0 + 45,
      waitSec: 45,
    });
    await store.close();
  });

  it('takes a delivery id once, and never moves a status back', async () => {
    const { store, jobs } = ingest();
    const done = delivery('completed', {
      ...RUNNER,
      started_at: '2026-01-01T00:00:10Z',
      completed_at: '2026-01-01T00:01:00Z',
      conclusion: 'success',
    });
    const d = { deliveryId: 'd-9', event: 'workflow_job', body: done, receivedAt: T0 + 61 };
    expect((await jobs.receive(d)).outcome).toBe('new');
    expect((await jobs.receive(d)).outcome).toBe('duplicate');
    // The same id with another body is still the delivery taken before.
    const replay = { ...d, body: delivery('queued', {}) };
    expect((await jobs.receive(replay)).outcome).toBe('duplicate');
    const late = { ...replay, deliveryId: 'd-10' };
    expect((await jobs.receive(late)).outcome).toBe('stale');
    expect(await store.getJob(42)).toMatchObject({ status: 'completed', waitSec: 10 });
    expect(jobs.webhookStats().outcomes).toEqual({ new: 1, duplicate: 2, stale: 1 });
    await store.close();
  });

  it('tells its listeners when a job is new or moves on, and only then', async () => {
    const { store, jobs } = ingest();
    let changes = 0;
    jobs.onDemandChange(() => changes++);
    const at = (id: string, body: string) => ({
      deliveryId: id,
      event: 'workflow_job',
      body,
      receivedAt: T0 + 1,
    });
    await jobs.receive(at('c-1', delivery('queued', {})));
    expect(changes).toBe(1);
    await jobs.receive(at('c-1', delivery('queued', {})));
    await jobs.receive(at('c-2', delivery('queued', {})));
    await jobs.receive({ ...at('c-3', '{}'), event: 'push' });
    expect(changes).toBe(1);
    await jobs.receive(at('c-4', delivery('in_progress', RUNNER)));
    expect(changes).toBe(2);
    await jobs.receive(at('c-5', delivery('queued', {})));
    expect(changes).toBe(2);
    await store.close();
  });

  it('ignores other events and pings, and counts them', async () => {
    const { store, jobs } = ingest();
    const at = { receivedAt: T0, body: '{}' };
    expect(await jobs.receive({ ...at, deliveryId: 'p', event: 'ping' })).toEqual({
      outcome: 'ping',
    });
    for (const event of ['push', 'push', 'constructor', '__proto__']) {
      expect((await jobs.receive({ ...at, deliveryId: `e-${event}`, event })).outcome).toBe(
        'ignored',
      );
    }
    expect(jobs.webhookStats()).toMatchObject({
      deliveries: 5,
      lastDeliveryAt: T0,
      ignoredEvents: { push: 2, constructor: 1, ['__proto__']: 1 },
    });
    expect(Object.getPrototypeOf(jobs.webhookStats().ignoredEvents)).toBe(Object.prototype);
    expect(await store.listJobs()).toEqual([]);
    await store.close();
  });

  it('refuses a body that is not a workflow_job payload without taking its delivery id', async () => {
    const { store, jobs } = ingest();
    const base = { deliveryId: 'd-1', event: 'workflow_job', receivedAt: T0 };
    for (const body of [
      'not json',
      '{"a":1,"a":2}',
      JSON.stringify({ action: 'queued' }),
      delivery('queued', { labels: 'lp-pool-build' }),
      delivery('queued', {}).replace('"Acme/API"', '"not a repository"'),
    ]) {
      await expect(jobs.receive({ ...base, body })).rejects.toMatchObject({ code: 'LP_USAGE' });
    }
    expect((await jobs.receive({ ...base, body: delivery('queued', {}) })).outcome).toBe('new');
    await store.close();
  });

  it('takes the delivery id of a job with a status it does not know, but not the job', async () => {
    const { store, jobs } = ingest();
    const d = {
      deliveryId: 'd-1',
      event: 'workflow_job',
      body: delivery('queued', { status: 'teleporting' }),
      receivedAt: T0,
    };
    expect((await jobs.receive(d)).outcome).toBe('unknown-status');
    expect((await jobs.receive(d)).outcome).toBe('duplicate');
    expect(await store.getJob(42)).toBeUndefined();
    await store.close();
  });
});

describe('JobIngest: polled jobs', () => {
  const polled = (over: Partial<WorkflowJob>): WorkflowJob => ({
    id: 42,
    runId: 420,
    name: 'build',
    status: 'queued',
    conclusion: null,
    labels: ['lp-pool-build'],
    runnerId: null,
    runnerName: null,
    createdAt: T0,
    startedAt: T0,
    completedAt: undefined,
    htmlUrl: null,
    ...over,
  });

  it('merges with what webhooks stored, counting each outcome', async () => {
    const { store, jobs } = ingest();
    expect(await jobs.observe('Acme/API', [polled({}), polled({ id: 43 })], T0 + 5)).toEqual({
      new: 2,
    });
    const counts = await jobs.observe(
      'acme/api',
      [
        polled({}),
        polled({ id: 43, status: 'in_progress', runnerId: 3, runnerName: 'x', startedAt: T0 + 7 }),
        polled({ id: 44, status: 'mystery' }),
      ],
      T0 + 65,
    );
    expect(counts).toEqual({ unchanged: 1, advanced: 1, 'unknown-status': 1 });
    expect(await store.getJob(42)).toMatchObject({ seenAt: T0 + 65, source: 'poll' });
    expect(await store.getJob(43)).toMatchObject({ status: 'in_progress', waitSec: 7 });
    await store.close();
  });

  it('counts and takes each job once when the store runs a transaction again', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const jobs = new JobIngest({ store: retryingEveryTransaction(store), logger: silentLogger });
    expect(await jobs.observe('acme/api', [polled({}), polled({ id: 43 })], T0 + 5)).toEqual({
      new: 2,
    });
    const taken = await jobs.receive({
      deliveryId: 'd-1',
      event: 'workflow_job',
      body: delivery('queued', { id: 44 }),
      receivedAt: T0 + 6,
    });
    expect(taken).toEqual({ outcome: 'new', jobId: 44 });
    expect((await store.listJobs()).map((j) => j.id)).toEqual([42, 43, 44]);
    await store.close();
  });

  it('never takes a waiting job’s started_at (its queue time) as a start', () => {
    expect(
      jobRecordOf('acme/api', polled({ startedAt: T0 + 99 }), { source: 'poll', at: T0 }),
    ).not.toHaveProperty('startedAt');
  });
});

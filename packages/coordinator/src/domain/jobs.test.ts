import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JobRecord } from '../ports/store.js';
import { jobStatusOf, mergeJob, percentile, waitOf, withQueueWait } from './jobs.js';

const QUEUED: JobRecord = {
  id: 7,
  runId: 70,
  repository: 'acme/api',
  labels: ['lp-pool-build'],
  status: 'queued',
  queuedAt: 1000,
  seenAt: 1001,
  source: 'webhook',
};
const RUNNING: JobRecord = {
  ...QUEUED,
  status: 'in_progress',
  startedAt: 1030,
  runnerId: 5,
  runnerName: 'lp-host-a-build-1',
  seenAt: 1031,
};
const DONE: JobRecord = {
  ...RUNNING,
  status: 'completed',
  completedAt: 1100,
  conclusion: 'success',
  seenAt: 1101,
};

describe('jobStatusOf', () => {
  it('reads every waiting status as queued and refuses to guess an unknown one', () => {
    expect(['queued', 'requested', 'pending', 'waiting'].map(jobStatusOf)).toEqual([
      'queued',
      'queued',
      'queued',
      'queued',
    ]);
    expect(jobStatusOf('in_progress')).toBe('in_progress');
    expect(jobStatusOf('completed')).toBe('completed');
    expect(jobStatusOf('exploded')).toBeUndefined();
  });
});

describe('mergeJob', () => {
  it('moves a job forward and records its queue wait once a runner took it', () => {
    const first = mergeJob(undefined, QUEUED);
    expect(first).toEqual({ job: QUEUED, outcome: 'new' });
    const taken = mergeJob(first.job, RUNNING);
    expect(taken.outcome).toBe('advanced');
    expect(taken.job.waitSec).toBe(30);
    const done = mergeJob(taken.job, DONE);
    expect(done.outcome).toBe('advanced');
    expect(done.job).toMatchObject({ status: 'completed', waitSec: 30, completedAt: 1100 });
  });

  it('never moves a status back: a late queued or in_progress word is stale', () => {
    const done = mergeJob(mergeJob(undefined, RUNNING).job, DONE).job;
    const late = mergeJob(done, { ...QUEUED, seenAt: 2000 });
    expect(late.outcome).toBe('stale');
    expect(late.job).toEqual({ ...done, seenAt: 2000 });
    expect(mergeJob(done, { ...RUNNING, seenAt: 3 }).job).toEqual(done);
  });

  it('keeps what the new word leaves out, and the first queue time', () => {
    const running = mergeJob(undefined, RUNNING).job;
    const { runnerId: _a, runnerName: _b, ...bare } = DONE;
    const done = mergeJob(running, { ...bare, queuedAt: 1010 }).job;
    expect(done).toMatchObject({ runnerId: 5, runnerName: 'lp-host-a-build-1', queuedAt: 1000 });
  });

  it('tells an unchanged word (a poll repeating a delivery) from an update', () => {
    const stored = mergeJob(undefined, RUNNING).job;
    expect(mergeJob(stored, { ...RUNNING, seenAt: 5000, source: 'poll' })).toEqual({
      job: { ...stored, seenAt: 5000, source: 'poll' },
      outcome: 'unchanged',
    });
    expect(mergeJob(stored, { ...RUNNING, runnerGroupId: 2 }).outcome).toBe('updated');
  });

  it('ends at the most advanced status whatever order the words arrive in', () => {
    const words = [QUEUED, RUNNING, DONE];
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 12 }),
        (order) => {
          let job: JobRecord | undefined;
          for (const i of order) job = mergeJob(job, words[i]!).job;
          const best = Math.max(...order);
          expect(job?.status).toBe(words[best]!.status);
          if (best > 0) expect(job?.waitSec).toBe(30);
          else expect(job?.waitSec).toBeUndefined();
        },
      ),
    );
  });
});

describe('queue wait', () => {
  it('is not recorded for a job cancelled before a runner took it', () => {
    const cancelled: JobRecord = {
      ...QUEUED,
      status: 'completed',
      conclusion: 'cancelled',
      startedAt: 1000,
      completedAt: 1500,
    };
    expect(withQueueWait(cancelled).waitSec).toBeUndefined();
    // GitHub shows a queued job's queue time as started_at: not a start.
    expect(withQueueWait({ ...QUEUED, startedAt: 1000 }).waitSec).toBeUndefined();
  });

  it('of a waiting job grows with the clock; of a taken job it is fixed', () => {
    expect(waitOf(QUEUED, 1090)).toBe(90);
    expect(waitOf(withQueueWait(RUNNING), 99_999)).toBe(30);
  });

  it('percentile takes the nearest rank', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([5], 95)).toBe(5);
    const v = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 95)).toBe(95);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 100)).toBe(4);
  });
});

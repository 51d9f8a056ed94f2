import { describe, expect, it } from 'vitest';
import { type BurstyTraceOptions, burstyTrace, mergeTraces } from './trace.js';

/** The options without a place: give `repository` or `organization`. */
const SHAPE: Omit<BurstyTraceOptions, 'repository' | 'organization'> = {
  seed: 42,
  bursts: 5,
  jobsPerBurst: [3, 8],
  burstGapMs: [10_000, 20_000],
  burstSpreadMs: 2_000,
  durationMs: [1_000, 5_000],
  labels: ['lp-pool-a', 'linux'],
};
const BASE: BurstyTraceOptions = { ...SHAPE, repository: 'acme/api' };

describe('burstyTrace', () => {
  it('is the same trace for the same seed, and another for another seed', () => {
    const a = burstyTrace(BASE);
    expect(burstyTrace(BASE)).toEqual(a);
    expect(burstyTrace({ ...BASE, seed: 43 })).not.toEqual(a);
  });

  it('keeps every job within its ranges, in order of arrival, in bursts', () => {
    const jobs = burstyTrace({ ...BASE, bursts: 20 });
    expect(jobs.length).toBeGreaterThanOrEqual(20 * 3);
    expect(jobs.length).toBeLessThanOrEqual(20 * 8);
    for (const [i, j] of jobs.entries()) {
      expect(j.durationMs).toBeGreaterThanOrEqual(1_000);
      expect(j.durationMs).toBeLessThanOrEqual(5_000);
      expect(j.labels).toEqual(['lp-pool-a', 'linux']);
      expect(j.repository).toBe('acme/api');
      expect(j.conclusion).toBeUndefined();
      if (i > 0) expect(j.atMs).toBeGreaterThanOrEqual(jobs[i - 1]?.atMs ?? 0);
    }
    // Arrivals cluster: a gap between bursts is at least the smallest burst gap less the spread.
    const gaps = jobs.slice(1).map((j, i) => j.atMs - (jobs[i]?.atMs ?? 0));
    expect(gaps.filter((g) => g >= 10_000 - 2_000).length).toBe(19);
    expect(gaps.filter((g) => g > 2_000 && g < 8_000)).toEqual([]);
  });

  it('a job’s labels are its own: changing one changes no other', () => {
    const jobs = burstyTrace({ ...BASE, bursts: 1, jobsPerBurst: [2, 2] });
    jobs[0]?.labels.push('changed');
    expect(jobs[1]?.labels).toEqual(['lp-pool-a', 'linux']);
  });

  it('fails the share of jobs it is told to, and names the organization when given', () => {
    const all = burstyTrace({ ...SHAPE, organization: 'acme', failureRate: 1 });
    expect(all.every((j) => j.conclusion === 'failure' && j.organization === 'acme')).toBe(true);
    expect(all.every((j) => j.repository === undefined)).toBe(true);
    const some = burstyTrace({ ...BASE, bursts: 50, failureRate: 0.3 });
    const failed = some.filter((j) => j.conclusion === 'failure').length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(some.length);
  });

  it('starts at startMs and makes nothing for zero bursts', () => {
    expect(burstyTrace({ ...BASE, bursts: 0 })).toEqual([]);
    const late = burstyTrace({ ...BASE, startMs: 60_000 });
    expect(Math.min(...late.map((j) => j.atMs))).toBeGreaterThanOrEqual(60_000);
  });

  it('refuses bad options', () => {
    const bad: BurstyTraceOptions[] = [
      { ...BASE, jobsPerBurst: [5, 2] },
      { ...BASE, durationMs: [-1, 10] },
      { ...BASE, burstGapMs: [1.5, 2] },
      { ...BASE, bursts: -1 },
      { ...BASE, burstSpreadMs: -5 },
      { ...BASE, failureRate: 1.5 },
      { ...BASE, organization: 'acme' },
      SHAPE,
    ];
    for (const b of bad) expect(() => burstyTrace(b)).toThrow(RangeError);
  });
});

describe('mergeTraces', () => {
  it('merges in order of arrival, keeping the order of jobs that arrive together', () => {
    const a = [
      { atMs: 0, repository: 'a/a', labels: ['x'], durationMs: 1 },
      { atMs: 20, repository: 'a/a', labels: ['x'], durationMs: 2 },
    ];
    const b = [
      { atMs: 10, repository: 'b/b', labels: ['y'], durationMs: 3 },
      { atMs: 20, repository: 'b/b', labels: ['y'], durationMs: 4 },
    ];
    expect(mergeTraces(a, b).map((j) => j.durationMs)).toEqual([1, 3, 2, 4]);
  });
});

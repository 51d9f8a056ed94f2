import { describe, expect, it } from 'vitest';
import { reportedBusy } from './busy.js';

describe('reportedBusy()', () => {
  const lag = { lagMs: 100, flipAfterMs: 50, flipMs: 20, trailMs: 0 };
  const running = { startedAt: 0, endedAt: null };

  it('is false without a job and before the lag, true after, false during the flip', () => {
    expect(reportedBusy(null, 1000, lag)).toBe(false);
    expect(reportedBusy(running, 99, lag)).toBe(false);
    expect(reportedBusy(running, 100, lag)).toBe(true);
    expect(reportedBusy(running, 149, lag)).toBe(true);
    expect(reportedBusy(running, 150, lag)).toBe(false);
    expect(reportedBusy(running, 169, lag)).toBe(false);
    expect(reportedBusy(running, 170, lag)).toBe(true);
    expect(reportedBusy(running, 10_000, { lagMs: 0, flipAfterMs: 0, flipMs: 0, trailMs: 0 })).toBe(
      true,
    );
  });

  it('keeps reading true for trailMs after the job ended, then false', () => {
    const trail = { lagMs: 100, flipAfterMs: 0, flipMs: 0, trailMs: 300 };
    const ended = { startedAt: 0, endedAt: 500 };
    expect(reportedBusy(ended, 600, trail)).toBe(true);
    expect(reportedBusy(ended, 799, trail)).toBe(true);
    expect(reportedBusy(ended, 800, trail)).toBe(false);
    expect(reportedBusy(ended, 600, { ...trail, trailMs: 0 })).toBe(false);
    // A job shorter than the lag shows up late and briefly when there is a trail, as on GitHub.
    expect(reportedBusy({ startedAt: 0, endedAt: 50 }, 120, trail)).toBe(true);
  });
});

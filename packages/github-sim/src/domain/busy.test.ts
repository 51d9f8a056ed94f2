import { describe, expect, it } from 'vitest';
import { reportedBusy } from './busy.js';

describe('reportedBusy()', () => {
  const lag = { lagMs: 100, flipAfterMs: 50, flipMs: 20 };
  it('is false without a job and before the lag, true after, false during the flip', () => {
    expect(reportedBusy(null, 1000, lag)).toBe(false);
    expect(reportedBusy(0, 99, lag)).toBe(false);
    expect(reportedBusy(0, 100, lag)).toBe(true);
    expect(reportedBusy(0, 149, lag)).toBe(true);
    expect(reportedBusy(0, 150, lag)).toBe(false);
    expect(reportedBusy(0, 169, lag)).toBe(false);
    expect(reportedBusy(0, 170, lag)).toBe(true);
    expect(reportedBusy(0, 10_000, { lagMs: 0, flipAfterMs: 0, flipMs: 0 })).toBe(true);
  });
});

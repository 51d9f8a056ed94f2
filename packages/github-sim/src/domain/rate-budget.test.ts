import { describe, expect, it } from 'vitest';
import { consume, currentBudget, remaining } from './rate-budget.js';

describe('rate budget', () => {
  it('opens an hour-long window at first use and starts over once it resets', () => {
    const t0 = 1_000_000_000;
    let b = currentBudget(undefined, t0, 2);
    expect(b).toEqual({ limit: 2, used: 0, reset: t0 / 1000 + 3600 });
    b = consume(consume(b));
    expect(remaining(b)).toBe(0);
    expect(remaining(consume(b))).toBe(0);
    expect(currentBudget(b, t0 + 3_599_999, 2).used).toBe(2);
    expect(currentBudget(b, t0 + 3_600_000, 2).used).toBe(0);
  });
});

/** One token's primary rate-limit window, as GitHub counts it (a fixed hour from first use). */
export interface RateBudget {
  limit: number;
  used: number;
  /** Unix seconds when the window resets. */
  reset: number;
}

/** Length of GitHub's primary rate-limit window. */
export const RATE_WINDOW_SEC = 3600;

/** The budget as it stands at `nowMs`: a window whose reset time has passed starts over. */
export function currentBudget(b: RateBudget | undefined, nowMs: number, limit: number): RateBudget {
  const now = Math.floor(nowMs / 1000);
  if (b === undefined || now >= b.reset) return { limit, used: 0, reset: now + RATE_WINDOW_SEC };
  return { ...b, limit };
}

/** Requests left in the window, never negative. */
export function remaining(b: RateBudget): number {
  return Math.max(0, b.limit - b.used);
}

/** The budget after one counted request. */
export function consume(b: RateBudget): RateBudget {
  return { ...b, used: b.used + 1 };
}

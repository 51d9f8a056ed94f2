/** Failures the control API can inject into the public endpoints. */
export interface Faults {
  /** Probability (0–1) that a request fails with `serverErrorStatus`. */
  serverErrorRate: number;
  /** The next this-many requests fail with `serverErrorStatus`, whatever the rate. */
  serverErrorsNext: number;
  /** Status of injected server errors. Default 502. */
  serverErrorStatus: number;
  /** Added to every public request before it is answered. */
  latencyMs: number;
  /** The next this-many requests hit GitHub's secondary rate limit. */
  secondaryRateLimitNext: number;
  /** `retry-after` seconds on a secondary rate-limit answer. Default 1. */
  secondaryRetryAfterSec: number;
  /** Status of the secondary rate-limit answer: GitHub uses 403, sometimes 429. */
  secondaryStatus: 403 | 429;
  /** Every token's primary budget reads as spent. */
  budgetExhausted: boolean;
}

export const NO_FAULTS: Faults = {
  serverErrorRate: 0,
  serverErrorsNext: 0,
  serverErrorStatus: 502,
  latencyMs: 0,
  secondaryRateLimitNext: 0,
  secondaryRetryAfterSec: 1,
  secondaryStatus: 403,
  budgetExhausted: false,
};

/** Merges a partial update into `faults`, refusing out-of-range values. */
export function mergeFaults(faults: Faults, update: Record<string, unknown>): Faults | string {
  const next: Faults = { ...faults };
  for (const [k, v] of Object.entries(update)) {
    switch (k) {
      case 'serverErrorRate':
        if (typeof v !== 'number' || v < 0 || v > 1)
          return 'serverErrorRate must be a number from 0 to 1';
        next.serverErrorRate = v;
        break;
      case 'serverErrorsNext':
      case 'latencyMs':
      case 'secondaryRateLimitNext':
      case 'secondaryRetryAfterSec':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
          return `${k} must be a non-negative integer`;
        next[k] = v;
        break;
      case 'serverErrorStatus':
        if (typeof v !== 'number' || v < 500 || v > 599)
          return 'serverErrorStatus must be a 5xx status';
        next.serverErrorStatus = v;
        break;
      case 'secondaryStatus':
        if (v !== 403 && v !== 429) return 'secondaryStatus must be 403 or 429';
        next.secondaryStatus = v;
        break;
      case 'budgetExhausted':
        if (typeof v !== 'boolean') return 'budgetExhausted must be a boolean';
        next.budgetExhausted = v;
        break;
      default:
        return `unknown fault "${k}"`;
    }
  }
  return next;
}

/**
 * Restart backoff and the failure window of the health loop
 * (docs/design/lane-lifecycle.md "Health"). Pure: time and
 * randomness come in as arguments.
 */

/** Backoff settings, in seconds, and the random draw in [0, 1). */
export interface BackoffOptions {
  baseSec: number;
  capSec: number;
  random: number;
}

/**
 * Capped exponential backoff with full jitter: a delay uniformly drawn in
 * `[0, min(cap, base · 2^attempt))`, in milliseconds. `attempt` counts from 0.
 */
export function backoffDelayMs(attempt: number, options: BackoffOptions): number {
  const exp = Math.min(options.capSec, options.baseSec * 2 ** Math.max(0, Math.min(attempt, 52)));
  const r = Math.min(Math.max(options.random, 0), 1);
  return Math.floor(exp * 1000 * r);
}

/** Failure-window settings. */
export interface FailureWindowOptions {
  /** Unix seconds now. */
  now: number;
  /** Failures inside the window that make a lane `failed`. */
  maxFailures: number;
  windowSec: number;
}

/** Outcome of {@link recordFailure}. */
export interface FailureVerdict {
  /** Failure times (Unix seconds) still inside the window, the new one included, oldest first. */
  failures: number[];
  /** True when the lane reached `maxFailures` inside the window and must be left alone. */
  exhausted: boolean;
}

/** Adds a failure at `now` and drops the ones that fell out of the window. */
export function recordFailure(
  failures: readonly number[],
  options: FailureWindowOptions,
): FailureVerdict {
  const { now } = options;
  const kept = failures.filter((t) => t > now - options.windowSec && t <= now);
  kept.push(now);
  kept.sort((a, b) => a - b);
  return { failures: kept, exhausted: kept.length >= options.maxFailures };
}

/** Failures (Unix seconds) still inside the window at `now`. */
export function failuresInWindow(
  failures: readonly number[],
  options: { now: number; windowSec: number },
): number[] {
  const { now, windowSec } = options;
  return failures.filter((t) => t > now - windowSec && t <= now);
}

/**
 * The failure window of the health loop: how many restarts a lane gets
 * before it is left `failed`. Pure: time comes in as an argument. The restart delay itself is the
 * shared backoff (`backoffDelayMs` in `@launchplane/shared`).
 */

/** Failure-window settings. */
export interface FailureWindowOptions {
  /** Unix seconds now. */
  nowSec: number;
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

/** Adds a failure at `nowSec` and drops the ones that fell out of the window. */
export function recordFailure(
  failures: readonly number[],
  options: FailureWindowOptions,
): FailureVerdict {
  const { nowSec } = options;
  const kept = failures.filter((t) => t > nowSec - options.windowSec && t <= nowSec);
  kept.push(nowSec);
  kept.sort((a, b) => a - b);
  return { failures: kept, exhausted: kept.length >= options.maxFailures };
}

/** Failures (Unix seconds) still inside the window at `nowSec`. */
export function failuresInWindow(
  failures: readonly number[],
  options: { nowSec: number; windowSec: number },
): number[] {
  const { nowSec, windowSec } = options;
  return failures.filter((t) => t > nowSec - windowSec && t <= nowSec);
}

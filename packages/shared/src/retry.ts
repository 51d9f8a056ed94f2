/**
 * The one retry loop: call `fn` until it succeeds, its error is not worth retrying, or the
 * deadline passes, sleeping on the {@link Clock} between attempts.
 */
import type { Clock } from './clock.js';

/** Options of {@link retryUntil}. */
export interface RetryOptions {
  /** Whether an error is worth another attempt. False: it is thrown at once. */
  retryIf: (err: unknown, attempt: number) => boolean;
  /** The wait after attempt `attempt` (0-based) failed, in ms (e.g. `backoffDelayMs`). */
  delayMs: (attempt: number) => number;
  /** Aborts the wait between attempts (the sleep rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Runs `fn(attempt)` until it resolves and returns its value. An error `retryIf` rejects is
 * thrown at once; once the clock reaches `deadlineMs` (epoch ms) the last error is thrown. A wait
 * never runs past the deadline: the last attempt is made at it.
 */
export async function retryUntil<T>(
  clock: Clock,
  deadlineMs: number,
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const leftMs = deadlineMs - clock.nowMs();
      if (!options.retryIf(err, attempt) || leftMs <= 0) throw err;
      const waitMs = Math.max(0, Math.min(options.delayMs(attempt), leftMs));
      await clock.sleep(waitMs, options.signal);
    }
  }
}

/**
 * `waitFor`: polls a condition until it holds or a deadline passes, for suites that wait on real
 * processes, daemons and the simulator. It is shared's `retryUntil` on the real clock.
 */
import { retryUntil, sleepOnTimer, type Clock } from '@launchplane/shared';

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Poll interval. Default 50 ms. */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
  /**
   * Whether an error thrown by the predicate counts as "not yet" (true: the last one is the
   * cause of the timeout error) or ends the wait at once (false). Default true.
   */
  retryErrors?: boolean;
}

/** The real clock, on timers that do not keep the process alive. */
const realClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    sleepOnTimer(
      (delayMs, fn) => {
        const timer = setTimeout(fn, delayMs);
        timer.unref();
        return { cancel: () => clearTimeout(timer) };
      },
      ms,
      signal,
    ),
};

/** What the predicate "threw" when it answered `undefined` or `false`. */
class NotYet extends Error {}

/**
 * Polls `predicate` until it returns a value other than `undefined`/`false`, and returns that
 * value; after `timeoutMs` it throws `Timed out after … waiting for <what>`.
 */
export async function waitFor<T>(
  predicate: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitForOptions = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 50, what = 'condition', retryErrors = true } = options;
  let lastError: unknown;
  const attempt = async (): Promise<T> => {
    let value: T | undefined | false;
    try {
      value = await predicate();
    } catch (error) {
      lastError = error;
      throw error;
    }
    if (value === undefined || value === false) throw new NotYet();
    return value;
  };
  try {
    return await retryUntil(realClock, realClock.nowMs() + timeoutMs, attempt, {
      retryIf: (err) => err instanceof NotYet || retryErrors,
      delayMs: () => intervalMs,
    });
  } catch (err) {
    if (!(err instanceof NotYet) && !retryErrors) throw err;
    throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
  }
}

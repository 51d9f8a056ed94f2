/**
 * The one Clock port: code that reads time or waits does so only through it, so tests drive
 * deadlines, polling and backoff with a fake instead of real timers. The real clocks are adapters
 * in the agent and the coordinator (shared does no I/O). Every time value carries its
 * unit in its name: `…Ms` for milliseconds, `…Sec` for seconds (Unix seconds for instants).
 */

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  nowMs(): number;
  /** Resolves after `ms`, or rejects with the signal's reason once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A scheduled callback; `cancel()` is idempotent. */
export interface TimerHandle {
  cancel(): void;
}

/** Runs `fn` once after `delayMs`. */
export type SetTimer = (delayMs: number, fn: () => void) => TimerHandle;

/**
 * A `Clock.sleep` on a timer: resolves after `ms`, or rejects with the signal's reason once
 * `signal` aborts (at once if it already has).
 */
export function sleepOnTimer(setTimer: SetTimer, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(abortReason(signal));
    };
    const timer = setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error a wait rejects with when its signal aborts: the signal's reason, if an Error. */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('Aborted');
}

/** Whole seconds of a millisecond time (Unix seconds of an epoch-milliseconds instant). */
export function msToSec(ms: number): number {
  return Math.floor(ms / 1000);
}

/** Unix seconds now, on `clock`. */
export function nowSec(clock: Pick<Clock, 'nowMs'>): number {
  return msToSec(clock.nowMs());
}

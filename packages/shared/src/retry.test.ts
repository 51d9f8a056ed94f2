import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.js';
import type { Clock } from './clock.js';
import { LaunchplaneError } from './errors.js';
import { retryUntil } from './retry.js';

/** A clock that only moves when slept on; it records every sleep. */
class FakeClock implements Clock {
  nowMsValue = 1_000_000;
  readonly sleepsMs: number[] = [];
  nowMs(): number {
    return this.nowMsValue;
  }
  sleep(ms: number): Promise<void> {
    this.sleepsMs.push(ms);
    this.nowMsValue += ms;
    return Promise.resolve();
  }
}

const busy = () => new LaunchplaneError('LP_LANE_BUSY', 'Busy');
const retryBusy = (err: unknown) => err instanceof LaunchplaneError && err.code === 'LP_LANE_BUSY';

describe('retryUntil()', () => {
  it('returns the first success, sleeping the backoff between failures', async () => {
    const clock = new FakeClock();
    const attempts: number[] = [];
    const value = await retryUntil(
      clock,
      clock.nowMs() + 60_000,
      (attempt) => {
        attempts.push(attempt);
        return attempt < 4 ? Promise.reject(busy()) : Promise.resolve('done');
      },
      { retryIf: retryBusy, delayMs: (n) => backoffDelayMs(n, { baseMs: 500, capMs: 3000 }) },
    );
    expect(value).toBe('done');
    expect(attempts).toEqual([0, 1, 2, 3, 4]);
    expect(clock.sleepsMs).toEqual([500, 1000, 2000, 3000]);
  });

  it('throws at once, without sleeping, when retryIf says no', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const err = await retryUntil(
      clock,
      clock.nowMs() + 60_000,
      () => {
        calls++;
        return Promise.reject(new LaunchplaneError('LP_NOT_OWNED', 'Not ours'));
      },
      { retryIf: retryBusy, delayMs: () => 1000 },
    ).catch((e: unknown) => e);
    expect((err as LaunchplaneError).code).toBe('LP_NOT_OWNED');
    expect(calls).toBe(1);
    expect(clock.sleepsMs).toEqual([]);
  });

  it('throws the last error at the deadline, never sleeping past it', async () => {
    const clock = new FakeClock();
    const start = clock.nowMs();
    let calls = 0;
    const err = await retryUntil(
      clock,
      start + 10_000,
      () => {
        calls++;
        return Promise.reject(busy());
      },
      { retryIf: retryBusy, delayMs: () => 4000 },
    ).catch((e: unknown) => e);
    expect((err as LaunchplaneError).code).toBe('LP_LANE_BUSY');
    // 4 s, 4 s, then only the 2 s left; the attempt at the deadline is the last.
    expect(clock.sleepsMs).toEqual([4000, 4000, 2000]);
    expect(calls).toBe(4);
    expect(clock.nowMs()).toBe(start + 10_000);
  });

  it('makes one attempt when the deadline has already passed', async () => {
    const clock = new FakeClock();
    let calls = 0;
    await expect(
      retryUntil(
        clock,
        clock.nowMs() - 1,
        () => {
          calls++;
          return Promise.reject(busy());
        },
        { retryIf: retryBusy, delayMs: () => 1000 },
      ),
    ).rejects.toThrow('Busy');
    expect(calls).toBe(1);
  });

  it('an aborted signal ends the wait with its reason', async () => {
    const controller = new AbortController();
    const clock: Clock = {
      nowMs: () => 0,
      sleep: (_ms, signal) =>
        signal?.aborted === true ? Promise.reject(signal.reason as Error) : Promise.resolve(),
    };
    controller.abort(new Error('Stopped by operator'));
    await expect(
      retryUntil(clock, 60_000, () => Promise.reject(busy()), {
        retryIf: retryBusy,
        delayMs: () => 1000,
        signal: controller.signal,
      }),
    ).rejects.toThrow('Stopped by operator');
  });
});

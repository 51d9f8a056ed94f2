import type { Clock } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../ports/logger.js';
import { IntervalLoop } from './interval-loop.js';

/** A clock whose waits end only when the test moves time past them (or they are aborted). */
class SteppedClock implements Clock {
  nowValueMs = 0;
  readonly #waits: { untilMs: number; resolve: () => void }[] = [];

  nowMs(): number {
    return this.nowValueMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted === true) return reject(new Error('aborted'));
      const wait = { untilMs: this.nowValueMs + ms, resolve };
      this.#waits.push(wait);
      signal?.addEventListener('abort', () => {
        this.#waits.splice(this.#waits.indexOf(wait), 1);
        reject(new Error('aborted'));
      });
    });
  }

  /** Moves time on by `ms`, ending every wait that is due. */
  async advance(ms: number): Promise<void> {
    this.nowValueMs += ms;
    for (const w of this.#waits.filter((x) => x.untilMs <= this.nowValueMs)) {
      this.#waits.splice(this.#waits.indexOf(w), 1);
      w.resolve();
    }
    await settle();
  }

  get pending(): number {
    return this.#waits.length;
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

function loopOf(clock: SteppedClock, round: () => Promise<void> = async () => {}) {
  const rounds: number[] = [];
  const loop = new IntervalLoop(
    async () => {
      rounds.push(clock.nowMs());
      await round();
    },
    { clock, logger: silentLogger, intervalMs: 60_000, minGapMs: 1_000, what: 'test' },
  );
  return { loop, rounds };
}

describe('IntervalLoop', () => {
  it('runs a round at start, then one per interval', async () => {
    const clock = new SteppedClock();
    const { loop, rounds } = loopOf(clock);
    loop.start();
    await settle();
    expect(rounds).toEqual([0]);
    await clock.advance(59_999);
    expect(rounds).toEqual([0]);
    await clock.advance(1);
    expect(rounds).toEqual([0, 60_000]);
    await loop.stop();
  });

  it('a wake during the wait runs the next round once the least gap has passed, not at the interval', async () => {
    const clock = new SteppedClock();
    const { loop, rounds } = loopOf(clock);
    loop.start();
    await settle();
    await clock.advance(200);
    loop.wake();
    await settle();
    // 200 ms after the round: it waits out the rest of the 1 s gap.
    expect(rounds).toEqual([0]);
    await clock.advance(800);
    expect(rounds).toEqual([0, 1_000]);
    // Woken long after the gap: at once.
    await clock.advance(5_000);
    loop.wake();
    await settle();
    expect(rounds).toEqual([0, 1_000, 6_000]);
    await loop.stop();
  });

  it('many wakes during a round make one more round, not one each', async () => {
    const clock = new SteppedClock();
    let release: () => void = () => {};
    let hold = true;
    const { loop, rounds } = loopOf(clock, () =>
      hold ? new Promise<void>((r) => (release = r)) : Promise.resolve(),
    );
    loop.start();
    await settle();
    for (let i = 0; i < 50; i++) loop.wake();
    hold = false;
    await clock.advance(2_000);
    release();
    await settle();
    // The round ended at 2 s: the next one starts after the least gap, once.
    expect(rounds).toEqual([0]);
    await clock.advance(1_000);
    expect(rounds).toEqual([0, 3_000]);
    // Then back to the interval: nothing more until 60 s after that round.
    await clock.advance(59_999);
    expect(rounds).toEqual([0, 3_000]);
    await clock.advance(1);
    expect(rounds).toEqual([0, 3_000, 63_000]);
    await loop.stop();
  });

  it('stop ends the wait at once, and a wake after stop runs nothing', async () => {
    const clock = new SteppedClock();
    const { loop, rounds } = loopOf(clock);
    loop.start();
    await settle();
    await loop.stop();
    expect(clock.pending).toBe(0);
    loop.wake();
    await clock.advance(120_000);
    expect(rounds).toEqual([0]);
  });
});

import type { Clock } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../ports/logger.js';
import type { ControlService } from './control-service.js';
import { IntervalLoop } from './interval-loop.js';
import { Reconciler } from './reconciler.js';

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

  it('a round that asks for the next one sooner (wakeAt) gets it then, within the least gap', async () => {
    const clock = new SteppedClock();
    const asks: (number | undefined)[] = [15_000, 15_500, undefined];
    const ref: { loop?: IntervalLoop } = {};
    const { loop, rounds } = loopOf(clock, () => {
      const at = asks.shift();
      if (at !== undefined) {
        ref.loop?.wakeAt(at + 10_000);
        ref.loop?.wakeAt(at);
      }
      return Promise.resolve();
    });
    ref.loop = loop;
    loop.start();
    await settle();
    await clock.advance(14_999);
    expect(rounds).toEqual([0]);
    await clock.advance(1);
    // The earliest time asked for wins.
    expect(rounds).toEqual([0, 15_000]);
    // The second round asks for 15.5 s: within the least gap of 1 s, so at 16 s.
    await clock.advance(999);
    expect(rounds).toEqual([0, 15_000]);
    await clock.advance(1);
    expect(rounds).toEqual([0, 15_000, 16_000]);
    // The third asks for nothing: back to the interval.
    await clock.advance(59_999);
    expect(rounds).toEqual([0, 15_000, 16_000]);
    await clock.advance(1);
    expect(rounds).toEqual([0, 15_000, 16_000, 76_000]);
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

describe('Reconciler', () => {
  it('plans again when the next spare lane is due to go, not at its next interval', async () => {
    const clock = new SteppedClock();
    clock.nowValueMs = 1_000_000;
    const rounds: number[] = [];
    // A plan whose pools say when a spare lane will be due (epoch seconds), or nothing.
    const due: (number[] | undefined)[] = [[1_040, 1_020], undefined];
    const service = {
      applying: () => false,
      settled: async () => {},
      plan: () => {
        rounds.push(clock.nowMs());
        const at = due.shift();
        return Promise.resolve({
          scaling:
            at === undefined
              ? undefined
              : { pools: at.map((nextScaleDownAt) => ({ nextScaleDownAt })) },
        });
      },
    } as unknown as ControlService;
    const rec = new Reconciler({ service, clock, logger: silentLogger }, { intervalSec: 60 });
    rec.start();
    await settle();
    expect(rounds).toEqual([1_000_000]);
    // The first pool's lane is due at 1,020 s: the next round runs then, not at 1,060 s.
    await clock.advance(19_999);
    expect(rounds).toEqual([1_000_000]);
    await clock.advance(1);
    expect(rounds).toEqual([1_000_000, 1_020_000]);
    // Nothing is due after it: the interval again.
    await clock.advance(59_999);
    expect(rounds).toHaveLength(2);
    await clock.advance(1);
    expect(rounds).toEqual([1_000_000, 1_020_000, 1_080_000]);
    await rec.stop();
  });
});

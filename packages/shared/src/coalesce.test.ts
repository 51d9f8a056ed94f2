import { describe, expect, it } from 'vitest';
import { coalescing } from './coalesce.js';

/** An action whose runs end when the test says, recording when each began. */
function gatedAction(): {
  fn: () => Promise<void>;
  began: number[];
  finish: (error?: Error) => void;
  calls: () => number;
} {
  const began: number[] = [];
  const ends: ((error?: Error) => void)[] = [];
  let clock = 0;
  return {
    fn: () =>
      new Promise<void>((resolve, reject) => {
        began.push(++clock);
        ends.push((error) => (error === undefined ? resolve() : reject(error)));
      }),
    began,
    finish: (error) => ends.shift()?.(error),
    calls: () => began.length,
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('coalescing', () => {
  it('a burst of calls while a run is under way shares one run that begins after them', async () => {
    const a = gatedAction();
    const run = coalescing(a.fn);
    const settled: string[] = [];
    const first = run().then(() => settled.push('first'));
    await tick();
    expect(a.calls()).toBe(1);
    // Five calls while the first run is under way: none of them may be served by it.
    const later = [1, 2, 3, 4, 5].map((i) => run().then(() => settled.push(`later${i}`)));
    await tick();
    expect(a.calls()).toBe(1);
    a.finish();
    await first;
    await tick();
    expect(settled).toEqual(['first']);
    expect(a.calls()).toBe(2);
    a.finish();
    await Promise.all(later);
    expect(settled).toHaveLength(6);
    expect(a.calls()).toBe(2);
  });

  it('a call made once the queued run began gets a run of its own', async () => {
    const a = gatedAction();
    const run = coalescing(a.fn);
    const one = run();
    await tick();
    const two = run();
    await tick();
    a.finish();
    await one;
    await tick();
    expect(a.calls()).toBe(2);
    // The second run is under way now: a new call must wait for a third.
    let threeDone = false;
    const three = run().then(() => (threeDone = true));
    a.finish();
    await two;
    await tick();
    expect(threeDone).toBe(false);
    expect(a.calls()).toBe(3);
    a.finish();
    await three;
    expect(threeDone).toBe(true);
  });

  it('a failed run rejects its callers only, and the next run still happens', async () => {
    const a = gatedAction();
    const run = coalescing(a.fn);
    const one = run();
    await tick();
    const two = run();
    a.finish(new Error('reload failed'));
    await expect(one).rejects.toThrow('reload failed');
    await tick();
    a.finish();
    await expect(two).resolves.toBeUndefined();
    expect(a.calls()).toBe(2);
  });

  it('calls far apart each get a run', async () => {
    const a = gatedAction();
    const run = coalescing(a.fn);
    for (let i = 1; i <= 3; i++) {
      const p = run();
      await tick();
      a.finish();
      await p;
    }
    expect(a.calls()).toBe(3);
  });
});

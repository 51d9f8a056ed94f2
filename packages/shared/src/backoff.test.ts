import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffCeilingMs, backoffDelayMs } from './backoff.js';

describe('Backoff', () => {
  it('draws every delay from [0, min(cap, base * 2^attempt)]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 40,
        }),
        (draws) => {
          let i = 0;
          const b = new Backoff({ random: () => draws[i++ % draws.length] ?? 0 });
          for (let attempt = 0; attempt < draws.length; attempt++) {
            const d = b.next();
            expect(d).toBeGreaterThanOrEqual(0);
            expect(d).toBeLessThanOrEqual(Math.min(64_000, 1_000 * 2 ** attempt));
            expect(Number.isInteger(d)).toBe(true);
          }
        },
      ),
    );
  });

  it('grows the ceiling 1 s, 2 s, 4 s … and caps it at 64 s', () => {
    const b = new Backoff({ random: () => 0.999999 });
    const delays = Array.from({ length: 10 }, () => b.next());
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 64000, 64000, 64000, 64000]);
  });

  it('is fully jittered: a low draw gives a short delay even late in the sequence', () => {
    const draws = [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.01];
    let i = 0;
    const b = new Backoff({ random: () => draws[i++] ?? 0 });
    const delays = draws.map(() => b.next());
    expect(delays.at(-1)).toBe(640);
  });

  it('reset() starts again from the base ceiling', () => {
    const b = new Backoff({ random: () => 0.999999, baseMs: 100, capMs: 1000 });
    for (let n = 0; n < 8; n++) b.next();
    expect(b.attempt).toBe(8);
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('stays bounded for huge attempt counts and a broken random source', () => {
    expect(backoffCeilingMs(1e9, { baseMs: 1000, capMs: 64_000, factor: 2 })).toBe(64_000);
    for (const bad of [Number.NaN, -5, 7, Number.POSITIVE_INFINITY]) {
      const b = new Backoff({ random: () => bad });
      const d = b.next();
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(1000);
    }
  });

  it('refuses nonsensical limits', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 100, capMs: 50 })).toThrow(RangeError);
    expect(() => new Backoff({ factor: 0.5 })).toThrow(RangeError);
  });
});

describe('backoffDelayMs()', () => {
  it('without a draw is the capped exponential ceiling', () => {
    const delays = Array.from({ length: 8 }, (_, n) =>
      backoffDelayMs(n, { baseMs: 250, capMs: 5_000 }),
    );
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('with a draw is full jitter in [0, ceiling]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (n, r) => {
          const d = backoffDelayMs(n, { baseMs: 2000, capMs: 120_000, random: r });
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(Math.min(120_000, 2000 * 2 ** Math.min(n, 64)));
        },
      ),
    );
    expect(backoffDelayMs(3, { baseMs: 2000, capMs: 120_000, random: 0.5 })).toBe(8000);
  });
});

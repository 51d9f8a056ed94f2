import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { LaunchplaneError } from './errors.js';
import {
  checkReplay,
  InMemoryReplayStore,
  replayedResult,
  replayError,
  type ReplayRecord,
} from './replay-guard.js';

const record = (jti: string, seq: number, forgetAfter = 1000): ReplayRecord<string> => ({
  jti,
  seq,
  forgetAfter,
  result: undefined,
});

describe('checkReplay()', () => {
  test('a first command is fresh and remembered until exp + skew', () => {
    expect(
      checkReplay({ seen: undefined, lastSeq: undefined }, { jti: 'a', seq: 1, exp: 100 }),
    ).toEqual({
      kind: 'fresh',
      record: { jti: 'a', seq: 1, forgetAfter: 130 },
    });
    expect(
      checkReplay({ seen: undefined, lastSeq: 3 }, { jti: 'a', seq: 4, exp: 100 }, { skewSec: 5 }),
    ).toEqual({ kind: 'fresh', record: { jti: 'a', seq: 4, forgetAfter: 105 } });
  });

  test('a seen jti is a replay carrying the stored result, before any seq check', () => {
    const seen = { ...record('a', 7), result: 'stored' };
    expect(checkReplay({ seen, lastSeq: 9 }, { jti: 'a', seq: 7, exp: 100 })).toEqual({
      kind: 'replayed',
      jti: 'a',
      result: 'stored',
    });
  });

  test('seq at or below the last accepted is a regression', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (last, seq) => {
        const decision = checkReplay({ seen: undefined, lastSeq: last }, { jti: 'x', seq, exp: 0 });
        expect(decision.kind).toBe(seq > last ? 'fresh' : 'seq-regression');
      }),
    );
  });
});

describe('replayError()', () => {
  test('LP_REPLAYED exposes the stored result', () => {
    const error = replayError({ kind: 'replayed', jti: 'a', result: { ok: true } });
    expect(error).toBeInstanceOf(LaunchplaneError);
    expect(error.code).toBe('LP_REPLAYED');
    expect(replayedResult(error)).toEqual({ ok: true });
  });

  test('LP_SEQ_REGRESSION names both numbers', () => {
    const error = replayError({ kind: 'seq-regression', seq: 3, lastSeq: 5 });
    expect(error.code).toBe('LP_SEQ_REGRESSION');
    expect(error.message).toBe('Command seq 3 is not above the last accepted seq 5');
    expect(replayedResult(error)).toBeUndefined();
  });
});

describe('InMemoryReplayStore', () => {
  function codeOf(fn: () => unknown): string {
    try {
      fn();
    } catch (error) {
      expect(error).toBeInstanceOf(LaunchplaneError);
      return (error as LaunchplaneError).code;
    }
    throw new Error('expected a LaunchplaneError');
  }

  test('refuses to remember a jti twice or a seq that does not grow', () => {
    const store = new InMemoryReplayStore<string>();
    store.remember(record('a', 1));
    expect(codeOf(() => store.remember(record('a', 2)))).toBe('LP_REPLAYED');
    expect(codeOf(() => store.remember(record('b', 1)))).toBe('LP_SEQ_REGRESSION');
    store.remember(record('b', 2));
    expect(store.lastSeq()).toBe(2);
  });

  test('stores and returns results', () => {
    const store = new InMemoryReplayStore<string>();
    store.remember(record('a', 1));
    expect(store.get('a')?.result).toBeUndefined();
    store.setResult('a', 'done');
    expect(store.get('a')?.result).toBe('done');
    store.setResult('gone', 'ignored');
    expect(store.get('gone')).toBeUndefined();
  });

  test('prune forgets records whose forgetAfter has come, and never lowers lastSeq', () => {
    const store = new InMemoryReplayStore<string>();
    store.remember(record('a', 1, 100));
    store.remember(record('b', 2, 200));
    expect(store.prune(99)).toBe(0);
    expect(store.prune(100)).toBe(1);
    expect(store.get('a')).toBeUndefined();
    expect(store.get('b')).toBeDefined();
    expect(store.prune(1000)).toBe(1);
    expect(store.size).toBe(0);
    expect(store.lastSeq()).toBe(2);
    expect(codeOf(() => store.remember(record('c', 2)))).toBe('LP_SEQ_REGRESSION');
  });

  test('does not alias the record it was given', () => {
    const store = new InMemoryReplayStore<string>();
    const given = record('a', 1);
    store.remember(given);
    given.seq = 99;
    expect(store.get('a')?.seq).toBe(1);
  });
});

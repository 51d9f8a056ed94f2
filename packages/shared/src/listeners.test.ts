import { describe, expect, it } from 'vitest';
import { callEach } from './listeners.js';

describe('callEach', () => {
  it('calls every listener in order, and hands a throwing one to onError without stopping', () => {
    const calls: string[] = [];
    const errors: unknown[] = [];
    const boom = new Error('boom');
    callEach(
      [
        () => calls.push('a'),
        () => {
          throw boom;
        },
        () => calls.push('c'),
      ],
      (err) => errors.push(err),
    );
    expect(calls).toEqual(['a', 'c']);
    expect(errors).toEqual([boom]);
  });
});

import { describe, expect, it } from 'vitest';
import { waitFor } from './wait.js';

describe('waitFor', () => {
  it('polls until the predicate gives a value, and returns it', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `after ${calls}` : false), {
      intervalMs: 1,
    });
    expect(value).toBe('after 3');
  });

  it('counts a thrown error as "not yet", and names the last one as the cause of the timeout', async () => {
    let calls = 0;
    const err = (await waitFor(
      () => {
        calls += 1;
        if (calls === 1) throw new Error('first failure');
        return undefined;
      },
      { timeoutMs: 20, intervalMs: 1, what: 'the thing' },
    ).catch((e: unknown) => e)) as Error;
    expect(calls).toBeGreaterThan(1);
    expect(err.message).toBe('Timed out after 20 ms waiting for the thing');
    expect((err.cause as Error).message).toBe('first failure');
  });

  it('with retryErrors false, a thrown error ends the wait at once', async () => {
    let calls = 0;
    const err = (await waitFor(
      () => {
        calls += 1;
        throw new Error('broken probe');
      },
      { timeoutMs: 10_000, intervalMs: 1, retryErrors: false },
    ).catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('broken probe');
    expect(calls).toBe(1);
  });
});

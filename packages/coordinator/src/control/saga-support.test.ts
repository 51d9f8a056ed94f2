import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { makeWorld, seedLane } from './control-fakes.test-helper.js';
import { Deadline, moveLane, retrySaga } from './saga-support.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';

describe('moveLane()', () => {
  it('takes a legal step and stores it with the change', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE, state: 'restarting' });
    const moved = await moveLane(w.deps, lane, 'became-unhealthy', { recovery: 'look at it' });
    expect(moved.state).toBe('unhealthy');
    expect(await w.store.getLane(LANE)).toMatchObject({
      state: 'unhealthy',
      recovery: 'look at it',
    });
  });

  it('refuses an illegal step with LP_ILLEGAL_TRANSITION and stores nothing', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE, state: 'removed' });
    const before = await w.store.getLane(LANE);
    const err = await moveLane(w.deps, lane, 'came-online', { recovery: 'x' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_ILLEGAL_TRANSITION');
    expect(await w.store.getLane(LANE)).toEqual(before);
  });

  it('refuses to restart a busy lane that was never drained', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE, state: 'busy' });
    await expect(moveLane(w.deps, lane, 'restart')).rejects.toMatchObject({
      code: 'LP_ILLEGAL_TRANSITION',
    });
    expect((await w.store.getLane(LANE))?.state).toBe('busy');
  });
});

describe('retrySaga()', () => {
  const busy = () => new LaunchplaneError('LP_LANE_BUSY', 'Busy');
  const isBusy = (e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_LANE_BUSY';

  it('retries until the attempt succeeds', async () => {
    const w = await makeWorld();
    let n = 0;
    const v = await retrySaga(
      w.deps,
      new Deadline(w.deps, 60_000),
      () => (++n < 3 ? Promise.reject(busy()) : Promise.resolve('done')),
      { retryIf: isBusy, giveUp: () => Promise.reject(new Error('gave up')) },
    );
    expect(v).toBe('done');
    expect(n).toBe(3);
  });

  it('hands the last error to giveUp at the deadline, and at once when not retryable', async () => {
    const w = await makeWorld();
    const start = w.clock.nowMs();
    const seen: unknown[] = [];
    const giveUp = (e: unknown): Promise<never> => {
      seen.push(e);
      return Promise.reject(new LaunchplaneError('LP_TIMEOUT', 'Gave up'));
    };
    await expect(
      retrySaga(w.deps, new Deadline(w.deps, 30_000), () => Promise.reject(busy()), {
        retryIf: isBusy,
        giveUp,
      }),
    ).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    expect(w.clock.nowMs() - start).toBe(30_000);
    const other = new LaunchplaneError('LP_NOT_OWNED', 'Not ours');
    await expect(
      retrySaga(w.deps, new Deadline(w.deps, 30_000), () => Promise.reject(other), {
        retryIf: isBusy,
        giveUp,
      }),
    ).rejects.toMatchObject({ code: 'LP_TIMEOUT' });
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(other);
  });

  it('an aborted wait is thrown as it is, without giveUp', async () => {
    const w = await makeWorld();
    const abort = new AbortController();
    let gaveUp = false;
    const r = retrySaga(
      w.deps,
      new Deadline(w.deps, 60_000),
      () => {
        abort.abort();
        return Promise.reject(busy());
      },
      {
        retryIf: isBusy,
        giveUp: () => {
          gaveUp = true;
          return Promise.reject(new Error('gave up'));
        },
        signal: abort.signal,
      },
    );
    await expect(r).rejects.toThrow('Aborted');
    expect(gaveUp).toBe(false);
  });
});

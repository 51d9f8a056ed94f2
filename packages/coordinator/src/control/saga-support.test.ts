import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { makeWorld, seedLane } from './control-fakes.test-helper.js';
import { moveLane } from './saga-support.js';

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

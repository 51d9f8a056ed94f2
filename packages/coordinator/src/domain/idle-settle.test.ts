import { describe, expect, it } from 'vitest';
import { INITIAL_SETTLE, observeIdle, type IdleObservation } from './idle-settle.js';

const rule = { observations: 3, settleMs: 60_000 };

function fold(obs: IdleObservation[]): boolean[] {
  let state = INITIAL_SETTLE;
  return obs.map((o) => {
    const r = observeIdle(state, o, rule);
    state = r.state;
    return r.settled;
  });
}

describe('observeIdle()', () => {
  it('settles only after enough consecutive idle observations spanning the settle time', () => {
    const idle = (at: number) => ({ at, localBusy: false, githubBusy: false });
    expect(fold([idle(0), idle(30_000), idle(60_000)])).toEqual([false, false, true]);
    // Three observations, but too close together.
    expect(fold([idle(0), idle(1_000), idle(2_000)])).toEqual([false, false, false]);
    // Long enough, but too few.
    expect(fold([idle(0), idle(90_000)])).toEqual([false, false]);
  });

  it('starts over on any busy observation from either side', () => {
    const o = (at: number, localBusy: boolean, githubBusy: boolean) => ({
      at,
      localBusy,
      githubBusy,
    });
    expect(
      fold([
        o(0, false, false),
        o(30_000, false, false),
        o(60_000, true, false),
        o(90_000, false, false),
        o(120_000, false, false),
        o(150_000, false, false),
      ]),
    ).toEqual([false, false, false, false, false, true]);
    expect(
      fold([
        o(0, false, false),
        o(30_000, false, true),
        o(60_000, false, false),
        o(90_000, false, false),
      ]),
    ).toEqual([false, false, false, false]);
  });
});

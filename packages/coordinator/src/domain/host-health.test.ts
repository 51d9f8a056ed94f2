import { describe, expect, it } from 'vitest';

import {
  HEALTH_STALE_INTERVALS,
  HEALTH_STALE_MIN_SEC,
  staleAfterSec,
  staleHealth,
  type HostHealth,
} from './host-health.js';

const T = 1_800_000_000;
const health = (over: Partial<HostHealth> = {}): HostHealth => ({
  intervalSec: 10,
  startedAt: T - 3600,
  lastPassAt: T,
  reportedAt: T,
  ...over,
});

describe('staleHealth()', () => {
  it('is late after a few intervals, never sooner than the floor', () => {
    expect(staleAfterSec(10)).toBe(HEALTH_STALE_INTERVALS * 10);
    expect(staleAfterSec(2)).toBe(HEALTH_STALE_MIN_SEC);
    expect(staleAfterSec(60)).toBe(180);
  });

  it('a loop that keeps finishing passes is healthy; one that stopped is degraded, with why', () => {
    expect(staleHealth('host-a', health(), T + 30)).toBeUndefined();
    const late = staleHealth('host-a', health(), T + 31);
    expect(late).toEqual({
      ageSec: 31,
      message:
        'Host "host-a" has finished no health pass for 31s (interval 10s): its agent may be wedged',
    });
  });

  it('an agent whose first pass never finished is degraded, counted from its start', () => {
    const h = health({ lastPassAt: undefined, startedAt: T, passStartedAt: T });
    expect(staleHealth('host-a', h, T + 30)).toBeUndefined();
    expect(staleHealth('host-a', h, T + 45)?.message).toBe(
      'Host "host-a" has finished no health pass since its agent started 45s ago (interval 10s): its agent may be wedged',
    );
  });

  it('an agent that never reported (too old to send health frames) is not judged', () => {
    expect(staleHealth('host-a', undefined, T + 10_000)).toBeUndefined();
  });
});

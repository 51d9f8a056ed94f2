import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from './errors.js';
import { LANE_EVENTS, LANE_STATES, canTransition, isTerminal, transition } from './lane-state.js';
import type { LaneEvent, LaneState } from './lane-state.js';

describe('lane state machine', () => {
  it('walks the happy path of the lane lifecycle', () => {
    const path: [LaneEvent, LaneState][] = [
      ['provision', 'provisioning'],
      ['start', 'starting'],
      ['came-online', 'online'],
      ['job-started', 'busy'],
      ['job-finished', 'online'],
      ['drain', 'draining'],
      ['drain-complete', 'drained'],
      ['stop', 'stopping'],
      ['stop-complete', 'removed'],
    ];
    let s: LaneState = 'pending';
    for (const [event, to] of path) {
      s = transition(s, event);
      expect(s).toBe(to);
    }
  });

  it('recovers an unhealthy lane through restarting', () => {
    expect(transition(transition('online', 'became-unhealthy'), 'restart')).toBe('restarting');
    expect(transition('restarting', 'came-online')).toBe('online');
  });

  it('rejects an illegal transition with LP_ILLEGAL_TRANSITION', () => {
    expect(() => transition('pending', 'job-started')).toThrow(LaunchplaneError);
    try {
      transition('removed', 'restart');
      expect.unreachable();
    } catch (err) {
      expect((err as LaunchplaneError).code).toBe('LP_ILLEGAL_TRANSITION');
    }
  });

  it('never leaves removed, and canTransition() agrees with transition()', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LANE_STATES), fc.constantFrom(...LANE_EVENTS), (s, e) => {
        if (isTerminal(s)) expect(canTransition(s, e)).toBe(false);
        if (canTransition(s, e)) expect(LANE_STATES).toContain(transition(s, e));
        else expect(() => transition(s, e)).toThrow(LaunchplaneError);
      }),
    );
  });

  it('a busy lane cannot be restarted without draining first', () => {
    expect(canTransition('busy', 'restart')).toBe(false);
    expect(canTransition('draining', 'restart')).toBe(false);
  });
});

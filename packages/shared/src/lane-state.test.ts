import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from './errors.js';
import {
  ACTIVE_STATES,
  COORDINATOR_ONLY_EVENTS,
  COORDINATOR_TRANSITIONS,
  LANE_EVENTS,
  LANE_STATES,
  canTransition,
  coordinatorTransition,
  holdsSlot,
  isActive,
  isAtRest,
  isQuarantined,
  isTerminal,
  isTransitional,
  mergedLaneState,
  transition,
} from './lane-state.js';
import type { CoordinatorEvent, LaneEvent, LaneState } from './lane-state.js';

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

describe('state predicates', () => {
  it('a drain starts from exactly the active states', () => {
    for (const s of LANE_STATES) expect(canTransition(s, 'drain')).toBe(isActive(s));
    expect([...ACTIVE_STATES].sort()).toEqual(['busy', 'online', 'unhealthy']);
  });

  it('no state is at once active, at rest, transitional or terminal', () => {
    for (const s of LANE_STATES) {
      const kinds = [isActive(s), isAtRest(s), isTransitional(s), isTerminal(s)];
      expect(kinds.filter(Boolean).length).toBeLessThanOrEqual(1);
    }
  });

  it('a lane holds its slot until it is stopping, completed or removed', () => {
    expect(LANE_STATES.filter((s) => !holdsSlot(s)).sort()).toEqual([
      'completed',
      'removed',
      'stopping',
    ]);
  });
});

const COORDINATOR_EVENTS: readonly CoordinatorEvent[] = [
  ...LANE_EVENTS,
  ...COORDINATOR_ONLY_EVENTS,
];

describe("the coordinator's rules", () => {
  it('allow every step the agent may take, to the same state', () => {
    for (const s of LANE_STATES) {
      for (const e of LANE_EVENTS) {
        if (canTransition(s, e)) expect(coordinatorTransition(s, e)).toBe(transition(s, e));
      }
    }
  });

  it('never move a removed lane, whatever the step', () => {
    for (const e of COORDINATOR_EVENTS) {
      expect(COORDINATOR_TRANSITIONS[e].from).not.toContain('removed');
      try {
        coordinatorTransition('removed', e);
        expect.unreachable();
      } catch (err) {
        expect((err as LaunchplaneError).code).toBe('LP_ILLEGAL_TRANSITION');
        expect((err as LaunchplaneError).message).toBe(
          `Cannot apply "${e}" to a lane in state "removed"`,
        );
      }
    }
  });

  it('refuse a create step out of order and a restart of a busy lane', () => {
    expect(() => coordinatorTransition('pending', 'came-online')).toThrow(LaunchplaneError);
    expect(() => coordinatorTransition('online', 'stop-complete')).toThrow(LaunchplaneError);
    expect(() => coordinatorTransition('busy', 'restart')).toThrow(LaunchplaneError);
    expect(() => coordinatorTransition('drained', 'restart-refused')).toThrow(LaunchplaneError);
  });

  it('let an operator drain or remove a lane from whatever the host reported', () => {
    for (const s of LANE_STATES) {
      if (isTerminal(s) || isQuarantined(s) || s === 'failed') continue;
      expect(coordinatorTransition(s, 'drain')).toBe('draining');
    }
    expect(coordinatorTransition('completed', 'drain')).toBe('draining');
    expect(coordinatorTransition('failed', 'drain-complete')).toBe('drained');
    expect(coordinatorTransition('draining', 'restart')).toBe('restarting');
    expect(coordinatorTransition('restarting', 'restart-refused')).toBe('drained');
    expect(coordinatorTransition('completed', 'fail')).toBe('failed');
  });
});

describe('mergedLaneState', () => {
  it("an agent's report never undoes a coordinator's draining, drained, unhealthy or failed", () => {
    for (const held of ['draining', 'drained', 'unhealthy', 'failed'] as const) {
      for (const reported of ['online', 'busy', 'starting', 'restarting'] as const) {
        expect(mergedLaneState(held, reported)).toBe(held);
      }
      expect(mergedLaneState(held, 'completed')).toBe('completed');
    }
    for (const held of ['draining', 'drained', 'unhealthy'] as const) {
      expect(mergedLaneState(held, 'removed')).toBe('removed');
    }
  });

  it('a failed lane stays failed when the agent reports its rollback removed it', () => {
    expect(mergedLaneState('failed', 'removed')).toBe('failed');
  });

  it('the agent is believed for states it owns, and a removed lane stays removed', () => {
    expect(mergedLaneState('starting', 'online')).toBe('online');
    expect(mergedLaneState('online', 'busy')).toBe('busy');
    expect(mergedLaneState('stopping', 'removed')).toBe('removed');
    for (const s of LANE_STATES) expect(mergedLaneState('removed', s)).toBe('removed');
  });
});

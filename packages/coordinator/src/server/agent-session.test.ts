import { describe, expect, it } from 'vitest';
import { LANE_STATES } from '@launchplane/shared';
import { mergedLaneState } from './agent-session.js';

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

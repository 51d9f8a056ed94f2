import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';

import { assertLaneContainerName, looksLikeLane } from './container-name.js';

describe('looksLikeLane()', () => {
  it('matches by name prefix or by lane label, and nothing else', () => {
    expect(looksLikeLane('launchplane-lane-01j9zq4m8w6x3v2t1s0r9p8n7k', {})).toBe(true);
    expect(looksLikeLane('someone-else', { 'dev.launchplane.lane': 'x' })).toBe(true);
    expect(looksLikeLane('someone-else', { 'dev.launchplane.host': 'h' })).toBe(false);
    expect(looksLikeLane('launchplane-lanex', {})).toBe(false);
  });
});

describe('assertLaneContainerName()', () => {
  it('refuses names outside the lane namespace', () => {
    for (const name of [
      'postgres',
      '../launchplane-lane-x',
      'launchplane-lane-a/b',
      'launchplane-lane-',
      '',
    ]) {
      expect(() => assertLaneContainerName(name), name).toThrow(LaunchplaneError);
      try {
        assertLaneContainerName(name);
      } catch (error) {
        expect((error as LaunchplaneError).code).toBe('LP_INVALID_MESSAGE');
      }
    }
    expect(() => assertLaneContainerName('launchplane-lane-handmade')).not.toThrow();
  });
});

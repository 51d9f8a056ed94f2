import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from './errors.js';
import {
  LABEL_PATTERN,
  LANE_ID_PATTERN,
  RUNNER_NAME_MAX,
  SMOKE_POOL,
  containerName,
  drainingLabels,
  isReservedLabel,
  laneIdFromContainerName,
  laneIdFromUnitName,
  laneLabels,
  newLaneId,
  parseLaneLabels,
  parseRunnerName,
  runnerName,
  smokeLaneLabels,
  unitName,
} from './names.js';

const hostIdArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,31}$/);
const laneIdArb = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 47 }), fc.stringMatching(/^[0-9a-hjkmnp-tv-z]{16}$/))
  .map(([t, r]) => newLaneId(t).slice(0, 10) + r);

describe('names', () => {
  it('newLaneId() makes a lowercase ULID that sorts by time', () => {
    const a = newLaneId(1_764_370_000_000);
    const b = newLaneId(1_764_370_000_001);
    expect(a).toMatch(LANE_ID_PATTERN);
    expect(a < b).toBe(true);
  });

  it('unit and container names round-trip to the lane id', () => {
    fc.assert(
      fc.property(laneIdArb, (id) => {
        expect(laneIdFromUnitName(unitName(id))).toBe(id);
        expect(laneIdFromContainerName(containerName(id))).toBe(id);
        expect(laneIdFromContainerName(`/${containerName(id)}`)).toBe(id);
      }),
    );
  });

  it('look-alike unit and container names are not lanes', () => {
    for (const name of [
      'launchplane-lane-.service',
      'launchplane-lane-../../etc/passwd.service',
      'launchplane-lane-01JD3XK5M8Q2W7R9T4V6Y0Z1AB.service',
      'launchplane-lane-01jd3xk5m8q2w7r9t4v6y0z1ab.service.d',
      'launchplane-lane-01jd3xk5m8q2w7r9t4v6y0z1abx.service',
      'xlaunchplane-lane-01jd3xk5m8q2w7r9t4v6y0z1ab.service',
    ]) {
      expect(laneIdFromUnitName(name)).toBeUndefined();
    }
    expect(laneIdFromContainerName('launchplane-lane-fake')).toBeUndefined();
  });

  it('unitName() refuses a path-like lane id', () => {
    expect(() => unitName('../../etc/x')).toThrow(LaunchplaneError);
    try {
      containerName('a/b');
    } catch (err) {
      expect((err as LaunchplaneError).code).toBe('LP_INVALID_MESSAGE');
    }
  });

  it('runnerName() stays within 64 characters, keeps the lane suffix and parses back', () => {
    fc.assert(
      fc.property(hostIdArb, hostIdArb, laneIdArb, (host, pool, lane) => {
        const name = runnerName(host, pool, lane);
        expect(name.length).toBeLessThanOrEqual(RUNNER_NAME_MAX);
        expect(name.startsWith('lp-')).toBe(true);
        expect(parseRunnerName(name)?.laneSuffix).toBe(lane.slice(-8));
        expect(runnerName(host, pool, lane)).toBe(name);
      }),
    );
  });

  it('runnerName() keeps short names whole', () => {
    expect(runnerName('host-a', 'build', '01jd3xk5m8q2w7r9t4v6y0z1ab')).toBe(
      'lp-host-a-build-v6y0z1ab',
    );
  });

  it('laneLabels() are canonical and parse back', () => {
    fc.assert(
      fc.property(
        laneIdArb,
        hostIdArb,
        fc.array(fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/), { maxLength: 5 }),
        (lane, pool, extra) => {
          const labels = laneLabels({
            coordinatorId: 'coord-test',
            laneId: lane,
            pool,
            poolLabels: extra,
            capabilities: extra,
          });
          expect(labels.slice(0, 4)).toEqual([
            'launchplane',
            'lp-ctl-coord-te',
            `lp-lane-${lane}`,
            `lp-pool-${pool}`,
          ]);
          expect(new Set(labels).size).toBe(labels.length);
          const parsed = parseLaneLabels(labels);
          expect(parsed.laneIds).toEqual([lane]);
          expect(parsed.pools).toEqual([pool]);
          expect(parsed.coordinatorPrefixes).toEqual(['coord-te']);
          expect(parsed.hasLaunchplane).toBe(true);
        },
      ),
    );
  });

  it('drainingLabels() keep identity and drop every routing label', () => {
    const labels = drainingLabels('coord-test', '01jd3xk5m8q2w7r9t4v6y0z1ab');
    expect(labels).toEqual([
      'launchplane',
      'lp-ctl-coord-te',
      'lp-lane-01jd3xk5m8q2w7r9t4v6y0z1ab',
      'lp-draining',
    ]);
    expect(parseLaneLabels(labels).pools).toEqual([]);
  });

  it('isReservedLabel() catches our prefixes in any case', () => {
    expect(isReservedLabel('lp-pool-x')).toBe(true);
    expect(isReservedLabel('LaunchPlane')).toBe(true);
    expect(isReservedLabel('linux')).toBe(false);
  });
});

describe('smoke lanes', () => {
  it('a smoke lane carries its identity and one routing label of its own, and no pool label', () => {
    fc.assert(
      fc.property(hostIdArb, laneIdArb, (host, laneId) => {
        const labels = smokeLaneLabels('coord-1', laneId);
        expect(labels).toEqual([
          'launchplane',
          'lp-ctl-coord-1',
          `lp-lane-${laneId}`,
          `lp-smoke-${laneId}`,
        ]);
        for (const l of labels) expect(l).toMatch(LABEL_PATTERN);
        expect(parseLaneLabels(labels).pools).toEqual([]);
        const name = runnerName(host, SMOKE_POOL, laneId);
        expect(name.length).toBeLessThanOrEqual(RUNNER_NAME_MAX);
        expect(parseRunnerName(name)?.laneSuffix).toBe(laneId.slice(-8));
      }),
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { laneLabels } from './names.js';
import {
  classifyRunner,
  laneIdentityMismatch,
  recordedRunnerMismatch,
} from './runner-ownership.js';
import type { LedgerLane } from './runner-ownership.js';

const LANE = '01jd3xk5m8q2w7r9t4v6y0z1ab';
const ours = laneLabels({ coordinatorId: 'coord-test', laneId: LANE, pool: 'build' });
const ledger = (lanes: LedgerLane[]) => (id: string) => lanes.find((l) => l.laneId === id);

describe('classifyRunner()', () => {
  it('calls a runner ours only with labels and a ledger entry of the same runner id', () => {
    const r = classifyRunner(
      { id: 7, name: 'lp-a', labels: ours },
      { coordinatorId: 'coord-test', findLane: ledger([{ laneId: LANE, runnerId: 7 }]) },
    );
    expect(r).toEqual({ ours: true, laneId: LANE });
  });

  it.each([
    [
      'no-launchplane-label',
      ours.filter((l) => l !== 'launchplane'),
      [{ laneId: LANE, runnerId: 7 }],
    ],
    [
      'other-coordinator',
      ours.map((l) => (l.startsWith('lp-ctl-') ? 'lp-ctl-other000' : l)),
      [{ laneId: LANE, runnerId: 7 }],
    ],
    [
      'no-lane-label',
      ours.filter((l) => !l.startsWith('lp-lane-')),
      [{ laneId: LANE, runnerId: 7 }],
    ],
    [
      'several-lane-labels',
      [...ours, 'lp-lane-01jd3xk5m8q2w7r9t4v6y0z1ac'],
      [{ laneId: LANE, runnerId: 7 }],
    ],
    ['lane-not-in-ledger', ours, []],
    ['runner-id-not-recorded', ours, [{ laneId: LANE, runnerId: undefined }]],
    ['runner-id-mismatch', ours, [{ laneId: LANE, runnerId: 8 }]],
  ] as const)('says why a runner is not ours: %s', (reason, labels, lanes) => {
    const r = classifyRunner(
      { id: 7, name: 'hand-made', labels },
      { coordinatorId: 'coord-test', findLane: ledger([...lanes]) },
    );
    expect(r.ours).toBe(false);
    if (!r.ours) {
      expect(r.reason).toBe(reason);
      expect(r.message).toContain('hand-made');
    }
  });

  it('never calls a runner ours without a matching ledger entry', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.array(fc.oneof(fc.constantFrom(...ours), fc.string({ maxLength: 20 })), {
          maxLength: 8,
        }),
        fc.array(
          fc.record({
            laneId: fc.constantFrom(LANE, '01jd3xk5m8q2w7r9t4v6y0z1ac'),
            runnerId: fc.option(fc.integer({ min: 1, max: 1e6 }), { nil: undefined }),
          }),
          { maxLength: 3 },
        ),
        (id, labels, lanes) => {
          const r = classifyRunner(
            { id, name: 'r', labels },
            { coordinatorId: 'coord-test', findLane: ledger(lanes) },
          );
          if (r.ours) {
            const entry = lanes.find((l) => l.laneId === r.laneId);
            expect(entry?.runnerId).toBe(id);
            expect(labels).toContain(`lp-lane-${r.laneId}`);
            expect(labels).toContain('launchplane');
          }
        },
      ),
    );
  });
});

describe('recordedRunnerMismatch(): the check before every label write or deletion', () => {
  const lane = {
    coordinatorId: 'coord-test',
    laneId: LANE,
    runnerName: 'lp-host-a-build-t4v6y0z1',
    runnerId: 7,
  };
  const runner = { id: 7, name: lane.runnerName, labels: ['self-hosted', ...ours] };

  it("passes the lane's own runner: recorded id, name, launchplane, coordinator and lane labels", () => {
    expect(recordedRunnerMismatch(runner, lane)).toBeUndefined();
  });

  it.each([
    ['runner-id-mismatch', { ...runner, id: 3 }],
    ['name-mismatch', { ...runner, name: 'hand-made' }],
    ['no-launchplane-label', { ...runner, labels: ours.filter((l) => l !== 'launchplane') }],
    [
      'other-coordinator',
      { ...runner, labels: ours.map((l) => (l.startsWith('lp-ctl-') ? 'lp-ctl-someone' : l)) },
    ],
    ['no-lane-label', { ...runner, labels: ours.filter((l) => !l.startsWith('lp-lane-')) }],
    [
      'lane-not-in-ledger',
      {
        ...runner,
        labels: ours.map((l) =>
          l.startsWith('lp-lane-') ? 'lp-lane-01jd3xk5m8q2w7r9t4v6y0z1ac' : l,
        ),
      },
    ],
    ['several-lane-labels', { ...runner, labels: [...ours, 'lp-lane-01jd3xk5m8q2w7r9t4v6y0z1ac'] }],
  ] as const)('refuses a runner that fails one check: %s', (reason, seen) => {
    expect(recordedRunnerMismatch(seen, lane)?.reason).toBe(reason);
  });

  it("a hand-made runner with copied labels but its own name is not the lane's", () => {
    const copied = { id: 3, name: 'hand-made', labels: ours };
    expect(laneIdentityMismatch(copied, lane)?.reason).toBe('name-mismatch');
    expect(laneIdentityMismatch(copied, lane)?.message).toContain('"hand-made"');
  });
});

/**
 * The create and drain sagas are each one list of steps: a dry run must name and describe exactly
 * the steps a real run then takes, and list the same agent commands, so the two cannot drift.
 */
import type { ActionReport } from './action-report.js';
import { describe, expect, it } from 'vitest';
import { createLane } from './create-lane.js';
import { drainLane, type DrainMode } from './drain-lane.js';
import { makeWorld, seedLane, type World } from './control-fakes.test-helper.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';

interface Run {
  names: string[];
  report: ActionReport;
}

/** Runs `saga` dry, then for real, collecting the names of the steps each took. */
async function dryThenReal(
  saga: (dryRun: boolean, onStep: (name: string) => void) => Promise<ActionReport>,
): Promise<{ dry: Run; real: Run }> {
  const runs: Run[] = [];
  for (const dryRun of [true, false]) {
    const names: string[] = [];
    const report = await saga(dryRun, (n) => names.push(n));
    runs.push({ names, report });
  }
  const [dry, real] = runs as [Run, Run];
  expect(dry.report).toMatchObject({ ok: true, dryRun: true });
  expect(real.report.ok).toBe(true);
  expect(dry.names).toEqual(real.names);
  // One line or more per step; every command the real run sent, the dry run listed.
  expect(dry.report.steps.length).toBeGreaterThanOrEqual(dry.names.length);
  expect(dry.report.commands.map((c) => c.type)).toEqual(real.report.commands.map((c) => c.type));
  expect(dry.report.commands.every((c) => c.dryRun)).toBe(true);
  expect(real.report.commands.every((c) => !c.dryRun)).toBe(true);
  return { dry, real };
}

describe('createLane(): the dry run is the list of steps the real run takes', () => {
  it.each([
    ['build', 'a persistent lane'],
    ['eph', 'an ephemeral lane'],
  ])('pool %s (%s)', async (pool) => {
    const w = await makeWorld();
    const { dry } = await dryThenReal((dryRun, onStep) =>
      createLane(w.deps, { hostId: 'host-a', pool, actor: 'tok-op', dryRun, onStep }),
    );
    expect(dry.names).toEqual(['record', 'runner-config', 'send', 'wait-online']);
    expect(dry.report.steps).toHaveLength(4);
  });

  it('a failed create stops at the failing step and rolls back', async () => {
    const w = await makeWorld();
    w.hub.behaviour = () => ({ ok: false, error: { code: 'LP_NOT_OPTED_IN', message: 'No' } });
    const names: string[] = [];
    const r = await createLane(w.deps, {
      hostId: 'host-a',
      pool: 'build',
      actor: 'tok-op',
      dryRun: false,
      onStep: (n) => names.push(n),
    });
    expect(r).toMatchObject({ ok: false, outcome: 'failed' });
    expect(names).toEqual(['record', 'runner-config', 'send']);
    expect(r.lane?.state).toBe('failed');
  });
});

describe('drainLane(): the dry run is the list of steps the real run takes', () => {
  const cases: {
    mode: DrainMode;
    force: boolean;
    runnerId: boolean;
    names: string[];
  }[] = [
    { mode: 'drain', force: false, runnerId: true, names: ['quarantine', 'wait-idle'] },
    { mode: 'drain', force: true, runnerId: true, names: ['quarantine', 'skip-wait'] },
    {
      mode: 'restart',
      force: false,
      runnerId: true,
      names: ['quarantine', 'wait-idle', 'restart', 'restore-labels', 'verify-online', 'online'],
    },
    {
      mode: 'restart',
      force: false,
      runnerId: false,
      names: ['quarantine', 'wait-idle', 'restart', 'online'],
    },
    {
      mode: 'remove',
      force: false,
      runnerId: true,
      names: ['quarantine', 'wait-idle', 'remove', 'delete-runner', 'removed'],
    },
    {
      // The real run finds the runner by its name and deletes it: the dry run says it will look.
      mode: 'remove',
      force: true,
      runnerId: false,
      names: ['quarantine', 'skip-wait', 'remove', 'find-runner', 'delete-runner', 'removed'],
    },
  ];
  for (const c of cases) {
    it(`${c.mode}${c.force ? ' --force' : ''}, ${c.runnerId ? 'runner id recorded' : 'no runner id recorded'}`, async () => {
      const w: World = await makeWorld();
      await seedLane(w, {
        laneId: LANE,
        ...(c.runnerId ? {} : { runnerId: undefined }),
      });
      const { dry, real } = await dryThenReal((dryRun, onStep) =>
        drainLane(w.deps, {
          laneId: LANE,
          mode: c.mode,
          actor: 'tok-op',
          dryRun,
          force: c.force,
          onStep,
        }),
      );
      expect(real.names).toEqual(c.names);
      expect(dry.report.outcome).toBe(`would-${c.mode}`);
      if (c.mode === 'remove' && !c.runnerId) {
        const runnerId = (await w.store.getLane(LANE))?.runnerId;
        expect(real.report.steps).toEqual(
          expect.arrayContaining([
            `found runner ${String(runnerId)} by its name and this lane's labels`,
            `deleted GitHub runner ${String(runnerId)}`,
          ]),
        );
      }
    });
  }
});

/**
 * Every label write and deletion re-checks, right before it, that GitHub still shows the lane's
 * runner under the recorded id: its name, `launchplane`, this coordinator's label and this lane's
 * label. Each test changes one of these on GitHub between the lane being recorded and the write,
 * and shows the write refused (`LP_NOT_OWNED`, audited) with the runner untouched.
 */
import { coordinatorLabel, laneLabel } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { createLane } from './create-lane.js';
import { drainLane, type DrainMode } from './drain-lane.js';
import { repairLabels } from './repair-labels.js';
import { COORDINATOR_ID, makeWorld, seedLane, type World } from './control-fakes.test-helper.js';

const LANE = '01hzzzzzzzzzzzzzzzzzzz0001';

/** Every write GitHub saw was preceded, as the call just before it, by a read of that runner. */
function expectEveryWriteRechecked(w: World): void {
  w.github.calls.forEach((call, i) => {
    const m = /^(setCustomLabels|deleteRunner) (\S+) (\d+)$/.exec(call);
    if (m === null) return;
    expect(w.github.calls[i - 1], `the call before "${call}"`).toBe(`getRunner ${m[2]} ${m[3]}`);
  });
}

/** An operator's drain, restart or remove of the test lane. */
const saga = (w: World, mode: DrainMode, opts: { force: boolean }) =>
  drainLane(w.deps, { laneId: LANE, mode, actor: 'tok-op', dryRun: false, ...opts });

async function ownershipRefusals(w: World) {
  return (await w.store.listAudit({})).filter((r) => r.action === 'runner.ownership');
}

const tampered = {
  'a new name': (labels: string[]) => ({ name: 'hand-made', labels }),
  'no launchplane label': (labels: string[]) => ({
    labels: labels.filter((l) => l !== 'launchplane'),
  }),
  "another coordinator's label": (labels: string[]) => ({
    labels: labels.map((l) => (l === coordinatorLabel(COORDINATOR_ID) ? 'lp-ctl-intruder' : l)),
  }),
  "another lane's label": (labels: string[]) => ({
    labels: labels.map((l) => (l === laneLabel(LANE) ? 'lp-lane-01hzzzzzzzzzzzzzzzzzzz0002' : l)),
  }),
} as const;

describe('ownership is re-checked against GitHub before every write', () => {
  it.each(Object.entries(tampered))(
    'a drain refuses to quarantine a runner that shows %s, and stops nothing',
    async (_what, change) => {
      const w = await makeWorld();
      const lane = await seedLane(w, { laneId: LANE });
      const runner = w.github.find(lane.runnerId!)!;
      w.github.set(runner.id, change(runner.labels));
      const before = structuredClone(w.github.find(runner.id));

      const r = await saga(w, 'remove', { force: false });
      expect(r).toMatchObject({ ok: false, outcome: 'refused', error: { code: 'LP_NOT_OWNED' } });
      expect(r.error?.recovery).toContain('launchplane runners');
      expect(w.github.find(runner.id)).toEqual(before);
      expect(w.github.calls.filter((c) => !c.startsWith('getRunner'))).toEqual([]);
      expect(w.hub.sent).toEqual([]);
      const refusals = await ownershipRefusals(w);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({
        actor: 'tok-op',
        outcome: 'refused',
        code: 'LP_NOT_OWNED',
        laneId: LANE,
        params: { runnerId: runner.id, write: 'set-labels' },
      });
      const removal = (await w.store.listAudit({})).find((x) => x.action === 'lane.remove');
      expect(removal).toMatchObject({ outcome: 'refused', code: 'LP_NOT_OWNED' });
    },
  );

  it('a remove refuses to delete a registration renamed after the host removed the lane', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE });
    const id = lane.runnerId!;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.remove') w.github.set(id, { name: 'someone-elses' });
      return undefined;
    };
    const r = await saga(w, 'remove', { force: true });
    expect(r).toMatchObject({ ok: false, outcome: 'refused', error: { code: 'LP_NOT_OWNED' } });
    expect(w.github.find(id)?.name).toBe('someone-elses');
    expect(w.github.calls).not.toContain(`deleteRunner acme/api ${id}`);
    const stored = await w.store.getLane(LANE);
    expect(stored?.state).toBe('failed');
    expect(stored?.recovery).toContain(`Runner ${id} is left alone`);
    expect((await ownershipRefusals(w))[0]).toMatchObject({
      params: { write: 'delete', reason: 'name-mismatch', githubName: 'someone-elses' },
    });
    expectEveryWriteRechecked(w);

    // Once the runner is gone from GitHub (deleted by hand), the remove finishes.
    w.github.runners.set('acme/api', []);
    w.hub.behaviour = () => undefined;
    const again = await saga(w, 'remove', { force: true });
    expect(again).toMatchObject({ ok: true, outcome: 'removed' });
  });

  it('a restart refuses to restore the labels of a runner whose lane label was removed meanwhile', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE });
    const id = lane.runnerId!;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.restart') {
        const r = w.github.find(id)!;
        w.github.set(id, { labels: r.labels.filter((l) => l !== laneLabel(LANE)) });
      }
      return undefined;
    };
    const r = await saga(w, 'restart', { force: true });
    expect(r).toMatchObject({ ok: false, error: { code: 'LP_NOT_OWNED' } });
    // Only the quarantine wrote labels; the restore was refused.
    expect(w.github.calls.filter((c) => c.startsWith('setCustomLabels'))).toHaveLength(1);
    expect(w.github.find(id)?.labels).not.toContain('lp-pool-build');
    expectEveryWriteRechecked(w);
  });

  it('a label repair refuses a renamed runner, on a dry run too', async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE });
    w.github.set(lane.runnerId!, { name: 'renamed', labels: ['launchplane', 'drifted'] });
    for (const dryRun of [true, false]) {
      const r = await repairLabels(w.deps, { laneId: LANE, actor: 'reconciler', dryRun });
      expect(r).toMatchObject({ ok: false, outcome: 'refused', error: { code: 'LP_NOT_OWNED' } });
    }
    expect(w.github.calls.filter((c) => c.startsWith('setCustomLabels'))).toEqual([]);
    expect((await ownershipRefusals(w)).map((x) => x.dryRun)).toEqual([true, false]);
  });

  it("a create's rollback leaves a JIT registration alone once it no longer carries the lane's name", async () => {
    const w = await makeWorld();
    // The agent refuses the create; before the rollback someone renamed the JIT runner.
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type !== 'lane.create' || cmd.runnerId === undefined) return undefined;
      w.github.set(cmd.runnerId, { name: 'taken-over' });
      return {
        ok: false,
        outcome: 'refused',
        error: { code: 'LP_BACKEND_FAILED', message: 'no' },
      };
    };
    const r = await createLane(w.deps, {
      hostId: 'host-a',
      pool: 'eph',
      actor: 'tok-op',
      dryRun: false,
    });
    expect(r.ok).toBe(false);
    const id = r.lane?.runnerId;
    expect(id).toBeDefined();
    expect(w.github.find(id!)?.name).toBe('taken-over');
    expect(r.lane?.recovery).toContain(`GitHub runner ${id} is not provably this lane's`);
    expect((await ownershipRefusals(w))[0]).toMatchObject({ params: { write: 'delete' } });
    expectEveryWriteRechecked(w);
  });

  it("removing a failed lane with no runner id never deletes a runner that merely copies the lane's labels or name", async () => {
    const w = await makeWorld();
    const lane = await seedLane(w, { laneId: LANE, runnerId: undefined, state: 'failed' });
    w.github.runners.set('acme/api', []);
    // Runner 3 made by hand, wearing the lane's labels; runner 4 with the lane's name, but not
    // this coordinator's label.
    w.github.add(
      { repository: 'acme/api' },
      { id: 3, name: 'hand-made', os: 'Linux', status: 'online', busy: false, labels: lane.labels },
    );
    w.github.add(
      { repository: 'acme/api' },
      {
        id: 4,
        name: lane.runnerName,
        os: 'Linux',
        status: 'online',
        busy: false,
        labels: lane.labels.filter((l) => !l.startsWith('lp-ctl-')),
      },
    );
    const r = await saga(w, 'remove', { force: false });
    expect(r).toMatchObject({ ok: true, outcome: 'removed' });
    expect(w.github.find(3)).toBeDefined();
    expect(w.github.find(4)).toBeDefined();
    expect(w.github.calls.filter((c) => /setCustomLabels|deleteRunner/.test(c))).toEqual([]);
    expect((await w.store.getLane(LANE))?.runnerId).toBeUndefined();
  });
});

import { LaunchplaneError, type LaneReport } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { DemandJob, DemandSource, JobSnapshot } from '../domain/demand.js';
import { nowSec } from '@launchplane/shared';
import { makeWorld, seedLane, type World } from './control-fakes.test-helper.js';
import { ControlService } from './control-service.js';
import { plan as planOf } from '../domain/plan.js';
import { Observer, RESERVATIONS_KEY } from './observer.js';

const DEMAND_POLICY = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 3 }
    scaling: { mode: demand, minIdle: 0, max: 3 }
  fixed:
    repository: acme/api
    backend: systemd
    lanes: { host-a: 0 }
`;

/** A job source in memory: what the job store would hand the observer. */
class FakeDemandSource implements DemandSource {
  jobs: DemandJob[] = [];
  fail: LaunchplaneError | undefined;
  readonly asked: string[][] = [];

  snapshot(scopes: readonly string[], now: number): Promise<JobSnapshot> {
    this.asked.push([...scopes]);
    if (this.fail !== undefined) return Promise.reject(this.fail);
    return Promise.resolve({ jobs: this.jobs, observedAt: now });
  }
}

function queued(id: number, over: Partial<DemandJob> = {}): DemandJob {
  return {
    id,
    runId: id,
    repository: 'acme/api',
    labels: ['lp-pool-build'],
    status: 'queued',
    queuedAt: 1,
    ...over,
  };
}

async function demandWorld(source?: FakeDemandSource): Promise<World> {
  const w = await makeWorld({ policy: DEMAND_POLICY });
  if (source !== undefined) w.deps = { ...w.deps, demand: source };
  return w;
}

/** Makes the host's inventory say what its agent would: these lanes, in these states. */
function report(w: World, lanes: LaneReport[]): void {
  const session = w.hub.session('host-a');
  if (session?.inventory === undefined) throw new Error('host-a is not connected');
  session.inventory.lanes = lanes;
}

describe('Observer and the job source', () => {
  it('asks the job source only for the scopes of pools that follow demand, and passes the jobs on', async () => {
    const source = new FakeDemandSource();
    source.jobs = [queued(11)];
    const w = await demandWorld(source);
    const input = await new Observer(w.deps).observe();
    expect(source.asked).toEqual([['acme/api']]);
    expect(input.demand).toMatchObject({ jobs: [queued(11)], reservations: [], idleSince: {} });
    const plan = await new ControlService(w.deps).plan();
    expect(plan.actions.map((a) => [a.id, a.reason.split(':')[0]])).toEqual([
      ['create:host-a:build:1', 'job 11 (acme/api run 11) is queued for pool "build"'],
    ]);
  });

  it('gives no demand without a job source, or without a pool that follows demand', async () => {
    const w = await demandWorld();
    expect((await new Observer(w.deps).observe()).demand).toBeUndefined();
    const source = new FakeDemandSource();
    const plain = await makeWorld();
    plain.deps = { ...plain.deps, demand: source };
    expect((await new Observer(plain.deps).observe()).demand).toBeUndefined();
    expect(source.asked).toEqual([]);
  });

  it('reads a failing job source as unknown demand, never as none', async () => {
    const source = new FakeDemandSource();
    source.fail = new LaunchplaneError('LP_GITHUB_UNAVAILABLE', 'GitHub is down');
    const w = await demandWorld(source);
    const input = await new Observer(w.deps).observe();
    expect(input.demand?.unavailable).toBe('LP_GITHUB_UNAVAILABLE: GitHub is down');
    const plan = await new ControlService(w.deps).plan();
    expect(plan.scaling?.pools[0]).toMatchObject({ demandKnown: false });
  });

  it('starts an idle clock when the host and GitHub both say a lane is idle, and keeps it', async () => {
    const source = new FakeDemandSource();
    const w = await demandWorld(source);
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    const observer = new Observer(w.deps);
    // The agent has not reported it yet: no clock.
    expect((await observer.observe()).demand?.idleSince).toEqual({});
    report(w, [{ ...(w.hub.lanes.get(lane.laneId) as LaneReport), state: 'online' }]);
    const start = nowSec(w.clock);
    expect((await observer.observe()).demand?.idleSince).toEqual({ [lane.laneId]: start });
    await w.clock.sleep(60_000);
    expect((await observer.observe()).demand?.idleSince).toEqual({ [lane.laneId]: start });
    // Busy on GitHub: the clock stops.
    w.github.set(lane.runnerId ?? 0, { busy: true });
    expect((await observer.observe()).demand?.idleSince).toEqual({});
  });

  it("starts an idle clock at the lane's last sign of work, not at the look that first saw it idle", async () => {
    const source = new FakeDemandSource();
    const w = await demandWorld(source);
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0003' });
    const observer = new Observer(w.deps);
    const watching = nowSec(w.clock);
    // The first look: the agent has not reported the lane yet.
    expect((await observer.observe()).demand?.idleSince).toEqual({});
    // The lane came online 30 s later, and its job finished at +40 by GitHub's job data; no round
    // looked until +100.
    await w.deps.store.putLane({ ...lane, updatedAt: watching + 30 });
    source.jobs = [
      queued(31, {
        status: 'completed',
        runnerName: lane.runnerName,
        startedAt: watching + 35,
        completedAt: watching + 40,
      }),
    ];
    await w.clock.sleep(100_000);
    const hostReport = w.hub.lanes.get(lane.laneId) as LaneReport;
    report(w, [{ ...hostReport, state: 'online' }]);
    expect((await observer.observe()).demand?.idleSince).toEqual({ [lane.laneId]: watching + 40 });
    // A restarted coordinator starts no clock before its own first look.
    const restarted = new Observer(w.deps);
    expect((await restarted.observe()).demand?.idleSince).toEqual({
      [lane.laneId]: nowSec(w.clock),
    });
  });

  it('ignores a finish time from the lane directory that lies in the future (a job wrote it)', async () => {
    const source = new FakeDemandSource();
    const w = await demandWorld(source);
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0004' });
    const observer = new Observer(w.deps);
    const watching = nowSec(w.clock);
    expect((await observer.observe()).demand?.idleSince).toEqual({});
    await w.deps.store.putLane({ ...lane, updatedAt: watching + 10 });
    // Idle past the pool's scaleDownAfterSec (600 s) by its record.
    await w.clock.sleep(700_000);
    const hostReport = w.hub.lanes.get(lane.laneId) as LaneReport;
    const local = {
      busy: false,
      jobRunning: false,
      workerProcess: false,
      jobsCompleted: 1,
      // The attack: `touch -d 2099-01-01 job-completed` from inside the job.
      lastJobCompletedAt: watching + 1_000_000,
    };
    report(w, [{ ...hostReport, state: 'online', local }]);
    const input = await observer.observe();
    expect(input.demand?.idleSince).toEqual({ [lane.laneId]: watching + 10 });
    // The plan takes no future time either: past scaleDownAfterSec the lane may go.
    const plan = planOf(input);
    expect(plan.actions.map((a) => a.kind)).toContain('remove');
  });

  it('keeps a reservation for a lane that took a job the job data do not show, across a restart, until they do', async () => {
    const source = new FakeDemandSource();
    source.jobs = [queued(21)];
    const w = await demandWorld(source);
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0002' });
    w.github.set(lane.runnerId ?? 0, { busy: true });
    const first = await new Observer(w.deps).observe();
    expect(first.demand?.reservations).toEqual([
      expect.objectContaining({ laneId: lane.laneId, pool: 'build', hostId: 'host-a' }),
    ]);
    // The busy lane counts once: no lane is made for job 21.
    expect((await new ControlService(w.deps).plan()).actions).toEqual([]);
    // A new observer (a restarted coordinator) reads it back from the store.
    const again = await new Observer(w.deps).observe();
    expect(again.demand?.reservations).toEqual(first.demand?.reservations);
    // The job data catch up: the reservation ends, and the store forgets it.
    source.jobs = [
      queued(21, {
        status: 'in_progress',
        runnerName: lane.runnerName,
        runnerId: lane.runnerId ?? 0,
      }),
    ];
    expect((await new Observer(w.deps).observe()).demand?.reservations).toEqual([]);
    expect(await w.store.getMeta(RESERVATIONS_KEY)).toBe('[]');
  });

  it('ignores a malformed record of reservations in the store', async () => {
    const source = new FakeDemandSource();
    const w = await demandWorld(source);
    await w.store.setMeta(RESERVATIONS_KEY, '[{"laneId": 5}, "x", null]');
    expect((await new Observer(w.deps).observe()).demand?.reservations).toEqual([]);
    await w.store.setMeta(RESERVATIONS_KEY, '{not json');
    expect((await new Observer(w.deps).observe()).demand?.reservations).toEqual([]);
  });
});

describe('ControlService and a scale-down that demand overtakes', () => {
  const RECLAIM_POLICY = DEMAND_POLICY.replace(
    'scaling: { mode: demand, minIdle: 0, max: 3 }',
    'scaling: { mode: demand, minIdle: 0, max: 3, scaleDownAfterSec: 0, reservationSec: 1 }',
  );

  it('takes the lane back from its scale-down for a new job instead of making one', async () => {
    const source = new FakeDemandSource();
    const w = await makeWorld({ policy: RECLAIM_POLICY });
    w.deps = { ...w.deps, demand: source };
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0007' });
    // The host lists the lane idle, but its drain check still sees the end of a job: the
    // scale-down waits for idle.
    report(w, [{ ...(w.hub.lanes.get(lane.laneId) as LaneReport), state: 'online' }]);
    w.hub.localBusy.set(lane.laneId, true);
    const service = new ControlService(w.deps);
    const first = await service.apply({ actor: 'reconciler', dryRun: false, detach: true });
    expect(first.plan.actions).toEqual([
      expect.objectContaining({ kind: 'remove', laneId: lane.laneId, scaleDown: true }),
    ]);
    // The scale-down goes on in the background: it quarantines the lane and waits.
    const state = async () => (await w.store.getLane(lane.laneId))?.state;
    for (let i = 0; i < 1000 && (await state()) !== 'draining'; i++) {
      await new Promise((r) => setImmediate(r));
    }
    expect(await state()).toBe('draining');

    // A job arrives: the lane is taken back, nothing is made.
    source.jobs = [queued(31)];
    const second = await service.apply({ actor: 'reconciler', dryRun: false, detach: true });
    expect(second.plan.actions.map((a) => [a.kind, 'laneId' in a ? a.laneId : '-'])).toEqual([
      ['reclaim', lane.laneId],
    ]);
    await service.settled();
    expect((await w.store.getLane(lane.laneId))?.state).toBe('online');
    expect(w.hub.commands('lane.remove')).toEqual([]);
    expect(w.hub.commands('lane.create')).toEqual([]);
    const audit = await w.store.listAudit({ laneId: lane.laneId });
    expect(audit.map((a) => [a.action, a.outcome])).toEqual([
      ['lane.remove', 'ok'],
      ['lane.reclaim', 'ok'],
    ]);
    expect(audit[0]?.params).toMatchObject({ reclaimed: true });
    // The lane serves the pool again: the next plan neither removes it nor makes another.
    expect((await service.plan()).actions).toEqual([]);
  });

  it("never takes back a lane an operator's drain quarantined", async () => {
    const source = new FakeDemandSource();
    const w = await makeWorld({ policy: RECLAIM_POLICY });
    w.deps = { ...w.deps, demand: source };
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0008', state: 'draining' });
    report(w, [{ ...(w.hub.lanes.get(lane.laneId) as LaneReport), state: 'online' }]);
    source.jobs = [queued(32)];
    // An operator's drain left the lane quarantined: the plan makes a new lane, never reclaims it.
    const kinds = (await new ControlService(w.deps).plan()).actions.map((a) => a.kind);
    expect(kinds).toContain('create');
    expect(kinds).not.toContain('reclaim');
  });
});

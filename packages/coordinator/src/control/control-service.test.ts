import {
  LaunchplaneError,
  controlPlanSchema,
  type ControlPlan,
  type PlanAction,
} from '@launchplane/shared';
import type { ActionReport } from './action-report.js';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../ports/logger.js';
import { ControlService, deferredCreates, startCreatesOnHost } from './control-service.js';
import {
  COORDINATOR_ID,
  POLICY_TEXT,
  makeWorld,
  seedLane,
  type World,
} from './control-fakes.test-helper.js';
import { Reconciler } from './reconciler.js';

const UNMANAGED = {
  id: 9,
  name: 'ci-box',
  os: 'Linux',
  status: 'online' as const,
  busy: false,
  labels: [
    'self-hosted',
    'launchplane',
    `lp-ctl-${COORDINATOR_ID.slice(0, 8)}`,
    'lp-lane-01hzzzzzzzzzzzzzzzzzzz0777',
  ],
};

async function world(): Promise<{ w: World; service: ControlService }> {
  const w = await makeWorld();
  w.github.add({ repository: 'acme/api' }, UNMANAGED);
  return { w, service: new ControlService(w.deps) };
}

describe('ControlService', () => {
  it('apply brings the policy up (persistent and ephemeral), and a second apply has nothing to do', async () => {
    const { w, service } = await world();
    const first = await service.apply({ actor: 'tok-op', dryRun: false });
    expect(first.ok).toBe(true);
    expect(first.reports.map((r) => [r.actionId, r.outcome])).toEqual([
      ['create:host-a:build:1', 'created'],
      ['create:host-a:build:2', 'created'],
      ['create:host-a:eph:1', 'created'],
    ]);
    const lanes = await w.store.listLanes();
    expect(lanes.map((l) => [l.pool, l.state])).toEqual(
      expect.arrayContaining([
        ['build', 'online'],
        ['build', 'online'],
        ['eph', 'online'],
      ]),
    );
    const second = await service.apply({ actor: 'tok-op', dryRun: false });
    expect(second.plan.actions).toEqual([]);
    const applies = (await w.store.listAudit({})).filter((a) => a.action === 'apply');
    expect(applies.map((a) => [a.actor, a.outcome, a.params['actions']])).toEqual([
      ['tok-op', 'ok', 3],
      ['tok-op', 'ok', 0],
    ]);
    expect(second.reports).toEqual([]);
    controlPlanSchema.parse(second.plan);
  });

  it("starts a host's next create once the previous one is recorded, not once it is online", async () => {
    const { w, service } = await world();
    w.hub.registerOnStart = false;
    // No runner comes online until every create of the plan has reached the host: with creates
    // run one after another, the first would wait for its runner until its deadline.
    let sentWhenOnline = -1;
    w.clock.onSleep(() => {
      const creates = w.hub.commands('lane.create');
      if (sentWhenOnline === -1 && creates.length === 3) {
        sentWhenOnline = creates.length;
        for (const c of creates) w.hub.comeOnline(c.laneId);
      }
    });
    const r = await service.apply({ actor: 'tok-op', dryRun: false });
    expect(sentWhenOnline).toBe(3);
    expect(r.reports.map((x) => [x.actionId, x.outcome])).toEqual([
      ['create:host-a:build:1', 'created'],
      ['create:host-a:build:2', 'created'],
      ['create:host-a:eph:1', 'created'],
    ]);
    // The pool's checks still counted each recorded lane: no more lanes than the policy wants.
    expect((await w.store.listLanes()).map((l) => l.state).sort()).toEqual([
      'online',
      'online',
      'online',
    ]);
  });

  it('never touches an unmanaged runner, even one wearing our labels', async () => {
    const { w, service } = await world();
    await service.apply({ actor: 'tok-op', dryRun: false });
    const plan = await service.plan();
    expect(plan.unmanaged.map((u) => u.runnerId)).toEqual([9]);
    expect(w.github.calls.filter((c) => / 9$/.test(c))).toEqual([]);
    expect(w.github.find(9)).toEqual(UNMANAGED);
    const { runners } = await service.runners();
    expect(runners.find((r) => r.runnerId === 9)).toMatchObject({ managed: false });
    expect(runners.filter((r) => r.managed)).toHaveLength(3);
  });

  it('apply --dry-run walks every action and sends nothing', async () => {
    const { w, service } = await world();
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001', pool: 'gone' });
    const r = await service.apply({ actor: 'tok-op', dryRun: true });
    expect(r.reports.map((x) => x.outcome).sort()).toEqual([
      'would-create',
      'would-create',
      'would-create',
      'would-remove',
    ]);
    expect(w.hub.sent).toEqual([]);
    expect(w.github.calls.filter((c) => !c.startsWith('listRunners'))).toEqual([]);
    expect((await w.store.listLanes()).map((l) => l.state)).toEqual(['online']);
  });

  it('replaces a completed ephemeral lane: removes it, then creates a new one', async () => {
    const { w, service } = await world();
    await service.apply({ actor: 'tok-op', dryRun: false });
    const eph = (await w.store.listLanes({ pool: 'eph' }))[0]!;
    await w.store.putLane({ ...eph, state: 'completed' });
    // GitHub deletes an ephemeral runner after its job.
    await w.github.deleteRunner(eph.scope, eph.runnerId!);
    const r = await service.apply({ actor: 'reconciler', dryRun: false });
    expect(r.reports.map((x) => [x.kind, x.outcome])).toEqual([
      ['remove', 'removed'],
      ['create', 'created'],
    ]);
    expect((await w.store.getLane(eph.laneId))?.state).toBe('removed');
  });

  it('repairs drifted labels back to the canonical set', async () => {
    const { w, service } = await world();
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0002' });
    w.github.set(lane.runnerId!, {
      labels: ['self-hosted', ...lane.labels.filter((l) => l !== 'linux'), 'stray'],
    });
    const r = await service.apply({ actor: 'tok-op', dryRun: false });
    expect(r.reports.filter((x) => x.kind === 'repair-labels').map((x) => x.outcome)).toEqual([
      'repaired',
    ]);
    expect(w.github.find(lane.runnerId!)?.labels).toEqual(['self-hosted', ...lane.labels]);
  });

  it('refuses a second apply while one runs', async () => {
    const { service } = await world();
    const first = service.apply({ actor: 'a', dryRun: false });
    await expect(service.apply({ actor: 'b', dryRun: false })).rejects.toSatisfy(
      (e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_CONFLICT',
    );
    expect((await first).ok).toBe(true);
  });

  it('refuses a second action on a lane while one runs, and audits the refusal', async () => {
    const { w, service } = await world();
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    w.hub.localBusy.set('01hzzzzzzzzzzzzzzzzzzz0001', true);
    const job = await service.startLaneAction('01hzzzzzzzzzzzzzzzzzzz0001', 'remove', {
      actor: 'a',
      dryRun: false,
      force: false,
      timeoutSec: 60,
    });
    expect(job.running).toBe(true);
    await expect(
      service.laneAction('01hzzzzzzzzzzzzzzzzzzz0001', 'drain', {
        actor: 'b',
        dryRun: false,
        force: false,
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_CONFLICT');
    await expect(
      service.startLaneAction('01hzzzzzzzzzzzzzzzzzzz9999', 'remove', {
        actor: 'b',
        dryRun: false,
        force: false,
      }),
    ).rejects.toSatisfy((e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_NOT_FOUND');
    for (
      let i = 0;
      i < 1000 && service.laneJob('01hzzzzzzzzzzzzzzzzzzz0001')?.running === true;
      i++
    ) {
      await new Promise((r) => setImmediate(r));
    }
    const done = service.laneJob('01hzzzzzzzzzzzzzzzzzzz0001');
    expect(done?.report?.error?.code).toBe('LP_TIMEOUT');
    expect(w.hub.commands('lane.remove')).toEqual([]);
  });

  it('restarts a lane whose runner stayed offline past the threshold while its agent says it runs', async () => {
    const { w, service } = await world();
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0002' });
    const report = w.hub.lanes.get(lane.laneId)!;
    w.hub.session('host-a')!.inventory!.lanes.push({ ...report, state: 'online' });
    w.github.set(lane.runnerId!, { status: 'offline' });
    const restarts = async () =>
      (await service.plan()).actions.filter((a) => a.kind === 'restart').map((a) => a.id);
    expect(await restarts()).toEqual([]);
    await w.clock.sleep(299_000);
    expect(await restarts()).toEqual([]);
    await w.clock.sleep(1_000);
    expect(await restarts()).toEqual([`restart:${lane.laneId}`]);
    // Back online: the offline clock starts over.
    w.github.set(lane.runnerId!, { status: 'online' });
    expect(await restarts()).toEqual([]);
    w.github.set(lane.runnerId!, { status: 'offline' });
    expect(await restarts()).toEqual([]);
  });

  it('marks lanes left mid-saga by a restart of the coordinator, and audits it', async () => {
    const { w, service } = await world();
    const states = ['pending', 'starting', 'stopping', 'restarting', 'online', 'draining'] as const;
    for (const [i, state] of states.entries()) {
      await seedLane(w, { laneId: `01hzzzzzzzzzzzzzzzzzzz000${i + 1}`, state });
    }
    const changed = await service.recoverInterrupted();
    expect(changed.map((l) => l.state)).toEqual(['failed', 'failed', 'failed', 'unhealthy']);
    const lanes = await w.store.listLanes();
    expect(lanes.map((l) => l.state)).toEqual([
      'failed',
      'failed',
      'failed',
      'unhealthy',
      'online',
      'draining',
    ]);
    expect(lanes[0]?.recovery).toContain('launchplane lane remove 01hzzzzzzzzzzzzzzzzzzz0001');
    const audit = (await w.store.listAudit({})).filter((a) => a.action === 'lane.recover');
    expect(audit).toHaveLength(4);
    expect(w.hub.sent).toEqual([]);
  });

  it('holds a lane being created against any other action on it', async () => {
    const { w, service } = await world();
    w.hub.registerOnStart = false; // creates keep polling GitHub until their deadline
    const applying = service.apply({ actor: 'tok-op', dryRun: false });
    let creating: string | undefined;
    for (let i = 0; i < 1000 && creating === undefined; i++) {
      creating = (await w.store.listLanes()).find((l) => l.state === 'starting')?.laneId;
      await new Promise((r) => setImmediate(r));
    }
    expect(creating).toBeDefined();
    await expect(
      service.laneAction(creating!, 'remove', { actor: 'tok-other', dryRun: false, force: true }),
    ).rejects.toSatisfy((e: unknown) => e instanceof LaunchplaneError && e.code === 'LP_CONFLICT');
    const done = await applying;
    expect(done.reports.every((r) => r.error?.code === 'LP_TIMEOUT')).toBe(true);
    expect(w.hub.commands('lane.remove').every((c) => c.type === 'lane.remove' && c.force)).toBe(
      true,
    );
  });

  it('lists lanes with what GitHub says', async () => {
    const { w, service } = await world();
    const lane = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    w.github.set(lane.runnerId!, { busy: true });
    const lanes = await service.lanes({ pool: 'build' });
    expect(lanes).toEqual([
      expect.objectContaining({ laneId: lane.laneId, github: { status: 'online', busy: true } }),
    ]);
    expect(await service.lanes({ pool: 'other' })).toEqual([]);
  });
});

describe('Reconciler', () => {
  it('only observes when auto is off: the plan is kept, nothing is sent', async () => {
    const { w, service } = await world();
    const rec = new Reconciler({ service, clock: w.clock, logger: silentLogger });
    const r = await rec.tick();
    expect(r.applied).toBeUndefined();
    expect(r.plan.summary.creates).toBe(3);
    expect(service.latestPlan()).toEqual(r.plan);
    expect(w.hub.sent).toEqual([]);
  });

  it('applies as actor "reconciler" when auto is on', async () => {
    const { w, service } = await world();
    const rec = new Reconciler({ service, clock: w.clock, logger: silentLogger }, { auto: true });
    const r = await rec.tick();
    expect(r.applied?.ok).toBe(true);
    expect(new Set(w.hub.sent.map((s) => s.actor))).toEqual(new Set(['reconciler']));
    const audit = await w.store.listAudit({});
    expect(
      audit.filter((a) => a.action === 'lane.create').every((a) => a.actor === 'reconciler'),
    ).toBe(true);
  });

  it("does not wait for new lanes' runners: the next plan counts them in flight, and stop waits for them", async () => {
    const { w, service } = await world();
    w.hub.registerOnStart = false;
    let second: Promise<ControlPlan> | undefined;
    w.clock.onSleep(() => {
      // The creates wait for their runners: plan again now, then let the runners come online.
      if (second !== undefined || w.hub.commands('lane.create').length < 3) return;
      second = service.plan();
      void second.then(() => {
        for (const c of w.hub.commands('lane.create')) w.hub.comeOnline(c.laneId);
      });
    });
    const rec = new Reconciler({ service, clock: w.clock, logger: silentLogger }, { auto: true });
    const r = await rec.tick();
    expect(r.applied).toMatchObject({ ok: true, reports: [], detached: 3 });
    await rec.stop();
    // Lanes still coming up hold their slots: the second plan makes no more of them.
    expect((await second)?.summary.creates).toBe(0);
    expect((await w.store.listLanes()).map((l) => l.state)).toEqual(['online', 'online', 'online']);
    const audit = await w.store.listAudit({});
    expect(audit.filter((a) => a.action === 'lane.create').map((a) => a.outcome)).toEqual([
      'ok',
      'ok',
      'ok',
    ]);
    expect(audit.find((a) => a.action === 'apply')?.params['detached']).toBe(3);
  });

  it("does not wait for a drain: other hosts' creates go ahead, the draining host's creates wait for a later round, and stop waits for the drain", async () => {
    const policy = POLICY_TEXT.replace('lanes: { host-a: 2 }', 'lanes: { host-a: 1, host-b: 1 }');
    const w = await makeWorld({ policy, hosts: ['host-a', 'host-b'] });
    const service = new ControlService(w.deps);
    // A lane of a pool the policy no longer has, running a job: its drain waits.
    const gone = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0042', pool: 'gone' });
    w.hub.localBusy.set(gone.laneId, true);
    const rec = new Reconciler({ service, clock: w.clock, logger: silentLogger }, { auto: true });
    const r = await rec.tick();
    // The round returned while the drain waits. host-b's create waits for its runner; host-a's
    // two creates are left to a later round: queued behind the remove, the next plan could not
    // see them and would plan them again.
    expect(r.applied).toMatchObject({ detached: 2, deferred: 2 });
    expect((await w.store.getLane(gone.laneId))?.state).toBe('draining');
    const lanes = async () => (await w.store.listLanes()).filter((l) => l.laneId !== gone.laneId);
    expect((await lanes()).map((l) => l.hostId)).toEqual(['host-b']);
    // The next plan gives the draining lane no second action; with no remove in it, it holds
    // host-a's creates back no longer (the drain keeps its slot, which the plan counts).
    const again = await service.plan();
    expect(again.actions.filter((a) => 'laneId' in a && a.laneId === gone.laneId)).toEqual([]);
    expect(deferredCreates(again.actions).size).toBe(0);
    // The job ends: the lane goes; stop waits for it. The next round makes host-a's lanes.
    w.hub.localBusy.set(gone.laneId, false);
    await rec.stop();
    expect((await w.store.getLane(gone.laneId))?.state).toBe('removed');
    expect((await lanes()).map((l) => l.hostId)).toEqual(['host-b']);
    const next = await rec.tick();
    expect(next.applied?.deferred).toBeUndefined();
    await service.settled();
    expect((await lanes()).map((l) => [l.hostId, l.state]).sort()).toEqual([
      ['host-a', 'online'],
      ['host-a', 'online'],
      ['host-b', 'online'],
    ]);
    const audit = await w.store.listAudit({});
    expect(audit.find((a) => a.action === 'lane.remove')?.outcome).toBe('ok');
    expect(audit.find((a) => a.action === 'apply')?.params['deferred']).toBe(2);
    // No lane was made twice: one create record per lane, three in all.
    const created = audit.filter((a) => a.action === 'lane.create' && !a.dryRun);
    expect(new Set(created.map((a) => a.laneId)).size).toBe(3);
  });

  it('runs rounds on its interval until stopped', async () => {
    const { w, service } = await world();
    const rec = new Reconciler(
      { service, clock: w.clock, logger: silentLogger },
      { intervalSec: 30 },
    );
    rec.start();
    for (let i = 0; i < 1000 && rec.rounds < 3; i++) await new Promise((r) => setImmediate(r));
    await rec.stop();
    expect(rec.rounds).toBeGreaterThanOrEqual(3);
    expect(w.hub.sent).toEqual([]);
  });
});

describe('startCreatesOnHost', () => {
  const action = (n: number): PlanAction =>
    ({ kind: 'create', id: `create:h:p:${n}`, hostId: 'h', pool: 'p' }) as unknown as PlanAction;
  const report = (a: PlanAction): ActionReport => ({ actionId: a.id }) as unknown as ActionReport;

  it('starts each create after the one before it recorded its lane, then runs them side by side', async () => {
    const events: string[] = [];
    const finish = new Map<string, () => void>();
    const run = (a: PlanAction, onRecorded: () => void): Promise<ActionReport> => {
      events.push(`start ${a.id}`);
      return new Promise<ActionReport>((resolve) => {
        finish.set(a.id, () => resolve(report(a)));
        // Recording takes a turn of the event loop, as a store write does.
        setImmediate(() => {
          events.push(`recorded ${a.id}`);
          onRecorded();
        });
      });
    };
    const started = await startCreatesOnHost([action(1), action(2), action(3)], 4, run);
    // All three are under way before any finished, each started after its predecessor recorded.
    expect(events).toEqual([
      'start create:h:p:1',
      'recorded create:h:p:1',
      'start create:h:p:2',
      'recorded create:h:p:2',
      'start create:h:p:3',
      'recorded create:h:p:3',
    ]);
    expect(started.map((c) => c.settled())).toEqual([undefined, undefined, undefined]);
    for (const id of ['create:h:p:3', 'create:h:p:1', 'create:h:p:2']) finish.get(id)?.();
    const reports = await Promise.all(started.map((c) => c.report));
    expect(started.map((c) => c.settled()?.actionId)).toEqual(reports.map((r) => r.actionId));
    expect(reports.map((r) => r.actionId)).toEqual([
      'create:h:p:1',
      'create:h:p:2',
      'create:h:p:3',
    ]);
  });

  it('moves on after a create that ends without recording (refused by its checks)', async () => {
    const started: string[] = [];
    const run = (a: PlanAction): Promise<ActionReport> => {
      started.push(a.id);
      return Promise.resolve(report(a));
    };
    const out = await startCreatesOnHost([action(1), action(2)], 4, run);
    expect(started).toEqual(['create:h:p:1', 'create:h:p:2']);
    expect(out).toHaveLength(2);
  });

  it('keeps at most `limit` creates of a host under way', async () => {
    let running = 0;
    let most = 0;
    const run = async (a: PlanAction, onRecorded: () => void): Promise<ActionReport> => {
      running++;
      most = Math.max(most, running);
      onRecorded();
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return report(a);
    };
    const started = await startCreatesOnHost([1, 2, 3, 4, 5, 6, 7].map(action), 2, run);
    await Promise.all(started.map((c) => c.report));
    expect(most).toBe(2);
  });
});

/**
 * The planner in demand mode: pools with `scaling.mode: demand` sized from the jobs.
 */
import {
  controlPlanSchema,
  type ControlPlan,
  type Policy,
  type Pool,
  type Scaling,
} from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { LaneRecord } from '../ports/store.js';
import type { DemandJob, DemandReservation, PlanDemand } from './demand.js';
import { plan, type PlanInput } from './plan.js';
import {
  COORDINATOR_ID,
  NOW,
  hostOf,
  laneOf,
  policyOf,
  reportOf,
  runnerOf,
} from './plan-fixtures.test-helper.js';

const SCALING: Scaling = {
  mode: 'demand',
  min: 0,
  max: 6,
  minIdle: 1,
  scaleDownAfterSec: 600,
  reservationSec: 600,
  placement: 'spread',
  schedule: [],
};

function demandPool(over: Partial<Pool> = {}, scaling: Partial<Scaling> = {}): Pool {
  return {
    repository: 'acme/api',
    labels: ['linux'],
    backend: 'systemd',
    ephemeral: false,
    runnerGroupId: 1,
    lanes: { 'host-a': 4, 'host-b': 4 },
    scaling: { ...SCALING, ...scaling },
    ...over,
  };
}

function demandPolicy(pools: Record<string, Pool> = { build: demandPool() }): Policy {
  return policyOf({ pools });
}

/** A queued job of acme/api asking for `labels`. */
function jobOf(id: number, over: Partial<DemandJob> = {}): DemandJob {
  return {
    id,
    runId: id * 10,
    repository: 'acme/api',
    labels: ['lp-pool-build'],
    status: 'queued',
    queuedAt: NOW - 200 + id,
    ...over,
  };
}

/** A lane state as its agent and GitHub see it. */
type Seen = 'idle' | 'busy' | 'pending' | 'completed';

interface World {
  policy?: Policy;
  lanes?: [LaneRecord, Seen][];
  jobs?: DemandJob[];
  /** Without it, no job data at all. */
  demand?: boolean;
  idleSince?: Record<string, number>;
  reservations?: DemandReservation[];
  now?: number;
  hosts?: PlanInput['hosts'];
  sagas?: PlanInput['sagas'];
}

function run(w: World): ControlPlan {
  const lanes = (w.lanes ?? []).map(([record, seen]) => {
    const state: LaneRecord['state'] =
      seen === 'pending' ? 'pending' : seen === 'completed' ? 'completed' : record.state;
    return { record: { ...record, state }, seen };
  });
  const reports = lanes
    .filter((l) => l.seen !== 'pending')
    .map((l) =>
      reportOf(l.record, {
        state: l.seen === 'busy' ? 'busy' : l.seen === 'completed' ? 'completed' : 'online',
        local: {
          busy: l.seen === 'busy',
          jobRunning: l.seen === 'busy',
          workerProcess: l.seen === 'busy',
          jobsCompleted: 0,
        },
      }),
    );
  const hosts =
    w.hosts ??
    ['host-a', 'host-b'].map((h) =>
      hostOf(h, {
        lanes: reports.filter((r) =>
          lanes.some((l) => l.record.laneId === r.laneId && l.record.hostId === h),
        ),
      }),
    );
  const runners = lanes
    .filter((l) => l.seen === 'idle' || l.seen === 'busy')
    .map((l) => runnerOf(l.record, { busy: l.seen === 'busy' }));
  const demand: PlanDemand | undefined =
    w.demand === false
      ? undefined
      : {
          jobs: w.jobs ?? [],
          observedAt: w.now ?? NOW,
          ...(w.reservations === undefined ? {} : { reservations: w.reservations }),
          idleSince:
            w.idleSince ??
            Object.fromEntries(
              lanes.filter((l) => l.seen === 'idle').map((l) => [l.record.laneId, NOW - 5000]),
            ),
        };
  const p = plan({
    policy: w.policy ?? demandPolicy(),
    policyDigest: 'sha256:abc',
    coordinatorId: COORDINATOR_ID,
    hosts,
    lanes: lanes.map((l) => l.record),
    github: [{ scope: { repository: 'acme/api' }, runners }],
    now: w.now ?? NOW,
    ...(demand === undefined ? {} : { demand }),
    ...(w.sagas === undefined ? {} : { sagas: w.sagas }),
  });
  controlPlanSchema.parse(p);
  return p;
}

/** Lane n on a host, made long ago (its reservation has expired). */
function old(n: number, hostId = 'host-a', over: Partial<LaneRecord> = {}): LaneRecord {
  return laneOf(n, { hostId, createdAt: NOW - 5000, ...over });
}

const creates = (p: ControlPlan) => p.actions.filter((a) => a.kind === 'create');
const removes = (p: ControlPlan) => p.actions.filter((a) => a.kind === 'remove');

describe('plan() for a pool that follows demand', () => {
  it('makes one lane per queued job plus minIdle, spread over the hosts, each reason naming its job', () => {
    const p = run({ jobs: [jobOf(101), jobOf(102), jobOf(103)] });
    expect(creates(p).map((a) => [a.id, a.reason.split(':')[0]])).toEqual([
      ['create:host-a:build:1', 'job 101 (acme/api run 1010) is queued for pool "build"'],
      ['create:host-a:build:2', 'job 103 (acme/api run 1030) is queued for pool "build"'],
      ['create:host-b:build:1', 'job 102 (acme/api run 1020) is queued for pool "build"'],
      ['create:host-b:build:2', 'pool "build" keeps 1 idle lane(s)'],
    ]);
    expect(p.scaling?.pools).toEqual([
      expect.objectContaining({
        pool: 'build',
        lanes: 0,
        busy: 0,
        queued: 3,
        waiting: 3,
        waitingJobs: [101, 102, 103],
        target: 4,
        creates: 4,
        reason: '3 queued jobs + minIdle 1 → target 4 (max 6)',
      }),
    ]);
    expect(p.summary).toMatchObject({ desired: 4, creates: 4 });
  });

  it('counts lanes still being made: a second plan makes nothing more', () => {
    const jobs = [jobOf(101), jobOf(102), jobOf(103)];
    const lanes: [LaneRecord, Seen][] = [
      [laneOf(1, { runnerId: undefined }), 'pending'],
      [laneOf(2, { runnerId: undefined }), 'pending'],
      [laneOf(3, { hostId: 'host-b', runnerId: undefined }), 'pending'],
      [laneOf(4, { hostId: 'host-b', runnerId: undefined }), 'pending'],
    ];
    const p = run({ jobs, lanes });
    expect(p.actions).toEqual([]);
    expect(p.scaling?.pools[0]).toMatchObject({ lanes: 4, target: 4, creates: 0, removes: 0 });
  });

  it('never lets one job cause two lanes when a lane took it before the job data said so', () => {
    // Lane 1 runs job 101, but the job store still has it queued.
    const busy = old(1);
    const p = run({
      jobs: [jobOf(101)],
      lanes: [
        [busy, 'busy'],
        [old(2, 'host-b'), 'idle'],
      ],
    });
    expect(creates(p)).toEqual([]);
    expect(p.scaling?.pools[0]).toMatchObject({
      busy: 1,
      queued: 1,
      taken: 1,
      waiting: 0,
      target: 2,
      reason:
        '1 busy + 0 queued jobs (1 more already taken by a lane) + minIdle 1 → target 2 (max 6)',
    });
    // Once the store names the runner, the job is counted as running, once.
    const known = run({
      jobs: [jobOf(101, { status: 'in_progress', runnerName: busy.runnerName, runnerId: 1001 })],
      lanes: [
        [busy, 'busy'],
        [old(2, 'host-b'), 'idle'],
      ],
    });
    expect(creates(known)).toEqual([]);
    expect(known.scaling?.pools[0]).toMatchObject({ busy: 1, queued: 0, taken: 0, target: 2 });
  });

  it('remembers a job an ephemeral lane ran after the lane is gone, until the job data catch up or the reservation expires', () => {
    const pool = demandPool({ ephemeral: true }, { minIdle: 0 });
    const policy = demandPolicy({ build: pool });
    const gone = old(1, 'host-a', { ephemeral: true });
    const reservations: DemandReservation[] = [
      {
        laneId: gone.laneId,
        pool: 'build',
        hostId: 'host-a',
        runnerName: gone.runnerName,
        runnerId: 1001,
        ephemeral: true,
        takenAt: NOW - 60,
      },
    ];
    // The lane completed and was removed from the ledger; its job still looks queued.
    expect(creates(run({ policy, jobs: [jobOf(101)], reservations }))).toEqual([]);
    // Past reservationSec the job is believed again.
    const later = run({ policy, jobs: [jobOf(101)], reservations, now: NOW + 600 });
    expect(creates(later).map((a) => a.reason.split(':')[0])).toEqual([
      'job 101 (acme/api run 1010) is queued for pool "build"',
    ]);
  });

  it('removes lanes idle past scaleDownAfterSec, spare ones only, never below minIdle', () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'idle'],
      [old(2), 'idle'],
      [old(3, 'host-b'), 'idle'],
      [old(4, 'host-b'), 'busy'],
    ];
    const p = run({ lanes });
    // 1 busy + minIdle 1 → target 2: two of the three idle lanes go, the busy one never.
    expect(removes(p).map((a) => a.laneId)).toEqual([old(1).laneId, old(2).laneId]);
    expect(removes(p)[0]?.reason).toBe(
      'pool "build": lane idle for 5000 s (scaleDownAfterSec 600); 1 busy + minIdle 1 → target 2 (max 6)',
    );
    expect(p.scaling?.pools[0]).toMatchObject({ lanes: 4, busy: 1, target: 2, removes: 2 });
  });

  it('says when the next spare lane will be due to go, so the reconciler can plan again then', () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'idle'],
      [old(2), 'idle'],
      [old(3), 'busy'],
    ];
    // 1 busy + minIdle 1 → target 2: one idle lane is spare, but neither has been idle 600 s.
    const idleSince = { [old(1).laneId]: NOW - 100, [old(2).laneId]: NOW - 50 };
    const p = run({ lanes, idleSince });
    expect(p.actions).toEqual([]);
    expect(p.scaling?.pools[0]?.nextScaleDownAt).toBe(NOW - 100 + 600);
    // At that time it goes, and nothing more is due (the other idle lane is minIdle's).
    const due = run({ lanes, idleSince, now: NOW + 500 });
    expect(removes(due).map((a) => a.laneId)).toEqual([old(1).laneId]);
    expect(due.scaling?.pools[0]?.nextScaleDownAt).toBeUndefined();
    // No spare lane: nothing is due, however long the lanes idle.
    expect(run({ lanes: lanes.slice(1), idleSince }).scaling?.pools[0]?.nextScaleDownAt).toBe(
      undefined,
    );
  });

  it('a lane a drain or remove is taking away is no supply and gets no second action', () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'idle'],
      [old(2, 'host-b'), 'idle'],
    ];
    const jobs = [jobOf(101)];
    // Without a saga, the two idle lanes cover the job and minIdle: nothing to do.
    expect(run({ lanes, jobs }).actions).toEqual([]);
    // Lane 1 is being removed (an earlier round's scale-down, still draining): lane 2 takes the
    // job, and minIdle needs a new lane; lane 1 is not removed a second time.
    const p = run({ lanes, jobs, sagas: new Map([[old(1).laneId, 'remove']]) });
    expect(creates(p)).toHaveLength(1);
    expect(p.actions.filter((a) => 'laneId' in a && a.laneId === old(1).laneId)).toEqual([]);
    expect(p.scaling?.pools[0]).toMatchObject({ lanes: 1, target: 2, creates: 1 });
  });

  it('a quarantined lane holds its slot and counts against max, but takes no job', () => {
    const lanes: [LaneRecord, Seen][] = [[old(1, 'host-a', { state: 'draining' }), 'idle']];
    const jobs = [jobOf(101)];
    // The job and minIdle each get a lane: the draining one routes no job.
    expect(creates(run({ lanes, jobs }))).toHaveLength(2);
    // With max 2, the draining lane leaves room for one.
    const policy = demandPolicy({ build: demandPool({}, { max: 2 }) });
    expect(creates(run({ policy, lanes, jobs }))).toHaveLength(1);
  });

  it('takes back a lane its scale-down is still draining instead of making one', () => {
    const draining = old(1, 'host-a', { state: 'draining' });
    const lanes: [LaneRecord, Seen][] = [[draining, 'idle']];
    const jobs = [jobOf(101), jobOf(102)];
    const scaleDown = new Map([[draining.laneId, 'scale-down' as const]]);
    const p = run({ lanes, jobs, sagas: scaleDown });
    // Two jobs and minIdle need three lanes: the first is the lane taken back, two are made.
    expect(p.actions.map((a) => [a.kind, a.hostId, 'laneId' in a ? a.laneId : '-'])).toEqual([
      ['reclaim', 'host-a', draining.laneId],
      ['create', 'host-a', '-'],
      ['create', 'host-b', '-'],
    ]);
    const reclaim = p.actions[0]!;
    expect(reclaim).toMatchObject({ kind: 'reclaim', runnerId: draining.runnerId });
    expect(reclaim.reason).toContain('job 101 (acme/api run 1010) is queued for pool "build"');
    expect(reclaim.reason).toContain(`takes back lane "${draining.laneId}" from its scale-down`);
    expect(p.scaling?.pools[0]).toMatchObject({ target: 3, creates: 2, reclaims: 1 });
    expect(p.summary).toMatchObject({ creates: 2, reclaims: 1 });

    // A drain or remove an operator started is never taken back: new lanes are made.
    for (const saga of ['remove', 'drain'] as const) {
      const q = run({ lanes, jobs, sagas: new Map([[draining.laneId, saga]]) });
      expect(q.actions.map((a) => a.kind)).toEqual(['create', 'create', 'create']);
    }
    // Nor is a lane whose remove has begun (no longer quarantined).
    const stopping: [LaneRecord, Seen][] = [[old(1, 'host-a', { state: 'stopping' }), 'idle']];
    expect(run({ lanes: stopping, jobs, sagas: scaleDown }).actions.map((a) => a.kind)).toEqual([
      'create',
      'create',
      'create',
    ]);
  });

  it("a lane being taken back is the pool's again: no second take-back and no new lane for its job", () => {
    const draining = old(1, 'host-a', { state: 'draining' });
    const lanes: [LaneRecord, Seen][] = [[draining, 'idle']];
    const p = run({
      lanes,
      jobs: [jobOf(101)],
      sagas: new Map([[draining.laneId, 'reclaim']]),
    });
    // The lane covers the job; minIdle asks for one more lane.
    expect(p.actions.map((a) => a.kind)).toEqual(['create']);
    expect(p.actions[0]?.reason).toMatch(/^pool "build" keeps 1 idle lane/);
  });

  it('a lane taken back needs no room: it may be the only way to serve a job', () => {
    // host-a is the only host, its pool limit of 2 held by a busy lane and one being scaled down.
    const policy = demandPolicy({ build: demandPool({ lanes: { 'host-a': 2 } }, { minIdle: 0 }) });
    const draining = old(1, 'host-a', { state: 'draining' });
    const lanes: [LaneRecord, Seen][] = [
      [draining, 'idle'],
      [old(2, 'host-a'), 'busy'],
    ];
    // The busy lane took one of the jobs; the other waits.
    const jobs = [jobOf(101), jobOf(102)];
    // Without the take-back the job would wait: the pool is full on its only host.
    const full = run({ policy, lanes, jobs, sagas: new Map([[draining.laneId, 'remove']]) });
    expect(full.actions).toEqual([]);
    const p = run({ policy, lanes, jobs, sagas: new Map([[draining.laneId, 'scale-down']]) });
    expect(p.actions.map((a) => a.kind)).toEqual(['reclaim']);
    // Two jobs wait: one lane comes back, the other job waits (the pool is at its limit).
    const two = run({
      policy,
      lanes,
      jobs: [...jobs, jobOf(103)],
      sagas: new Map([[draining.laneId, 'scale-down']]),
    });
    expect(two.actions.map((a) => a.kind)).toEqual(['reclaim']);
  });

  it('a lane being scaled down that no job may take back still counts against max', () => {
    const policy = demandPolicy({ build: demandPool({}, { minIdle: 0, max: 1 }) });
    const draining = old(1, 'host-a', { state: 'draining' });
    const lanes: [LaneRecord, Seen][] = [[draining, 'idle']];
    const sagas = new Map([[draining.laneId, 'scale-down' as const]]);
    // host-a can take no lane now (offline): its lane cannot be taken back, and until it is gone
    // it fills max, so no lane is made on host-b either.
    const offline = [hostOf('host-a', { connected: false }), hostOf('host-b')];
    const p = run({ policy, hosts: offline, lanes, jobs: [jobOf(101)], sagas });
    expect(p.actions).toEqual([]);
    expect(p.scaling?.pools[0]).toMatchObject({ creates: 0, reclaims: 0, capped: 1 });
    // The same when the job may not run on host-a (it asks for a capability only host-b has).
    const gpuPolicy = policyOf({
      hosts: { 'host-b': { capabilities: ['gpu'] } },
      pools: { build: demandPool({}, { minIdle: 0, max: 1 }) },
    });
    const gpuHosts = [hostOf('host-a'), hostOf('host-b', { capabilities: ['gpu'] })];
    const gpuJob = jobOf(101, { labels: ['lp-pool-build', 'gpu'] });
    const q = run({ policy: gpuPolicy, hosts: gpuHosts, lanes, jobs: [gpuJob], sagas });
    expect(q.actions).toEqual([]);
    // With room for both under max, the job gets its lane on host-b.
    const roomy = policyOf({
      hosts: { 'host-b': { capabilities: ['gpu'] } },
      pools: { build: demandPool({}, { minIdle: 0, max: 2 }) },
    });
    const r = run({ policy: roomy, hosts: gpuHosts, lanes, jobs: [gpuJob], sagas });
    expect(r.actions.map((a) => [a.kind, a.hostId])).toEqual([['create', 'host-b']]);
  });

  it("marks a demand pool's removes as scale-downs, and no other remove", () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'idle'],
      [old(2, 'host-b'), 'idle'],
    ];
    const p = run({ lanes, jobs: [], idleSince: { [old(1).laneId]: 0, [old(2).laneId]: 0 } });
    expect(removes(p)).toHaveLength(1);
    expect(removes(p)[0]).toMatchObject({ scaleDown: true });
    // A pool the policy dropped removes its lanes for good.
    const gone = run({ policy: demandPolicy({}), lanes, jobs: [] });
    expect(removes(gone).length).toBeGreaterThan(0);
    for (const r of removes(gone)) expect(r).not.toHaveProperty('scaleDown');
  });

  it('warns of a lane left draining with no drain under way (a restart or a deadline cut it off)', () => {
    const stuck = old(1, 'host-a', { state: 'draining' });
    const lanes: [LaneRecord, Seen][] = [[stuck, 'idle']];
    const warning = `Lane "${stuck.laneId}" on host "host-a" is quarantined (draining) with no drain under way: it takes no job and holds its slot. Run "launchplane lane remove ${stuck.laneId}" to remove it, or "launchplane lane restart ${stuck.laneId}" to return it to service`;
    expect(run({ lanes, jobs: [], sagas: new Map() }).degraded).toContain(warning);
    // While its drain runs, nothing to say.
    const draining = run({ lanes, jobs: [], sagas: new Map([[stuck.laneId, 'scale-down']]) });
    expect(draining.degraded.join('\n')).not.toContain('no drain under way');
  });

  it('lanes a create saga is making count as supply', () => {
    const lanes: [LaneRecord, Seen][] = [[laneOf(1, { runnerId: undefined }), 'pending']];
    const p = run({ lanes, jobs: [], sagas: new Map([[laneOf(1).laneId, 'create']]) });
    expect(p.actions).toEqual([]);
  });

  it('never goes below min', () => {
    const policy = demandPolicy({ build: demandPool({}, { min: 3, minIdle: 0 }) });
    const lanes: [LaneRecord, Seen][] = [1, 2, 3, 4].map((n) => [
      old(n, n % 2 ? 'host-a' : 'host-b'),
      'idle',
    ]);
    const p = run({ policy, lanes });
    expect(removes(p)).toHaveLength(1);
    expect(p.scaling?.pools[0]).toMatchObject({
      target: 3,
      min: 3,
      reason: 'no demand → target 3 (min 3, max 6)',
    });
  });

  it('does not thrash on a burst: lanes idle for less than scaleDownAfterSec stay, and take the next jobs', () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'idle'],
      [old(2, 'host-b'), 'idle'],
      [old(3, 'host-b'), 'idle'],
    ];
    // Idle for 300 s only: nothing goes.
    const quiet = run({
      lanes,
      idleSince: Object.fromEntries(lanes.map(([l]) => [l.laneId, NOW - 300])),
    });
    expect(quiet.actions).toEqual([]);
    // The observer's clock says long idle, but the lane finished a job 100 s ago: it stays.
    const justDone = run({
      lanes,
      jobs: [
        jobOf(90, {
          status: 'completed',
          runnerName: old(1).runnerName,
          completedAt: NOW - 100,
        }),
        jobOf(91, {
          status: 'completed',
          runnerName: old(2, 'host-b').runnerName,
          completedAt: NOW - 120,
        }),
      ],
    });
    expect(removes(justDone).map((a) => a.laneId)).toEqual([old(3, 'host-b').laneId]);
    // A lane whose idle clock the observer has not started is never removed.
    expect(run({ lanes, idleSince: {} }).actions).toEqual([]);
    // The next burst lands on the idle lanes: two jobs + minIdle 1 is what the pool holds.
    const burst = run({ lanes, idleSince: {}, jobs: [jobOf(101), jobOf(102)] });
    expect(burst.actions).toEqual([]);
    expect(burst.scaling?.pools[0]).toMatchObject({ lanes: 3, waiting: 2, target: 3 });
    // One more job than the idle lanes cover: one lane for that job, one to keep minIdle.
    const more = run({
      lanes,
      idleSince: {},
      jobs: [jobOf(101), jobOf(102), jobOf(103), jobOf(104)],
    });
    expect(creates(more).map((a) => a.reason.split(':')[0])).toEqual([
      'job 104 (acme/api run 1040) is queued for pool "build"',
      'pool "build" keeps 1 idle lane(s)',
    ]);
  });

  it('keeps a lane made for demand while it holds its reservation and a job waits, even idle past scaleDownAfterSec', () => {
    const policy = demandPolicy({ build: demandPool({}, { minIdle: 0, scaleDownAfterSec: 60 }) });
    const young = laneOf(1, { createdAt: NOW - 300 });
    const young2 = laneOf(2, { createdAt: NOW - 300 });
    const idleSince = { [young.laneId]: NOW - 250, [young2.laneId]: NOW - 250 };
    const lanes: [LaneRecord, Seen][] = [
      [young, 'idle'],
      [young2, 'idle'],
    ];
    // One job waits and two lanes were made: one is spare, but both still hold their reservation.
    const p = run({ policy, lanes, idleSince, jobs: [jobOf(101)] });
    expect(p.actions).toEqual([]);
    // GitHub gave the jobs to other runners: nothing waits, and the lanes are idle lanes like any
    // other, gone after scaleDownAfterSec.
    const q = run({ policy, lanes, idleSince });
    expect(removes(q).map((a) => a.laneId)).toEqual([young.laneId, young2.laneId]);
    expect(removes(q)[0]?.reason).toMatch(
      /^pool "build": lane idle for 250 s \(scaleDownAfterSec 60\)/,
    );
    // Past reservationSec a spare lane goes even while a job waits.
    const later = run({ policy, lanes, idleSince, jobs: [jobOf(101)], now: NOW + 600 });
    expect(removes(later)).toHaveLength(1);
  });

  it('raises minIdle while a schedule window is in force, naming the window', () => {
    const policy = demandPolicy({
      build: demandPool(
        {},
        {
          schedule: [
            {
              name: 'office',
              cron: '0 8 * * 1-5',
              durationMinutes: 600,
              timezone: 'Europe/Berlin',
              minIdle: 3,
            },
          ],
        },
      ),
    });
    const monday9 = Date.parse('2025-06-02T07:00:00Z') / 1000; // 09:00 in Berlin (UTC+2)
    const p = run({ policy, now: monday9 });
    expect(creates(p)).toHaveLength(3);
    expect(creates(p)[0]?.reason).toBe(
      'pool "build" keeps 3 idle lane(s) (schedule window "office", 0 8 * * 1-5 Europe/Berlin, until 2025-06-02T16:00:00Z): minIdle 3 from window "office" → target 3 (max 6)',
    );
    expect(p.scaling?.pools[0]).toMatchObject({ minIdle: 3, windows: ['office'], target: 3 });
    // Saturday: the pool's own minIdle 1.
    const saturday = run({ policy, now: Date.parse('2025-06-07T07:00:00Z') / 1000 });
    expect(creates(saturday)).toHaveLength(1);
    expect(saturday.scaling?.pools[0]).toMatchObject({ minIdle: 1, windows: [] });
  });

  it('replaces a completed ephemeral lane only while demand or minIdle asks for one', () => {
    const policy = demandPolicy({ build: demandPool({ ephemeral: true }, { minIdle: 0 }) });
    const done = old(1, 'host-a', { ephemeral: true });
    const jobs = [
      jobOf(100, { status: 'completed', runnerName: done.runnerName, completedAt: NOW - 5 }),
    ];
    const idle = run({ policy, lanes: [[done, 'completed']], jobs });
    expect(idle.actions.map((a) => [a.kind, a.reason])).toEqual([
      ['remove', 'ephemeral lane completed its job'],
    ]);
    const wanted = run({ policy, lanes: [[done, 'completed']], jobs: [...jobs, jobOf(101)] });
    expect(wanted.actions.map((a) => [a.kind, a.reason.split(':')[0]])).toEqual([
      ['remove', 'ephemeral lane completed its job'],
      ['create', 'job 101 (acme/api run 1010) is queued for pool "build"'],
    ]);
  });

  it('makes no lane for a runs-on: self-hosted job, and lists it with the reason', () => {
    const policy = demandPolicy({ build: demandPool({}, { minIdle: 0 }) });
    const p = run({ policy, jobs: [jobOf(101, { labels: ['self-hosted', 'linux'] })] });
    expect(p.actions).toEqual([]);
    expect(p.scaling?.unmatched).toEqual([
      expect.objectContaining({ jobId: 101, reason: 'github-default-label' }),
    ]);
    expect(p.scaling?.unmatchedTotal).toBe(1);
  });

  it('counts a job two pools match toward the most specific one, then the first by name', () => {
    const policy = demandPolicy({
      general: demandPool({ labels: ['linux'] }, { minIdle: 0 }),
      large: demandPool({ labels: ['linux', 'large'] }, { minIdle: 0 }),
      another: demandPool({ labels: ['linux'] }, { minIdle: 0 }),
    });
    const p = run({
      policy,
      jobs: [jobOf(101, { labels: ['linux'] }), jobOf(102, { labels: ['Linux', 'large'] })],
    });
    expect(creates(p).map((a) => [a.pool, a.reason.split(' ')[1]])).toEqual([
      ['another', '101'],
      ['large', '102'],
    ]);
  });

  it('places a job that asks for a capability only on hosts granted it', () => {
    const policy = policyOf({
      hosts: { 'host-b': { capabilities: ['gpu'] } },
      pools: { build: demandPool({}, { minIdle: 0, placement: 'pack' }) },
    });
    const hosts = [
      hostOf('host-a', { capabilities: ['gpu'] }),
      hostOf('host-b', { capabilities: ['gpu'] }),
    ];
    const p = run({
      policy,
      hosts,
      jobs: [jobOf(101, { labels: ['lp-pool-build', 'gpu'] }), jobOf(102)],
    });
    expect(creates(p).map((a) => [a.hostId, a.reason.split(' ')[1]])).toEqual([
      ['host-b', '101'],
      ['host-b', '102'],
    ]);
  });

  it('places only on hosts that can take a lane, and reports the rest as blocked', () => {
    const hosts = [hostOf('host-a'), hostOf('host-b', { connected: false })];
    const p = run({ hosts, jobs: [1, 2, 3, 4, 5].map((n) => jobOf(100 + n)) });
    // host-a opts in to 4 lanes; host-b is offline. Target 6 (max): 4 made, 2 blocked.
    expect(creates(p).map((a) => a.hostId)).toEqual(['host-a', 'host-a', 'host-a', 'host-a']);
    expect(p.blocked).toEqual([
      expect.objectContaining({ hostId: 'host-a', pool: 'build', count: 2, guardrail: 'capacity' }),
    ]);
    expect(p.scaling?.pools[0]).toMatchObject({ target: 6, creates: 4, blocked: 2 });
  });

  it('never makes more lanes than max, and says how many jobs wait for lack of room', () => {
    const p = run({ jobs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => jobOf(100 + n)) });
    expect(creates(p)).toHaveLength(6);
    expect(p.scaling?.pools[0]).toMatchObject({ target: 6, waiting: 10, capped: 4, blocked: 0 });
  });

  it('without job data keeps min and minIdle, makes no lane for a job and removes none', () => {
    const lanes: [LaneRecord, Seen][] = [
      [old(1), 'busy'],
      [old(2), 'idle'],
      [old(3, 'host-b'), 'idle'],
    ];
    const p = run({ lanes, demand: false });
    expect(p.actions).toEqual([]);
    expect(p.scaling?.pools[0]).toMatchObject({ demandKnown: false, target: 2 });
    expect(p.degraded).toContain(
      'Pools that follow demand plan without jobs (no job source is configured): they keep min and minIdle, make no lane for a job and remove none',
    );
  });

  it('leaves static pools exactly as they were, jobs or not', () => {
    const input = (demand?: PlanDemand): PlanInput => ({
      policy: policyOf(),
      policyDigest: 'sha256:abc',
      coordinatorId: COORDINATOR_ID,
      hosts: [hostOf('host-a'), hostOf('host-b')],
      lanes: [],
      github: [{ scope: { repository: 'acme/api' }, runners: [] }],
      now: NOW,
      ...(demand === undefined ? {} : { demand }),
    });
    const without = plan(input());
    const withJobs = plan(input({ jobs: [jobOf(1), jobOf(2)], observedAt: NOW }));
    expect(JSON.stringify(withJobs)).toBe(JSON.stringify(without));
    expect('scaling' in without).toBe(false);
  });
});

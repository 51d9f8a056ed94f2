/**
 * Properties of the planner for pools that follow demand, over generated worlds: hosts in every
 * state, lanes in every state, jobs queued, running and done (some taken by lanes the job data
 * do not name yet), capability grants, several pools matching the same jobs.
 */
import {
  LANE_STATES,
  controlPlanSchema,
  laneLabels,
  runnerName,
  type LaneReport,
  type Policy,
  type Pool,
} from '@launchplane/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import type { DemandJob, DemandReservation } from './demand.js';
import { effectiveBounds, followsDemand } from './demand-plan.js';
import { checkLaneGuardrails } from './guardrails.js';
import { matchJob, poolProfiles } from './matching.js';
import { plan, type PlanHost, type PlanInput } from './plan.js';
import { COORDINATOR_ID, NOW, laneIdOf } from './plan-fixtures.test-helper.js';

const HOSTS = ['host-a', 'host-b', 'host-c'] as const;
const POOLS = ['build', 'big', 'fixed'] as const;
const LABELS = ['lp-pool-build', 'lp-pool-big', 'linux', 'LINUX', 'large', 'gpu', 'self-hosted'];

const likely = (p: number): fc.Arbitrary<boolean> =>
  fc.oneof(
    { weight: p, arbitrary: fc.constant(true) },
    { weight: 10 - p, arbitrary: fc.constant(false) },
  );

const scalingArb = fc.record({
  min: fc.integer({ min: 0, max: 3 }),
  extra: fc.integer({ min: 0, max: 8 }),
  minIdle: fc.integer({ min: 0, max: 3 }),
  scaleDownAfterSec: fc.constantFrom(0, 60, 600),
  reservationSec: fc.constantFrom(1, 300, 600),
  placement: fc.constantFrom('spread' as const, 'pack' as const),
  window: fc.boolean(),
});

const poolArb = fc.record({
  labels: fc.subarray(['linux', 'large']),
  ephemeral: fc.boolean(),
  lanes: fc.dictionary(fc.constantFrom(...HOSTS), fc.integer({ min: 0, max: 4 }), { maxKeys: 3 }),
  demand: likely(8),
  scaling: scalingArb,
});

const hostArb = fc.record({
  present: likely(9),
  connected: likely(8),
  optedIn: likely(9),
  maxLanes: fc.integer({ min: 0, max: 6 }),
  gpu: fc.boolean(),
  granted: fc.boolean(),
});

const laneArb = fc.record({
  hostId: fc.constantFrom(...HOSTS),
  pool: fc.constantFrom(...POOLS),
  state: fc.constantFrom(...LANE_STATES),
  seen: fc.constantFrom('idle', 'busy', 'busy-github', 'none', 'completed'),
  createdAgo: fc.integer({ min: 0, max: 10_000 }),
  idleFor: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }),
  saga: fc.option(
    fc.constantFrom('create' as const, 'drain' as const, 'scale-down' as const, 'reclaim' as const),
    {
      nil: undefined,
    },
  ),
});

const jobArb = fc.record({
  labels: fc.subarray(LABELS, { minLength: 1, maxLength: 3 }),
  status: fc.constantFrom('queued', 'queued', 'queued', 'in_progress', 'completed'),
  onLane: fc.option(fc.nat(11), { nil: undefined }),
  queuedAgo: fc.integer({ min: 0, max: 1000 }),
});

const worldArb = fc.record({
  pools: fc.tuple(poolArb, poolArb, poolArb),
  hosts: fc.tuple(hostArb, hostArb, hostArb),
  lanes: fc.array(laneArb, { maxLength: 12 }),
  jobs: fc.array(jobArb, { maxLength: 14 }),
  reserved: fc.array(fc.record({ lane: fc.nat(11), ago: fc.integer({ min: 0, max: 900 }) }), {
    maxLength: 3,
  }),
  withDemand: likely(9),
});
type World = typeof worldArb extends fc.Arbitrary<infer W> ? W : never;

function build(w: World): PlanInput {
  const pools: Record<string, Pool> = {};
  w.pools.forEach((g, i) => {
    const name = POOLS[i]!;
    const total = Object.values(g.lanes).reduce((a, b) => a + b, 0);
    const max = Math.min(total, g.scaling.min + g.scaling.extra);
    pools[name] = {
      repository: 'acme/api',
      labels: g.labels,
      backend: 'systemd',
      ephemeral: g.ephemeral,
      runnerGroupId: 1,
      lanes: g.lanes,
      ...(g.demand && name !== 'fixed'
        ? {
            scaling: {
              mode: 'demand' as const,
              min: Math.min(g.scaling.min, max),
              max,
              minIdle: Math.min(g.scaling.minIdle, max),
              scaleDownAfterSec: g.scaling.scaleDownAfterSec,
              reservationSec: g.scaling.reservationSec,
              placement: g.scaling.placement,
              schedule: g.scaling.window
                ? [{ cron: '* * * * *', durationMinutes: 5, minIdle: Math.min(2, max) }]
                : [],
            },
          }
        : {}),
    };
  });
  const policy: Policy = {
    version: 1,
    allowedHosts: ['host-a', 'host-b', 'host-c'],
    allowedRepositories: ['acme/api'],
    allowedOrganizations: [],
    pools,
    hosts: Object.fromEntries(
      w.hosts.map((h, i) => [HOSTS[i]!, { capabilities: h.granted ? ['gpu'] : [] }]),
    ),
  };
  const lanes: LaneRecord[] = w.lanes.map((l, i) => {
    const laneId = laneIdOf(i + 1);
    return {
      laneId,
      hostId: l.hostId,
      pool: l.pool,
      scope: { repository: 'acme/api' },
      backend: 'systemd',
      purpose: 'pool',
      ephemeral: pools[l.pool]?.ephemeral ?? false,
      runnerName: runnerName(l.hostId, l.pool, laneId),
      runnerId: 1000 + i,
      labels: laneLabels({ coordinatorId: COORDINATOR_ID, laneId, pool: l.pool }),
      state: l.seen === 'completed' ? 'completed' : l.state,
      recovery: undefined,
      lastError: undefined,
      createdAt: NOW - l.createdAgo,
      updatedAt: NOW - l.createdAgo,
    };
  });
  const reports = new Map<string, LaneReport[]>();
  const runners: GitHubRunner[] = [];
  const idleSince: Record<string, number> = {};
  w.lanes.forEach((g, i) => {
    const lane = lanes[i]!;
    if (g.seen === 'none') return;
    const busy = g.seen === 'busy';
    reports.set(lane.hostId, [
      ...(reports.get(lane.hostId) ?? []),
      {
        laneId: lane.laneId,
        name: lane.runnerName,
        pool: lane.pool,
        scope: lane.scope,
        backend: lane.backend,
        ephemeral: lane.ephemeral,
        state: g.seen === 'completed' ? 'completed' : busy ? 'busy' : lane.state,
        runnerId: lane.runnerId ?? 1,
        labels: lane.labels,
        local: { busy, jobRunning: busy, workerProcess: busy, jobsCompleted: 0 },
        restarts: 0,
        createdAt: lane.createdAt,
        updatedAt: lane.createdAt,
      },
    ]);
    if (g.seen !== 'completed') {
      runners.push({
        id: lane.runnerId ?? 1,
        name: lane.runnerName,
        os: 'Linux',
        status: 'online',
        busy: g.seen === 'busy-github',
        labels: lane.labels,
      });
    }
    if (g.idleFor !== undefined) idleSince[lane.laneId] = NOW - g.idleFor;
  });
  const jobs: DemandJob[] = w.jobs.map((j, i) => {
    const lane = j.onLane === undefined || j.status === 'queued' ? undefined : lanes[j.onLane];
    return {
      id: 500 + i,
      runId: 50 + i,
      repository: 'acme/api',
      labels: j.labels,
      status: j.status,
      ...(lane === undefined ? {} : { runnerName: lane.runnerName, runnerId: lane.runnerId ?? 1 }),
      queuedAt: NOW - j.queuedAgo,
      ...(j.status === 'completed' ? { completedAt: NOW - 1 } : {}),
    };
  });
  const reservations: DemandReservation[] = w.reserved.flatMap((r) => {
    const lane = lanes[r.lane];
    return lane === undefined
      ? []
      : [
          {
            laneId: lane.laneId,
            pool: lane.pool,
            hostId: lane.hostId,
            runnerName: lane.runnerName,
            runnerId: lane.runnerId ?? 1,
            ephemeral: lane.ephemeral,
            takenAt: NOW - r.ago,
          },
        ];
  });
  const hosts: PlanHost[] = [];
  w.hosts.forEach((h, i) => {
    const hostId = HOSTS[i]!;
    if (!h.present) return;
    hosts.push({
      hostId,
      enrolled: true,
      revoked: false,
      connected: h.connected,
      optIn: h.optedIn
        ? {
            repositories: ['acme/api'],
            organizations: [],
            backends: ['systemd'],
            maxLanes: h.maxLanes,
          }
        : undefined,
      capabilities: h.gpu ? ['gpu'] : [],
      lanes: reports.get(hostId) ?? [],
    });
  });
  return {
    policy,
    policyDigest: 'sha256:x',
    coordinatorId: COORDINATOR_ID,
    hosts,
    lanes,
    github: [{ scope: { repository: 'acme/api' }, runners }],
    now: NOW,
    ...(w.withDemand ? { demand: { jobs, reservations, idleSince, observedAt: NOW } } : {}),
    sagas: new Map(
      w.lanes.flatMap((g, i) => (g.saga === undefined ? [] : [[lanes[i]!.laneId, g.saga]])),
    ),
  };
}

const RUNS = { numRuns: 300 };
const slotStates = new Set(['removed', 'completed', 'stopping']);

describe('plan() properties for pools that follow demand', () => {
  it('gives a valid, deterministic plan, whatever the order of its input', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        controlPlanSchema.parse(p);
        const reversed: PlanInput = {
          ...input,
          hosts: [...input.hosts].reverse(),
          lanes: [...input.lanes].reverse(),
          ...(input.demand === undefined
            ? {}
            : { demand: { ...input.demand, jobs: [...input.demand.jobs].reverse() } }),
        };
        expect(JSON.stringify(plan(reversed))).toBe(JSON.stringify(p));
      }),
      RUNS,
    );
  });

  it('creates only on hosts that can take the lane, within their maxLanes and the pool`s lanes and max', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const policy = input.policy!;
        const p = plan(input);
        const creates = p.actions.filter((a) => a.kind === 'create');
        for (const a of creates) {
          const host = input.hosts.find((h) => h.hostId === a.hostId);
          expect(host).toBeDefined();
          const pool = policy.pools[a.pool]!;
          expect(checkLaneGuardrails(policy, { poolName: a.pool, pool, host: host! })).toBe(
            undefined,
          );
        }
        for (const h of input.hosts) {
          const made = creates.filter((a) => a.hostId === h.hostId).length;
          if (made === 0) continue;
          const held = input.lanes.filter(
            (l) => l.hostId === h.hostId && l.state !== 'removed',
          ).length;
          expect(held + made).toBeLessThanOrEqual(h.optIn?.maxLanes ?? 0);
        }
        const removed = new Set(p.actions.flatMap((a) => (a.kind === 'remove' ? [a.laneId] : [])));
        for (const [name, pool] of Object.entries(policy.pools)) {
          const mine = creates.filter((a) => a.pool === name);
          if (mine.length === 0 || !followsDemand(pool)) continue;
          // Lanes on hosts the pool no longer lists are on their way out, whether or not their
          // host can be reached to remove them now: they are not the pool's.
          const live = input.lanes.filter(
            (l) =>
              l.pool === name &&
              Object.hasOwn(pool.lanes, l.hostId) &&
              !slotStates.has(l.state) &&
              !removed.has(l.laneId),
          );
          for (const [hostId, limit] of Object.entries(pool.lanes)) {
            const made = mine.filter((a) => a.hostId === hostId).length;
            // (A host over its limit that cannot be reached to shed lanes gets none.)
            if (made === 0) continue;
            const onHost = live.filter((l) => l.hostId === hostId).length;
            expect(onHost + made).toBeLessThanOrEqual(limit);
          }
          expect(live.length + mine.length).toBeLessThanOrEqual(
            effectiveBounds(pool, input.now).max,
          );
        }
      }),
      RUNS,
    );
  });

  it('makes or takes back at most one lane per job, only for a queued job of that pool with no runner, on a host that can run it', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const profiles = poolProfiles(input.policy!, COORDINATOR_ID, input.hosts);
        const jobs = new Map((input.demand?.jobs ?? []).map((j) => [j.id, j]));
        const named = new Set<number>();
        for (const a of p.actions) {
          if (a.kind !== 'create' && a.kind !== 'reclaim') continue;
          const m = /^job (\d+) /.exec(a.reason);
          if (m === null) continue;
          const id = Number(m[1]);
          expect(named.has(id)).toBe(false);
          named.add(id);
          const job = jobs.get(id)!;
          expect(job.status).toBe('queued');
          expect(job.runnerName).toBeUndefined();
          const match = matchJob(job, profiles);
          expect(match).toMatchObject({ matched: true, pool: a.pool });
          if (match.matched) expect(match.hosts).toContain(a.hostId);
        }
        // A job asking for self-hosted never gets a lane.
        for (const id of named) expect(jobs.get(id)?.labels).not.toContain('self-hosted');
      }),
      RUNS,
    );
  });

  it('takes back only lanes a scale-down is draining, for their own pool, each once, and gives a lane in any saga no other action', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const byId = new Map(input.lanes.map((l) => [l.laneId, l]));
        const acted = p.actions.flatMap((a) => ('laneId' in a ? [a.laneId] : []));
        expect(new Set(acted).size).toBe(acted.length);
        for (const a of p.actions) {
          if (!('laneId' in a)) continue;
          const saga = input.sagas?.get(a.laneId);
          if (a.kind !== 'reclaim') {
            expect(saga).toBeUndefined();
            continue;
          }
          const lane = byId.get(a.laneId)!;
          expect(saga).toBe('scale-down');
          expect(['draining', 'drained']).toContain(lane.state);
          expect(lane.pool).toBe(a.pool);
          expect(a.runnerId).toBe(lane.runnerId);
        }
      }),
      RUNS,
    );
  });

  it('removes for lack of demand only lanes the host and GitHub call idle, no job runs on, never below min or minIdle', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const lanes = new Map(input.lanes.map((l) => [l.laneId, l]));
        const reports = new Map(input.hosts.flatMap((h) => h.lanes.map((r) => [r.laneId, r])));
        const runners = new Map(
          input.github.flatMap((o) => ('runners' in o ? o.runners : [])).map((r) => [r.id, r]),
        );
        const idleRemoves = p.actions.filter(
          (a) => a.kind === 'remove' && a.reason.includes('lane idle for'),
        );
        for (const a of idleRemoves) {
          if (a.kind !== 'remove') continue;
          const lane = lanes.get(a.laneId)!;
          const report = reports.get(a.laneId);
          expect(lane.state).toBe('online');
          expect(report?.state).toBe('online');
          expect(report?.local?.busy).not.toBe(true);
          expect(runners.get(lane.runnerId ?? 0)?.busy).toBe(false);
          const running = (input.demand?.jobs ?? []).some(
            (j) => j.status === 'in_progress' && j.runnerName === lane.runnerName,
          );
          expect(running).toBe(false);
        }
        for (const view of p.scaling?.pools ?? []) {
          const pool = input.policy!.pools[view.pool]!;
          const goes = idleRemoves.filter((a) => a.pool === view.pool).length;
          if (goes === 0) continue;
          expect(view.demandKnown).toBe(true);
          expect(view.lanes - goes).toBeGreaterThanOrEqual(view.min);
          expect(view.lanes - view.busy - goes).toBeGreaterThanOrEqual(view.minIdle);
          expect(followsDemand(pool)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

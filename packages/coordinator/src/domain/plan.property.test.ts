import {
  LANE_STATES,
  SMOKE_POOL,
  controlPlanSchema,
  laneLabels,
  runnerName,
  smokeLaneLabels,
  type LaneReport,
  type Policy,
} from '@launchplane/shared';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import { plan, scopeKey, type PlanHost, type PlanInput, type ScopeObservation } from './plan.js';
import { COORDINATOR_ID, NOW, laneIdOf } from './plan-fixtures.test-helper.js';

const HOSTS = ['host-a', 'host-b', 'host-c'] as const;
const POOLS = ['build', 'test', 'gone'] as const;
const REPOS = ['acme/api', 'acme/web'] as const;

/** Mostly every item: a world where most things are allowed exercises creates and capacity. */
function subset<T>(xs: readonly T[]): fc.Arbitrary<T[]> {
  const all: fc.Arbitrary<T[]> = fc.constant([...xs]);
  const some: fc.Arbitrary<T[]> = fc.subarray([...xs]);
  return fc.oneof({ weight: 3, arbitrary: all }, { weight: 2, arbitrary: some });
}
const likely = (p: number): fc.Arbitrary<boolean> =>
  fc.oneof(
    { weight: p, arbitrary: fc.constant(true) },
    { weight: 10 - p, arbitrary: fc.constant(false) },
  );

const poolArb = fc.record({
  repository: fc.constantFrom(...REPOS),
  labels: subset(['linux', 'x64', 'big']),
  backend: fc.constantFrom('systemd' as const, 'docker' as const),
  ephemeral: fc.boolean(),
  lanes: fc.dictionary(fc.constantFrom(...HOSTS), fc.integer({ min: 0, max: 4 }), { maxKeys: 3 }),
});

const policyArb: fc.Arbitrary<Policy | undefined> = fc.option(
  fc
    .record({
      allowedHosts: subset(HOSTS),
      allowedRepositories: subset(REPOS),
      pools: fc.dictionary(fc.constantFrom('build', 'test'), poolArb, { maxKeys: 2 }),
    })
    .map(({ allowedHosts, allowedRepositories, pools }) => ({
      version: 1 as const,
      allowedHosts,
      allowedRepositories,
      allowedOrganizations: [],
      pools: Object.fromEntries(
        Object.entries(pools).map(([name, p]) => [
          name,
          {
            ...p,
            runnerGroupId: 1,
            ...(p.backend === 'docker' ? { docker: { image: 'img' } } : {}),
          },
        ]),
      ),
    })),
  { nil: undefined, freq: 10 },
);

const laneArb = fc.record({
  // A disposable lane of `launchplane smoke`, outside every pool.
  smoke: likely(2),
  hostId: fc.constantFrom(...HOSTS),
  pool: fc.constantFrom(...POOLS),
  repository: fc.constantFrom(...REPOS),
  backend: fc.constantFrom('systemd' as const, 'docker' as const),
  ephemeral: fc.boolean(),
  state: fc.constantFrom(...LANE_STATES),
  hasRunnerId: fc.boolean(),
  createdAt: fc.integer({ min: NOW - 10_000, max: NOW }),
  // What GitHub shows for this lane's runner.
  github: fc.constantFrom('same', 'absent', 'wrong-id', 'drifted', 'offline', 'busy'),
  // What the lane's agent reports.
  report: fc.constantFrom('none', 'same', 'unhealthy', 'completed', 'busy-local', 'other-host'),
});

const hostArb = fc.record({
  present: likely(9),
  enrolled: likely(9),
  revoked: likely(1),
  connected: likely(8),
  hasOptIn: likely(9),
  repositories: subset(REPOS),
  pools: fc.option(subset(['build', 'test']), { nil: undefined }),
  backends: subset(['systemd', 'docker'] as const),
  maxLanes: fc.integer({ min: 0, max: 6 }),
});

const worldArb = fc.record({
  policy: policyArb,
  hosts: fc.tuple(hostArb, hostArb, hostArb),
  lanes: fc.array(laneArb, { maxLength: 10 }),
  foreign: fc.array(
    fc.record({
      repository: fc.constantFrom(...REPOS),
      kind: fc.constantFrom('plain', 'ours-look-alike', 'other-ctl'),
      laneIndex: fc.nat(12),
    }),
    { maxLength: 4 },
  ),
  unavailable: subset(REPOS),
  offlineFor: fc.integer({ min: 0, max: 1000 }),
});

type World = typeof worldArb extends fc.Arbitrary<infer W> ? W : never;

/** Builds a planner input from a generated world; runner ids are unique across scopes. */
function build(w: World): PlanInput {
  const lanes: LaneRecord[] = w.lanes.map((l, i) => {
    const laneId = laneIdOf(i + 1);
    const pool = l.smoke ? SMOKE_POOL : l.pool;
    return {
      laneId,
      hostId: l.hostId,
      pool,
      purpose: l.smoke ? 'smoke' : 'pool',
      scope: { repository: l.repository },
      backend: l.backend,
      ephemeral: l.smoke ? false : l.ephemeral,
      runnerName: runnerName(l.hostId, pool, laneId),
      runnerId: l.hasRunnerId ? 1000 + i : undefined,
      labels: l.smoke
        ? smokeLaneLabels(COORDINATOR_ID, laneId)
        : laneLabels({
            coordinatorId: COORDINATOR_ID,
            laneId,
            pool,
            poolLabels: ['linux'],
          }),
      state: l.state,
      recovery: undefined,
      lastError: undefined,
      createdAt: l.createdAt,
      updatedAt: l.createdAt,
    };
  });
  const reports = new Map<string, LaneReport[]>();
  const runners = new Map<string, GitHubRunner[]>(REPOS.map((r) => [r, []]));
  const offlineSince: Record<string, number> = {};
  w.lanes.forEach((g, i) => {
    const lane = lanes[i]!;
    const report: LaneReport = {
      laneId: lane.laneId,
      name: lane.runnerName,
      pool: lane.pool,
      scope: lane.scope,
      backend: lane.backend,
      ephemeral: lane.ephemeral,
      state:
        g.report === 'unhealthy'
          ? 'unhealthy'
          : g.report === 'completed'
            ? 'completed'
            : lane.state,
      labels: lane.labels,
      restarts: 0,
      createdAt: lane.createdAt,
      updatedAt: lane.createdAt,
      ...(g.report === 'busy-local'
        ? { local: { busy: true, jobRunning: true, workerProcess: true, jobsCompleted: 0 } }
        : {}),
    };
    if (g.report !== 'none') {
      const at = g.report === 'other-host' ? HOSTS[(HOSTS.indexOf(g.hostId) + 1) % 3]! : g.hostId;
      reports.set(at, [...(reports.get(at) ?? []), report]);
    }
    if (g.github === 'absent') return;
    const id = g.github === 'wrong-id' || lane.runnerId === undefined ? 5000 + i : lane.runnerId;
    runners.get(g.repository)!.push({
      id,
      name: lane.runnerName,
      os: 'Linux',
      status: g.github === 'offline' ? 'offline' : 'online',
      busy: g.github === 'busy',
      labels:
        g.github === 'drifted'
          ? [...lane.labels.slice(0, 3), 'stray']
          : ['self-hosted', ...lane.labels],
    });
    if (g.github === 'offline') offlineSince[String(id)] = NOW - w.offlineFor;
  });
  w.foreign.forEach((f, i) => {
    const laneId = laneIdOf(f.laneIndex + 1);
    const labels =
      f.kind === 'plain'
        ? ['self-hosted', 'linux']
        : f.kind === 'other-ctl'
          ? ['launchplane', 'lp-ctl-someone', `lp-lane-${laneId}`]
          : laneLabels({ coordinatorId: COORDINATOR_ID, laneId, pool: 'build' });
    runners.get(f.repository)!.push({
      id: 9000 + i,
      name: `foreign-${i}`,
      os: 'Linux',
      status: 'online',
      busy: false,
      labels,
    });
  });
  const hosts: PlanHost[] = [];
  w.hosts.forEach((h, i) => {
    const hostId = HOSTS[i]!;
    if (!h.present) return;
    hosts.push({
      hostId,
      enrolled: h.enrolled,
      revoked: h.revoked,
      connected: h.connected,
      optIn: h.hasOptIn
        ? {
            repositories: h.repositories,
            organizations: [],
            ...(h.pools === undefined ? {} : { pools: h.pools }),
            backends: h.backends,
            maxLanes: h.maxLanes,
          }
        : undefined,
      capabilities: [],
      lanes: reports.get(hostId) ?? [],
    });
  });
  const github: ScopeObservation[] = REPOS.map((r) =>
    w.unavailable.includes(r)
      ? { scope: { repository: r }, unavailable: 'HTTP 502' }
      : { scope: { repository: r }, runners: runners.get(r)! },
  );
  return {
    policy: w.policy,
    policyDigest: null,
    coordinatorId: COORDINATOR_ID,
    hosts,
    lanes,
    github,
    offlineSince,
    now: NOW,
  };
}

const RUNS = { numRuns: 400 };

describe('plan() properties', () => {
  it('always produces a plan that matches the schema', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        controlPlanSchema.parse(plan(build(w)));
      }),
      RUNS,
    );
  });

  it('never targets an unmanaged runner, a lane outside the ledger, or a lane of another host', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const ledger = new Map(
          input.lanes.filter((l) => l.state !== 'removed').map((l) => [l.laneId, l]),
        );
        const unmanagedIds = new Set(p.unmanaged.map((u) => u.runnerId));
        for (const a of p.actions) {
          if (a.kind === 'create') continue;
          const lane = ledger.get(a.laneId);
          expect(lane).toBeDefined();
          expect(a.hostId).toBe(lane!.hostId);
          expect(a.pool).toBe(lane!.pool);
          if (a.runnerId !== undefined) {
            expect(a.runnerId).toBe(lane!.runnerId);
            expect(unmanagedIds.has(a.runnerId)).toBe(false);
          }
        }
        // Every runner GitHub listed is either an action-free unmanaged one or a ledger lane's.
        for (const o of input.github) {
          if ('unavailable' in o) continue;
          for (const r of o.runners) {
            const managed = [...ledger.values()].some(
              (l) => l.runnerId === r.id && scopeKey(l.scope) === scopeKey(o.scope),
            );
            if (!managed) expect(unmanagedIds.has(r.id)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('never acts on a smoke lane, nor lists its runner as unmanaged, whatever GitHub and its host say', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const smoke = input.lanes.filter((l) => l.purpose === 'smoke' && l.state !== 'removed');
        const ids = new Set(smoke.map((l) => l.laneId));
        for (const a of p.actions) {
          if (a.kind !== 'create') expect(ids.has(a.laneId)).toBe(false);
          expect(a.pool).not.toBe(SMOKE_POOL);
        }
        // A smoke lane's runner, listed under its recorded id, is a managed one.
        for (const l of smoke) {
          if (l.runnerId === undefined) continue;
          expect(p.unmanaged.map((u) => u.runnerId)).not.toContain(l.runnerId);
        }
      }),
      RUNS,
    );
  });

  it('never plans more lanes on a host than its maxLanes', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        for (const h of input.hosts) {
          const creates = p.actions.filter(
            (a) => a.kind === 'create' && a.hostId === h.hostId,
          ).length;
          if (creates === 0) continue;
          const held = input.lanes.filter(
            (l) => l.hostId === h.hostId && l.state !== 'removed',
          ).length;
          expect(held + creates).toBeLessThanOrEqual(h.optIn?.maxLanes ?? 0);
        }
        for (const a of p.actions) {
          if (a.kind === 'create')
            expect(input.hosts.some((h) => h.hostId === a.hostId)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('plans no action when the allowlists are empty', () => {
    fc.assert(
      fc.property(worldArb, fc.boolean(), (w, emptyHosts) => {
        const input = build(w);
        if (input.policy === undefined) return;
        const policy = emptyHosts
          ? { ...input.policy, allowedHosts: [] }
          : { ...input.policy, allowedRepositories: [] };
        expect(plan({ ...input, policy }).actions).toEqual([]);
      }),
      RUNS,
    );
  });

  it('is deterministic and independent of input order', () => {
    fc.assert(
      fc.property(worldArb, fc.integer(), (w, seed) => {
        const input = build(w);
        const a = JSON.stringify(plan(input));
        expect(JSON.stringify(plan(input))).toBe(a);
        const shuffle = <T>(xs: readonly T[]): T[] => {
          const out = [...xs];
          let s = seed;
          for (let i = out.length - 1; i > 0; i--) {
            s = (s * 1103515245 + 12345) & 0x7fffffff;
            const j = s % (i + 1);
            [out[i], out[j]] = [out[j]!, out[i]!];
          }
          return out;
        };
        const shuffled: PlanInput = {
          ...input,
          hosts: shuffle(input.hosts).map((h) => ({ ...h, lanes: shuffle(h.lanes) })),
          lanes: shuffle(input.lanes),
          github: shuffle(input.github).map((o) =>
            'runners' in o ? { ...o, runners: shuffle(o.runners) } : o,
          ),
        };
        expect(JSON.stringify(plan(shuffled))).toBe(a);
      }),
      RUNS,
    );
  });

  it('accounts for every missing lane: created plus blocked equals desired less kept', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const removed = new Set(p.actions.flatMap((a) => (a.kind === 'remove' ? [a.laneId] : [])));
        for (const [poolName, pool] of Object.entries(input.policy?.pools ?? {})) {
          for (const [hostId, desired] of Object.entries(pool.lanes)) {
            const kept = input.lanes.filter(
              (l) =>
                l.hostId === hostId &&
                l.pool === poolName &&
                !['removed', 'completed', 'stopping'].includes(l.state) &&
                !removed.has(l.laneId),
            ).length;
            const creates = p.actions.filter(
              (a) => a.kind === 'create' && a.hostId === hostId && a.pool === poolName,
            ).length;
            const blocked = p.blocked
              .filter((b) => b.hostId === hostId && b.pool === poolName)
              .reduce((n, b) => n + b.count, 0);
            expect(creates + blocked).toBe(Math.max(0, desired - kept));
          }
        }
        expect(p.summary.creates + p.summary.blocked).toBeLessThanOrEqual(p.summary.desired);
      }),
      RUNS,
    );
  });

  it('never removes a lane that holds a job while an idle lane of its pool is kept', () => {
    fc.assert(
      fc.property(worldArb, (w) => {
        const input = build(w);
        const p = plan(input);
        const removed = new Set(p.actions.flatMap((a) => (a.kind === 'remove' ? [a.laneId] : [])));
        for (const a of p.actions) {
          if (a.kind !== 'remove' || !a.reason.includes(' exist')) continue;
          const lane = input.lanes.find((l) => l.laneId === a.laneId)!;
          if (lane.state !== 'busy') continue;
          const idleKept = input.lanes.filter(
            (l) =>
              l.hostId === lane.hostId &&
              l.pool === lane.pool &&
              l.state === 'online' &&
              !removed.has(l.laneId) &&
              w.lanes[input.lanes.indexOf(l)]?.report !== 'busy-local' &&
              w.lanes[input.lanes.indexOf(l)]?.github !== 'busy',
          );
          expect(idleKept).toEqual([]);
        }
      }),
      RUNS,
    );
  });
});

import {
  SMOKE_POOL,
  controlPlanSchema,
  drainingLabels,
  runnerName,
  smokeLaneLabels,
  type ControlPlan,
} from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { plan, type PlanInput } from './plan.js';
import {
  COORDINATOR_ID,
  NOW,
  hostOf,
  laneIdOf,
  laneOf,
  policyOf,
  reportOf,
  runnerOf,
} from './plan-fixtures.test-helper.js';

function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    policy: policyOf(),
    policyDigest: 'sha256:abc',
    coordinatorId: COORDINATOR_ID,
    hosts: [hostOf('host-a'), hostOf('host-b')],
    lanes: [],
    github: [{ scope: { repository: 'acme/api' }, runners: [] }],
    now: NOW,
    ...over,
  };
}

function run(over: Partial<PlanInput> = {}): ControlPlan {
  const p = plan(input(over));
  controlPlanSchema.parse(p);
  return p;
}

describe('plan()', () => {
  it('creates the missing lanes of a pool with stable action ids', () => {
    const p = run();
    expect(p.actions.map((a) => a.id)).toEqual(['create:host-a:build:1', 'create:host-a:build:2']);
    expect(p.actions[0]).toMatchObject({
      kind: 'create',
      hostId: 'host-a',
      pool: 'build',
      scope: { repository: 'acme/api' },
      backend: 'systemd',
      ephemeral: false,
    });
    expect(p.summary).toMatchObject({ desired: 2, observed: 0, creates: 2, blocked: 0 });
  });

  it('plans nothing for lanes that already exist and are healthy', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const p = run({
      lanes,
      hosts: [hostOf('host-a', { lanes: lanes.map((l) => reportOf(l)) })],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions).toEqual([]);
    expect(p.unmanaged).toEqual([]);
    expect(p.degraded).toEqual([]);
  });

  it('plans nothing when the allowlists are empty, even with lanes that would be removed', () => {
    const lanes = [laneOf(1), laneOf(2, { state: 'completed' })];
    for (const policy of [
      policyOf({ allowedHosts: [] }),
      policyOf({ allowedRepositories: [], allowedOrganizations: [] }),
    ]) {
      const p = run({ policy, lanes });
      expect(p.actions).toEqual([]);
      expect(p.blocked[0]?.guardrail).toMatch(/not-allowed/);
      expect(p.degraded.join('\n')).toContain('nothing is planned');
    }
  });

  it('plans nothing without a policy', () => {
    const p = run({ policy: undefined, lanes: [laneOf(1, { state: 'completed' })] });
    expect(p.actions).toEqual([]);
    expect(p.summary.desired).toBe(0);
  });

  it('plan() never acts on an unmanaged runner, and says why each one is unmanaged', () => {
    const lane = laneOf(1);
    const foreign = [
      {
        id: 1,
        name: 'ci-box',
        os: 'Linux',
        status: 'online' as const,
        busy: false,
        labels: ['self-hosted'],
      },
      // Claims to be lane 1 but has another runner id: labels alone prove nothing.
      runnerOf(lane, { id: 77, name: 'impostor' }),
      // Another coordinator's lane.
      runnerOf(laneOf(5), {
        id: 78,
        labels: ['launchplane', 'lp-ctl-otherctl', `lp-lane-${laneIdOf(5)}`],
      }),
      // Our labels, but a lane the ledger does not have.
      runnerOf(laneOf(6), { id: 79 }),
    ];
    const p = run({
      policy: policyOf({
        pools: { build: { ...policyOf().pools['build']!, lanes: { 'host-a': 1 } } },
      }),
      lanes: [lane],
      hosts: [hostOf('host-a', { lanes: [reportOf(lane)] })],
      github: [{ scope: { repository: 'acme/api' }, runners: [...foreign, runnerOf(lane)] }],
    });
    expect(p.unmanaged.map((u) => [u.runnerId, u.reason.split(':')[0]])).toEqual([
      [1, 'no-launchplane-label'],
      [77, 'runner-id-mismatch'],
      [78, 'other-coordinator'],
      [79, 'lane-not-in-ledger'],
    ]);
    expect(p.actions).toEqual([]);
  });

  it('removes idle lanes first, newest first, when a pool shrinks', () => {
    const lanes = [laneOf(1), laneOf(2, { state: 'busy' }), laneOf(3)];
    const p = run({
      policy: policyOf({
        pools: { build: { ...policyOf().pools['build']!, lanes: { 'host-a': 1 } } },
      }),
      lanes,
      hosts: [hostOf('host-a', { lanes: lanes.map((l) => reportOf(l)) })],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions.map((a) => a.id)).toEqual([`remove:${laneIdOf(1)}`, `remove:${laneIdOf(3)}`]);
  });

  it('counts a lane as busy when only the agent says so', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const p = run({
      policy: policyOf({
        pools: { build: { ...policyOf().pools['build']!, lanes: { 'host-a': 1 } } },
      }),
      lanes,
      hosts: [
        hostOf('host-a', {
          lanes: [
            reportOf(lanes[0]!),
            reportOf(lanes[1]!, {
              local: { busy: true, jobRunning: true, workerProcess: true, jobsCompleted: 0 },
            }),
          ],
        }),
      ],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions.map((a) => a.id)).toEqual([`remove:${laneIdOf(1)}`]);
  });

  it('removes lanes of a pool or host the policy no longer names', () => {
    const lanes = [laneOf(1, { pool: 'old' }), laneOf(2, { hostId: 'host-b' })];
    const p = run({
      lanes,
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    const removes = p.actions.filter((a) => a.kind === 'remove');
    expect(removes.map((a) => [a.laneId, a.hostId, a.reason])).toEqual([
      [laneIdOf(1), 'host-a', 'pool "old" is no longer in the policy'],
      [laneIdOf(2), 'host-b', 'pool "build" no longer has lanes on host "host-b"'],
    ]);
  });

  it('removes lanes when the host withdraws its opt-in', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const p = run({
      lanes,
      hosts: [
        hostOf('host-a', {
          optIn: { repositories: [], organizations: [], backends: ['systemd'], maxLanes: 4 },
        }),
      ],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions.map((a) => a.kind)).toEqual(['remove', 'remove']);
    expect(p.blocked).toEqual([
      expect.objectContaining({ guardrail: 'host-not-opted-in-repository', count: 2 }),
    ]);
  });

  it('replaces a completed ephemeral lane: remove and create', () => {
    const pools = {
      build: { ...policyOf().pools['build']!, ephemeral: true, lanes: { 'host-a': 1 } },
    };
    const lane = laneOf(1, { ephemeral: true, state: 'completed' });
    const p = run({ policy: policyOf({ pools }), lanes: [lane] });
    expect(p.actions.map((a) => a.id)).toEqual([`remove:${laneIdOf(1)}`, 'create:host-a:build:1']);
  });

  it('restarts a lane its agent reports unhealthy', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const p = run({
      lanes,
      hosts: [
        hostOf('host-a', {
          lanes: [reportOf(lanes[0]!, { state: 'unhealthy' }), reportOf(lanes[1]!)],
        }),
      ],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions).toEqual([
      expect.objectContaining({
        kind: 'restart',
        laneId: laneIdOf(1),
        reason: 'agent reports the lane unhealthy',
      }),
    ]);
  });

  it('removes an unhealthy lane the pool no longer wants, without restarting it first', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const pools = { build: { ...policyOf().pools['build']!, lanes: { 'host-a': 1 } } };
    const p = run({
      policy: policyOf({ pools }),
      lanes,
      hosts: [
        hostOf('host-a', {
          lanes: [reportOf(lanes[0]!, { state: 'unhealthy' }), reportOf(lanes[1]!)],
        }),
      ],
      github: [{ scope: { repository: 'acme/api' }, runners: lanes.map((l) => runnerOf(l)) }],
    });
    expect(p.actions.map((a) => [a.kind, 'laneId' in a ? a.laneId : '-'])).toEqual([
      ['remove', laneIdOf(1)],
    ]);
  });

  it('restarts a lane whose runner is offline on GitHub past the threshold while the agent says it runs', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const base = {
      lanes,
      hosts: [hostOf('host-a', { lanes: lanes.map((l) => reportOf(l)) })],
      github: [
        {
          scope: { repository: 'acme/api' },
          runners: [runnerOf(lanes[0]!, { status: 'offline' }), runnerOf(lanes[1]!)],
        },
      ],
      options: { unhealthyAfterSec: 300 },
    };
    expect(run({ ...base, offlineSince: { '1001': NOW - 299 } }).actions).toEqual([]);
    expect(run({ ...base, offlineSince: { '1001': NOW - 300 } }).actions).toEqual([
      expect.objectContaining({ kind: 'restart', laneId: laneIdOf(1), runnerId: 1001 }),
    ]);
  });

  it('repairs drifted labels against the canonical set, and the draining set while draining', () => {
    const lanes = [laneOf(1), laneOf(2, { state: 'draining' })];
    const p = run({
      lanes,
      hosts: [hostOf('host-a', { lanes: lanes.map((l) => reportOf(l)) })],
      github: [
        {
          scope: { repository: 'acme/api' },
          runners: [
            runnerOf(lanes[0]!, {
              labels: ['self-hosted', ...lanes[0]!.labels.filter((l) => l !== 'linux'), 'gpu'],
            }),
            runnerOf(lanes[1]!),
          ],
        },
      ],
    });
    const repairs = p.actions.filter((a) => a.kind === 'repair-labels');
    expect(repairs).toEqual([
      expect.objectContaining({ laneId: laneIdOf(1), missing: ['linux'], extra: ['gpu'] }),
      expect.objectContaining({
        laneId: laneIdOf(2),
        missing: ['lp-draining'],
        extra: ['linux', 'lp-pool-build'],
      }),
    ]);
    expect(drainingLabels(COORDINATOR_ID, laneIdOf(2))).toContain('lp-draining');
  });

  it('never takes a quarantined lane out of quarantine on its own', () => {
    const lanes = [laneOf(1), laneOf(2)];
    const p = run({
      lanes,
      hosts: [hostOf('host-a', { lanes: lanes.map((l) => reportOf(l)) })],
      github: [
        {
          scope: { repository: 'acme/api' },
          runners: [
            runnerOf(lanes[0]!, {
              labels: ['self-hosted', ...drainingLabels(COORDINATOR_ID, laneIdOf(1))],
            }),
            runnerOf(lanes[1]!),
          ],
        },
      ],
    });
    expect(p.actions).toEqual([]);
    expect(p.degraded.join('\n')).toContain(`lane restart ${laneIdOf(1)}`);
  });

  it('reports a failed lane, keeps its slot, and never plans a create to retry it', () => {
    const lanes = [
      laneOf(1, { state: 'failed', recovery: 'Run "launchplane lane remove x"' }),
      laneOf(2),
    ];
    const p = run({
      lanes,
      hosts: [hostOf('host-a', { lanes: [reportOf(lanes[1]!)] })],
      github: [{ scope: { repository: 'acme/api' }, runners: [runnerOf(lanes[1]!)] }],
    });
    expect(p.actions).toEqual([]);
    expect(p.degraded.some((d) => d.includes(laneIdOf(1)) && d.includes('failed'))).toBe(true);
  });

  it.each([
    ['host-offline', { connected: false }],
    ['host-revoked', { revoked: true }],
    ['host-not-enrolled', { enrolled: false }],
    ['host-offline', { optIn: undefined }],
    ['host-degraded', { degraded: 'Host "host-a" has finished no health pass for 40s' }],
    [
      'host-not-opted-in-pool',
      {
        optIn: {
          repositories: ['acme/api'],
          organizations: [],
          pools: ['other'],
          backends: ['systemd' as const],
          maxLanes: 4,
        },
      },
    ],
    [
      'host-not-opted-in-backend',
      {
        optIn: {
          repositories: ['acme/api'],
          organizations: [],
          backends: ['docker' as const],
          maxLanes: 4,
        },
      },
    ],
  ])('blocks creates with guardrail %s', (guardrail, over) => {
    const p = run({ hosts: [hostOf('host-a', over)] });
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([
      { hostId: 'host-a', pool: 'build', count: 2, guardrail, message: expect.any(String) },
    ]);
  });

  it('blocks creates for a host the policy does not allow and a repository it does not allow', () => {
    const pools = {
      build: { ...policyOf().pools['build']!, lanes: { 'host-a': 1, 'host-z': 1 } },
      web: { ...policyOf().pools['build']!, repository: 'acme/web', lanes: { 'host-a': 1 } },
    };
    const p = run({ policy: policyOf({ pools }) });
    expect(p.blocked.map((b) => [b.hostId, b.pool, b.guardrail])).toEqual([
      ['host-a', 'web', 'repository-not-allowed'],
      ['host-z', 'build', 'host-not-allowed'],
    ]);
    expect(p.actions.map((a) => a.id)).toEqual(['create:host-a:build:1']);
  });

  it('never plans more lanes on a host than its maxLanes, counting lanes of every pool', () => {
    const pools = {
      build: { ...policyOf().pools['build']!, lanes: { 'host-a': 3 } },
      test: { ...policyOf().pools['build']!, lanes: { 'host-a': 2 } },
    };
    const existing = laneOf(1, { pool: 'test' });
    const p = run({
      policy: policyOf({ pools }),
      lanes: [existing],
      hosts: [hostOf('host-a', { lanes: [reportOf(existing)] })],
      github: [{ scope: { repository: 'acme/api' }, runners: [runnerOf(existing)] }],
    });
    expect(p.summary.creates).toBe(3);
    expect(p.blocked).toEqual([
      expect.objectContaining({ hostId: 'host-a', pool: 'test', guardrail: 'capacity', count: 1 }),
    ]);
  });

  it('blocks creates and acts on no lane of a scope GitHub could not list', () => {
    const lane = laneOf(1, { state: 'completed' });
    const p = run({
      lanes: [lane],
      github: [{ scope: { repository: 'acme/api' }, unavailable: 'HTTP 502' }],
    });
    expect(p.actions).toEqual([]);
    expect(p.blocked).toEqual([
      expect.objectContaining({ guardrail: 'github-unavailable', count: 2 }),
    ]);
    expect(p.degraded.join('\n')).toContain('HTTP 502');
  });

  it('leaves lanes of an offline host alone and says so', () => {
    const lane = laneOf(1, { pool: 'old' });
    const p = run({ lanes: [lane], hosts: [hostOf('host-a', { connected: false })] });
    expect(p.actions).toEqual([]);
    expect(p.degraded.join('\n')).toContain('Host "host-a" is offline');
  });

  it('gives byte-identical JSON for the same input in any order', () => {
    const lanes = [laneOf(1), laneOf(2, { pool: 'old' }), laneOf(3, { hostId: 'host-b' })];
    const runners = lanes.map((l) => runnerOf(l));
    const a = plan(input({ lanes, github: [{ scope: { repository: 'acme/api' }, runners }] }));
    const b = plan(
      input({
        lanes: [...lanes].reverse(),
        hosts: [hostOf('host-b'), hostOf('host-a')],
        github: [{ scope: { repository: 'acme/api' }, runners: [...runners].reverse() }],
      }),
    );
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});

describe('plan() and host capabilities', () => {
  it('lists every capability a host reported that no lane carries, and why', () => {
    const p = run({
      policy: policyOf({ hosts: { 'host-a': { capabilities: ['gpu'] } } }),
      hosts: [
        hostOf('host-a', { capabilities: ['gpu', 'lp-pool-deploy', 'lp-draining', 'arm64'] }),
        hostOf('host-b', { capabilities: ['gpu'] }),
      ],
    });
    expect(p.ignoredCapabilities.map((c) => [c.hostId, c.capability, c.reason])).toEqual([
      ['host-a', 'arm64', 'not-granted'],
      ['host-a', 'lp-draining', 'reserved'],
      ['host-a', 'lp-pool-deploy', 'reserved'],
      ['host-b', 'gpu', 'not-granted'],
    ]);
    expect(p.ignoredCapabilities[3]?.message).toContain('hosts.host-b.capabilities');
  });

  it('lists none without a policy, or when every reported capability is granted', () => {
    expect(
      run({ policy: undefined, hosts: [hostOf('host-a', { capabilities: ['x'] })] })
        .ignoredCapabilities,
    ).toEqual([]);
    const p = run({
      policy: policyOf({ hosts: { 'host-a': { capabilities: ['gpu'] } } }),
      hosts: [hostOf('host-a', { capabilities: ['gpu'] })],
    });
    expect(p.ignoredCapabilities).toEqual([]);
  });

  describe('smoke lanes', () => {
    const smokeLane = (n: number, over: Parameters<typeof laneOf>[1] = {}) => {
      const laneId = laneIdOf(n);
      return laneOf(n, {
        pool: SMOKE_POOL,
        purpose: 'smoke',
        runnerName: runnerName('host-a', SMOKE_POOL, laneId),
        labels: smokeLaneLabels(COORDINATOR_ID, laneId),
        ...over,
      });
    };

    it('leaves a smoke lane alone though its pool is not in the policy, and keeps its runner managed', () => {
      const smoke = smokeLane(9);
      const p = run({
        policy: policyOf({ pools: {} }),
        lanes: [smoke],
        hosts: [hostOf('host-a', { lanes: [reportOf(smoke)] })],
        github: [{ scope: { repository: 'acme/api' }, runners: [runnerOf(smoke)] }],
      });
      expect(p.actions).toEqual([]);
      expect(p.unmanaged).toEqual([]);
      expect(p.degraded).toEqual([]);
    });

    it('neither restarts, repairs nor replaces a smoke lane, whatever its state and labels', () => {
      const unhealthy = smokeLane(7, { state: 'unhealthy' });
      const drifted = smokeLane(8);
      const draining = smokeLane(9, { state: 'draining' });
      const p = run({
        lanes: [laneOf(1), laneOf(2), unhealthy, drifted, draining],
        hosts: [hostOf('host-a', { lanes: [reportOf(unhealthy, { state: 'unhealthy' })] })],
        github: [
          {
            scope: { repository: 'acme/api' },
            runners: [
              runnerOf(laneOf(1)),
              runnerOf(laneOf(2)),
              runnerOf(unhealthy, { status: 'offline' }),
              runnerOf(drifted, { labels: [...drifted.labels, 'stray'] }),
              runnerOf(draining),
            ],
          },
        ],
      });
      expect(p.actions).toEqual([]);
    });

    it('counts a smoke lane against its host maxLanes', () => {
      const p = run({
        lanes: [smokeLane(9)],
        hosts: [
          hostOf('host-a', {
            optIn: {
              repositories: ['acme/api'],
              organizations: [],
              backends: ['systemd'],
              maxLanes: 2,
            },
          }),
        ],
      });
      expect(p.summary).toMatchObject({ creates: 1, blocked: 1 });
      expect(p.blocked[0]).toMatchObject({ guardrail: 'capacity', count: 1 });
    });

    it('reports a failed smoke lane with its clean-up command, and plans nothing for it', () => {
      const failed = smokeLane(9, {
        state: 'failed',
        recovery: `Run "launchplane lane remove ${laneIdOf(9)}"`,
      });
      const p = run({ policy: policyOf({ pools: {} }), lanes: [failed] });
      expect(p.actions).toEqual([]);
      expect(p.degraded).toEqual([
        `Lane "${laneIdOf(9)}" on host "host-a" (smoke lane "lp-smoke") failed: Run "launchplane lane remove ${laneIdOf(9)}"`,
      ]);
    });
  });
});

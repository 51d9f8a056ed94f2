/**
 * The read views of demand on real plans: `why` gives each of its reasons when the world calls
 * for it, `jobs` names pool and lane, `capacity` counts lanes, waits and headroom.
 */
import type { Policy, Pool } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { DemandJob } from '../domain/demand.js';
import {
  COORDINATOR_ID,
  NOW,
  hostOf,
  laneOf,
  policyOf,
  reportOf,
  runnerOf,
} from '../domain/plan-fixtures.test-helper.js';
import { plan, type PlanHost, type PlanInput } from '../domain/plan.js';
import type { JobRecord, LaneRecord } from '../ports/store.js';
import {
  WHY_REASONS,
  explainJob,
  jobListings,
  poolCapacities,
  type DemandViewContext,
  type JobExplanation,
  type WhyReason,
} from './demand-views.js';

function demandPool(over: Partial<Pool> = {}, max = 4): Pool {
  return {
    repository: 'acme/api',
    labels: ['linux'],
    backend: 'systemd',
    ephemeral: false,
    runnerGroupId: 1,
    lanes: { 'host-a': 4 },
    scaling: {
      mode: 'demand',
      min: 0,
      max,
      minIdle: 0,
      scaleDownAfterSec: 600,
      reservationSec: 600,
      placement: 'spread',
      schedule: [],
    },
    ...over,
  };
}

function jobOf(id: number, over: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    runId: id * 10,
    repository: 'acme/api',
    labels: ['linux'],
    status: 'queued',
    queuedAt: NOW - 120,
    seenAt: NOW - 5,
    source: 'poll',
    ...over,
  };
}

interface World {
  policy?: Policy;
  /** Lanes and whether their agent says they run a job. */
  lanes?: [LaneRecord, 'idle' | 'busy' | 'making'][];
  jobs?: JobRecord[];
  hosts?: (lanes: PlanHost['lanes']) => PlanHost[];
  unavailable?: string;
  sagas?: PlanInput['sagas'];
}

function ctxOf(w: World): DemandViewContext {
  const lanes = (w.lanes ?? []).map(([l, seen]) =>
    seen === 'making' ? { ...l, state: 'provisioning' as const } : l,
  );
  const reports = (w.lanes ?? [])
    .filter(([, seen]) => seen !== 'making')
    .map(([l, seen]) =>
      reportOf(l, {
        state: seen === 'busy' ? 'busy' : 'online',
        local: {
          busy: seen === 'busy',
          jobRunning: seen === 'busy',
          workerProcess: seen === 'busy',
          jobsCompleted: 0,
        },
      }),
    );
  const runners = (w.lanes ?? [])
    .filter(([, seen]) => seen !== 'making')
    .map(([l, seen]) => runnerOf(l, { busy: seen === 'busy' }));
  // A busy lane runs a job the job store knows (else the plan reads it as having taken a queued one).
  const running = (w.lanes ?? [])
    .filter(
      ([l, seen]) => seen === 'busy' && !(w.jobs ?? []).some((j) => j.runnerName === l.runnerName),
    )
    .map(([l], i) =>
      jobOf(900 + i, {
        status: 'in_progress',
        runnerName: l.runnerName,
        startedAt: NOW - 100,
      }),
    );
  const jobs: DemandJob[] = [...(w.jobs ?? []), ...running];
  const input: PlanInput = {
    policy: w.policy ?? policyOf({ pools: { build: demandPool() } }),
    policyDigest: 'sha256:abc',
    coordinatorId: COORDINATOR_ID,
    hosts: w.hosts?.(reports) ?? [hostOf('host-a', { lanes: reports })],
    lanes,
    github: [{ scope: { repository: 'acme/api' }, runners }],
    demand: {
      jobs,
      observedAt: NOW,
      idleSince: {},
      ...(w.unavailable === undefined ? {} : { unavailable: w.unavailable }),
    },
    now: NOW,
    ...(w.sagas === undefined ? {} : { sagas: w.sagas }),
  };
  return { input, plan: plan(input), now: NOW };
}

function why(w: World, job: JobRecord): JobExplanation {
  return explainJob(ctxOf({ ...w, jobs: [...(w.jobs ?? []), job] }), job);
}

describe('launchplane why', () => {
  const covered = new Set<WhyReason>();
  const expectReason = (
    e: ReturnType<typeof explainJob>,
    reason: WhyReason,
  ): ReturnType<typeof explainJob> => {
    expect(e.reason).toBe(reason);
    covered.add(reason);
    return e;
  };

  it('running: on which lane of ours', () => {
    const lane = laneOf(1);
    const job = jobOf(1, {
      status: 'in_progress',
      runnerName: lane.runnerName,
      runnerId: lane.runnerId!,
      startedAt: NOW - 60,
    });
    const e = expectReason(
      explainJob(ctxOf({ lanes: [[lane, 'busy']], jobs: [job] }), job),
      'running',
    );
    expect(e.message).toContain(lane.laneId);
    expect(e.job.lane).toEqual({ laneId: lane.laneId, hostId: 'host-a' });
  });

  it('completed: with its conclusion', () => {
    const lane = laneOf(1);
    const job = jobOf(1, {
      status: 'completed',
      runnerName: lane.runnerName,
      conclusion: 'success',
      startedAt: NOW - 60,
      completedAt: NOW - 10,
    });
    const e = expectReason(why({ lanes: [[lane, 'idle']] }, job), 'completed');
    expect(e.message).toBe('Job 1 completed (success)');
  });

  it('foreign-runner: GitHub gave it to a runner that is no lane of ours', () => {
    const job = jobOf(2, { status: 'in_progress', runnerName: 'build-box-7', runnerId: 77 });
    const e = expectReason(why({}, job), 'foreign-runner');
    expect(e.message).toContain('"build-box-7"');
    expect(e.job.foreignRunner).toBe(true);
  });

  it('no-pool: names the nearest pool and the labels it lacks', () => {
    const policy = policyOf({
      pools: {
        build: demandPool(),
        gpu: demandPool({ labels: ['linux', 'gpu'] }),
      },
    });
    const job = jobOf(3, { labels: ['linux', 'gpu', 'cuda12'] });
    const e = expectReason(why({ policy }, job), 'no-pool');
    expect(e.details.nearestPool).toEqual({ pool: 'gpu', missing: ['cuda12'] });
    expect(e.message).toContain('nearest pool "gpu" lacks "cuda12"');
  });

  it('no-pool: a self-hosted label never matches, and the answer says so', () => {
    const job = jobOf(4, { labels: ['self-hosted', 'linux'] });
    const e = expectReason(why({}, job), 'no-pool');
    expect(e.details.githubDefaultLabels).toEqual(['self-hosted']);
    expect(e.details.match?.reason).toBe('github-default-label');
    expect(e.message).toContain('"self-hosted" never matches a lane');
  });

  it('scope-not-allowed: a repository the policy does not allow', () => {
    const job = jobOf(5, { repository: 'evil/repo' });
    const e = expectReason(why({}, job), 'scope-not-allowed');
    expect(e.message).toContain('"evil/repo"');
  });

  it('scope-not-allowed: the matching pool serves a scope the policy no longer allows', () => {
    const policy = policyOf({
      allowedRepositories: [],
      allowedOrganizations: ['acme'],
      pools: { build: demandPool() },
    });
    // The job's organization is allowed, but the pool's repository scope is not listed.
    const e = expectReason(why({ policy }, jobOf(6)), 'scope-not-allowed');
    expect(e.details.blocked?.[0]?.guardrail).toBe('repository-not-allowed');
  });

  it('demand-unknown: the job data could not be read', () => {
    const e = expectReason(
      why({ unavailable: 'LP_GITHUB_UNAVAILABLE: down' }, jobOf(7)),
      'demand-unknown',
    );
    expect(e.details.scaling?.demandKnown).toBe(false);
  });

  it('lane-creating: a lane of its pool is being made, since when', () => {
    const lane = laneOf(1, { createdAt: NOW - 30 });
    const e = expectReason(why({ lanes: [[lane, 'making']] }, jobOf(8)), 'lane-creating');
    expect(e.details.lanes).toEqual([
      { laneId: lane.laneId, hostId: 'host-a', state: 'provisioning', since: NOW - 30 },
    ]);
    expect(e.message).toContain(new Date((NOW - 30) * 1000).toISOString().slice(0, 19));
  });

  it('lane-planned: the plan creates a lane for it', () => {
    expectReason(why({}, jobOf(9)), 'lane-planned');
  });

  it('lane-planned: the plan takes back a lane being scaled down for it', () => {
    const lane = laneOf(1, { state: 'draining' });
    const e = expectReason(
      why({ lanes: [[lane, 'idle']], sagas: new Map([[lane.laneId, 'scale-down']]) }, jobOf(9)),
      'lane-planned',
    );
    expect(e.message).toContain(`the plan takes back lane "${lane.laneId}" for it`);
  });

  it('pool-at-max: the pool has its maximum of lanes', () => {
    const policy = policyOf({ pools: { build: demandPool({}, 1) } });
    const e = expectReason(why({ policy, lanes: [[laneOf(1), 'busy']] }, jobOf(10)), 'pool-at-max');
    expect(e.message).toContain('maximum of 1 lanes');
  });

  it('no-host: every host of the pool is offline or full', () => {
    const e = expectReason(
      why({ hosts: (lanes) => [hostOf('host-a', { lanes, connected: false })] }, jobOf(11)),
      'no-host',
    );
    expect(e.details.blocked?.map((b) => b.guardrail)).toEqual(['host-offline']);
    const full = why(
      {
        hosts: (lanes) => [
          hostOf('host-a', {
            lanes,
            optIn: {
              repositories: ['acme/api'],
              organizations: [],
              backends: ['systemd'],
              maxLanes: 1,
            },
          }),
        ],
        lanes: [[laneOf(1), 'busy']],
      },
      jobOf(12),
    );
    expectReason(full, 'no-host');
  });

  it('waiting-for-github: an idle lane of its pool is there', () => {
    expectReason(why({ lanes: [[laneOf(1), 'idle']] }, jobOf(13)), 'waiting-for-github');
  });

  it('covers every reason', () => {
    expect([...covered].sort()).toEqual([...WHY_REASONS].sort());
  });
});

describe('launchplane jobs', () => {
  it('lists queued jobs first with their wait, pool and lane', () => {
    const lane = laneOf(1);
    const running = jobOf(1, {
      status: 'in_progress',
      runnerName: lane.runnerName,
      queuedAt: NOW - 300,
      startedAt: NOW - 290,
      waitSec: 10,
    });
    const queued = jobOf(2, { queuedAt: NOW - 45 });
    const orphan = jobOf(3, { labels: ['windows'], queuedAt: NOW - 50 });
    const done = jobOf(4, { status: 'completed' });
    const list = jobListings(ctxOf({ lanes: [[lane, 'busy']] }), [running, queued, orphan, done]);
    expect(list.map((j) => [j.jobId, j.status, j.waitSec, j.pool, j.lane?.laneId ?? null])).toEqual(
      [
        [3, 'queued', 50, null, null],
        [2, 'queued', 45, 'build', null],
        [1, 'in_progress', 10, 'build', lane.laneId],
      ],
    );
  });
});

describe('capacity', () => {
  it('counts lanes by state, idle lanes, queued jobs, queue waits and headroom', () => {
    const lanes: [LaneRecord, 'idle' | 'busy' | 'making'][] = [
      [laneOf(1), 'busy'],
      [laneOf(2), 'idle'],
      [laneOf(3), 'making'],
    ];
    const waits = [5, 10, 20, 40, 300];
    const started = waits.map((w, i) =>
      jobOf(100 + i, {
        status: 'completed',
        queuedAt: NOW - 1000,
        startedAt: NOW - 1000 + w,
        completedAt: NOW - 100,
        waitSec: w,
      }),
    );
    const old = jobOf(200, {
      status: 'completed',
      queuedAt: NOW - 9000,
      startedAt: NOW - 8000,
      waitSec: 1000,
    });
    const queued = [jobOf(1), jobOf(2)];
    const ctx = ctxOf({ lanes, jobs: queued });
    const [build] = poolCapacities(ctx, [...queued, ...started, old]);
    expect(build).toEqual({
      pool: 'build',
      scope: 'acme/api',
      mode: 'demand',
      lanes: { online: 2, provisioning: 1 },
      idle: 1,
      queuedJobs: 2,
      queueWait: { jobs: 5, p50Sec: 20, p95Sec: 300 },
      // max 4, 3 lanes: one more (host-a allows 4 of the pool and 4 lanes in all).
      headroom: 1,
      max: 4,
    });
  });
});

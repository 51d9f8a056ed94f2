/**
 * The read views of demand, computed from one observation and the plan made from it: the jobs
 * (`launchplane jobs`), why one job still waits (`launchplane why`) and each demand pool's
 * capacity (`GET /v1/capacity`). Pure: the caller observes, plans and reads the job store.
 * Matching is the planner's own (`matchJob`), so a view never disagrees with the plan.
 */
import {
  GITHUB_DEFAULT_LABELS,
  type Blocked,
  type ControlPlan,
  type LaneState,
  type PoolScaling,
} from '@launchplane/shared';
import { followsDemand } from '../domain/demand-plan.js';
import { matchJob, poolProfiles, type JobMatch, type PoolCheck } from '../domain/matching.js';
import type { PlanInput } from '../domain/plan.js';
import type { JobRecord, LaneRecord } from '../ports/store.js';

/** One job as `launchplane jobs` shows it. */
export interface JobListing {
  jobId: number;
  runId: number;
  repository: string;
  name: string | null;
  workflowName: string | null;
  labels: string[];
  status: JobRecord['status'];
  /** Unix seconds. */
  queuedAt: number;
  startedAt: number | null;
  /** Queued: seconds waited so far; running: its queue wait. */
  waitSec: number;
  /** The pool the job counts toward, or null when it matches none. */
  pool: string | null;
  /** The lane that runs it, when a lane of ours took it. */
  lane: { laneId: string; hostId: string } | null;
  /** The runner GitHub gave it, once taken. */
  runnerName: string | null;
  /** Taken by a runner that is none of our lanes. */
  foreignRunner: boolean;
  htmlUrl: string | null;
}

/**
 * Why a job is where it is; stable strings.
 * - `running`, `completed`: it waits no more
 * - `foreign-runner`: GitHub gave it to a runner that no lane of ours is
 * - `no-pool`: no pool's lanes would carry its labels, or serve its repository or runner group
 * - `scope-not-allowed`: its repository (or organization) is not in the policy's allowed lists
 * - `demand-unknown`: the job data could not be read, so no pool grows for it
 * - `lane-creating`: a lane of its pool is being made
 * - `lane-planned`: the plan creates a lane for it, or takes one back from its scale-down, at the
 *   next apply
 * - `pool-at-max`: its pool has `max` lanes
 * - `no-host`: every host of its pool is at capacity, offline or not opted in
 * - `waiting-for-github`: a lane of its pool is idle; GitHub has not handed the job out yet
 */
export const WHY_REASONS = [
  'running',
  'completed',
  'foreign-runner',
  'no-pool',
  'scope-not-allowed',
  'demand-unknown',
  'lane-creating',
  'lane-planned',
  'pool-at-max',
  'no-host',
  'waiting-for-github',
] as const;
export type WhyReason = (typeof WHY_REASONS)[number];

/** The answer of `launchplane why`. */
export interface JobExplanation {
  job: JobListing;
  reason: WhyReason;
  /** One sentence for an operator. */
  message: string;
  /** The facts behind the reason (which keys depends on it). */
  details: {
    /** `no-pool`: the planner's match reason and, per pool serving the job, what it lacks. */
    match?: { reason: string; checks: PoolCheck[] };
    /** `no-pool`: the pool lacking the fewest labels, and those labels. */
    nearestPool?: { pool: string; missing: string[] };
    /** `no-pool`: it asks for a label GitHub gives its own runners (`self-hosted`, …). */
    githubDefaultLabels?: string[];
    /** `lane-creating`: the lanes of its pool being made, oldest first. */
    lanes?: { laneId: string; hostId: string; state: LaneState; since: number }[];
    /** The pool's line of the plan. */
    scaling?: PoolScaling;
    /** `no-host`, `scope-not-allowed`: what the plan could not do for the pool. */
    blocked?: Blocked[];
  };
}

/** Lanes of the ledger still being made. */
const MAKING: ReadonlySet<LaneState> = new Set(['pending', 'provisioning', 'starting']);
const SCOPE_GUARDRAILS: ReadonlySet<string> = new Set([
  'repository-not-allowed',
  'organization-not-allowed',
]);

/** What the views read: one observation, its plan, and `now`. */
export interface DemandViewContext {
  input: PlanInput;
  plan: ControlPlan;
  now: number;
}

/** The lane that took a job (by runner id, else by runner name), if it is ours. */
function laneOfJob(job: JobRecord, lanes: readonly LaneRecord[]): LaneRecord | undefined {
  if (job.runnerId !== undefined) {
    const byId = lanes.find((l) => l.runnerId === job.runnerId);
    if (byId !== undefined) return byId;
  }
  const name = job.runnerName?.toLowerCase();
  return name === undefined ? undefined : lanes.find((l) => l.runnerName.toLowerCase() === name);
}

function matcher(ctx: DemandViewContext): (job: JobRecord) => JobMatch | undefined {
  const policy = ctx.input.policy;
  if (policy === undefined) return () => undefined;
  const profiles = poolProfiles(
    policy,
    ctx.input.coordinatorId,
    ctx.input.hosts.map((h) => ({ hostId: h.hostId, capabilities: h.capabilities })),
  );
  return (job) => matchJob(job, profiles);
}

function listing(
  job: JobRecord,
  match: JobMatch | undefined,
  lanes: readonly LaneRecord[],
  now: number,
): JobListing {
  const lane = laneOfJob(job, lanes);
  const taken = job.runnerId !== undefined || job.runnerName !== undefined;
  return {
    jobId: job.id,
    runId: job.runId,
    repository: job.repository,
    name: job.name ?? null,
    workflowName: job.workflowName ?? null,
    labels: [...job.labels],
    status: job.status,
    queuedAt: job.queuedAt,
    startedAt: job.startedAt ?? null,
    waitSec:
      job.status === 'queued'
        ? Math.max(0, now - job.queuedAt)
        : (job.waitSec ?? Math.max(0, (job.startedAt ?? job.queuedAt) - job.queuedAt)),
    pool: match?.matched === true ? match.pool : null,
    lane: lane === undefined ? null : { laneId: lane.laneId, hostId: lane.hostId },
    runnerName: job.runnerName ?? null,
    foreignRunner: taken && lane === undefined,
    htmlUrl: job.htmlUrl ?? null,
  };
}

/** Queued and running jobs, longest waiting first. */
export function jobListings(ctx: DemandViewContext, jobs: readonly JobRecord[]): JobListing[] {
  const match = matcher(ctx);
  return jobs
    .filter((j) => j.status !== 'completed')
    .map((j) => listing(j, match(j), ctx.input.lanes, ctx.now))
    .sort(
      (a, b) =>
        Number(a.status !== 'queued') - Number(b.status !== 'queued') ||
        a.queuedAt - b.queuedAt ||
        a.jobId - b.jobId,
    );
}

/** Why `job` is where it is: one reason, with its details. */
export function explainJob(ctx: DemandViewContext, job: JobRecord): JobExplanation {
  const match = matcher(ctx)(job);
  const view = listing(job, match, ctx.input.lanes, ctx.now);
  const answer = (
    reason: WhyReason,
    message: string,
    details: JobExplanation['details'] = {},
  ): JobExplanation => ({ job: view, reason, message, details });
  const id = `Job ${job.id}`;
  if (view.foreignRunner) {
    return answer(
      'foreign-runner',
      `${id} was given to runner "${job.runnerName ?? String(job.runnerId)}", which is not a Launchplane lane`,
    );
  }
  if (job.status === 'completed')
    return answer('completed', `${id} completed${suffix(job.conclusion)}`);
  if (job.status === 'in_progress' || view.lane !== null) {
    const where =
      view.lane === null ? '' : ` on lane "${view.lane.laneId}" of host "${view.lane.hostId}"`;
    return answer('running', `${id} is running${where}`);
  }
  const policy = ctx.input.policy;
  if (policy !== undefined && !scopeAllowed(policy, job.repository)) {
    return answer(
      'scope-not-allowed',
      `${id} is of "${job.repository}", which neither allowedRepositories nor allowedOrganizations lists`,
    );
  }
  if (match === undefined || !match.matched) return noPool(answer, id, job, match);
  const pool = match.pool;
  const scaling = ctx.plan.scaling?.pools.find((p) => p.pool === pool);
  const blocked = ctx.plan.blocked.filter((b) => b.pool === pool);
  const scopeBlocked = blocked.filter((b) => SCOPE_GUARDRAILS.has(b.guardrail));
  if (scopeBlocked.length > 0) {
    return answer('scope-not-allowed', `${id} matches pool "${pool}", whose scope is not allowed`, {
      blocked: scopeBlocked,
    });
  }
  const details = scaling === undefined ? {} : { scaling };
  if (scaling !== undefined && !scaling.demandKnown) {
    return answer(
      'demand-unknown',
      `${id} matches pool "${pool}", but the job data could not be read: the pool neither grows nor shrinks`,
      details,
    );
  }
  const making = ctx.input.lanes
    .filter((l) => l.pool === pool && MAKING.has(l.state))
    .sort((a, b) => a.createdAt - b.createdAt || a.laneId.localeCompare(b.laneId));
  if (making.length > 0) {
    const first = making[0]!;
    return answer(
      'lane-creating',
      `${id} matches pool "${pool}"; lane "${first.laneId}" on host "${first.hostId}" is being created for the pool's waiting jobs since ${iso(first.createdAt)}`,
      {
        ...details,
        lanes: making.map((l) => ({
          laneId: l.laneId,
          hostId: l.hostId,
          state: l.state,
          since: l.createdAt,
        })),
      },
    );
  }
  if (ctx.plan.actions.some((a) => a.kind === 'create' && a.pool === pool)) {
    return answer(
      'lane-planned',
      `${id} matches pool "${pool}"; the plan creates a lane for it at the next apply`,
      details,
    );
  }
  const reclaim = ctx.plan.actions.find((a) => a.kind === 'reclaim' && a.pool === pool);
  if (reclaim !== undefined && 'laneId' in reclaim) {
    return answer(
      'lane-planned',
      `${id} matches pool "${pool}"; the plan takes back lane "${reclaim.laneId}" for it from its scale-down at the next apply`,
      details,
    );
  }
  if (scaling !== undefined && scaling.capped > 0) {
    return answer(
      'pool-at-max',
      `${id} matches pool "${pool}", which has its maximum of ${scaling.max} lanes`,
      details,
    );
  }
  if (blocked.length > 0 || (scaling !== undefined && scaling.blocked > 0)) {
    const hosts = [...new Set(blocked.map((b) => `"${b.hostId}" (${b.guardrail})`))].join(', ');
    return answer(
      'no-host',
      `${id} matches pool "${pool}", but no host can take another lane${hosts === '' ? '' : `: ${hosts}`}`,
      { ...details, blocked },
    );
  }
  return answer(
    'waiting-for-github',
    `${id} matches pool "${pool}", which has a lane for it; GitHub has not handed it to a runner yet`,
    details,
  );
}

function noPool(
  answer: (r: WhyReason, m: string, d?: JobExplanation['details']) => JobExplanation,
  id: string,
  job: JobRecord,
  match: Extract<JobMatch, { matched: false }> | undefined,
): JobExplanation {
  if (match === undefined) return answer('no-pool', `${id} matches no pool: no policy is applied`);
  const nearest = [...match.checks]
    .filter((c) => c.reason !== 'runner-group')
    .sort((a, b) => a.missing.length - b.missing.length || a.pool.localeCompare(b.pool))[0];
  // GitHub's own labels that no pool serving the job would carry (a pool may list one itself).
  const lacking = (l: string) =>
    match.checks.length === 0 ||
    match.checks.every((c) => c.missing.some((m) => m.toLowerCase() === l.toLowerCase()));
  const defaults = job.labels.filter(
    (l) => GITHUB_DEFAULT_LABELS.some((d) => d.toLowerCase() === l.toLowerCase()) && lacking(l),
  );
  const parts = [match.message];
  if (nearest !== undefined && nearest.missing.length > 0) {
    parts.push(
      `nearest pool "${nearest.pool}" lacks ${nearest.missing.map((l) => `"${l}"`).join(', ')}`,
    );
  }
  if (defaults.length > 0) {
    parts.push(
      `lanes register without GitHub's default labels, so ${defaults.map((l) => `"${l}"`).join(', ')} never matches a lane unless a pool lists it`,
    );
  }
  return answer('no-pool', parts.join('; '), {
    match: { reason: match.reason, checks: match.checks },
    ...(nearest === undefined
      ? {}
      : { nearestPool: { pool: nearest.pool, missing: nearest.missing } }),
    ...(defaults.length === 0 ? {} : { githubDefaultLabels: defaults }),
  });
}

function scopeAllowed(policy: NonNullable<PlanInput['policy']>, repository: string): boolean {
  const repo = repository.toLowerCase();
  const owner = repo.split('/')[0] ?? '';
  return (
    policy.allowedRepositories.some((r) => r.toLowerCase() === repo) ||
    policy.allowedOrganizations.some((o) => o.toLowerCase() === owner)
  );
}

function suffix(conclusion: string | undefined): string {
  return conclusion === undefined ? '' : ` (${conclusion})`;
}

function iso(sec: number): string {
  return new Date(sec * 1000).toISOString().replace('.000Z', 'Z');
}

/** Queue waits (seconds) of jobs a runner started in the window, as p50/p95. */
export interface WaitFigures {
  jobs: number;
  p50Sec: number | null;
  p95Sec: number | null;
}

/** One pool of `GET /v1/capacity`. */
export interface PoolCapacity {
  pool: string;
  scope: string;
  mode: 'static' | 'demand';
  /** Lane records by state (removed lanes left out). */
  lanes: Partial<Record<LaneState, number>>;
  /** Lanes online and not running a job. */
  idle: number;
  /** Jobs waiting that count toward this pool. */
  queuedJobs: number;
  /** Queue waits of this pool's jobs started in the last hour. */
  queueWait: WaitFigures;
  /** Lanes the pool could still add: within `max`, per-host `lanes` and each host's free slots. */
  headroom: number;
  /** The effective `max` (demand pools), or the sum of `lanes`. */
  max: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

/** Capacity per pool. `jobs` are queued, running and recently completed jobs. */
export function poolCapacities(
  ctx: DemandViewContext,
  jobs: readonly JobRecord[],
  windowSec = 3600,
): PoolCapacity[] {
  const policy = ctx.input.policy;
  if (policy === undefined) return [];
  const match = matcher(ctx);
  const matched = jobs.map((j) => ({ job: j, match: match(j) }));
  const live = ctx.input.lanes.filter((l) => l.state !== 'removed');
  const hostSlots = new Map<string, number>();
  for (const h of ctx.input.hosts) {
    const max = h.optIn?.maxLanes;
    if (max === undefined || !h.connected || h.revoked) continue;
    const used = live.filter((l) => l.hostId === h.hostId).length;
    hostSlots.set(h.hostId, Math.max(0, max - used));
  }
  return Object.entries(policy.pools)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, pool]) => {
      const mine = live.filter((l) => l.pool === name);
      const byState: Partial<Record<LaneState, number>> = {};
      for (const l of mine) byState[l.state] = (byState[l.state] ?? 0) + 1;
      const scaling = ctx.plan.scaling?.pools.find((p) => p.pool === name);
      const busy = new Set(
        ctx.input.hosts.flatMap((h) =>
          h.lanes.filter((r) => r.local?.busy === true).map((r) => r.laneId),
        ),
      );
      const idle = mine.filter((l) => l.state === 'online' && !busy.has(l.laneId)).length;
      const ofPool = matched.filter((m) => m.match?.matched === true && m.match.pool === name);
      const waits = ofPool
        .filter(
          (m) =>
            m.job.status !== 'queued' &&
            m.job.startedAt !== undefined &&
            m.job.startedAt >= ctx.now - windowSec,
        )
        .map((m) => m.job.waitSec ?? Math.max(0, (m.job.startedAt ?? 0) - m.job.queuedAt))
        .sort((a, b) => a - b);
      const perHost = Object.values(pool.lanes).reduce((a, b) => a + b, 0);
      const max = followsDemand(pool)
        ? (scaling?.max ?? Math.min(perHost, pool.scaling.max ?? perHost))
        : perHost;
      let room = 0;
      for (const [hostId, n] of Object.entries(pool.lanes)) {
        const onHost = mine.filter((l) => l.hostId === hostId).length;
        room += Math.min(Math.max(0, n - onHost), hostSlots.get(hostId) ?? 0);
      }
      return {
        pool: name,
        scope: pool.repository ?? `org:${pool.organization ?? ''}`,
        mode: followsDemand(pool) ? 'demand' : 'static',
        lanes: byState,
        idle,
        queuedJobs:
          scaling?.queued ??
          ofPool.filter((m) => m.job.status === 'queued' && m.job.runnerName === undefined).length,
        queueWait: {
          jobs: waits.length,
          p50Sec: percentile(waits, 50),
          p95Sec: percentile(waits, 95),
        },
        headroom: Math.max(0, Math.min(room, max - mine.length)),
        max,
      };
    });
}

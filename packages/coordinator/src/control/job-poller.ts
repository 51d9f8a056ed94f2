/**
 * The polling safety net of the job store, and the demand source the planner reads.
 *
 * Webhooks make demand fast; this makes it possible without them. Each round lists, per
 * repository that a pool following demand serves (its own repository, or the organization pool's
 * `scaling.repositories`), the runs GitHub reports `queued` and `in_progress` (a queued job can
 * sit in a running run), then the jobs of each such run, and merges them into the job store the
 * way a delivery is merged (a status only moves forward). Jobs the store holds as waiting or
 * running that no listed run holds any more are read one by one, so a job that finished while the
 * coordinator was down does not stay demand. Every GET goes through the GitHub client's
 * conditional-request cache: an unchanged list is answered 304, which GitHub does not charge.
 * A round is skipped while GitHub's remaining budget is below `minRateRemaining`.
 *
 * Each round also prunes what retention lets go.
 */
import { LaunchplaneError, toLaunchplaneError, type Policy } from '@launchplane/shared';
import type { DemandSource, JobSnapshot } from '../domain/demand.js';
import { followsDemand } from '../domain/demand-plan.js';
import type { RateLimitStatus } from '../ports/github-runners.js';
import type { GitHubWorkflows, WorkflowJob } from '../ports/github-workflows.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore, JobRecord } from '../ports/store.js';
import type { Clock } from './clock.js';
import { nowSec } from './clock.js';
import type { JobIngest } from './job-ingest.js';
import { errorBody } from './saga-support.js';
import { IntervalLoop } from './interval-loop.js';
import { parseStoredPolicy } from './stored-policy.js';

/** Settings of the poller (`jobs` in coordinator.yaml). */
export interface JobPollerOptions {
  poll: { enabled: boolean; intervalSec: number; minRateRemaining: number };
  retention: { completedSec: number; staleSec: number; deliveriesSec: number };
  /** Most stored jobs read one by one per round (those no listed run holds). Default 50. */
  maxJobReadsPerRound?: number;
}

export interface JobPollerDeps {
  store: CoordinatorStore;
  workflows: GitHubWorkflows;
  /** GitHub's last reported budget (the GitHub client's `rateLimit()`). */
  rateLimit: () => RateLimitStatus | undefined;
  ingest: JobIngest;
  clock: Clock;
  logger: Logger;
}

/** What one round did. */
export interface PollRound {
  /** Unix seconds the round started. */
  at: number;
  /** Repositories listed without error. */
  repositories: string[];
  /** `owner/name` → the error that stopped its listing. */
  failed: Record<string, string>;
  /** Set when the round did not run (the budget is low, or nothing follows demand). */
  skipped?: string;
  /** Jobs merged, by outcome. */
  jobs: Record<string, number>;
  /** Stored jobs read one by one because no listed run held them. */
  jobReads: number;
  pruned: { jobs: number; deliveries: number };
}

/** Completed jobs the planner sees: a lane's last job tells since when it is idle. */
const COMPLETED_LOOKBACK_SEC = 86_400;
const DEFAULT_JOB_READS = 50;

/** The repositories a policy's demand pools are polled in, and the scopes they serve. */
export function polledRepositories(policy: Policy | undefined): string[] {
  const repos = new Set<string>();
  for (const pool of Object.values(policy?.pools ?? {})) {
    if (!followsDemand(pool)) continue;
    if (pool.repository !== undefined) repos.add(pool.repository.toLowerCase());
    for (const r of pool.scaling?.repositories ?? []) repos.add(r.toLowerCase());
  }
  return [...repos].sort();
}

export class JobPoller implements DemandSource {
  readonly #deps: JobPollerDeps;
  readonly #opts: JobPollerOptions;
  readonly #loop: IntervalLoop;
  /** Repository (lowercase) → Unix seconds of the start of the last round that listed it. */
  readonly #listedAt = new Map<string, number>();
  #last: PollRound | undefined;

  constructor(deps: JobPollerDeps, opts: JobPollerOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#loop = new IntervalLoop(() => this.pollOnce(), {
      clock: deps.clock,
      logger: deps.logger,
      intervalMs: opts.poll.intervalSec * 1000,
      what: 'job poll',
    });
  }

  /** The last round, if one ran. */
  lastRound(): PollRound | undefined {
    return this.#last === undefined ? undefined : structuredClone(this.#last);
  }

  /**
   * The stored jobs of `scopes` (`owner/name` or `org:owner`): waiting and running ones, and
   * those completed in the last day. With polling on, the data are complete as of the oldest
   * last listing of the scopes' repositories; while one of them was never listed this fails (the
   * planner then plans no change for demand rather than read a gap as "no demand"). With polling
   * off, webhooks are the only source and the data are as complete as the deliveries.
   */
  async snapshot(scopes: readonly string[], now: number): Promise<JobSnapshot> {
    const repositories = scopes.filter((s) => !s.startsWith('org:'));
    const owners = scopes.filter((s) => s.startsWith('org:')).map((s) => s.slice(4));
    const observedAt = this.#opts.poll.enabled ? this.#observedAt(repositories, owners, now) : now;
    if (repositories.length === 0 && owners.length === 0) return { jobs: [], observedAt };
    const where = { repositories, owners };
    const [open, done] = await Promise.all([
      this.#deps.store.listJobs({ ...where, statuses: ['queued', 'in_progress'] }),
      this.#deps.store.listJobs({
        ...where,
        statuses: ['completed'],
        completedSince: now - COMPLETED_LOOKBACK_SEC,
      }),
    ]);
    return { jobs: [...open, ...done], observedAt };
  }

  /**
   * The oldest last successful listing among the repositories of these scopes (an organization
   * scope: the repositories polled for it; one polled for none follows webhooks alone).
   */
  #observedAt(repositories: readonly string[], owners: readonly string[], now: number): number {
    let oldest = now;
    for (const r of repositories) {
      const at = this.#listedAt.get(r.toLowerCase());
      if (at === undefined) {
        throw new LaunchplaneError(
          'LP_GITHUB_UNAVAILABLE',
          `No job poll has listed repository "${r}" yet`,
          { recovery: 'See the coordinator log for why its listing failed' },
        );
      }
      oldest = Math.min(oldest, at);
    }
    const orgs = new Set(owners.map((o) => o.toLowerCase()));
    for (const [r, at] of this.#listedAt)
      if (orgs.has(r.split('/')[0] ?? '')) oldest = Math.min(oldest, at);
    return oldest;
  }

  /** One round: list, merge, read the stragglers, prune. */
  async pollOnce(): Promise<PollRound> {
    const deps = this.#deps;
    const at = nowSec(deps.clock);
    const round: PollRound = {
      at,
      repositories: [],
      failed: {},
      jobs: {},
      jobReads: 0,
      pruned: { jobs: 0, deliveries: 0 },
    };
    try {
      if (this.#opts.poll.enabled) await this.#poll(round);
    } finally {
      const r = this.#opts.retention;
      round.pruned = await deps.store.pruneJobs({
        completedBefore: at - r.completedSec,
        seenBefore: at - r.staleSec,
        deliveriesBefore: at - r.deliveriesSec,
      });
      this.#last = round;
    }
    return round;
  }

  async #poll(round: PollRound): Promise<void> {
    const deps = this.#deps;
    const rate = deps.rateLimit();
    if (
      rate !== undefined &&
      rate.remaining < this.#opts.poll.minRateRemaining &&
      rate.resetAt > round.at
    ) {
      round.skipped = `GitHub's remaining request budget (${rate.remaining}) is below jobs.poll.minRateRemaining (${this.#opts.poll.minRateRemaining})`;
      deps.logger.warn({ remaining: rate.remaining, resetAt: rate.resetAt }, round.skipped);
      return;
    }
    const policy = await this.#policy();
    const repositories = polledRepositories(policy);
    if (repositories.length === 0) {
      round.skipped = 'no pool follows demand';
      return;
    }
    for (const repository of repositories) {
      try {
        await this.#pollRepository(repository, round);
        round.repositories.push(repository);
        this.#listedAt.set(repository, round.at);
      } catch (err) {
        const e = toLaunchplaneError(err, 'LP_GITHUB_UNAVAILABLE');
        round.failed[repository] = `${e.code}: ${e.message}`;
        deps.logger.warn({ repository, err: errorBody(e) }, 'job poll of a repository failed');
      }
    }
  }

  async #pollRepository(repository: string, round: PollRound): Promise<void> {
    const { workflows, ingest, store } = this.#deps;
    const runs = new Map<number, true>();
    for (const status of ['queued', 'in_progress']) {
      for (const run of await workflows.listRuns(repository, { status })) runs.set(run.id, true);
    }
    const listed = new Set<number>();
    for (const runId of runs.keys()) {
      const jobs = await workflows.listRunJobs(repository, runId);
      for (const j of jobs) listed.add(j.id);
      count(round.jobs, await ingest.observe(repository, jobs, round.at));
    }
    // Stored open jobs that no listed run holds: their run finished (or was cancelled) unseen.
    const open = await store.listJobs({
      repositories: [repository],
      statuses: ['queued', 'in_progress'],
    });
    const budget = this.#opts.maxJobReadsPerRound ?? DEFAULT_JOB_READS;
    for (const job of open.filter((j) => !listed.has(j.id))) {
      if (round.jobReads >= budget) break;
      round.jobReads++;
      const fresh = await workflows.getJob(repository, job.id);
      const seen = fresh ?? goneJob(job, round.at);
      count(round.jobs, await ingest.observe(repository, [seen], round.at));
    }
  }

  async #policy(): Promise<Policy | undefined> {
    const current = await this.#deps.store.currentPolicy();
    if (current === undefined) return undefined;
    const parsed = parseStoredPolicy(current);
    return parsed.ok ? parsed.value : undefined;
  }

  /** Starts polling every `intervalSec` (a first round at once). */
  start(): void {
    this.#loop.start();
  }

  /** Stops polling and waits for the current round to end. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }
}

/** A stored job GitHub no longer has (its run was deleted): it waits for nothing any more. */
function goneJob(job: JobRecord, at: number): WorkflowJob {
  return {
    id: job.id,
    runId: job.runId,
    name: job.name ?? '',
    status: 'completed',
    conclusion: null,
    labels: [...job.labels],
    runnerId: job.runnerId ?? null,
    runnerName: job.runnerName ?? null,
    createdAt: job.queuedAt,
    startedAt: job.startedAt,
    completedAt: at,
    htmlUrl: job.htmlUrl ?? null,
  };
}

function count(into: Record<string, number>, from: Partial<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + (v ?? 0);
}

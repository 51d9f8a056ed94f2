/**
 * The control layer's front: plan, apply, single-lane actions and the read views (lanes,
 * runners) that the API, the CLI and the reconciler use. Apply runs one at a time; a lane is
 * acted on by one saga at a time.
 */
import {
  LaunchplaneError,
  classifyRunner,
  coordinatorTransition,
  isTerminal,
  isTransitional,
  type ControlPlan,
  type PlanAction,
} from '@launchplane/shared';
import { plan as computePlan, scopeKey, type LaneSaga, type PlanInput } from '../domain/plan.js';
import type { LaneRecord } from '../ports/store.js';
import type { ActionReport } from './action-report.js';
import type { ControlDeps } from './control-deps.js';
import { createLane } from './create-lane.js';
import {
  explainJob,
  jobListings,
  poolCapacities,
  type DemandViewContext,
  type JobExplanation,
  type JobListing,
  type PoolCapacity,
} from './demand-views.js';
import { drainLane, precheckLaneAction, type DrainMode } from './drain-lane.js';
import pLimit from 'p-limit';
import { LaneLocks } from './lane-locks.js';
import { Observer } from './observer.js';
import { repairLabels } from './repair-labels.js';
import { newSmokeId, runSmoke, type SmokeReport, type SmokeRequest } from './smoke.js';
import { writeAudit } from '../audit/audit-writer.js';
import { nowSec } from '@launchplane/shared';
import { auditReport, errorBody } from './saga-support.js';

/** What an apply did (or, dry-run, would do). */
export interface ApplyResult {
  plan: ControlPlan;
  dryRun: boolean;
  /** True when every action succeeded. */
  ok: boolean;
  reports: ActionReport[];
  /**
   * Actions still running when the apply returned ({@link ApplyOptions.detach}): creates waiting
   * for their runner, drains waiting for idle. Each is audited when it ends. Absent when none.
   */
  detached?: number;
  /**
   * Creates left to a later round ({@link ApplyOptions.detach}): their host has a remove in this
   * plan (see `deferredCreates`). Absent when none.
   */
  deferred?: number;
}

/** A lane with what GitHub and its agent last said about it. */
export interface LaneListing extends LaneRecord {
  github: { status: 'online' | 'offline'; busy: boolean } | null;
  /** The agent's local busy signal from its last inventory, when it reported one. */
  localBusy: boolean | null;
}

/** A GitHub runner and whether it is provably one of our lanes. */
export interface RunnerListing {
  scope: string;
  runnerId: number;
  name: string;
  status: 'online' | 'offline';
  /** GitHub's own status string, when it was neither online nor offline (read as offline). */
  githubStatus?: string;
  busy: boolean;
  labels: string[];
  managed: boolean;
  laneId?: string;
  hostId?: string;
  /** Why it is unmanaged. */
  reason?: string;
}

/** Options of a single-lane action. */
export interface LaneActionOptions {
  actor: string;
  dryRun: boolean;
  force: boolean;
  timeoutSec?: number;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
}

/** A lane action running in the background, as `GET /v1/lanes/:id/job` shows it. */
export interface LaneJob {
  laneId: string;
  mode: DrainMode;
  /** Unix milliseconds. */
  startedAt: number;
  running: boolean;
  /** The saga's last progress line. */
  progress: string | undefined;
  /** Set once the saga ended. */
  report: ActionReport | undefined;
}

/** A smoke running in the background, as `GET /v1/smoke/:id` shows it. */
export interface SmokeJob {
  smokeId: string;
  hostId: string;
  /** Unix milliseconds. */
  startedAt: number;
  running: boolean;
  /** The smoke's last progress line. */
  progress: string | undefined;
  /** Set once the smoke ended. */
  report: SmokeReport | undefined;
}

/** What a smoke is asked to do (the service adds the lane lock). */
export type SmokeOptions = Omit<SmokeRequest, 'lockLane'>;

/** Finished smokes kept for `GET /v1/smoke/:id` (their reports are audited in any case). */
const KEPT_SMOKES = 100;

/** The current or last background apply, as `GET /v1/apply` shows it. */
export interface ApplyJob {
  /** Numbers the background applies of this process, from 1. */
  id: number;
  startedAt: number;
  actor: string;
  running: boolean;
  plan: ControlPlan;
  total: number;
  reports: ActionReport[];
}

/** How {@link ControlService.apply} runs. */
export interface ApplyOptions {
  actor: string;
  dryRun: boolean;
  signal?: AbortSignal;
  /**
   * Return without waiting for runners to come online or drains to settle: creates on hosts with
   * nothing else to do return once their lanes are recorded; removes, restarts and label repairs
   * (and the creates of their hosts, after them) go on in the background (see {@link
   * ControlService.settled}). The reconciler does, so a round of demand never waits for the last
   * round's runners or scale-downs. Off for an operator's apply, which reports every outcome.
   */
  detach?: boolean;
}

export class ControlService {
  readonly #deps: ControlDeps;
  readonly #observer: Observer;
  readonly #locks = new LaneLocks();
  #latest: { input: PlanInput; plan: ControlPlan } | undefined;
  readonly #laneJobs = new Map<string, LaneJob>();
  #applyJob: ApplyJob | undefined;
  #applyJobs = 0;
  readonly #smokes = new Map<string, SmokeJob>();
  /** Actions an apply left running in the background ({@link ApplyOptions.detach}). */
  readonly #detached = new Set<Promise<unknown>>();
  /** Scale-down removes under way, by lane: a `reclaim` takes the lane back through these. */
  readonly #scaleDowns = new Map<
    string,
    { takeBack: AbortController; done: Promise<ActionReport> }
  >();

  constructor(deps: ControlDeps) {
    this.#deps = deps;
    this.#observer = new Observer(deps);
  }

  /** Observes and plans. Changes nothing. */
  async plan(): Promise<ControlPlan> {
    return (await this.#observeAndPlan()).plan;
  }

  /** Observes, plans and keeps the result as the latest plan. */
  async #observeAndPlan(): Promise<{ input: PlanInput; plan: ControlPlan }> {
    // Lanes a saga works on get no new action, and those leaving are no pool's supply.
    const input = { ...(await this.#observer.observe()), sagas: this.#locks.sagas() };
    const plan = computePlan(input);
    this.#latest = { input, plan };
    return this.#latest;
  }

  /** The last plan computed (by a call to `plan`, `apply` or the reconciler), if any. */
  latestPlan(): ControlPlan | undefined {
    return this.#latest?.plan;
  }

  /** True while an apply runs. */
  applying(): boolean {
    return this.#locks.has('apply');
  }

  /**
   * Plans and carries out the plan: removes, restarts and label repairs first (each lane by one
   * saga), then creates (a host's next create starts once the one before it recorded its lane, so
   * capacity checks never race; see {@link startCreatesOnHost}).
   */
  async apply(opts: ApplyOptions): Promise<ApplyResult> {
    const release = this.#locks.acquire('apply', 'apply');
    try {
      return await this.#applyLocked(opts);
    } finally {
      release();
    }
  }

  /**
   * Starts an apply and returns its plan at once; the apply goes on in the background (every
   * action is audited). Refused with `LP_CONFLICT` while another apply runs.
   */
  async startApply(opts: { actor: string; dryRun: boolean }): Promise<ApplyJob> {
    const release = this.#locks.acquire('apply', 'apply');
    let planned: ControlPlan;
    try {
      planned = await this.plan();
    } catch (err) {
      release();
      throw err;
    }
    const job: ApplyJob = {
      id: ++this.#applyJobs,
      startedAt: this.#deps.clock.nowMs(),
      actor: opts.actor,
      running: true,
      plan: planned,
      total: planned.actions.length,
      reports: [],
    };
    this.#applyJob = job;
    void this.#execute(planned, opts, (r) => job.reports.push(r))
      .then(({ reports }) => {
        // While it runs, the reports come in as actions end (a host's creates overlap); once
        // done, they are in the plan's order, as `apply` returns them.
        job.reports = reports;
        return this.#auditApply(planned, reports, opts);
      })
      .catch((err: unknown) => {
        this.#deps.logger.error({ err: errorBody(err) }, 'background apply failed');
      })
      .finally(() => {
        job.running = false;
        release();
      });
    return { ...job, reports: [] };
  }

  /**
   * After a coordinator restart, lanes left mid-saga (a create or remove that was cut off) would
   * hold their slot forever in a transitional state. They are marked `failed` with a recovery
   * hint (audited), so they are reported and an operator clears them with `lane remove`; an
   * interrupted restart becomes `unhealthy`, which the planner restarts again. Call it once,
   * before the first plan, while no saga runs.
   */
  async recoverInterrupted(actor = 'coordinator'): Promise<LaneRecord[]> {
    const changed: LaneRecord[] = [];
    for (const lane of await this.#deps.store.listLanes()) {
      if (this.#locks.has(lane.laneId)) continue;
      let next = interruptedState(lane);
      if (next === undefined) continue;
      next = { ...next, updatedAt: nowSec(this.#deps.clock) };
      await this.#deps.store.putLane(next);
      await writeAudit(this.#deps.store, nowSec(this.#deps.clock), {
        actor,
        action: 'lane.recover',
        outcome: 'ok',
        hostId: lane.hostId,
        laneId: lane.laneId,
        params: { from: lane.state, to: next.state },
        recovery: next.recovery,
      });
      changed.push(next);
    }
    return changed;
  }

  /** One record for the apply as a whole; each action has its own. */
  async #auditApply(
    planned: ControlPlan,
    reports: readonly ActionReport[],
    opts: { actor: string; dryRun: boolean },
    detached = 0,
    deferred = 0,
  ): Promise<void> {
    const failed = reports.filter((r) => !r.ok);
    await writeAudit(this.#deps.store, nowSec(this.#deps.clock), {
      actor: opts.actor,
      action: 'apply',
      outcome: opts.dryRun ? 'dry-run' : failed.length === 0 ? 'ok' : 'failed',
      dryRun: opts.dryRun,
      params: {
        policyDigest: planned.policyDigest,
        actions: planned.actions.length,
        blocked: planned.summary.blocked,
        failed: failed.map((r) => r.actionId ?? r.kind),
        // Creates that go on after the apply; each has its own lane.create record when it ends.
        ...(detached > 0 ? { detached } : {}),
        // Creates left to a later round: their host has a remove in this plan.
        ...(deferred > 0 ? { deferred } : {}),
      },
      ...(failed.length === 0
        ? {}
        : { message: `${failed.length} of ${reports.length} action(s) failed` }),
    });
  }

  /** The current or last background apply. */
  applyJob(): ApplyJob | undefined {
    return this.#applyJob;
  }

  async #applyLocked(opts: ApplyOptions): Promise<ApplyResult> {
    const planned = await this.plan();
    const { reports, deferred } = await this.#execute(planned, opts);
    const detached = planned.actions.length - reports.length - deferred;
    await this.#auditApply(planned, reports, opts, detached, deferred);
    return {
      plan: planned,
      dryRun: opts.dryRun,
      ok: reports.every((r) => r.ok),
      reports,
      ...(detached > 0 ? { detached } : {}),
      ...(deferred > 0 ? { deferred } : {}),
    };
  }

  /**
   * Waits for the creates that applies left running in the background (each ends within its
   * `createOnlineSec` deadline, or at its abort signal).
   */
  async settled(): Promise<void> {
    while (this.#detached.size > 0) await Promise.allSettled([...this.#detached]);
  }

  async #execute(
    planned: ControlPlan,
    opts: ApplyOptions,
    onReport: (r: ActionReport) => void = () => undefined,
  ): Promise<{ reports: ActionReport[]; deferred: number }> {
    const limit = this.#deps.options.applyConcurrency;
    const run = async (a: PlanAction, onRecorded?: () => void): Promise<ActionReport> => {
      const r = await this.#run(a, opts, onRecorded);
      onReport(r);
      return r;
    };
    const hosts = byHost(planned.actions);
    if (opts.detach !== true || opts.dryRun) {
      // Every remove, restart and repair first, then every host's creates; wait for all.
      const first = planned.actions.filter((a) => a.kind !== 'create');
      const reports = await mapLimited(first, limit, (a) => run(a));
      const perHost = await mapLimited(
        [...hosts.values()].filter((h) => h.creates.length > 0),
        limit,
        (h) => startCreatesOnHost(h.creates, limit, run),
      );
      const created = await Promise.all(perHost.flat().map((c) => c.report));
      return { reports: [...reports, ...created], deferred: 0 };
    }
    // Detached: nothing waits for a drain's settle or a runner's start. Removes, restarts,
    // repairs and reclaims go on in the background; creates start now, and the apply returns
    // once each has recorded its lane, so that the next round's plan counts it. A host with a
    // remove in this plan makes no lane this round (see `deferredCreates`). Every action holds
    // its lane's lock and audits itself.
    const others = pLimit(Math.max(1, limit));
    const tracked: { report: Promise<ActionReport>; settled: () => ActionReport | undefined }[] =
      [];
    const track = (report: Promise<ActionReport>): void => {
      let result: ActionReport | undefined;
      void report.then(
        (r) => (result = r),
        () => undefined,
      );
      tracked.push({ report, settled: () => result });
    };
    const ready: Promise<unknown>[] = [];
    const deferred = deferredCreates(planned.actions);
    for (const h of hosts.values()) {
      h.first.forEach((a) => track(others(() => run(a))));
      const creates = h.creates.filter((a) => !deferred.has(a.id));
      if (creates.length === 0) continue;
      const started = startCreatesOnHost(creates, limit, run);
      ready.push(started.then((list) => list.forEach((c) => track(c.report))));
    }
    await Promise.all(ready);
    // Let reports that are already in hand be read before deciding what goes on detached.
    await Promise.resolve();
    const done: ActionReport[] = [];
    for (const t of tracked) {
      const r = t.settled();
      if (r !== undefined) {
        done.push(r);
        continue;
      }
      const rest: Promise<unknown> = t.report
        .then((late) => {
          if (!late.ok) {
            this.#deps.logger.warn(
              { id: late.actionId, code: late.error?.code },
              'a background action failed',
            );
          }
        })
        .catch((err: unknown) => {
          this.#deps.logger.error({ err: errorBody(err) }, 'a background action threw');
        })
        .finally(() => this.#detached.delete(rest));
      this.#detached.add(rest);
    }
    return { reports: done, deferred: deferred.size };
  }

  async #run(a: PlanAction, opts: ApplyOptions, onRecorded?: () => void): Promise<ActionReport> {
    const common = {
      actor: opts.actor,
      dryRun: opts.dryRun,
      actionId: a.id,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    };
    switch (a.kind) {
      case 'create':
        return createLane(this.#deps, {
          ...common,
          hostId: a.hostId,
          pool: a.pool,
          lockLane: (laneId) => this.#locks.acquire(laneId, `create of lane "${laneId}"`, 'create'),
          ...(onRecorded === undefined ? {} : { onRecorded }),
        });
      case 'remove':
      case 'restart':
        if (a.kind === 'remove' && a.scaleDown === true && !opts.dryRun) {
          return this.#scaleDown(a, common);
        }
        return this.#locked(a.laneId, a.kind, a.hostId, opts, () =>
          drainLane(this.#deps, { ...common, laneId: a.laneId, mode: a.kind, force: false }),
        );
      case 'reclaim':
        return this.#reclaim(a, common);
      case 'repair-labels':
        return this.#locked(a.laneId, a.kind, a.hostId, opts, () =>
          repairLabels(this.#deps, { ...common, laneId: a.laneId }),
        );
    }
  }

  /**
   * Runs a smoke to its end. One smoke at a time per host: a second one would change what the
   * first compares, so it is refused with `LP_CONFLICT`.
   */
  async smoke(opts: SmokeOptions): Promise<SmokeReport> {
    const job = this.#newSmoke(opts);
    return this.#runSmoke(job, opts);
  }

  /** Starts a smoke in the background (refused at once if one runs on the host); see {@link smokeJob}. */
  startSmoke(opts: SmokeOptions): SmokeJob {
    const job = this.#newSmoke(opts);
    void this.#runSmoke(job, opts);
    return { ...job };
  }

  /** A smoke that runs or ran in this process. */
  smokeJob(smokeId: string): SmokeJob | undefined {
    const job = this.#smokes.get(smokeId);
    return job === undefined ? undefined : { ...job };
  }

  #newSmoke(opts: SmokeOptions): SmokeJob {
    const busy = [...this.#smokes.values()].find((j) => j.running && j.hostId === opts.hostId);
    if (busy !== undefined && !opts.dryRun) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Smoke ${busy.smokeId} is running on host "${opts.hostId}"`,
        { recovery: `Wait for it: "launchplane audit --host ${opts.hostId} --follow"` },
      );
    }
    const job: SmokeJob = {
      smokeId: newSmokeId(this.#deps.clock.nowMs()),
      hostId: opts.hostId,
      startedAt: this.#deps.clock.nowMs(),
      running: true,
      progress: undefined,
      report: undefined,
    };
    this.#smokes.set(job.smokeId, job);
    for (const [id, old] of this.#smokes) {
      if (this.#smokes.size <= KEPT_SMOKES) break;
      if (!old.running) this.#smokes.delete(id);
    }
    return job;
  }

  async #runSmoke(job: SmokeJob, opts: SmokeOptions): Promise<SmokeReport> {
    try {
      job.report = await runSmoke(this.#deps, job.smokeId, {
        ...opts,
        onProgress: (line) => {
          job.progress = line;
          opts.onProgress?.(line);
        },
        lockLane: (laneId) => this.#locks.acquire(laneId, `smoke ${job.smokeId}`, 'smoke'),
      });
      return job.report;
    } catch (err) {
      // runSmoke reports its failures; only a bug (or the store failing) gets here.
      this.#deps.logger.error({ err: errorBody(err), smokeId: job.smokeId }, 'smoke failed');
      job.report = {
        smokeId: job.smokeId,
        dryRun: opts.dryRun,
        ok: false,
        outcome: 'failed',
        hostId: opts.hostId,
        repository: opts.repository,
        steps: [],
        startedAt: job.startedAt,
        durationMs: this.#deps.clock.nowMs() - job.startedAt,
        error: errorBody(err),
      };
      return job.report;
    } finally {
      job.running = false;
    }
  }

  /** Drains, restarts or removes one lane (an operator's `launchplane lane …`). */
  async laneAction(
    laneId: string,
    mode: DrainMode,
    opts: LaneActionOptions,
  ): Promise<ActionReport> {
    const release = this.#locks.acquire(laneId, `${mode} of lane "${laneId}"`, mode);
    try {
      return await drainLane(this.#deps, {
        laneId,
        mode,
        actor: opts.actor,
        dryRun: opts.dryRun,
        force: opts.force,
        ...(opts.timeoutSec === undefined ? {} : { timeoutSec: opts.timeoutSec }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }),
      });
    } finally {
      release();
    }
  }

  /**
   * Starts a lane action in the background after its refusals were checked (they throw here,
   * before anything starts); follow it with {@link laneJob}.
   */
  async startLaneAction(
    laneId: string,
    mode: DrainMode,
    opts: LaneActionOptions,
  ): Promise<LaneJob> {
    await precheckLaneAction(this.#deps, { laneId, mode });
    const release = this.#locks.acquire(laneId, `${mode} of lane "${laneId}"`, mode);
    const job: LaneJob = {
      laneId,
      mode,
      startedAt: this.#deps.clock.nowMs(),
      running: true,
      progress: undefined,
      report: undefined,
    };
    this.#laneJobs.set(laneId, job);
    void drainLane(this.#deps, {
      laneId,
      mode,
      actor: opts.actor,
      dryRun: opts.dryRun,
      force: opts.force,
      ...(opts.timeoutSec === undefined ? {} : { timeoutSec: opts.timeoutSec }),
      onProgress: (line) => {
        job.progress = line;
        opts.onProgress?.(line);
      },
    })
      .then(
        (report) => {
          job.report = report;
        },
        (err: unknown) => {
          job.report = {
            kind: mode,
            hostId: '',
            laneId,
            dryRun: opts.dryRun,
            forced: opts.force,
            ok: false,
            outcome: 'failed',
            steps: [],
            commands: [],
            error: errorBody(err),
          };
        },
      )
      .finally(() => {
        job.running = false;
        release();
      });
    return { ...job };
  }

  /** The current or last background action of a lane. */
  laneJob(laneId: string): LaneJob | undefined {
    const job = this.#laneJobs.get(laneId);
    return job === undefined ? undefined : { ...job };
  }

  /**
   * A demand pool's scale-down: a remove that a later plan may take back (`reclaim`) until it
   * begins removing the lane.
   */
  #scaleDown(
    a: Extract<PlanAction, { kind: 'remove' }>,
    common: { actor: string; dryRun: boolean; actionId: string; signal?: AbortSignal },
  ): Promise<ActionReport> {
    const takeBack = new AbortController();
    const done = this.#locked(
      a.laneId,
      'remove',
      a.hostId,
      common,
      () =>
        drainLane(this.#deps, {
          ...common,
          laneId: a.laneId,
          mode: 'remove',
          force: false,
          reclaim: takeBack.signal,
        }),
      'scale-down',
    ).finally(() => {
      if (this.#scaleDowns.get(a.laneId)?.takeBack === takeBack) this.#scaleDowns.delete(a.laneId);
    });
    this.#scaleDowns.set(a.laneId, { takeBack, done });
    return done;
  }

  /**
   * Takes a lane back from its scale-down: the remove stops at its next check and, if it had not
   * begun removing, restores the runner's labels and records the lane online (see `drainLane`).
   */
  async #reclaim(
    a: Extract<PlanAction, { kind: 'reclaim' }>,
    common: { actor: string; dryRun: boolean; actionId: string },
  ): Promise<ActionReport> {
    const report: ActionReport = {
      kind: 'reclaim',
      actionId: common.actionId,
      hostId: a.hostId,
      pool: a.pool,
      laneId: a.laneId,
      dryRun: common.dryRun,
      forced: false,
      ok: false,
      outcome: 'refused',
      steps: [],
      commands: [],
    };
    const saga = this.#scaleDowns.get(a.laneId);
    if (saga === undefined) {
      report.error = errorBody(
        new LaunchplaneError(
          'LP_CONFLICT',
          `Cannot reclaim lane "${a.laneId}": no scale-down of it is under way`,
        ),
      );
    } else if (common.dryRun) {
      report.ok = true;
      report.outcome = 'would-reclaim';
      report.steps.push(
        `stop the scale-down of lane "${a.laneId}" before its remove begins, restore runner ${a.runnerId}'s canonical labels and record the lane online`,
      );
    } else {
      // From now on the plan counts the lane as the pool's and plans no second take-back.
      this.#locks.retag(a.laneId, 'reclaim');
      saga.takeBack.abort();
      const removal = await saga.done;
      if (removal.outcome === 'reclaimed') {
        report.ok = true;
        report.outcome = 'reclaimed';
        report.steps.push(...removal.steps);
        if (removal.lane !== undefined) report.lane = removal.lane;
      } else {
        report.steps.push(`the scale-down ended as "${removal.outcome}" first`);
        report.error = errorBody(
          new LaunchplaneError(
            'LP_CONFLICT',
            `Cannot reclaim lane "${a.laneId}": its remove had already begun (${removal.outcome})`,
          ),
        );
      }
    }
    await auditReport(this.#deps, report, { actor: common.actor });
    return report;
  }

  async #locked(
    laneId: string,
    kind: ActionReport['kind'],
    hostId: string,
    opts: { actor: string; dryRun: boolean; actionId?: string },
    fn: () => Promise<ActionReport>,
    saga: LaneSaga = kind,
  ): Promise<ActionReport> {
    let release: () => void;
    try {
      release = this.#locks.acquire(laneId, `${kind} of lane "${laneId}"`, saga);
    } catch (err) {
      const report: ActionReport = {
        kind,
        hostId,
        laneId,
        dryRun: opts.dryRun,
        forced: false,
        ok: false,
        outcome: 'refused',
        steps: [],
        commands: [],
        error: errorBody(err),
      };
      await auditReport(this.#deps, report, { actor: opts.actor });
      return report;
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Observes and plans for a read view of demand (the plan is kept as the latest). */
  async #demandView(): Promise<DemandViewContext> {
    const { input, plan } = await this.#observeAndPlan();
    return { input, plan, now: input.now };
  }

  /** Queued and running jobs the job store holds, with their wait, pool and lane. */
  async jobs(): Promise<{ jobs: JobListing[]; generatedAt: number }> {
    const ctx = await this.#demandView();
    const stored = await this.#deps.store.listJobs({ statuses: ['queued', 'in_progress'] });
    return { jobs: jobListings(ctx, stored), generatedAt: ctx.now };
  }

  /** Why a job is still queued (or where it runs); `LP_NOT_FOUND` for a job never seen. */
  async why(jobId: number): Promise<JobExplanation> {
    const job = await this.#deps.store.getJob(jobId);
    if (job === undefined) {
      throw new LaunchplaneError('LP_NOT_FOUND', `Job ${jobId} is not in the job store`, {
        recovery:
          'The coordinator learns jobs from webhooks and polls of the repositories that pools following demand serve; check "launchplane jobs" and the job id',
      });
    }
    return explainJob(await this.#demandView(), job);
  }

  /** Per pool: lanes by state, idle lanes, queued jobs, queue wait over the last hour, headroom. */
  async capacity(): Promise<{ pools: PoolCapacity[]; generatedAt: number; windowSec: number }> {
    const ctx = await this.#demandView();
    const windowSec = 3600;
    const [open, started] = await Promise.all([
      this.#deps.store.listJobs({ statuses: ['queued'] }),
      this.#deps.store.listJobs({
        statuses: ['in_progress', 'completed'],
        startedSince: ctx.now - windowSec,
      }),
    ]);
    return {
      pools: poolCapacities(ctx, [...open, ...started], windowSec),
      generatedAt: ctx.now,
      windowSec,
    };
  }

  /** Lanes with GitHub's view from a fresh observation. */
  async lanes(filter: { hostId?: string; pool?: string } = {}): Promise<LaneListing[]> {
    const input = await this.#observer.observe();
    const runners = new Map<number, { status: 'online' | 'offline'; busy: boolean }>();
    for (const o of input.github) {
      if ('runners' in o)
        for (const r of o.runners) runners.set(r.id, { status: r.status, busy: r.busy });
    }
    const local = new Map<string, boolean>();
    for (const h of input.hosts) {
      for (const l of h.lanes) if (l.local !== undefined) local.set(l.laneId, l.local.busy);
    }
    return input.lanes
      .filter(
        (l) =>
          (filter.hostId === undefined || l.hostId === filter.hostId) &&
          (filter.pool === undefined || l.pool === filter.pool),
      )
      .sort((a, b) => cmp(a.hostId, b.hostId) || cmp(a.pool, b.pool) || cmp(a.laneId, b.laneId))
      .map((l) => ({
        ...l,
        github: l.runnerId === undefined ? null : (runners.get(l.runnerId) ?? null),
        localBusy: local.get(l.laneId) ?? null,
      }));
  }

  /** Every runner GitHub lists in the scopes we know, each `managed` or `unmanaged`. */
  async runners(): Promise<{
    runners: RunnerListing[];
    unavailable: { scope: string; reason: string }[];
  }> {
    const input = await this.#observer.observe();
    const byId = new Map(
      input.lanes.filter((l) => l.state !== 'removed').map((l) => [l.laneId, l]),
    );
    const out: RunnerListing[] = [];
    const unavailable: { scope: string; reason: string }[] = [];
    for (const o of input.github) {
      const key = scopeKey(o.scope);
      if ('unavailable' in o) {
        unavailable.push({ scope: key, reason: o.unavailable });
        continue;
      }
      for (const r of o.runners) {
        const c = classifyRunner(r, {
          coordinatorId: this.#deps.coordinatorId,
          findLane: (id) => {
            const lane = byId.get(id);
            return lane === undefined || scopeKey(lane.scope) !== key
              ? undefined
              : { laneId: id, runnerId: lane.runnerId };
          },
        });
        const base = {
          scope: key,
          runnerId: r.id,
          name: r.name,
          status: r.status,
          ...(r.githubStatus === undefined ? {} : { githubStatus: r.githubStatus }),
          busy: r.busy,
          labels: [...r.labels].sort(cmp),
        };
        out.push(
          c.ours
            ? { ...base, managed: true, laneId: c.laneId, hostId: byId.get(c.laneId)?.hostId ?? '' }
            : { ...base, managed: false, reason: `${c.reason}: ${c.message}` },
        );
      }
    }
    out.sort((a, b) => cmp(a.scope, b.scope) || a.runnerId - b.runnerId);
    unavailable.sort((a, b) => cmp(a.scope, b.scope));
    return { runners: out, unavailable };
  }
}

/**
 * What a lane found after a restart becomes: a smoke lane not yet failed, or a lane left mid-create
 * or mid-remove, is held as `failed` for an operator; a restart cut off becomes `unhealthy`, which
 * the planner restarts again. Undefined: the lane is fine as it is.
 */
function interruptedState(lane: LaneRecord): LaneRecord | undefined {
  const failed = (recovery: string, message: string): LaneRecord => ({
    ...lane,
    state: coordinatorTransition(lane.state, 'fail'),
    recovery,
    lastError: { code: 'LP_INTERNAL', message, recovery },
  });
  if (lane.purpose === 'smoke') {
    // A smoke lane belongs to its run, which ended with the last process.
    if (lane.state === 'failed' || isTerminal(lane.state)) return undefined;
    return failed(
      `The coordinator stopped while this lane's smoke ran. Run "launchplane lane remove ${lane.laneId}"`,
      `Smoke interrupted while ${lane.state}`,
    );
  }
  if (lane.state === 'restarting') {
    return { ...lane, state: coordinatorTransition(lane.state, 'became-unhealthy') };
  }
  if (isTransitional(lane.state)) {
    const what = lane.state === 'stopping' ? 'removed' : 'created';
    return failed(
      `The coordinator stopped while this lane was being ${what}. Check host "${lane.hostId}" and GitHub, then run "launchplane lane remove ${lane.laneId}"`,
      `Interrupted while ${lane.state}`,
    );
  }
  return undefined;
}

/** A create under way: its report once it ends, and that report now if it has ended. */
export interface StartedCreate {
  report: Promise<ActionReport>;
  settled(): ActionReport | undefined;
}

/**
 * Starts one host's creates, in plan order, and returns once each has recorded its lane (or
 * ended). Each starts once the one before it has recorded its lane, so that the host's capacity
 * and pool checks count it, and then runs beside it, at most `limit` at a time. A burst of demand
 * so waits for about one runner's start per host, not for each runner in turn (the host still runs
 * its lane commands one at a time).
 */
export async function startCreatesOnHost(
  list: readonly PlanAction[],
  limit: number,
  run: (a: PlanAction, onRecorded: () => void) => Promise<ActionReport>,
): Promise<StartedCreate[]> {
  const running = new Set<Promise<void>>();
  const started: StartedCreate[] = [];
  for (const a of list) {
    while (running.size >= Math.max(1, limit)) await Promise.race(running);
    let recorded!: () => void;
    const gate = new Promise<void>((resolve) => (recorded = resolve));
    const report = run(a, recorded);
    let result: ActionReport | undefined;
    const ended = report.then(
      (r) => {
        result = r;
      },
      () => undefined,
    );
    const tracked: Promise<void> = ended.finally(() => running.delete(tracked));
    running.add(tracked);
    started.push({ report, settled: () => result });
    // A create refused by its checks never records a lane: it is done, so the next may start.
    await Promise.race([gate, ended]);
  }
  return started;
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of results. */
function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const gate = pLimit(Math.max(1, limit));
  return Promise.all(items.map((item) => gate(() => fn(item))));
}

/**
 * The creates a detached apply leaves to a later round: those of a host with a remove in the
 * same plan. The remove may free the slot the create takes, but a create queued behind it would
 * have no lane record for the next round's plan to count, and that plan would make the lane
 * again. A later round, which sees the remove done, makes it.
 */
export function deferredCreates(actions: readonly PlanAction[]): Set<string> {
  const removing = new Set(actions.filter((a) => a.kind === 'remove').map((a) => a.hostId));
  return new Set(
    actions.filter((a) => a.kind === 'create' && removing.has(a.hostId)).map((a) => a.id),
  );
}

/** A plan's actions by host, in plan order: the creates apart from the rest. */
function byHost(
  actions: readonly PlanAction[],
): Map<string, { first: PlanAction[]; creates: PlanAction[] }> {
  const out = new Map<string, { first: PlanAction[]; creates: PlanAction[] }>();
  for (const a of actions) {
    let h = out.get(a.hostId);
    if (h === undefined) out.set(a.hostId, (h = { first: [], creates: [] }));
    (a.kind === 'create' ? h.creates : h.first).push(a);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

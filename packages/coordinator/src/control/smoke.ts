/**
 * `launchplane smoke`: a live check of a host, on a disposable lane, before production lanes are
 * touched. It runs the real sagas one after another, so it proves them:
 * 1. guardrails: the policy allows the host and the repository, the host consents (its opt-in for
 *    the repository, backend and pool `lp-smoke`), has room, and the workflow (if any) exists;
 * 2. snapshot: GitHub's runners of the repository and the host's lanes as its agent reports them;
 * 3. create (the create saga) one lane of pool `lp-smoke`, marked `purpose: smoke` so the planner
 *    and the reconciler leave it alone, carrying one routing label of its own
 *    (`lp-smoke-<laneId>`), and verify it online on GitHub with exactly its labels;
 * 4. optionally dispatch a workflow whose job runs on that label and wait until it succeeded on
 *    this lane's runner;
 * 5. drain and restart it (the drain saga), and verify it online again;
 * 6. drain and remove it (the drain saga);
 * 7. take the snapshot again: everything but the smoke's own lane must read the same.
 * Every step is audited (`smoke.<step>`), and the smoke as a whole (`smoke`). A failure leaves
 * the lane quarantined (`lp-draining`, state `failed`) for inspection and says how to clean up:
 * `launchplane lane remove <lane>`. A dry run walks every guardrail and reads GitHub, changing
 * nothing.
 */
import {
  LaunchplaneError,
  SMOKE_POOL,
  newLaneId,
  smokeLabel,
  smokeLaneLabels,
  toLaunchplaneError,
  type Backend,
  type ErrorBody,
  type LaneCreateCommand,
  type Policy,
} from '@launchplane/shared';
import { checkLaneGuardrails, errorCodeForGuardrail, freeCapacity } from '../domain/guardrails.js';
import { customLabelsOf } from '../domain/plan.js';
import {
  compareSnapshots,
  snapshotOf,
  type SmokeComparison,
  type SmokeSnapshot,
} from '../domain/smoke-compare.js';
import type { WorkflowJob } from '../ports/github-workflows.js';
import type { LaneRecord } from '../ports/store.js';
import { writeAudit } from '../audit/audit-writer.js';
import type { ActionReport } from './action-report.js';
import { nowSec } from '@launchplane/shared';
import type { ControlDeps } from './control-deps.js';
import { findRunner, makeLane, type LaneSpec } from './create-lane.js';
import { drainLane, quarantineRunner } from './drain-lane.js';
import { Deadline, hostViewOf, moveLane, pollUntil } from './saga-support.js';
import { requireCurrentPolicy } from './stored-policy.js';

/** The `workflow_dispatch` input that carries the smoke lane's label (`runs-on`). */
export const SMOKE_LABEL_INPUT = 'runner-label';

/** What to smoke. */
export interface SmokeRequest {
  hostId: string;
  /** `owner/repo`, lowercase. */
  repository: string;
  /** Default: the host's one opted-in backend. */
  backend?: Backend;
  /** A Docker smoke's image; it must be one a Docker pool of the repository uses. */
  image?: string;
  /** A workflow's file name or id, dispatched on `ref`. */
  workflow?: string;
  ref?: string;
  /** How long the workflow's job may take, queued and running (default: the control option). */
  workflowTimeoutSec?: number;
  actor: string;
  dryRun: boolean;
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
  /** Takes a lane's lock, held for the whole smoke; returns the release. */
  lockLane: (laneId: string) => () => void;
}

export type SmokeStepName =
  | 'guardrails'
  | 'snapshot'
  | 'create'
  | 'verify-online'
  | 'workflow'
  | 'restart'
  | 'verify-restarted'
  | 'remove'
  | 'compare';

/** One step, as run (or, in a dry run, as it would run). */
export interface SmokeStep {
  name: SmokeStepName;
  ok: boolean;
  /** Unix milliseconds. */
  startedAt: number;
  durationMs: number;
  /** What was done and seen, in order. */
  detail: string[];
  error?: ErrorBody;
}

/** The dispatched workflow's run and job, as GitHub reported them. */
export interface SmokeWorkflowResult {
  workflow: string;
  ref: string;
  runId?: number;
  runUrl?: string;
  jobId?: number;
  jobUrl?: string | null;
  status?: string;
  conclusion?: string | null;
  runnerId?: number | null;
  runnerName?: string | null;
}

/** What a smoke did. */
export interface SmokeReport {
  smokeId: string;
  dryRun: boolean;
  ok: boolean;
  /** `passed`, `failed`, `refused`, or `would-run` for a dry run that passed its guardrails. */
  outcome: 'passed' | 'failed' | 'refused' | 'would-run';
  hostId: string;
  repository: string;
  backend?: Backend;
  image?: string;
  /** The smoke lane's own routing label. */
  label?: string;
  laneId?: string;
  lane?: LaneRecord;
  workflow?: SmokeWorkflowResult;
  steps: SmokeStep[];
  comparison?: SmokeComparison;
  /** Unix milliseconds. */
  startedAt: number;
  durationMs: number;
  error?: ErrorBody;
  /** The command that removes what a failed smoke left. */
  cleanup?: string;
}

/** What the guardrails settled. */
interface Checked {
  backend: Backend;
  docker: LaneCreateCommand['docker'];
}

/** Runs a smoke. Never throws for a refusal or failure: the report says what happened. */
export async function runSmoke(
  deps: ControlDeps,
  smokeId: string,
  req: SmokeRequest,
): Promise<SmokeReport> {
  return new SmokeRun(deps, smokeId, req).run();
}

/** A new smoke id (a lowercase ULID). */
export function newSmokeId(nowMs: number): string {
  return newLaneId(nowMs);
}

class SmokeRun {
  readonly #deps: ControlDeps;
  readonly #req: SmokeRequest;
  readonly report: SmokeReport;
  #release: (() => void) | undefined;

  constructor(deps: ControlDeps, smokeId: string, req: SmokeRequest) {
    this.#deps = deps;
    this.#req = req;
    this.report = {
      smokeId,
      dryRun: req.dryRun,
      ok: false,
      outcome: 'refused',
      hostId: req.hostId,
      repository: req.repository,
      steps: [],
      startedAt: deps.clock.nowMs(),
      durationMs: 0,
    };
  }

  async run(): Promise<SmokeReport> {
    try {
      return await this.#run();
    } finally {
      this.#release?.();
    }
  }

  async #run(): Promise<SmokeReport> {
    const req = this.#req;
    const r = this.report;
    let checked: Checked;
    try {
      checked = await this.#step('guardrails', (d) => this.#guardrails(d));
    } catch {
      return this.#finish();
    }
    r.backend = checked.backend;
    if (checked.docker !== undefined) r.image = checked.docker.image;
    if (req.workflow !== undefined) r.workflow = { workflow: req.workflow, ref: req.ref ?? '' };

    let before: SmokeSnapshot;
    try {
      before = await this.#step('snapshot', (d) => this.#snapshot(d, 'before'));
    } catch {
      r.outcome = req.dryRun ? 'refused' : 'failed';
      return this.#finish();
    }
    if (req.dryRun) {
      this.#plannedSteps(checked);
      r.ok = true;
      r.outcome = 'would-run';
      return this.#finish();
    }

    r.outcome = 'failed';
    try {
      let lane = await this.#step('create', (d) => this.#create(d, checked));
      lane = await this.#step('verify-online', (d) => this.#verifyOnline(d, lane));
      if (req.workflow !== undefined) {
        const workflow = req.workflow;
        await this.#step('workflow', (d) => this.#workflow(d, lane, workflow));
      }
      lane = await this.#step('restart', (d) => this.#drain(d, lane, 'restart'));
      lane = await this.#step('verify-restarted', (d) => this.#verifyOnline(d, lane));
      lane = await this.#step('remove', (d) => this.#drain(d, lane, 'remove'));
      await this.#step('compare', (d) => this.#compare(d, before, lane));
      r.ok = true;
      r.outcome = 'passed';
    } catch (err) {
      await this.#leaveQuarantined(toLaunchplaneError(err));
    }
    return this.#finish();
  }

  /** Runs one step, records and audits it; rethrows its failure after recording it. */
  async #step<T>(name: SmokeStepName, fn: (detail: string[]) => Promise<T>): Promise<T> {
    const deps = this.#deps;
    const step: SmokeStep = {
      name,
      ok: false,
      startedAt: deps.clock.nowMs(),
      durationMs: 0,
      detail: [],
    };
    this.report.steps.push(step);
    this.#req.onProgress?.(`smoke ${this.report.smokeId}: ${name}`);
    try {
      const out = await fn(step.detail);
      step.ok = true;
      return out;
    } catch (err) {
      const e = toLaunchplaneError(err);
      step.error = e.toJSON();
      this.report.error = e.toJSON();
      throw e;
    } finally {
      step.durationMs = deps.clock.nowMs() - step.startedAt;
      await writeAudit(deps.store, nowSec(deps.clock), {
        actor: this.#req.actor,
        action: `smoke.${name}`,
        outcome: this.#req.dryRun
          ? 'dry-run'
          : step.ok
            ? 'ok'
            : name === 'guardrails'
              ? 'refused'
              : 'failed',
        hostId: this.#req.hostId,
        laneId: this.report.laneId,
        dryRun: this.#req.dryRun,
        params: { smokeId: this.report.smokeId, durationMs: step.durationMs, detail: step.detail },
        code: step.error?.code,
        message: step.error?.message,
        recovery: step.error?.recovery,
      });
    }
  }

  /** Step 1: every refusal before anything is made. */
  async #guardrails(detail: string[]): Promise<Checked> {
    const deps = this.#deps;
    const req = this.#req;
    const policy = await requireCurrentPolicy(deps.store, 'smoke');
    const host = await hostViewOf(deps, req.hostId);
    const provisional: Backend = req.backend ?? host.optIn?.backends[0] ?? 'systemd';
    const block = checkLaneGuardrails(policy, {
      poolName: SMOKE_POOL,
      pool: smokePool(req.repository, provisional),
      host,
    });
    if (block !== undefined) {
      throw new LaunchplaneError(
        errorCodeForGuardrail(block.guardrail),
        `Cannot smoke host "${req.hostId}" for repository "${req.repository}": ${block.message}`,
        {
          details: { guardrail: block.guardrail },
          ...(block.guardrail.startsWith('host-not-opted-in')
            ? {
                recovery: `Opt host "${req.hostId}" in to it in its agent config (a host that lists optIn.pools must list "${SMOKE_POOL}")`,
              }
            : {}),
        },
      );
    }
    const backends = host.optIn?.backends ?? [];
    if (req.backend === undefined && backends.length > 1) {
      throw new LaunchplaneError(
        'LP_USAGE',
        `Host "${req.hostId}" opts in to ${backends.map((b) => `"${b}"`).join(' and ')}: say which to smoke`,
        { recovery: `Pass --backend ${backends.join(' or --backend ')}` },
      );
    }
    detail.push(
      `policy allows host "${req.hostId}" and repository "${req.repository}"`,
      `host "${req.hostId}" is connected and opts in to repository "${req.repository}", backend "${provisional}"${host.optIn?.pools === undefined ? '' : ` and pool "${SMOKE_POOL}"`}`,
    );
    const onHost = await deps.store.listLanes({ hostId: req.hostId });
    if (freeCapacity(host, onHost.length) < 1) {
      throw new LaunchplaneError(
        'LP_CAPACITY',
        `Cannot smoke host "${req.hostId}": it opts in to at most ${host.optIn?.maxLanes ?? 0} lane(s) and holds ${onHost.length}`,
        {
          details: { guardrail: 'capacity' },
          recovery: `Remove a lane from host "${req.hostId}", or raise optIn.maxLanes in its agent config`,
        },
      );
    }
    detail.push(
      `host "${req.hostId}" has room: ${onHost.length} of at most ${host.optIn?.maxLanes ?? 0} lane(s)`,
    );
    const docker = provisional === 'docker' ? dockerOf(policy, req) : undefined;
    if (docker !== undefined)
      detail.push(`image "${docker.image}", as the policy's Docker pools use it`);
    if (req.workflow !== undefined) {
      const wf = await deps.workflows.getWorkflow(req.repository, req.workflow);
      if (wf === undefined) {
        throw new LaunchplaneError(
          'LP_NOT_FOUND',
          `Repository "${req.repository}" has no workflow "${req.workflow}"`,
          {
            recovery: `Add .github/workflows/launchplane-smoke.yml to "${req.repository}" (see docs/smoke.md), or name an existing workflow with --workflow`,
          },
        );
      }
      if (wf.state !== 'active') {
        throw new LaunchplaneError(
          'LP_CONFLICT',
          `Workflow "${wf.path}" of repository "${req.repository}" is ${wf.state} and cannot be dispatched`,
          { recovery: `Enable the workflow on GitHub (Actions → ${wf.name} → Enable workflow)` },
        );
      }
      detail.push(`workflow "${wf.path}" (id ${wf.id}) exists and is active`);
    }
    return { backend: provisional, docker };
  }

  /** Step 2 and 7: GitHub's runners of the repository and the host's lanes, now. */
  async #snapshot(detail: string[], which: 'before' | 'after'): Promise<SmokeSnapshot> {
    const deps = this.#deps;
    const runners = await deps.github.listRunners({ repository: this.#req.repository });
    const session = deps.hub.session(this.#req.hostId);
    if (session?.inventory === undefined) {
      throw new LaunchplaneError(
        'LP_HOST_OFFLINE',
        `Host "${this.#req.hostId}" has no live agent session with an inventory`,
        { recovery: `Bring the agent on "${this.#req.hostId}" back online, then smoke again` },
      );
    }
    const snap = snapshotOf(nowSec(deps.clock), runners, session.inventory.lanes);
    detail.push(
      `${which}: ${snap.runners.length} runner(s) of "${this.#req.repository}" on GitHub, ${snap.lanes.length} lane(s) on host "${this.#req.hostId}"`,
    );
    return snap;
  }

  /** A dry run's report: the steps that would run. */
  #plannedSteps(checked: Checked): void {
    const deps = this.#deps;
    const req = this.#req;
    const at = deps.clock.nowMs();
    const planned = (name: SmokeStepName, detail: string[]): void => {
      this.report.steps.push({ name, ok: true, startedAt: at, durationMs: 0, detail });
    };
    planned('create', [
      `record a lane of pool "${SMOKE_POOL}" on host "${req.hostId}" (${checked.backend}${checked.docker === undefined ? '' : `, image "${checked.docker.image}"`}), marked as a smoke lane`,
      `create a registration token for repository "${req.repository}"`,
      `send lane.create; wait up to ${deps.options.createOnlineSec} s for its runner to be online with labels launchplane, lp-ctl-…, lp-lane-<lane>, lp-smoke-<lane>`,
    ]);
    if (req.workflow !== undefined) {
      planned('workflow', [
        `dispatch workflow "${req.workflow}" on "${req.ref ?? ''}" with ${SMOKE_LABEL_INPUT}=lp-smoke-<lane>`,
        `wait up to ${this.#workflowSec()} s for its job to succeed on the smoke lane's runner`,
      ]);
    }
    planned('restart', ['drain the lane, restart it, verify it online again']);
    planned('remove', ['drain the lane, remove it and its runner registration']);
    planned('compare', [
      `list the runners of "${req.repository}" and the lanes of host "${req.hostId}" again: nothing but the smoke lane may differ`,
    ]);
  }

  /** Step 3: the create saga, for a lane of pool `lp-smoke` marked as a smoke lane. */
  async #create(detail: string[], checked: Checked): Promise<LaneRecord> {
    const deps = this.#deps;
    const req = this.#req;
    const spec: LaneSpec = {
      hostId: req.hostId,
      pool: SMOKE_POOL,
      purpose: 'smoke',
      scope: { repository: req.repository },
      backend: checked.backend,
      // A restart is part of the smoke, and an ephemeral lane's JIT config runs once.
      ephemeral: false,
      ...(checked.docker === undefined ? {} : { docker: checked.docker }),
      group: undefined,
      labels: (laneId) => smokeLaneLabels(deps.coordinatorId, laneId),
      auditParams: { smokeId: this.report.smokeId },
    };
    const created: ActionReport = {
      kind: 'create',
      hostId: req.hostId,
      pool: SMOKE_POOL,
      dryRun: false,
      forced: false,
      ok: false,
      outcome: 'refused',
      steps: [],
      commands: [],
    };
    await makeLane(
      deps,
      spec,
      {
        actor: req.actor,
        dryRun: false,
        ...(req.signal === undefined ? {} : { signal: req.signal }),
        // The lane stays locked until the smoke ends: no operator's action cuts in.
        lockLane: (laneId) => {
          this.#release = req.lockLane(laneId);
          return () => undefined;
        },
      },
      created,
    );
    if (created.laneId !== undefined) {
      this.report.laneId = created.laneId;
      this.report.label = smokeLabel(created.laneId);
    }
    if (created.lane !== undefined) this.report.lane = created.lane;
    detail.push(...created.steps);
    if (!created.ok || created.lane === undefined) throw sagaError(created, 'create');
    return created.lane;
  }

  /** Steps 3b and 5b: the lane's runner is online on GitHub, under its name, with its labels. */
  async #verifyOnline(detail: string[], lane: LaneRecord): Promise<LaneRecord> {
    const deps = this.#deps;
    const fresh = (await deps.store.getLane(lane.laneId)) ?? lane;
    const runner = fresh.runnerId === undefined ? undefined : await findRunner(deps, fresh);
    if (runner === undefined) {
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `GitHub shows no runner of smoke lane "${lane.laneId}" (recorded id ${fresh.runnerId ?? 'none'})`,
      );
    }
    if (runner.status !== 'online') {
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `Runner ${runner.id} of smoke lane "${lane.laneId}" is ${runner.githubStatus ?? runner.status} on GitHub`,
      );
    }
    const custom = customLabelsOf(runner.labels).sort();
    const want = [...fresh.labels].sort();
    if (custom.join(',') !== want.join(',')) {
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `Runner ${runner.id} of smoke lane "${lane.laneId}" carries labels ${custom.join(',') || '-'}, not ${want.join(',')}`,
      );
    }
    detail.push(
      `runner ${runner.id} "${runner.name}" is online on GitHub with labels ${want.join(',')}`,
    );
    this.report.lane = fresh;
    return fresh;
  }

  /** Step 4: the dispatched job runs on this lane's label and succeeds on this lane's runner. */
  async #workflow(detail: string[], lane: LaneRecord, workflow: string): Promise<void> {
    const deps = this.#deps;
    const req = this.#req;
    const repo = req.repository;
    const label = smokeLabel(lane.laneId);
    const result: SmokeWorkflowResult = { workflow, ref: req.ref ?? '' };
    this.report.workflow = result;
    // GitHub stamps runs on its own clock: look a little further back than the dispatch. The
    // label is the lane's own, so no older run can be taken for this one.
    const since = nowSec(deps.clock) - 120;
    await deps.workflows.dispatchWorkflow(repo, workflow, {
      ref: req.ref ?? '',
      inputs: { [SMOKE_LABEL_INPUT]: label },
    });
    detail.push(
      `dispatched workflow "${workflow}" on "${req.ref ?? ''}" with ${SMOKE_LABEL_INPUT}=${label}`,
    );
    const deadline = new Deadline(deps, this.#workflowSec() * 1000);
    const ruledOut = new Set<number>();
    let seenJob: WorkflowJob | undefined;
    let last = '';
    /** One look at GitHub: the job once it completed, undefined (poll again) before. */
    const poll = async (): Promise<WorkflowJob | undefined> => {
      seenJob =
        seenJob === undefined
          ? await this.#findJob(workflow, since, label, ruledOut, result)
          : await deps.workflows.getJob(repo, seenJob.id);
      const job = seenJob;
      if (job === undefined) return undefined;
      Object.assign(result, {
        jobId: job.id,
        jobUrl: job.htmlUrl,
        status: job.status,
        conclusion: job.conclusion,
        runnerId: job.runnerId,
        runnerName: job.runnerName,
      });
      const seen = `job ${job.id} ${job.status}${job.runnerName === null ? '' : ` on runner ${job.runnerId ?? '?'} "${job.runnerName}"`}`;
      if (seen !== last) {
        last = seen;
        req.onProgress?.(`smoke ${this.report.smokeId}: ${seen}`);
      }
      return job.status === 'completed' ? job : undefined;
    };
    // GitHub's transient errors are polled through, as "not yet".
    const job = await pollUntil(deps, deadline, poll, req.signal);
    if (job === undefined) {
      throw new LaunchplaneError(
        'LP_TIMEOUT',
        seenJob === undefined
          ? `No job of workflow "${workflow}" asked for label "${label}" within ${this.#workflowSec()} s of the dispatch`
          : `Job ${seenJob.id} of workflow "${workflow}" was still ${seenJob.status} after ${this.#workflowSec()} s`,
        {
          recovery:
            seenJob === undefined
              ? `Check that the workflow runs its job on the "${SMOKE_LABEL_INPUT}" input (runs-on: \${{ inputs.${SMOKE_LABEL_INPUT} }}), see docs/smoke.md`
              : 'Look at the run on GitHub; cancel it there if it is stuck',
        },
      );
    }
    detail.push(
      `job ${job.id} of run ${job.runId} completed (${job.conclusion ?? 'no conclusion'}) on runner ${job.runnerId ?? '-'} "${job.runnerName ?? '-'}"`,
    );
    if (job.runnerId !== lane.runnerId || job.runnerName !== lane.runnerName) {
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `Job ${job.id} ran on runner ${job.runnerId ?? '-'} "${job.runnerName ?? '-'}", not on the smoke lane's runner ${lane.runnerId ?? '-'} "${lane.runnerName}"`,
        {
          recovery:
            'Another runner carries the smoke label: run "launchplane runners" and look for it',
        },
      );
    }
    if (job.conclusion !== 'success') {
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `Job ${job.id} of workflow "${workflow}" ended "${job.conclusion ?? 'without a conclusion'}" on the smoke lane`,
        {
          ...(job.htmlUrl === null ? {} : { details: { jobUrl: job.htmlUrl } }),
          recovery: `Read the job's log on GitHub${job.htmlUrl === null ? '' : ` (${job.htmlUrl})`}`,
        },
      );
    }
  }

  /** The job of the dispatched run: the one that asks for the smoke lane's label. */
  async #findJob(
    workflow: string,
    since: number,
    label: string,
    ruledOut: Set<number>,
    result: SmokeWorkflowResult,
  ): Promise<WorkflowJob | undefined> {
    const wf = this.#deps.workflows;
    const repo = this.#req.repository;
    const runs = await wf.listRuns(repo, {
      workflow,
      event: 'workflow_dispatch',
      createdSinceSec: since,
    });
    for (const run of runs) {
      if (ruledOut.has(run.id)) continue;
      const jobs = await wf.listRunJobs(repo, run.id);
      const job = jobs.find((j) => j.labels.includes(label));
      if (job !== undefined) {
        result.runId = run.id;
        result.runUrl = run.htmlUrl;
        return job;
      }
      // A run lists its jobs a moment after it is created: only a run with jobs is ruled out.
      if (jobs.length > 0) ruledOut.add(run.id);
    }
    return undefined;
  }

  /** Steps 5 and 6: the drain saga, then restart or remove. */
  async #drain(
    detail: string[],
    lane: LaneRecord,
    mode: 'restart' | 'remove',
  ): Promise<LaneRecord> {
    const req = this.#req;
    const done = await drainLane(this.#deps, {
      laneId: lane.laneId,
      mode,
      actor: req.actor,
      dryRun: false,
      force: false,
      ...(req.signal === undefined ? {} : { signal: req.signal }),
      ...(req.onProgress === undefined ? {} : { onProgress: req.onProgress }),
    });
    detail.push(...done.steps);
    if (done.lane !== undefined) this.report.lane = done.lane;
    if (!done.ok || done.lane === undefined) throw sagaError(done, mode);
    return done.lane;
  }

  /** Step 7: nothing but the smoke's own lane differs. */
  async #compare(detail: string[], before: SmokeSnapshot, lane: LaneRecord): Promise<void> {
    const after = await this.#snapshot(detail, 'after');
    const comparison = compareSnapshots(before, after, {
      laneId: lane.laneId,
      runnerName: lane.runnerName,
      runnerId: lane.runnerId,
    });
    this.report.comparison = comparison;
    if (comparison.differences.length > 0) {
      detail.push(...comparison.differences);
      throw new LaunchplaneError(
        'LP_SMOKE_FAILED',
        `${comparison.differences.length} thing(s) other than the smoke lane changed while it ran: ${comparison.differences.slice(0, 3).join('; ')}${comparison.differences.length > 3 ? '; …' : ''}`,
        {
          recovery:
            'Nothing of the smoke is left. Find out what else changed the host or GitHub (the differences are listed in the report and the audit record)',
        },
      );
    }
    detail.push('nothing but the smoke lane changed');
  }

  /**
   * After a failure: the lane, if it is still there, runs no job but its smoke's — its runner is
   * quarantined (lp-draining) — and is held as `failed` with the clean-up command, for an
   * operator to look at and remove. The planner reports it and never acts on it.
   */
  async #leaveQuarantined(cause: LaunchplaneError): Promise<void> {
    const deps = this.#deps;
    const laneId = this.report.laneId;
    let lane = laneId === undefined ? undefined : await deps.store.getLane(laneId);
    if (lane === undefined || lane.state === 'removed') {
      this.report.error = cause.toJSON();
      return;
    }
    const notes: string[] = [];
    if (lane.runnerId !== undefined) {
      try {
        notes.push(await quarantineRunner(deps, lane, lane.runnerId, this.#req.actor));
      } catch (err) {
        notes.push(
          `could not quarantine runner ${lane.runnerId} (${toLaunchplaneError(err).code})`,
        );
      }
    }
    const failedStep = this.report.steps.find((s) => !s.ok)?.name ?? 'smoke';
    const cleanup = `launchplane lane remove ${lane.laneId}`;
    const recovery = `Smoke ${this.report.smokeId} failed at "${failedStep}"; its lane is kept quarantined for inspection. Clean up with "${cleanup}"${failedStep === 'workflow' ? ' (add --force to stop a job still running on it)' : ''}`;
    lane = await moveLane(deps, lane, 'fail', {
      recovery,
      lastError: { code: cause.code, message: cause.message.slice(0, 4000), recovery },
    });
    this.report.lane = lane;
    this.report.cleanup = cleanup;
    this.report.error = { code: cause.code, message: cause.message, recovery };
    const step = this.report.steps.find((s) => !s.ok);
    step?.detail.push(...notes);
  }

  /** Closes the report and writes the smoke's own audit record. */
  async #finish(): Promise<SmokeReport> {
    const deps = this.#deps;
    const r = this.report;
    r.durationMs = deps.clock.nowMs() - r.startedAt;
    await writeAudit(deps.store, nowSec(deps.clock), {
      actor: this.#req.actor,
      action: 'smoke',
      outcome: r.dryRun ? 'dry-run' : r.ok ? 'ok' : r.outcome === 'refused' ? 'refused' : 'failed',
      hostId: r.hostId,
      laneId: r.laneId,
      dryRun: r.dryRun,
      params: {
        smokeId: r.smokeId,
        repository: r.repository,
        ...(r.backend === undefined ? {} : { backend: r.backend }),
        ...(r.image === undefined ? {} : { image: r.image }),
        ...(r.workflow === undefined ? {} : { workflow: r.workflow }),
        steps: r.steps.map((s) => `${s.name}: ${s.ok ? 'ok' : 'failed'}`),
        durationMs: r.durationMs,
        ...(r.comparison === undefined
          ? {}
          : { differences: r.comparison.differences.slice(0, 50) }),
        ...(r.cleanup === undefined ? {} : { cleanup: r.cleanup }),
      },
      code: r.error?.code,
      message: r.error?.message.slice(0, 4000),
      recovery: r.error?.recovery,
    });
    return r;
  }

  #workflowSec(): number {
    return this.#req.workflowTimeoutSec ?? this.#deps.options.smokeWorkflowSec;
  }
}

/** The smoke lane as the guardrails see it: a pool of one repository, no labels of its own. */
function smokePool(
  repository: string,
  backend: Backend,
): Parameters<typeof checkLaneGuardrails>[1]['pool'] {
  return {
    repository,
    labels: [],
    backend,
    ephemeral: false,
    runnerGroupId: 1,
    lanes: {},
  };
}

/**
 * A Docker smoke's image: one the policy's Docker pools of this repository already run — an
 * operator cannot bring an image of their own onto a host through a smoke.
 */
function dockerOf(policy: Policy, req: SmokeRequest): NonNullable<LaneCreateCommand['docker']> {
  const options = new Map<string, NonNullable<LaneCreateCommand['docker']>>();
  for (const pool of Object.values(policy.pools)) {
    if (pool.backend !== 'docker' || pool.docker === undefined) continue;
    if (pool.repository !== req.repository) continue;
    if (!options.has(pool.docker.image)) options.set(pool.docker.image, pool.docker);
  }
  if (req.image !== undefined) {
    const chosen = options.get(req.image);
    if (chosen === undefined) {
      throw new LaunchplaneError(
        'LP_FORBIDDEN',
        `Image "${req.image}" is not one a Docker pool of repository "${req.repository}" uses`,
        {
          recovery:
            options.size === 0
              ? `Add a Docker pool for "${req.repository}" to the policy first`
              : `Pass one of: ${[...options.keys()].map((i) => `--image ${i}`).join(', ')}`,
        },
      );
    }
    return chosen;
  }
  if (options.size === 0) {
    throw new LaunchplaneError(
      'LP_NOT_FOUND',
      `No Docker pool of repository "${req.repository}" names an image to smoke with`,
      {
        recovery: `Add a Docker pool for "${req.repository}" to the policy, or smoke with --backend systemd`,
      },
    );
  }
  if (options.size > 1) {
    throw new LaunchplaneError(
      'LP_USAGE',
      `The Docker pools of repository "${req.repository}" use ${options.size} images: say which to smoke`,
      { recovery: `Pass one of: ${[...options.keys()].map((i) => `--image ${i}`).join(', ')}` },
    );
  }
  return [...options.values()][0] as NonNullable<LaneCreateCommand['docker']>;
}

/** The error of a saga that did not succeed, from its report. */
function sagaError(report: ActionReport, what: string): LaunchplaneError {
  const e = report.error;
  if (e === undefined) {
    return new LaunchplaneError(
      'LP_INTERNAL',
      `The ${what} of the smoke lane ended "${report.outcome}"`,
    );
  }
  return new LaunchplaneError(
    e.code,
    e.message,
    e.recovery === undefined ? {} : { recovery: e.recovery },
  );
}

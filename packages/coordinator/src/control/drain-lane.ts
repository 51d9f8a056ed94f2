/**
 * The drain saga and the restart and remove that follow it
 * (docs/design/architecture.md "Drain, restart and remove"):
 * 1. quarantine: the runner's custom labels become identity + `lp-draining`, so no job routes;
 * 2. wait until the agent's local signal AND GitHub's `busy` both say idle, several times in a
 *    row over a settle time (GitHub lags and flips mid-job), within a deadline;
 * 3. then restart (agent restarts, labels restored, online verified) or remove (agent stops and
 *    deletes, then the registration is deleted by the recorded runner id; GitHub's 422 means
 *    "still busy": wait and retry, never force).
 * Every label write and deletion first proves, against GitHub's current view, that the runner
 * under the recorded id is still this lane's (`runner-guard.ts`); otherwise `LP_NOT_OWNED`.
 * A timeout leaves the lane quarantined in `draining`: safe, and visible. `force` skips step 2
 * and is audited as forced. Nothing is stopped before step 2 says idle, unless forced.
 *
 * A remove may be taken back (`reclaim`, a demand pool's scale-down that demand overtook) until
 * it begins step 3: the runner gets its canonical labels again, the lane is recorded online and
 * the saga ends as `reclaimed`. If the labels cannot be restored, the remove goes on.
 */
import {
  LaunchplaneError,
  drainingLabels,
  isQuarantined,
  toLaunchplaneError,
  type Command,
} from '@launchplane/shared';
import { INITIAL_SETTLE, observeIdle } from '../domain/idle-settle.js';
import type { LaneRecord } from '../ports/store.js';
import type { ActionReport } from './action-report.js';
import type { ControlDeps } from './control-deps.js';
import { findRunner } from './create-lane.js';
import { deleteLaneRunner, setLaneRunnerLabels } from './runner-guard.js';
import {
  Deadline,
  auditReport,
  errorBody,
  isGoneOnHost,
  isTransientGitHubError,
  moveLane,
  pollUntil,
  retrySaga,
  runSaga,
  sendOk,
  updateLane,
  type SagaStep,
} from './saga-support.js';

export type DrainMode = 'drain' | 'restart' | 'remove';

/** What to do with a lane. */
export interface DrainLaneRequest {
  laneId: string;
  mode: DrainMode;
  actor: string;
  dryRun: boolean;
  /** Skip the wait for idle (an operator's `--force`; a job in flight is cancelled). */
  force: boolean;
  /** Overrides the configured drain deadline, in seconds. */
  timeoutSec?: number;
  actionId?: string;
  signal?: AbortSignal;
  /** Called with a line of progress while waiting. */
  onProgress?: (line: string) => void;
  /** Called with each step's name as it begins (a dry run: as it is described). */
  onStep?: (name: string) => void;
  /**
   * Aborted to take the lane back: honoured while the saga waits for idle and right before the
   * remove (or restart) begins, never after. See the file's comment.
   */
  reclaim?: AbortSignal | undefined;
}

/** Thrown inside the saga when its lane is taken back; never leaves {@link drainLane}. */
class Reclaimed extends Error {}

/** Throws {@link Reclaimed} once the lane has been asked back. */
function checkReclaim(req: DrainLaneRequest): void {
  if (req.reclaim?.aborted === true) throw new Reclaimed();
}

/** Runs the saga. Never throws for a refusal or failure: the report says what happened. */
export async function drainLane(deps: ControlDeps, req: DrainLaneRequest): Promise<ActionReport> {
  const stored = await deps.store.getLane(req.laneId);
  const report: ActionReport = {
    kind: req.mode,
    ...(req.actionId === undefined ? {} : { actionId: req.actionId }),
    hostId: stored?.hostId ?? '',
    ...(stored === undefined ? {} : { pool: stored.pool }),
    laneId: req.laneId,
    dryRun: req.dryRun,
    forced: req.force,
    ok: false,
    outcome: 'refused',
    steps: [],
    commands: [],
  };
  const audit = () =>
    auditReport(deps, report, {
      actor: req.actor,
      params: {
        mode: req.mode,
        force: req.force,
        timeoutSec: req.timeoutSec ?? deps.options.drainSec,
        ...(report.outcome === 'reclaimed' ? { reclaimed: true } : {}),
      },
    });

  let lane: LaneRecord;
  try {
    lane = await checkLane(deps, req, stored);
  } catch (err) {
    report.error = errorBody(err);
    await audit();
    return report;
  }

  const ctx: DrainCtx = { deps, req, report, lane, deadline: undefined };
  const steps = drainSteps(req);
  const run = { dryRun: req.dryRun, report, ...(req.onStep ? { onStep: req.onStep } : {}) };
  if (req.dryRun) {
    await runSaga(steps, ctx, run);
    report.ok = true;
    report.outcome = `would-${req.mode}`;
    report.lane = lane;
    await audit();
    return report;
  }

  ctx.deadline = new Deadline(deps, (req.timeoutSec ?? deps.options.drainSec) * 1000);
  try {
    try {
      await runSaga(steps, ctx, run);
      report.outcome = DONE[req.mode];
      report.ok = true;
    } catch (err) {
      if (!(err instanceof Reclaimed)) throw err;
      if (await takeBack(ctx)) {
        report.outcome = 'reclaimed';
        report.ok = true;
      } else {
        // The labels could not be restored: the lane is still quarantined, so the saga goes on.
        ctx.req = { ...req, reclaim: undefined };
        await runSaga(
          drainSteps(req).filter((s) => s.name !== 'quarantine'),
          ctx,
          run,
        );
        report.outcome = DONE[req.mode];
        report.ok = true;
      }
    }
  } catch (err) {
    const e = toLaunchplaneError(err);
    report.outcome =
      e.code === 'LP_TIMEOUT' ? 'timeout' : e.code === 'LP_NOT_OWNED' ? 'refused' : 'failed';
    report.error = e.toJSON();
    const fresh = await deps.store.getLane(ctx.lane.laneId);
    if (fresh !== undefined) ctx.lane = fresh;
    // A failed lane stays failed (reported, never retried) until a saga on it succeeds.
    if (stored?.state === 'failed' && ctx.lane.state !== 'failed' && ctx.lane.state !== 'removed') {
      ctx.lane = await moveLane(deps, ctx.lane, 'fail');
    }
  }
  report.lane = ctx.lane;
  await audit();
  return report;
}

/** The outcome of each mode once done. */
const DONE: Record<DrainMode, string> = {
  drain: 'drained',
  restart: 'restarted',
  remove: 'removed',
};

/** What the drain saga's steps work on. */
interface DrainCtx {
  deps: ControlDeps;
  req: DrainLaneRequest;
  report: ActionReport;
  /** The lane as last stored by the saga. */
  lane: LaneRecord;
  /**
   * The deadline of the phase under way (a real run): the drain's, then the remove's. A restart or
   * remove gets a new one of the same length, so a drain that settled late leaves it time.
   */
  deadline: Deadline | undefined;
}

/** The deadline of the phase under way (one of the drain's length if none was set yet). */
function drainDeadline(c: DrainCtx): Deadline {
  return c.deadline ?? new Deadline(c.deps, (c.req.timeoutSec ?? c.deps.options.drainSec) * 1000);
}

/** The steps of a drain, and of the restart or remove after it; a dry run is this list described. */
function drainSteps(req: Pick<DrainLaneRequest, 'mode'>): SagaStep<DrainCtx>[] {
  const then = req.mode === 'restart' ? RESTART_STEPS : req.mode === 'remove' ? REMOVE_STEPS : [];
  return [...DRAIN_STEPS, ...then];
}

/** 1. quarantine, 2. wait for idle (unless forced). */
const DRAIN_STEPS: readonly SagaStep<DrainCtx>[] = [
  {
    name: 'quarantine',
    describe: ({ lane }) =>
      lane.runnerId === undefined
        ? 'no runner registered: nothing to quarantine on GitHub'
        : `set runner ${lane.runnerId}'s labels to the draining set`,
    run: async (c) => {
      c.lane = await quarantine(c.deps, c.lane, c.report, c.req.actor);
    },
  },
  {
    name: 'wait-idle',
    when: (c) => !c.req.force,
    describe: (c) =>
      `wait up to ${c.req.timeoutSec ?? c.deps.options.drainSec} s until host and GitHub both say idle`,
    sends: (c) => ({ type: 'lane.inspect', laneId: c.lane.laneId, dryRun: c.req.dryRun }),
    run: async (c) => {
      await waitIdle(c.deps, c.lane, drainDeadline(c), c.req);
      c.lane = await moveLane(c.deps, c.lane, 'drain-complete');
      c.report.steps.push('host and GitHub agree the lane is idle');
    },
  },
  {
    name: 'skip-wait',
    when: (c) => c.req.force,
    describe: () => 'skip the wait for idle (forced: a job in flight is cancelled)',
    run: (c) => {
      c.report.steps.push('forced: did not wait for idle');
    },
  },
];

/** 3a. restart, restore the canonical labels, verify online. */
const RESTART_STEPS: readonly SagaStep<DrainCtx>[] = [
  {
    name: 'restart',
    describe: (c) => `send lane.restart to host "${c.lane.hostId}"`,
    sends: (c) => ({ type: 'lane.restart', laneId: c.lane.laneId, dryRun: c.req.dryRun }),
    run: async (c) => {
      checkReclaim(c.req);
      c.lane = await restartOnHost(c, new Deadline(c.deps, drainDeadline(c).totalMs));
    },
  },
  {
    name: 'restore-labels',
    when: (c) => c.lane.runnerId !== undefined,
    describe: () => 'restore the canonical labels',
    run: async (c) => {
      if (c.lane.runnerId === undefined) return;
      await setLaneRunnerLabels(c.deps, c.lane, c.lane.runnerId, c.lane.labels, c.req.actor);
      c.report.steps.push('restored the canonical labels');
    },
  },
  {
    name: 'verify-online',
    when: (c) => c.lane.runnerId !== undefined,
    describe: () => 'verify the runner is online',
    run: async (c) => {
      c.lane = await verifyOnline(c);
    },
  },
  {
    name: 'online',
    describe: (c) => `record lane "${c.lane.laneId}" as online`,
    run: async (c) => {
      c.lane = await moveLane(c.deps, c.lane, 'came-online', {
        recovery: undefined,
        lastError: undefined,
      });
    },
  },
];

/** 3b. the agent stops and deletes the lane, then the registration goes, by its id. */
const REMOVE_STEPS: readonly SagaStep<DrainCtx>[] = [
  {
    name: 'remove',
    describe: (c) => `send lane.remove to host "${c.lane.hostId}"`,
    sends: (c) => removeCommand(c),
    run: async (c) => {
      checkReclaim(c.req);
      // The remove gets its own deadline: a drain that settled late must not leave it none.
      c.deadline = new Deadline(c.deps, drainDeadline(c).totalMs);
      c.lane = await removeOnHost(c, c.deadline);
    },
  },
  {
    name: 'find-runner',
    when: (c) => c.lane.runnerId === undefined,
    describe: (c) =>
      `look on GitHub for runner "${c.lane.runnerName}" by its name and this lane's labels`,
    run: async (c) => {
      // A persistent lane whose create was cut short may have registered (config.sh) before its
      // runner id was recorded: find it by its unique name and this lane's identity labels, so
      // the registration is not left behind.
      const found = await findRunner(c.deps, c.lane).catch(() => undefined);
      if (found === undefined) return;
      c.report.steps.push(`found runner ${found.id} by its name and this lane's labels`);
      c.lane = await updateLane(c.deps, c.lane, { runnerId: found.id });
    },
  },
  {
    name: 'delete-runner',
    describe: ({ lane }) =>
      lane.runnerId === undefined
        ? 'delete the runner found, if any (retrying while GitHub says busy)'
        : `delete GitHub runner ${lane.runnerId} (retrying while GitHub says busy)`,
    run: async (c) => {
      if (c.lane.runnerId !== undefined) c.lane = await deleteRegistration(c, c.lane.runnerId);
    },
  },
  {
    name: 'removed',
    describe: (c) => `record lane "${c.lane.laneId}" as removed`,
    run: async (c) => {
      c.lane = await moveLane(c.deps, c.lane, 'stop-complete', { recovery: undefined });
    },
  },
];

function removeCommand(c: DrainCtx): Command {
  return { type: 'lane.remove', laneId: c.lane.laneId, dryRun: c.req.dryRun, force: c.req.force };
}

/**
 * The refusals of a lane action, checked without side effects or audit (so an API can refuse
 * before it starts the saga in the background). Throws the refusal.
 */
export async function precheckLaneAction(
  deps: ControlDeps,
  req: Pick<DrainLaneRequest, 'laneId' | 'mode'>,
): Promise<LaneRecord> {
  return checkLane(deps, req, await deps.store.getLane(req.laneId));
}

/** The refusals before anything is touched. */
async function checkLane(
  deps: ControlDeps,
  req: Pick<DrainLaneRequest, 'laneId' | 'mode'>,
  lane: LaneRecord | undefined,
): Promise<LaneRecord> {
  if (lane === undefined || lane.state === 'removed') {
    throw new LaunchplaneError(
      'LP_NOT_FOUND',
      `Cannot ${req.mode} lane "${req.laneId}": no such lane`,
      {
        recovery: 'Run "launchplane lanes" to list lanes',
      },
    );
  }
  if (req.mode === 'restart' && lane.ephemeral) {
    throw new LaunchplaneError(
      'LP_CONFLICT',
      `Cannot restart lane "${lane.laneId}": an ephemeral lane's JIT config runs once`,
      { recovery: `Run "launchplane lane remove ${lane.laneId}"; the next apply replaces it` },
    );
  }
  const host = await deps.store.getHost(lane.hostId);
  if (host?.revokedAt !== undefined) {
    throw new LaunchplaneError(
      'LP_HOST_REVOKED',
      `Cannot ${req.mode} lane "${lane.laneId}": host "${lane.hostId}" was revoked`,
      {
        recovery: `On the host, run "launchplane-agent lane remove ${lane.laneId} --local"`,
      },
    );
  }
  if (deps.hub.session(lane.hostId) === undefined) {
    throw new LaunchplaneError(
      'LP_HOST_OFFLINE',
      `Cannot ${req.mode} lane "${lane.laneId}": host "${lane.hostId}" has no live agent session`,
      {
        recovery: `Bring the agent on "${lane.hostId}" back online, or on the host run "launchplane-agent lane remove ${lane.laneId} --local"`,
      },
    );
  }
  return lane;
}

/** Step 1: only identity labels and `lp-draining` stay, so GitHub routes no new job here. */
async function quarantine(
  deps: ControlDeps,
  lane: LaneRecord,
  report: ActionReport,
  actor: string,
): Promise<LaneRecord> {
  if (lane.runnerId === undefined) {
    report.steps.push('no runner registered: nothing to quarantine on GitHub');
  } else {
    report.steps.push(await quarantineRunner(deps, lane, lane.runnerId, actor));
  }
  if (isQuarantined(lane.state) || lane.state === 'failed') return lane;
  return moveLane(deps, lane, 'drain');
}

/**
 * Sets the lane's runner to its identity labels and `lp-draining` (ownership proven first), so
 * GitHub routes no job to it; says what it did. A runner GitHub no longer has (an ephemeral one
 * after its job) has nothing left to route to.
 */
export async function quarantineRunner(
  deps: ControlDeps,
  lane: LaneRecord,
  runnerId: number,
  actor: string,
): Promise<string> {
  try {
    await setLaneRunnerLabels(
      deps,
      lane,
      runnerId,
      drainingLabels(deps.coordinatorId, lane.laneId),
      actor,
    );
    return `quarantined runner ${runnerId} (lp-draining)`;
  } catch (err) {
    if (toLaunchplaneError(err).code !== 'LP_NOT_FOUND') throw err;
    return `runner ${runnerId} is no longer on GitHub`;
  }
}

type Signal = 'busy' | 'idle' | 'gone';

/** Step 2: both sides idle, `settleObservations` times in a row over `settleSec`. */
async function waitIdle(
  deps: ControlDeps,
  lane: LaneRecord,
  deadline: Deadline,
  req: DrainLaneRequest,
): Promise<void> {
  const rule = {
    observations: deps.options.settleObservations,
    settleMs: deps.options.settleSec * 1000,
  };
  let settle = INITIAL_SETTLE;
  const wake = anySignal(req.signal, req.reclaim);
  for (;;) {
    checkReclaim(req);
    const local = await localSignal(deps, lane, req.actor);
    const github = await githubSignal(deps, lane);
    const step = observeIdle(
      settle,
      { at: deps.clock.nowMs(), localBusy: local === 'busy', githubBusy: github === 'busy' },
      rule,
    );
    settle = step.state;
    req.onProgress?.(
      `lane ${lane.laneId}: host ${local}, GitHub ${github}, idle ${settle.idleCount}/${rule.observations}`,
    );
    if (step.settled) return;
    if (deadline.passed()) {
      throw new LaunchplaneError(
        'LP_TIMEOUT',
        `Lane "${lane.laneId}" was still busy when the drain deadline passed (host ${local}, GitHub ${github})`,
        {
          recovery: `The lane stays quarantined (lp-draining) and runs no new job. Run the command again to keep waiting, or pass --force to stop it mid-job`,
        },
      );
    }
    try {
      await deadline.sleep(deps.options.drainPollSec * 1000, wake);
    } catch (err) {
      checkReclaim(req);
      throw err;
    }
  }
}

/** A signal that aborts when any of the given ones does (undefined when none is given). */
function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  return given.length <= 1 ? given[0] : AbortSignal.any(given);
}

/**
 * The lane was asked back before its remove began: its runner gets the canonical labels again
 * (ownership proven first) and the lane is recorded online. False when the labels could not be
 * restored; the lane is then still quarantined.
 */
async function takeBack(c: DrainCtx): Promise<boolean> {
  const { deps, req, report } = c;
  const fresh = (await deps.store.getLane(c.lane.laneId)) ?? c.lane;
  c.lane = fresh;
  if (fresh.runnerId === undefined || !isQuarantined(fresh.state)) return false;
  try {
    await setLaneRunnerLabels(deps, fresh, fresh.runnerId, fresh.labels, req.actor);
  } catch (err) {
    const e = toLaunchplaneError(err);
    report.steps.push(
      `taken back, but the canonical labels could not be restored (${e.code}): the ${req.mode} goes on`,
    );
    return false;
  }
  report.steps.push(
    `taken back before its ${req.mode} began: restored runner ${fresh.runnerId}'s canonical labels`,
  );
  c.lane = await moveLane(deps, fresh, 'undrain', { recovery: undefined, lastError: undefined });
  return true;
}

/** The agent's local busy signal. Anything but a clear "not busy" counts as busy. */
async function localSignal(deps: ControlDeps, lane: LaneRecord, actor: string): Promise<Signal> {
  try {
    const result = await sendOk(
      deps,
      lane.hostId,
      { type: 'lane.inspect', laneId: lane.laneId, dryRun: false },
      actor,
    );
    const reported = result.lane;
    if (reported === undefined) return 'busy';
    if (reported.state === 'busy' || reported.local?.busy !== false) return 'busy';
    return 'idle';
  } catch (err) {
    return isGoneOnHost(err) ? 'gone' : 'busy';
  }
}

/** GitHub's busy flag. A runner GitHub no longer has runs no job; an error counts as busy. */
async function githubSignal(deps: ControlDeps, lane: LaneRecord): Promise<Signal> {
  if (lane.runnerId === undefined) return 'gone';
  try {
    const runner = await deps.github.getRunner(lane.scope, lane.runnerId);
    if (runner === undefined) return 'gone';
    return runner.busy ? 'busy' : 'idle';
  } catch {
    return 'busy';
  }
}

/**
 * Sends `lane.restart`. The agent's own check may see a job (one GitHub handed out just before the
 * quarantine): it is waited for like the drain did, never forced.
 */
async function restartOnHost(c: DrainCtx, busyDeadline: Deadline): Promise<LaneRecord> {
  const { deps, req } = c;
  const lane = await moveLane(deps, c.lane, 'restart');
  const cmd: Command = { type: 'lane.restart', laneId: lane.laneId, dryRun: false };
  await retrySaga(deps, busyDeadline, () => sendOk(deps, lane.hostId, cmd, req.actor), {
    retryIf: (err) => hostSaysBusy(c, lane, err, busyDeadline),
    giveUp: async (err) => {
      await moveLane(deps, lane, 'restart-refused');
      throw err;
    },
    signal: req.signal,
  });
  c.report.steps.push(`host "${lane.hostId}" restarted the lane`);
  return lane;
}

/** Whether the host refused with LP_LANE_BUSY; says so while there is time left to wait. */
function hostSaysBusy(c: DrainCtx, lane: LaneRecord, err: unknown, deadline: Deadline): boolean {
  if (toLaunchplaneError(err).code !== 'LP_LANE_BUSY') return false;
  if (!deadline.passed()) c.req.onProgress?.(`lane ${lane.laneId}: host says busy, waiting`);
  return true;
}

/** Polls GitHub until the restarted lane's runner is online; past the deadline, `unhealthy`. */
async function verifyOnline(c: DrainCtx): Promise<LaneRecord> {
  const { deps, lane } = c;
  const runnerId = lane.runnerId;
  if (runnerId === undefined) return lane;
  const deadline = new Deadline(deps, deps.options.createOnlineSec * 1000);
  const online = await pollUntil(
    deps,
    deadline,
    async () => {
      const runner = await deps.github.getRunner(lane.scope, runnerId);
      return runner?.status === 'online' ? runner : undefined;
    },
    c.req.signal,
  );
  if (online === undefined) {
    const recovery = `Check the lane on host "${lane.hostId}" ("launchplane-agent status"), then run "launchplane lane restart ${lane.laneId}" or "launchplane lane remove ${lane.laneId}"`;
    c.lane = await moveLane(deps, lane, 'became-unhealthy', {
      recovery,
      lastError: {
        code: 'LP_TIMEOUT',
        message: 'Runner did not come back online after restart',
        recovery,
      },
    });
    throw new LaunchplaneError(
      'LP_TIMEOUT',
      `Lane "${lane.laneId}" did not come back online within ${deps.options.createOnlineSec} s of its restart`,
      { recovery },
    );
  }
  c.report.steps.push(`runner ${runnerId} is online`);
  return lane;
}

/**
 * Sends `lane.remove`, waiting while the host says a job runs. Any other refusal, or no answer,
 * holds the lane `failed` with a hint: the registration is deleted only after the host's part.
 */
async function removeOnHost(c: DrainCtx, deadline: Deadline): Promise<LaneRecord> {
  const { deps, req, report } = c;
  const lane = await moveLane(deps, c.lane, 'stop');
  const cmd = removeCommand({ ...c, req: { ...req, dryRun: false } });
  const outcome = await retrySaga(
    deps,
    deadline,
    () =>
      sendOk(deps, lane.hostId, cmd, req.actor).then(
        () => 'removed' as const,
        (err: unknown) => {
          if (isGoneOnHost(err)) return 'gone' as const;
          throw err;
        },
      ),
    {
      retryIf: (err) => hostSaysBusy(c, lane, err, deadline),
      giveUp: async (err) => {
        const e = toLaunchplaneError(err);
        if (e.code === 'LP_LANE_BUSY') throw err;
        // Cut off (no answer), the host may have removed the lane and will say so once it is
        // back; refused, it changed nothing. Either way the registration is deleted only after
        // the host's part is done, so the lane is held as `failed` — which an agent's later
        // `removed` does not overrule — and stays listed with its hint until a remove runs to
        // the end.
        const registration =
          lane.runnerId === undefined
            ? 'its GitHub registration, if any, is kept'
            : `GitHub runner ${lane.runnerId} stays registered`;
        const unknownOutcome = e.code === 'LP_HOST_OFFLINE' || e.code === 'LP_TIMEOUT';
        const recovery = unknownOutcome
          ? `The host may or may not have removed the lane; ${registration} until the remove finishes. Once host "${lane.hostId}" is connected, run "launchplane lane remove ${lane.laneId}" again`
          : `Host "${lane.hostId}" refused to remove the lane (${e.code}${e.recovery === undefined ? '' : `: ${e.recovery}`}); ${registration}. Fix that, then run "launchplane lane remove ${lane.laneId}" again`;
        c.lane = await moveLane(deps, lane, 'fail', {
          recovery,
          lastError: { code: e.code, message: e.message, recovery },
        });
        throw new LaunchplaneError(e.code, e.message, { details: e.details, recovery });
      },
      signal: req.signal,
    },
  );
  report.steps.push(
    outcome === 'removed'
      ? `host "${lane.hostId}" removed the lane`
      : `host "${lane.hostId}" has no such lane any more`,
  );
  return lane;
}

/**
 * Deletes the lane's registration by its id (ownership proven first), retrying while GitHub says
 * the runner is busy or GitHub is unavailable; anything else, or the deadline, holds the lane
 * `failed` with a hint.
 */
async function deleteRegistration(c: DrainCtx, runnerId: number): Promise<LaneRecord> {
  const { deps, req, report } = c;
  const deadline = drainDeadline(c);
  const lane = c.lane;
  const done = await retrySaga(
    deps,
    deadline,
    () =>
      deleteLaneRunner(deps, lane, runnerId, req.actor).catch((err: unknown) => {
        if (toLaunchplaneError(err).code === 'LP_NOT_FOUND') return 'gone' as const;
        throw err;
      }),
    {
      retryIf: (err) => {
        const e = toLaunchplaneError(err);
        const retry = e.code === 'LP_LANE_BUSY' || isTransientGitHubError(e);
        if (retry && !deadline.passed()) {
          req.onProgress?.(`lane ${lane.laneId}: GitHub says runner ${runnerId} is busy, waiting`);
        }
        return retry;
      },
      giveUp: async (err) => {
        const e = toLaunchplaneError(err);
        if (e.code === 'LP_NOT_OWNED') {
          report.steps.push(`refused to delete runner ${runnerId}: not provably this lane's`);
          c.lane = await moveLane(deps, lane, 'fail', {
            recovery: e.recovery,
            lastError: e.toJSON(),
          });
          throw e;
        }
        const recovery = `GitHub runner ${runnerId} is still registered (${e.code}). Run "launchplane lane remove ${lane.laneId}" again once it is idle`;
        c.lane = await moveLane(deps, lane, 'fail', {
          recovery,
          lastError: { code: e.code, message: e.message, recovery },
        });
        throw new LaunchplaneError(
          e.code === 'LP_LANE_BUSY' ? 'LP_TIMEOUT' : e.code,
          `Cannot delete GitHub runner ${runnerId} of lane "${lane.laneId}": ${e.message}`,
          { recovery },
        );
      },
      signal: req.signal,
    },
  );
  report.steps.push(
    done === 'deleted'
      ? `deleted GitHub runner ${runnerId}`
      : `GitHub runner ${runnerId} was already gone`,
  );
  return lane;
}

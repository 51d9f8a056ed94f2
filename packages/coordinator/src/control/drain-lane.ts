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
 */
import {
  LaunchplaneError,
  drainingLabels,
  toLaunchplaneError,
  type Command,
} from '@launchplane/shared';
import { INITIAL_SETTLE, observeIdle, pollDelayMs } from '../domain/idle-settle.js';
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
  sendOk,
  setState,
  updateLane,
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

  const finalCmd: Command =
    req.mode === 'remove'
      ? { type: 'lane.remove', laneId: lane.laneId, dryRun: req.dryRun, force: req.force }
      : { type: 'lane.restart', laneId: lane.laneId, dryRun: req.dryRun };
  if (req.dryRun) {
    report.steps.push(
      lane.runnerId === undefined
        ? 'no runner registered: nothing to quarantine on GitHub'
        : `set runner ${lane.runnerId}'s labels to the draining set`,
      req.force
        ? 'skip the wait for idle (forced: a job in flight is cancelled)'
        : `wait up to ${req.timeoutSec ?? deps.options.drainSec} s until host and GitHub both say idle`,
    );
    if (!req.force)
      report.commands.push({ type: 'lane.inspect', laneId: lane.laneId, dryRun: true });
    if (req.mode !== 'drain') {
      report.commands.push(finalCmd);
      report.steps.push(...finalSteps(req.mode, lane));
    }
    report.ok = true;
    report.outcome = `would-${req.mode}`;
    report.lane = lane;
    await audit();
    return report;
  }

  const deadline = new Deadline(deps, (req.timeoutSec ?? deps.options.drainSec) * 1000);
  try {
    lane = await quarantine(deps, lane, report, req.actor);
    if (req.force) {
      report.steps.push('forced: did not wait for idle');
    } else {
      await waitIdle(deps, lane, deadline, report, req);
      lane = await setState(deps, lane, 'drained');
      report.steps.push('host and GitHub agree the lane is idle');
    }
    switch (req.mode) {
      case 'drain':
        report.outcome = 'drained';
        break;
      case 'restart':
        lane = await restart(deps, lane, report, req, new Deadline(deps, deadline.totalMs));
        report.outcome = 'restarted';
        break;
      case 'remove':
        // The remove gets its own deadline: a drain that settled late must not leave it none.
        lane = await remove(deps, lane, report, req, new Deadline(deps, deadline.totalMs));
        report.outcome = 'removed';
        break;
    }
    report.ok = true;
  } catch (err) {
    const e = toLaunchplaneError(err);
    report.outcome =
      e.code === 'LP_TIMEOUT' ? 'timeout' : e.code === 'LP_NOT_OWNED' ? 'refused' : 'failed';
    report.error = e.toJSON();
    const fresh = await deps.store.getLane(lane.laneId);
    if (fresh !== undefined) lane = fresh;
    // A failed lane stays failed (reported, never retried) until a saga on it succeeds.
    if (stored?.state === 'failed' && lane.state !== 'failed' && lane.state !== 'removed') {
      lane = await updateLane(deps, lane, { state: 'failed' });
    }
  }
  report.lane = lane;
  await audit();
  return report;
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
  if (lane.state === 'draining' || lane.state === 'drained' || lane.state === 'failed') return lane;
  return setState(deps, lane, 'draining');
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
  report: ActionReport,
  req: DrainLaneRequest,
): Promise<void> {
  const rule = {
    observations: deps.options.settleObservations,
    settleMs: deps.options.settleSec * 1000,
  };
  let settle = INITIAL_SETTLE;
  let inspected = false;
  for (;;) {
    const local = await localSignal(deps, lane, req.actor);
    if (!inspected) {
      report.commands.push({ type: 'lane.inspect', laneId: lane.laneId, dryRun: false });
      inspected = true;
    }
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
    await deadline.sleep(deps.options.drainPollSec * 1000, req.signal);
  }
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

function finalSteps(mode: 'restart' | 'remove', lane: LaneRecord): string[] {
  return mode === 'restart'
    ? [
        `send lane.restart to host "${lane.hostId}"`,
        'restore the canonical labels',
        'verify the runner is online',
      ]
    : [
        `send lane.remove to host "${lane.hostId}"`,
        lane.runnerId === undefined
          ? 'no runner registration to delete'
          : `delete GitHub runner ${lane.runnerId} (retrying while GitHub says busy)`,
      ];
}

/** Step 3a: restart, restore the canonical labels, verify online. */
async function restart(
  deps: ControlDeps,
  laneIn: LaneRecord,
  report: ActionReport,
  req: DrainLaneRequest,
  busyDeadline: Deadline,
): Promise<LaneRecord> {
  const signal = req.signal;
  let lane = await setState(deps, laneIn, 'restarting');
  const cmd: Command = { type: 'lane.restart', laneId: lane.laneId, dryRun: false };
  report.commands.push(cmd);
  for (let attempt = 0; ; attempt++) {
    try {
      await sendOk(deps, lane.hostId, cmd, req.actor);
      break;
    } catch (err) {
      // The agent's own check saw a job (one GitHub handed out just before the quarantine):
      // wait for it like the drain did, never force.
      if (toLaunchplaneError(err).code !== 'LP_LANE_BUSY' || busyDeadline.passed()) {
        await setState(deps, lane, 'drained');
        throw err;
      }
      req.onProgress?.(`lane ${lane.laneId}: host says busy, waiting`);
      await busyDeadline.sleep(
        pollDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs }),
        signal,
      );
    }
  }
  report.steps.push(`host "${lane.hostId}" restarted the lane`);
  if (lane.runnerId !== undefined) {
    await setLaneRunnerLabels(deps, lane, lane.runnerId, lane.labels, req.actor);
    report.steps.push('restored the canonical labels');
    const deadline = new Deadline(deps, deps.options.createOnlineSec * 1000);
    for (let attempt = 0; ; attempt++) {
      try {
        const runner = await deps.github.getRunner(lane.scope, lane.runnerId);
        if (runner?.status === 'online') break;
      } catch (err) {
        if (!isTransientGitHubError(err)) throw err;
      }
      if (deadline.passed()) {
        const recovery = `Check the lane on host "${lane.hostId}" ("launchplane-agent status"), then run "launchplane lane restart ${lane.laneId}" or "launchplane lane remove ${lane.laneId}"`;
        lane = await updateLane(deps, lane, {
          state: 'unhealthy',
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
      await deadline.sleep(
        pollDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs }),
        signal,
      );
    }
    report.steps.push(`runner ${lane.runnerId} is online`);
  }
  return updateLane(deps, lane, { state: 'online', recovery: undefined, lastError: undefined });
}

/** Step 3b: the agent stops and deletes the lane, then the registration goes, by its id. */
async function remove(
  deps: ControlDeps,
  laneIn: LaneRecord,
  report: ActionReport,
  req: DrainLaneRequest,
  deadline: Deadline,
): Promise<LaneRecord> {
  let lane = await setState(deps, laneIn, 'stopping');
  const cmd: Command = {
    type: 'lane.remove',
    laneId: lane.laneId,
    dryRun: false,
    force: req.force,
  };
  report.commands.push(cmd);
  for (let attempt = 0; ; attempt++) {
    try {
      await sendOk(deps, lane.hostId, cmd, req.actor);
      report.steps.push(`host "${lane.hostId}" removed the lane`);
      break;
    } catch (err) {
      if (isGoneOnHost(err)) {
        report.steps.push(`host "${lane.hostId}" has no such lane any more`);
        break;
      }
      const e = toLaunchplaneError(err);
      if (e.code !== 'LP_LANE_BUSY') {
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
        lane = await updateLane(deps, lane, {
          state: 'failed',
          recovery,
          lastError: { code: e.code, message: e.message, recovery },
        });
        throw new LaunchplaneError(e.code, e.message, { details: e.details, recovery });
      }
      if (deadline.passed()) throw err;
      req.onProgress?.(`lane ${lane.laneId}: host says busy, waiting`);
      await deadline.sleep(
        pollDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs }),
        req.signal,
      );
    }
  }
  if (lane.runnerId === undefined) {
    // A persistent lane whose create was cut short may have registered (config.sh) before its
    // runner id was recorded: find it by its unique name and this lane's identity labels, so the
    // registration is not left behind.
    const found = await findRunner(deps, lane).catch(() => undefined);
    if (found !== undefined) {
      report.steps.push(`found runner ${found.id} by its name and this lane's labels`);
      lane = await updateLane(deps, lane, { runnerId: found.id });
    }
  }
  if (lane.runnerId !== undefined) {
    for (let attempt = 0; ; attempt++) {
      try {
        const done = await deleteLaneRunner(deps, lane, lane.runnerId, req.actor);
        report.steps.push(
          done === 'deleted'
            ? `deleted GitHub runner ${lane.runnerId}`
            : `GitHub runner ${lane.runnerId} was already gone`,
        );
        break;
      } catch (err) {
        const e = toLaunchplaneError(err);
        if (e.code === 'LP_NOT_FOUND') {
          report.steps.push(`GitHub runner ${lane.runnerId} was already gone`);
          break;
        }
        if (e.code === 'LP_NOT_OWNED') {
          report.steps.push(`refused to delete runner ${lane.runnerId}: not provably this lane's`);
          lane = await updateLane(deps, lane, {
            state: 'failed',
            recovery: e.recovery,
            lastError: e.toJSON(),
          });
          throw e;
        }
        const retry = e.code === 'LP_LANE_BUSY' || isTransientGitHubError(e);
        if (!retry || deadline.passed()) {
          const recovery = `GitHub runner ${lane.runnerId} is still registered (${e.code}). Run "launchplane lane remove ${lane.laneId}" again once it is idle`;
          lane = await updateLane(deps, lane, {
            state: 'failed',
            recovery,
            lastError: { code: e.code, message: e.message, recovery },
          });
          throw new LaunchplaneError(
            e.code === 'LP_LANE_BUSY' ? 'LP_TIMEOUT' : e.code,
            `Cannot delete GitHub runner ${lane.runnerId} of lane "${lane.laneId}": ${e.message}`,
            { recovery },
          );
        }
        req.onProgress?.(
          `lane ${lane.laneId}: GitHub says runner ${lane.runnerId} is busy, waiting`,
        );
        await deadline.sleep(
          pollDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs }),
          req.signal,
        );
      }
    }
  }
  return updateLane(deps, lane, { state: 'removed', recovery: undefined });
}

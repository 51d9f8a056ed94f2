/**
 * The label repair saga: a lane's custom labels drifted on GitHub (someone edited them, or a
 * drain was interrupted), so they are set back to the lane's canonical set — or, while it
 * drains, to the draining set. Ownership is proven again right before the write.
 */
import { LaunchplaneError, drainingLabels, isQuarantined } from '@launchplane/shared';
import type { ActionReport } from './action-report.js';
import type { ControlDeps } from './control-deps.js';
import { provenRunner } from './runner-guard.js';
import { auditReport, errorBody } from './saga-support.js';

export interface RepairLabelsRequest {
  laneId: string;
  actor: string;
  dryRun: boolean;
  actionId?: string;
}

/** Runs the saga. Never throws for a refusal or failure: the report says what happened. */
export async function repairLabels(
  deps: ControlDeps,
  req: RepairLabelsRequest,
): Promise<ActionReport> {
  const lane = await deps.store.getLane(req.laneId);
  const report: ActionReport = {
    kind: 'repair-labels',
    ...(req.actionId === undefined ? {} : { actionId: req.actionId }),
    hostId: lane?.hostId ?? '',
    ...(lane === undefined ? {} : { pool: lane.pool }),
    laneId: req.laneId,
    dryRun: req.dryRun,
    forced: false,
    ok: false,
    outcome: 'refused',
    steps: [],
    commands: [],
  };
  try {
    if (lane === undefined || lane.state === 'removed' || lane.runnerId === undefined) {
      throw new LaunchplaneError(
        'LP_NOT_FOUND',
        `Cannot repair the labels of lane "${req.laneId}": no such lane with a registered runner`,
      );
    }
    // Proven against GitHub's current view right before the write (and on a dry run too, so it
    // reports the refusal the real run would meet).
    const runner = await provenRunner(deps, lane, lane.runnerId, 'set-labels', req.actor, {
      dryRun: req.dryRun,
    });
    if (runner === undefined) {
      throw new LaunchplaneError(
        'LP_NOT_FOUND',
        `Cannot repair the labels of lane "${lane.laneId}": runner ${lane.runnerId} is not on GitHub`,
      );
    }
    const draining = isQuarantined(lane.state);
    const labels = draining ? drainingLabels(deps.coordinatorId, lane.laneId) : lane.labels;
    report.steps.push(
      `${req.dryRun ? 'set' : 'setting'} runner ${lane.runnerId}'s custom labels to the ${draining ? 'draining' : 'canonical'} set: ${labels.join(',')}`,
    );
    if (!req.dryRun) await deps.github.setCustomLabels(lane.scope, runner.id, labels);
    report.ok = true;
    report.outcome = req.dryRun ? 'would-repair-labels' : 'repaired';
    report.lane = lane;
  } catch (err) {
    const code = errorBody(err).code;
    report.outcome = lane === undefined || code === 'LP_NOT_OWNED' ? 'refused' : 'failed';
    report.error = errorBody(err);
  }
  await auditReport(deps, report, { actor: req.actor });
  return report;
}

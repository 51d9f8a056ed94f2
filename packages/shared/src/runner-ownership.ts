/**
 * The classifier that decides whether a GitHub runner is one of ours. Labels alone prove nothing:
 * a runner is ours only when it carries `launchplane`, our `lp-ctl-*` label and exactly one
 * `lp-lane-<id>` label whose lane we recorded with the same runner id (DESIGN.md).
 */
import { LABEL_LAUNCHPLANE, coordinatorLabel, isLaneId, parseLaneLabels } from './names.js';

/** The GitHub side of a runner, as far as ownership goes. */
export interface RunnerIdentity {
  id: number;
  name: string;
  labels: readonly string[];
}

/** What the ledger knows of a lane: the runner id it recorded, if any. */
export interface LedgerLane {
  laneId: string;
  runnerId: number | undefined;
}

/** Why a runner is not ours. Stable strings: they appear in plans and CLI output. */
export type NotOursReason =
  | 'no-launchplane-label'
  | 'other-coordinator'
  | 'no-lane-label'
  | 'several-lane-labels'
  | 'lane-not-in-ledger'
  | 'runner-id-not-recorded'
  | 'runner-id-mismatch';

export type RunnerClassification =
  { ours: true; laneId: string } | { ours: false; reason: NotOursReason; message: string };

/**
 * Classifies a runner. `findLane` looks a lane id up in the ledger (the coordinator's record of
 * lanes, or an agent's own).
 */
export function classifyRunner(
  runner: RunnerIdentity,
  opts: { coordinatorId: string; findLane: (laneId: string) => LedgerLane | undefined },
): RunnerClassification {
  const parsed = parseLaneLabels(runner.labels);
  if (!runner.labels.includes(LABEL_LAUNCHPLANE)) {
    return notOurs('no-launchplane-label', `Runner "${runner.name}" has no "launchplane" label`);
  }
  if (!runner.labels.includes(coordinatorLabel(opts.coordinatorId))) {
    return notOurs(
      'other-coordinator',
      `Runner "${runner.name}" does not carry this coordinator's label "${coordinatorLabel(opts.coordinatorId)}"`,
    );
  }
  const laneIds = parsed.laneIds.filter(isLaneId);
  if (laneIds.length === 0) {
    return notOurs('no-lane-label', `Runner "${runner.name}" has no valid "lp-lane-*" label`);
  }
  if (laneIds.length > 1 || parsed.laneIds.length > 1) {
    return notOurs('several-lane-labels', `Runner "${runner.name}" carries several lane labels`);
  }
  const laneId = laneIds[0] as string;
  const lane = opts.findLane(laneId);
  if (lane === undefined || lane.laneId !== laneId) {
    return notOurs(
      'lane-not-in-ledger',
      `Runner "${runner.name}" names lane "${laneId}", which is not in the ledger`,
    );
  }
  if (lane.runnerId === undefined) {
    return notOurs(
      'runner-id-not-recorded',
      `Runner "${runner.name}" names lane "${laneId}", whose runner id is not recorded yet`,
    );
  }
  if (lane.runnerId !== runner.id) {
    return notOurs(
      'runner-id-mismatch',
      `Runner "${runner.name}" (id ${runner.id}) names lane "${laneId}", recorded with runner id ${lane.runnerId}`,
    );
  }
  return { ours: true, laneId };
}

function notOurs(reason: NotOursReason, message: string): RunnerClassification {
  return { ours: false, reason, message };
}

/**
 * The classifier that decides whether a GitHub runner is one of ours. Labels alone prove nothing:
 * a runner is ours only when it carries `launchplane`, our `lp-ctl-*` label and exactly one
 * `lp-lane-<id>` label whose lane we recorded with the same runner id
 * (docs/design/architecture.md "Ownership").
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
  | 'runner-id-mismatch'
  | 'name-mismatch';

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

/** The identity a lane's runner must show on GitHub: its unique name and its identity labels. */
export interface LaneRunnerIdentity {
  coordinatorId: string;
  laneId: string;
  /** The lane's canonical runner name (`runnerName()`), recorded when the lane was made. */
  runnerName: string;
}

/**
 * Whether a runner GitHub lists is the registration of this lane by what GitHub itself shows:
 * the lane's unique name, `launchplane`, this coordinator's `lp-ctl-*` label and this lane's
 * `lp-lane-<id>` label as its only lane label. What a host says about a runner counts for
 * nothing here. Returns why not, or undefined when it matches.
 */
export function laneIdentityMismatch(
  runner: RunnerIdentity,
  lane: LaneRunnerIdentity,
): { reason: NotOursReason; message: string } | undefined {
  if (runner.name !== lane.runnerName) {
    return {
      reason: 'name-mismatch',
      message: `Runner ${runner.id} is named "${runner.name}", not lane "${lane.laneId}"'s "${lane.runnerName}"`,
    };
  }
  const c = classifyRunner(runner, {
    coordinatorId: lane.coordinatorId,
    // Only the identity labels are judged here; the runner id is checked by the caller.
    findLane: (id) => (id === lane.laneId ? { laneId: id, runnerId: runner.id } : undefined),
  });
  if (c.ours) return undefined;
  return { reason: c.reason, message: c.message };
}

/**
 * The check made immediately before Launchplane writes a runner's labels or deletes it: the
 * runner GitHub shows right now under the recorded id must still carry the lane's name and
 * identity labels. Returns why it does not, or undefined when it does.
 */
export function recordedRunnerMismatch(
  runner: RunnerIdentity,
  lane: LaneRunnerIdentity & { runnerId: number },
): { reason: NotOursReason; message: string } | undefined {
  if (runner.id !== lane.runnerId) {
    return {
      reason: 'runner-id-mismatch',
      message: `GitHub answered with runner ${runner.id} for lane "${lane.laneId}"'s recorded runner ${lane.runnerId}`,
    };
  }
  return laneIdentityMismatch(runner, lane);
}

function notOurs(reason: NotOursReason, message: string): RunnerClassification {
  return { ours: false, reason, message };
}

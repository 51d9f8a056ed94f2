/**
 * Ownership, proven against GitHub at the moment it matters. Every label write and every deletion
 * of a runner goes through here: immediately before it, the runner GitHub shows under the lane's
 * recorded id must still carry the lane's unique name, `launchplane`, this coordinator's label and
 * this lane's label. A mismatch is refused with `LP_NOT_OWNED` and audited; nothing is written.
 * Runner ids themselves only ever come from GitHub's answers to the coordinator (a JIT response,
 * or a registration found by name and identity labels), never from what a host reports.
 */
import {
  LaunchplaneError,
  laneIdentityMismatch,
  recordedRunnerMismatch,
} from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import { writeAudit } from '../audit/audit-writer.js';
import { nowSec } from '@launchplane/shared';
import type { ControlDeps } from './control-deps.js';

/** What is about to be done to the runner, for the refusal's message and audit. */
export type RunnerWrite = 'set-labels' | 'delete';

/**
 * The lane's registration on GitHub, found by the lane's unique name and identity labels — how a
 * persistent lane's runner id becomes known, since `config.sh` registers it on the host. Two
 * matches are not something to guess about: undefined.
 */
export async function findLaneRunnerByName(
  deps: ControlDeps,
  lane: LaneRecord,
): Promise<GitHubRunner | undefined> {
  const all = await deps.github.listRunners(lane.scope);
  const ours = all.filter((r) => laneIdentityMismatch(r, identityOf(deps, lane)) === undefined);
  return ours.length === 1 ? ours[0] : undefined;
}

/**
 * Reads runner `runnerId` from GitHub now and proves it is still lane `lane`'s. Returns it, or
 * undefined when GitHub has no such runner any more. Throws `LP_NOT_OWNED` (audited as
 * `runner.ownership`, refused) when GitHub shows something else under that id.
 */
export async function provenRunner(
  deps: ControlDeps,
  lane: LaneRecord,
  runnerId: number,
  write: RunnerWrite,
  actor: string,
  opts: { dryRun?: boolean } = {},
): Promise<GitHubRunner | undefined> {
  const runner = await deps.github.getRunner(lane.scope, runnerId);
  if (runner === undefined) return undefined;
  const mismatch = recordedRunnerMismatch(runner, { ...identityOf(deps, lane), runnerId });
  if (mismatch === undefined) return runner;
  const what = write === 'delete' ? 'delete' : 'set the labels of';
  const recovery = `Runner ${runnerId} is left alone. Run "launchplane runners" to see how GitHub shows it; if it is lane "${lane.laneId}"'s runner, restore its name and labels or delete it on GitHub, then run the command again`;
  const err = new LaunchplaneError(
    'LP_NOT_OWNED',
    `Refusing to ${what} runner ${runnerId}: it is not provably lane "${lane.laneId}"'s (${mismatch.reason}: ${mismatch.message})`,
    { recovery, details: { runnerId, reason: mismatch.reason } },
  );
  deps.logger.warn(
    { laneId: lane.laneId, hostId: lane.hostId, runnerId, reason: mismatch.reason, write },
    'runner is not provably the lane’s; refused',
  );
  await writeAudit(deps.store, nowSec(deps.clock), {
    actor,
    action: 'runner.ownership',
    outcome: 'refused',
    dryRun: opts.dryRun ?? false,
    hostId: lane.hostId,
    laneId: lane.laneId,
    params: {
      runnerId,
      write,
      reason: mismatch.reason,
      expectedName: lane.runnerName,
      githubName: runner.name,
      githubLabels: [...runner.labels].sort(),
    },
    code: err.code,
    message: err.message,
    recovery,
  });
  throw err;
}

/**
 * Sets the runner's custom labels after proving it is the lane's. `LP_NOT_FOUND` when GitHub has
 * no such runner; `LP_NOT_OWNED` (audited) when it is not provably the lane's.
 */
export async function setLaneRunnerLabels(
  deps: ControlDeps,
  lane: LaneRecord,
  runnerId: number,
  labels: readonly string[],
  actor: string,
): Promise<void> {
  const runner = await provenRunner(deps, lane, runnerId, 'set-labels', actor);
  if (runner === undefined) {
    throw new LaunchplaneError(
      'LP_NOT_FOUND',
      `Runner ${runnerId} of lane "${lane.laneId}" is not on GitHub`,
    );
  }
  await deps.github.setCustomLabels(lane.scope, runnerId, labels);
}

/**
 * Deletes the runner registration after proving it is the lane's. Resolves to `gone` when GitHub
 * had no such runner (nothing to delete); `LP_NOT_OWNED` (audited) when it is not the lane's.
 */
export async function deleteLaneRunner(
  deps: ControlDeps,
  lane: LaneRecord,
  runnerId: number,
  actor: string,
): Promise<'deleted' | 'gone'> {
  const runner = await provenRunner(deps, lane, runnerId, 'delete', actor);
  if (runner === undefined) return 'gone';
  await deps.github.deleteRunner(lane.scope, runnerId);
  return 'deleted';
}

function identityOf(
  deps: ControlDeps,
  lane: LaneRecord,
): { coordinatorId: string; laneId: string; runnerName: string } {
  return { coordinatorId: deps.coordinatorId, laneId: lane.laneId, runnerName: lane.runnerName };
}

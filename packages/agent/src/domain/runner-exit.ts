/**
 * What a lane's runner meant by ending, from how its main process (`run.sh`, started with
 * `RUNNER_MANUALLY_TRAP_SIG=1` and `ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1`)
 * ended. Pure. Facts from actions/runner:
 *
 * - run.sh (`runWithManualTrap`) exits with run-helper.sh's status, except that a SIGINT or SIGTERM
 *   it trapped ends it with 128 + the signal (130, 143) and 2 loops (run.sh);
 * - run-helper.sh maps Runner.Listener's status: 0 → 0, 1 (terminated error) → 0, 5 (session
 *   conflict) → 0, unknown → 0, 7 → 7 (deprecated version, with the variable above), 2, 3, 4 → 2;
 *   and exits 1 itself, before the listener runs, when it runs as root without
 *   `RUNNER_ALLOW_RUNASROOT` ("Must not run interactively with sudo") (run-helper.sh.template);
 * - the listener deletes `.runner` and `.credentials` after an ephemeral runner's job, and when the
 *   registration is gone on GitHub (src/Runner.Listener/Runner.cs, `DeleteLocalRunnerConfig` after
 *   `runOnceJobCompleted` or `cleanupLocalConfigAfter404`) and then exits 0.
 *
 * So 0 without `.runner` is the end of an ephemeral lane, or a persistent lane's registration
 * deleted on GitHub; 7 is a runner too old; 1 is the root refusal.
 */
import type { ErrorCode } from '@launchplane/shared';

/** How a runner's main process ended: an exit status, or the signal that killed it. */
export interface RunnerExit {
  status?: number;
  signal?: number;
}

/** The exit status of an outdated runner (Runner.Listener `RunnerVersionDeprecated`). */
export const EXIT_RUNNER_OUTDATED = 7;
/** run-helper.sh's exit status when it refuses to run as root. */
export const EXIT_ROOT_REFUSED = 1;
/**
 * Exit status of the lane's own `launch.sh` when it cannot start the runner: its directory is
 * gone, or an ephemeral lane has neither its JIT config nor a `.runner` (EX_CONFIG, which neither
 * run.sh nor run-helper.sh ever uses).
 */
export const EXIT_LAUNCH_FAILED = 78;
/** Exit statuses of a stop run.sh trapped (SIGINT, SIGTERM). */
export const EXIT_TRAPPED_STOP: readonly number[] = [130, 143];

/** What an ended run means. */
export type ExitMeaning =
  /** An ephemeral runner finished (its job ran, or it ended cleanly with its config gone). */
  | { kind: 'completed' }
  /** The lane cannot run again as it is: fail it with this code, no restart. */
  | { kind: 'fatal'; code: ErrorCode; reason: string; recovery: string }
  /** Anything else: a failure the health loop restarts with backoff. */
  | { kind: 'crash' };

/** What the run of a lane that ended means (see the module comment). */
export function exitMeaning(lane: {
  laneId: string;
  ephemeral: boolean;
  exit: RunnerExit | undefined;
  /** `.runner` is still in the lane dir. */
  runnerConfigured: boolean;
  /** Jobs the lane's hooks recorded as completed. */
  jobsCompleted: number;
}): ExitMeaning {
  const status = lane.exit?.signal === undefined ? lane.exit?.status : undefined;
  if (status === EXIT_RUNNER_OUTDATED) {
    return {
      kind: 'fatal',
      code: 'LP_RUNNER_OUTDATED',
      reason: 'its runner is too old for GitHub (exit 7)',
      recovery: `The runner of lane "${lane.laneId}" is a version GitHub no longer accepts (LP_RUNNER_OUTDATED); update the runner template (runner.template in the agent config) to a current actions/runner release, then remove the lane and let the coordinator create it again`,
    };
  }
  if (status === EXIT_ROOT_REFUSED) {
    return {
      kind: 'fatal',
      code: 'LP_RUNNER_ROOT_REFUSED',
      reason: 'its runner refused to run as root (exit 1)',
      recovery: `The runner of lane "${lane.laneId}" runs as root and refused to (LP_RUNNER_ROOT_REFUSED); run lanes as non-root users (runner.users, the default), or set runner.allowRoot: true in the agent config, then remove the lane and let the coordinator create it again`,
    };
  }
  if (lane.ephemeral) {
    if (lane.jobsCompleted > 0 || (status === 0 && !lane.runnerConfigured)) {
      return { kind: 'completed' };
    }
    if (status === EXIT_LAUNCH_FAILED) {
      return {
        kind: 'fatal',
        code: 'LP_BACKEND_FAILED',
        reason:
          'launch.sh could not start its ephemeral runner: neither its JIT config nor a .runner is there',
        recovery: `The JIT config of lane "${lane.laneId}" is single-use and gone; remove the lane and let the coordinator create a new one`,
      };
    }
    return {
      kind: 'fatal',
      code: 'LP_BACKEND_FAILED',
      reason: 'its ephemeral runner exited without completing a job',
      recovery: `The JIT config of lane "${lane.laneId}" is single-use; remove the lane and let the coordinator create a new one`,
    };
  }
  if (status === 0 && !lane.runnerConfigured) {
    return {
      kind: 'fatal',
      code: 'LP_RUNNER_DELETED',
      reason: 'its registration was deleted on GitHub (the runner removed its .runner and exited)',
      recovery: `The GitHub registration of lane "${lane.laneId}" was deleted (LP_RUNNER_DELETED); the lane cannot run again: remove it and let the coordinator create a new one`,
    };
  }
  return { kind: 'crash' };
}

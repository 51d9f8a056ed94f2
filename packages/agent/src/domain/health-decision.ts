/**
 * What one health pass does with one lane
 * (docs/design/lane-lifecycle.md "Health"). Pure: the observation, the time and
 * the random draw come in; the caller performs the returned action.
 */
import type { ErrorCode, LaneEvent, LaneState } from '@launchplane/shared';
import { backoffDelayMs, recordFailure } from './backoff.js';
import { exitMeaning, type RunnerExit } from './runner-exit.js';

/** What systemd or Docker, and the lane's hooks, show about a lane. */
export type LaneObservation =
  | { kind: 'missing' }
  /** The object exists but its marker or labels do not name this lane: never touched. */
  | { kind: 'foreign' }
  | { kind: 'running'; busy: boolean }
  | {
      kind: 'dead';
      jobsCompleted: number;
      /** How the runner's main process ended (undefined when unknown). */
      exit?: RunnerExit | undefined;
      /** `.runner` is in the lane dir: the runner is still configured. */
      runnerConfigured: boolean;
    };

/** The lane fields a health decision reads. */
export interface HealthLane {
  laneId: string;
  state: LaneState;
  ephemeral: boolean;
  /** Failure times, Unix seconds. */
  failures: readonly number[];
  /** When a scheduled restart falls due (ms), if one is scheduled. */
  nextRestartAtMs: number | undefined;
}

/** Health settings (agent config `health`). */
export interface HealthOptions {
  maxFailures: number;
  failureWindowSec: number;
  backoffBaseSec: number;
  backoffCapSec: number;
}

/** The inputs of one decision: the settings, the time (ms) and a random draw in [0, 1). */
export interface DecisionOptions extends HealthOptions {
  nowMs: number;
  random: number;
}

/** What to do with a lane after one observation. */
export type HealthAction =
  | { kind: 'none' }
  /** Apply these transitions, in order. */
  | { kind: 'transition'; events: LaneEvent[] }
  /** Record the failure and wait for the scheduled restart. */
  | { kind: 'wait'; events: LaneEvent[]; failures: number[]; nextRestartAtMs: number }
  /** Start the lane's unit or container again (after `events`). */
  | { kind: 'restart'; events: LaneEvent[]; failures: number[] }
  /** Give up: `failed`, with its cause and a recovery hint; the lane is left alone from now on. */
  | { kind: 'fail'; code: ErrorCode; reason: string; recovery: string; failures: number[] };

/** States the health loop watches; every other state belongs to a command or an operator. */
export const WATCHED_STATES: readonly LaneState[] = [
  'starting',
  'online',
  'busy',
  'unhealthy',
  'restarting',
];

/** Decides what a health pass does with `lane`, observed as `obs` at `nowMs`. */
export function decideHealth(
  lane: HealthLane,
  obs: LaneObservation,
  options: DecisionOptions,
): HealthAction {
  if (!WATCHED_STATES.includes(lane.state)) return { kind: 'none' };
  const failures = [...lane.failures];
  switch (obs.kind) {
    case 'missing':
      return {
        kind: 'fail',
        code: 'LP_BACKEND_FAILED',
        reason: 'its unit or container vanished',
        recovery: `Lane "${lane.laneId}" lost its unit or container outside Launchplane; remove the lane and let the coordinator create a new one`,
        failures,
      };
    case 'foreign':
      return {
        kind: 'fail',
        code: 'LP_NOT_OWNED',
        reason: 'its unit or container no longer carries the lane marker',
        recovery: `The unit or container of lane "${lane.laneId}" was changed outside Launchplane and is left alone; inspect it, then remove the lane`,
        failures,
      };
    case 'running':
      return { kind: 'transition', events: runningEvents(lane.state, obs.busy) };
    case 'dead': {
      const meaning = exitMeaning({
        laneId: lane.laneId,
        ephemeral: lane.ephemeral,
        exit: obs.exit,
        runnerConfigured: obs.runnerConfigured,
        jobsCompleted: obs.jobsCompleted,
      });
      switch (meaning.kind) {
        case 'completed':
          return { kind: 'transition', events: completedEvents(lane.state) };
        case 'fatal':
          return {
            kind: 'fail',
            code: meaning.code,
            reason: meaning.reason,
            recovery: meaning.recovery,
            failures,
          };
        case 'crash':
          return deadPersistent(lane, options);
      }
    }
  }
}

function runningEvents(state: LaneState, busy: boolean): LaneEvent[] {
  switch (state) {
    case 'starting':
    case 'restarting':
    case 'unhealthy':
      return busy ? ['came-online', 'job-started'] : ['came-online'];
    case 'online':
      return busy ? ['job-started'] : [];
    case 'busy':
      return busy ? [] : ['job-finished'];
    default:
      return [];
  }
}

/** The transitions of an ephemeral lane whose runner finished. */
function completedEvents(state: LaneState): LaneEvent[] {
  return state === 'online' || state === 'busy'
    ? ['job-completed-ephemeral']
    : state === 'unhealthy' || state === 'starting' || state === 'restarting'
      ? ['came-online', 'job-completed-ephemeral']
      : [];
}

function deadPersistent(lane: HealthLane, options: DecisionOptions): HealthAction {
  const { nowMs } = options;
  const toUnhealthy: LaneEvent[] = lane.state === 'unhealthy' ? [] : ['became-unhealthy'];
  if (lane.nextRestartAtMs !== undefined) {
    if (nowMs < lane.nextRestartAtMs) {
      return {
        kind: 'wait',
        events: toUnhealthy,
        failures: [...lane.failures],
        nextRestartAtMs: lane.nextRestartAtMs,
      };
    }
    return { kind: 'restart', events: [...toUnhealthy, 'restart'], failures: [...lane.failures] };
  }
  return failureStep(lane, { ...options, events: toUnhealthy });
}

/**
 * Counts one failure (a dead runner, or a restart systemd or Docker refused) and decides between
 * giving up, waiting for the backoff, or restarting at once.
 */
export function failureStep(
  lane: Pick<HealthLane, 'laneId' | 'failures'>,
  options: DecisionOptions & { events?: LaneEvent[] },
): HealthAction {
  const { nowMs } = options;
  const events = options.events ?? [];
  const verdict = recordFailure(lane.failures, {
    now: Math.floor(nowMs / 1000),
    maxFailures: options.maxFailures,
    windowSec: options.failureWindowSec,
  });
  if (verdict.exhausted) {
    return {
      kind: 'fail',
      code: 'LP_BACKEND_FAILED',
      reason: `it failed ${verdict.failures.length} times in ${options.failureWindowSec}s`,
      recovery: `Lane "${lane.laneId}" failed ${verdict.failures.length} times in ${options.failureWindowSec}s and is no longer restarted; read its logs (journalctl or docker logs), fix the cause, then restart or remove the lane`,
      failures: verdict.failures,
    };
  }
  const delay = backoffDelayMs(verdict.failures.length - 1, {
    baseSec: options.backoffBaseSec,
    capSec: options.backoffCapSec,
    random: options.random,
  });
  if (delay <= 0)
    return { kind: 'restart', events: [...events, 'restart'], failures: verdict.failures };
  return { kind: 'wait', events, failures: verdict.failures, nextRestartAtMs: nowMs + delay };
}

/**
 * The lane lifecycle (docs/design/lane-lifecycle.md "States and events")
 * as one pure transition function.
 */
import { z } from 'zod';
import { LaunchplaneError } from './errors.js';

export const LANE_STATES = [
  'pending',
  'provisioning',
  'starting',
  'online',
  'busy',
  'draining',
  'drained',
  'stopping',
  'removed',
  'unhealthy',
  'restarting',
  'completed',
  'failed',
] as const;

export type LaneState = (typeof LANE_STATES)[number];
export const laneStateSchema = z.enum(LANE_STATES);

/** What happens to a lane. Each event names the step, not the resulting state. */
export const LANE_EVENTS = [
  'provision',
  'start',
  'came-online',
  'job-started',
  'job-finished',
  'drain',
  'drain-complete',
  'undrain',
  'restart',
  'stop',
  'stop-complete',
  'became-unhealthy',
  'job-completed-ephemeral',
  'fail',
] as const;

export type LaneEvent = (typeof LANE_EVENTS)[number];

/** States whose runner runs and may take or run a job: the states a drain starts from. */
export const ACTIVE_STATES: readonly LaneState[] = ['online', 'busy', 'unhealthy'];
/** States in the middle of a step that a crash could interrupt; a saga or recovery owns them. */
export const TRANSITIONAL_STATES: readonly LaneState[] = [
  'pending',
  'provisioning',
  'starting',
  'stopping',
  'restarting',
];
/** States whose runner runs nothing and is not mid-step: a lane here may be stopped or removed. */
export const AT_REST_STATES: readonly LaneState[] = ['drained', 'failed', 'completed'];
/** States whose runner's labels are quarantined (`lp-draining`), so GitHub routes it no job. */
export const QUARANTINED_STATES: readonly LaneState[] = ['draining', 'drained'];
/** States in which a lane no longer holds one of its pool's slots on its host. */
export const SLOT_FREE_STATES: readonly LaneState[] = ['removed', 'completed', 'stopping'];
/** Every state from which a lane may still be stopped (force stop included). */
const STOPPABLE: readonly LaneState[] = [
  'pending',
  'provisioning',
  'starting',
  'online',
  'busy',
  'draining',
  'drained',
  'unhealthy',
  'restarting',
  'completed',
  'failed',
];

const TRANSITIONS: Record<LaneEvent, { from: readonly LaneState[]; to: LaneState }> = {
  provision: { from: ['pending'], to: 'provisioning' },
  start: { from: ['provisioning'], to: 'starting' },
  'came-online': { from: ['starting', 'restarting', 'unhealthy'], to: 'online' },
  'job-started': { from: ['online'], to: 'busy' },
  'job-finished': { from: ['busy'], to: 'online' },
  drain: { from: ACTIVE_STATES, to: 'draining' },
  'drain-complete': { from: ['draining'], to: 'drained' },
  undrain: { from: ['draining', 'drained'], to: 'online' },
  restart: { from: ['drained', 'unhealthy', 'failed', 'online'], to: 'restarting' },
  stop: { from: STOPPABLE, to: 'stopping' },
  'stop-complete': { from: ['stopping'], to: 'removed' },
  'became-unhealthy': { from: ['starting', 'online', 'busy', 'restarting'], to: 'unhealthy' },
  'job-completed-ephemeral': { from: ['online', 'busy'], to: 'completed' },
  fail: {
    from: [
      'pending',
      'provisioning',
      'starting',
      'online',
      'busy',
      'draining',
      'drained',
      'stopping',
      'unhealthy',
      'restarting',
    ],
    to: 'failed',
  },
};

/** True for states a lane never leaves. */
export function isTerminal(state: LaneState): boolean {
  return state === 'removed';
}

/** True when the lane is in the middle of a step that a crash could interrupt. */
export function isTransitional(state: LaneState): boolean {
  return TRANSITIONAL_STATES.includes(state);
}

/** True when the lane's runner runs and may take or run a job (see `ACTIVE_STATES`). */
export function isActive(state: LaneState): boolean {
  return ACTIVE_STATES.includes(state);
}

/** True when the lane runs nothing and is not mid-step (see `AT_REST_STATES`). */
export function isAtRest(state: LaneState): boolean {
  return AT_REST_STATES.includes(state);
}

/** True when the lane's labels are quarantined for a drain (see `QUARANTINED_STATES`). */
export function isQuarantined(state: LaneState): boolean {
  return QUARANTINED_STATES.includes(state);
}

/** True when the lane holds one of its pool's slots on its host. */
export function holdsSlot(state: LaneState): boolean {
  return !SLOT_FREE_STATES.includes(state);
}

/** Whether `event` may happen in `state`. */
export function canTransition(state: LaneState, event: LaneEvent): boolean {
  return TRANSITIONS[event].from.includes(state);
}

/**
 * The state after `event`. An illegal transition is an error (`LP_ILLEGAL_TRANSITION`), never a
 * silent no-op.
 */
export function transition(state: LaneState, event: LaneEvent): LaneState {
  const t = TRANSITIONS[event];
  if (!t.from.includes(state)) throw illegal(state, event);
  return t.to;
}

function illegal(state: LaneState, event: string): LaunchplaneError {
  return new LaunchplaneError(
    'LP_ILLEGAL_TRANSITION',
    `Cannot apply "${event}" to a lane in state "${state}"`,
    { details: { state, event } },
  );
}

// ---------------------------------------------------------------------------------------------
// The coordinator's record of a lane. It follows the same machine, with the rules below: its
// record also takes in what the agent reports (`mergedLaneState`), so its sagas may start a step
// from more states than the agent itself would, and one step (a refused restart) only it takes.

/** States the coordinator decides (quarantine, its own health verdict, its own give-up). */
export const COORDINATOR_HELD_STATES: readonly LaneState[] = [
  'draining',
  'drained',
  'unhealthy',
  'failed',
];
/** What an agent reports that is a fact no coordinator-held state can overrule. */
export const AGENT_FACT_STATES: readonly LaneState[] = ['removed', 'completed', 'failed'];

/**
 * The lane state after an agent's report. The agent knows what its unit or container does; the
 * coordinator alone knows a lane is quarantined for draining or judged unhealthy from GitHub,
 * so an agent's `online` never undoes a coordinator's `draining`.
 */
export function mergedLaneState(recorded: LaneState, reported: LaneState): LaneState {
  if (isTerminal(recorded)) return recorded;
  // A lane the coordinator gave up on keeps its slot (and its recovery hint) until an operator
  // removes it, even once the agent has rolled it back: otherwise the next plan would create it
  // again and a lasting fault would be retried forever.
  if (recorded === 'failed' && reported === 'removed') return recorded;
  if (COORDINATOR_HELD_STATES.includes(recorded) && !AGENT_FACT_STATES.includes(reported)) {
    return recorded;
  }
  return reported;
}

/** The steps only the coordinator's record takes. */
export const COORDINATOR_ONLY_EVENTS = ['restart-refused'] as const;
export type CoordinatorEvent = LaneEvent | (typeof COORDINATOR_ONLY_EVENTS)[number];

/** Each step of the coordinator's record: the agent's machine, widened by these tables. */
export const COORDINATOR_TRANSITIONS: Readonly<
  Record<CoordinatorEvent, { from: readonly LaneState[]; to: LaneState }>
> = {
  ...TRANSITIONS,
  // An operator's drain or remove starts from whatever the host last reported, short of removed;
  // a lane already quarantined or failed is not drained again (the saga skips the step).
  drain: {
    from: [
      'pending',
      'provisioning',
      'starting',
      'online',
      'busy',
      'unhealthy',
      'restarting',
      'stopping',
      'completed',
    ],
    to: 'draining',
  },
  // Host and GitHub agree the lane is idle: so too for a lane that was already drained or failed.
  'drain-complete': { from: ['draining', 'drained', 'failed'], to: 'drained' },
  // A forced restart skips the wait for idle.
  restart: { from: [...TRANSITIONS.restart.from, 'draining'], to: 'restarting' },
  // The coordinator gives up on a lane in any state short of removed, and records it again.
  fail: { from: LANE_STATES.filter((s) => !isTerminal(s)), to: 'failed' },
  // The host refused the restart (it saw a job): the lane stays drained.
  'restart-refused': { from: ['restarting'], to: 'drained' },
};

/**
 * The coordinator's record after `event`; an illegal step is an error (`LP_ILLEGAL_TRANSITION`)
 * and nothing is written.
 */
export function coordinatorTransition(state: LaneState, event: CoordinatorEvent): LaneState {
  const t = COORDINATOR_TRANSITIONS[event];
  if (!t.from.includes(state)) throw illegal(state, event);
  return t.to;
}

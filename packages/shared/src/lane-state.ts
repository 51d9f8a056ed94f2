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

const ACTIVE: readonly LaneState[] = ['online', 'busy', 'unhealthy'];
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
  drain: { from: ACTIVE, to: 'draining' },
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
  return (
    state === 'pending' ||
    state === 'provisioning' ||
    state === 'starting' ||
    state === 'stopping' ||
    state === 'restarting'
  );
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
  if (!t.from.includes(state)) {
    throw new LaunchplaneError(
      'LP_ILLEGAL_TRANSITION',
      `Cannot apply "${event}" to a lane in state "${state}"`,
      { details: { state, event } },
    );
  }
  return t.to;
}

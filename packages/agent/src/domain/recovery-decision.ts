/**
 * Crash recovery (docs/design/lane-lifecycle.md "Crash recovery"):
 * what to do at start-up with a lane whose last
 * operation was interrupted, given its journal and what systemd or Docker really show. Pure.
 */
import type { LaneState } from '@launchplane/shared';

/** Operations the journal records. */
export type LaneOp = 'create' | 'start' | 'stop' | 'restart' | 'remove' | 'health-restart';

/** What is on the machine for a lane. */
export interface RecoveryObservation {
  /** A unit or container with the lane's name exists. */
  objectExists: boolean;
  /** …and its marker or labels name this lane (only then may it be touched). */
  objectOwned: boolean;
  /** The lane directory exists. */
  dirExists: boolean;
}

/** The recovery action for one lane. */
export type RecoveryAction =
  /** Nothing was made: forget the record (`removed`). */
  | 'forget'
  /** Undo a half-made create (owned object, lane dir), then `removed`. */
  | 'rollback-removed'
  /** Undo a half-made create, then `failed` with a hint (a runner may exist on GitHub). */
  | 'rollback-failed'
  /** The object is in place: start it again and let the health loop take over. */
  | 'finish-start'
  /** Finish an interrupted stop: stop the object, lane `drained`. */
  | 'finish-stop'
  /** Finish an interrupted remove: stop and delete the object and the dir, `removed`. */
  | 'finish-remove'
  /** The object vanished: `failed` with a hint. */
  | 'mark-vanished'
  | 'none';

/**
 * Decides how to recover a lane in `state` whose open journal operation is `op` (undefined when
 * the journal has none open).
 */
export function decideRecovery(
  lane: { state: LaneState; op: LaneOp | undefined },
  obs: RecoveryObservation,
): RecoveryAction {
  const { state, op } = lane;
  if (state === 'removed') return 'none';
  if (op === 'remove' || state === 'stopping') return 'finish-remove';
  if (op === 'stop') return 'finish-stop';
  const present = obs.objectExists && obs.objectOwned;
  switch (state) {
    case 'pending':
      return obs.objectExists || obs.dirExists ? 'rollback-removed' : 'forget';
    case 'provisioning':
      return 'rollback-failed';
    case 'starting':
    case 'restarting':
      if (present) return 'finish-start';
      return op === 'create' ? 'rollback-failed' : 'mark-vanished';
    case 'online':
    case 'busy':
    case 'unhealthy':
      if (!obs.objectExists) return 'mark-vanished';
      return op === 'start' || op === 'restart' || op === 'health-restart'
        ? present
          ? 'finish-start'
          : 'none'
        : 'none';
    case 'draining':
    case 'drained':
    case 'completed':
    case 'failed':
      return 'none';
  }
}

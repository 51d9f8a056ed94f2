import { LANE_UNIT_PREFIX, LANE_UNIT_SUFFIX, LaunchplaneError } from '@launchplane/shared';

/** Glob for `ListUnitsByPatterns`: every unit named like a lane, hand-made ones included. */
export const LANE_UNIT_PATTERN = `${LANE_UNIT_PREFIX}*${LANE_UNIT_SUFFIX}`;

// Any unit name systemd could load under the lane prefix (hand-made units may carry odd ids), but
// never one that could leave the unit directory when joined onto it.
const LANE_UNIT_NAME = /^launchplane-lane-[A-Za-z0-9:_.\\@-]{1,200}\.service$/;

/** Whether `name` looks like a lane unit and is safe to join onto the unit dir. */
export function isLaneUnitName(name: string): boolean {
  return LANE_UNIT_NAME.test(name) && !name.includes('..');
}

/** Throws `LP_INVALID_MESSAGE` unless `name` is a lane-like unit name that cannot leave the unit dir. */
export function assertLaneUnitName(name: string): void {
  if (!isLaneUnitName(name)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid unit name ${JSON.stringify(name)}: expected "${LANE_UNIT_PATTERN}"`,
      { details: { unit: name } },
    );
  }
}

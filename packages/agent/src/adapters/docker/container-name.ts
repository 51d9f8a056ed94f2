import { DOCKER_LABEL_LANE, LANE_UNIT_PREFIX, LaunchplaneError } from '@launchplane/shared';

// Any container named like a lane, hand-made ones with odd ids included; Docker allows these characters.
const LANE_CONTAINER_NAME = /^launchplane-lane-[a-zA-Z0-9_.-]{1,200}$/;

/** Whether a container (name without the leading `/`, and its labels) looks like a lane. */
export function looksLikeLane(name: string, labels: Readonly<Record<string, string>>): boolean {
  return name.startsWith(LANE_UNIT_PREFIX) || Object.hasOwn(labels, DOCKER_LABEL_LANE);
}

/** Throws `LP_INVALID_MESSAGE` unless `name` is a lane-like container name. */
export function assertLaneContainerName(name: string): void {
  if (!LANE_CONTAINER_NAME.test(name)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid container name ${JSON.stringify(name.slice(0, 100))}: expected "${LANE_UNIT_PREFIX}<laneId>"`,
      { details: { container: name.slice(0, 100) } },
    );
  }
}

// Docker's own rule for container names.
const CONTAINER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;

/**
 * Throws `LP_INVALID_MESSAGE` unless `name` is a valid Docker container name. Read-only calls
 * accept any name, so the core can look at a hand-made container that only carries our label.
 */
export function assertContainerName(name: string): void {
  if (!CONTAINER_NAME.test(name)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid container name ${JSON.stringify(name.slice(0, 100))}`,
      { details: { container: name.slice(0, 100) } },
    );
  }
}

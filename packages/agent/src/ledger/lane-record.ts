/**
 * A lane as the ledger holds it: every field of its report, plus what only the agent needs (its
 * directory, its unit or container name, its failure history).
 */
import type { Backend, LaneReport, LaneState, LocalBusy, Scope } from '@launchplane/shared';

/** Docker settings a docker lane was created with. */
export interface LaneDockerSpec {
  image: string;
  network?: string | undefined;
}

/** One owned lane. */
export interface LaneRecord {
  laneId: string;
  name: string;
  pool: string;
  scope: Scope;
  backend: Backend;
  ephemeral: boolean;
  state: LaneState;
  runnerId: number | undefined;
  labels: string[];
  backendState: string | undefined;
  restarts: number;
  /** Unix seconds. */
  lastHealthAt: number | undefined;
  recovery: string | undefined;
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds. */
  updatedAt: number;
  laneDir: string;
  /** `launchplane-lane-<laneId>.service` or `launchplane-lane-<laneId>`. */
  objectName: string;
  docker: LaneDockerSpec | undefined;
  /** Failure times (Unix seconds) inside the health window. */
  failures: number[];
  /** When the health loop restarts the lane next (ms), if scheduled. */
  nextRestartAtMs: number | undefined;
}

/** The wire report of a lane (inventory, results, events). */
export function laneReport(lane: LaneRecord, local?: LocalBusy): LaneReport {
  return {
    laneId: lane.laneId,
    name: lane.name,
    pool: lane.pool,
    scope: lane.scope,
    backend: lane.backend,
    ephemeral: lane.ephemeral,
    state: lane.state,
    ...(lane.runnerId === undefined ? {} : { runnerId: lane.runnerId }),
    labels: lane.labels,
    ...(lane.backendState === undefined ? {} : { backendState: lane.backendState.slice(0, 4096) }),
    ...(local === undefined ? {} : { local }),
    restarts: lane.restarts,
    ...(lane.lastHealthAt === undefined ? {} : { lastHealthAt: lane.lastHealthAt }),
    ...(lane.recovery === undefined ? {} : { recovery: lane.recovery.slice(0, 4096) }),
    createdAt: lane.createdAt,
    updatedAt: lane.updatedAt,
  };
}

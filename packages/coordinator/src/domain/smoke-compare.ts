/**
 * "Nothing else changed": the comparison at the end of `launchplane smoke`. Before and after the
 * smoke, the coordinator takes the GitHub runners of the smoke's scope and the host's lanes as its
 * agent reports them; everything but the smoke's own lane must read the same. Pure.
 *
 * What is compared: a runner's id, name, labels (as a set) and status; a lane's runner name,
 * state and what systemd or Docker shows (`backendState`). A lane that is `busy` compares as
 * `online` (jobs come and go on the other lanes while a smoke runs; that is not a change to what
 * exists), and `busy` of a runner is not compared for the same reason.
 */
import type { LaneReport } from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';

/** One side of the comparison. */
export interface SmokeSnapshot {
  /** Unix seconds. */
  at: number;
  runners: SnapshotRunner[];
  lanes: SnapshotLane[];
}

export interface SnapshotRunner {
  id: number;
  name: string;
  /** Sorted. */
  labels: string[];
  status: string;
}

export interface SnapshotLane {
  laneId: string;
  name: string;
  state: string;
  backendState: string | null;
}

/** What the smoke made, left out of the comparison. */
export interface SmokeOwn {
  laneId: string;
  runnerName: string;
  runnerId: number | undefined;
}

/** The comparison's result: each difference as one line, none when nothing else changed. */
export interface SmokeComparison {
  runnersBefore: number;
  runnersAfter: number;
  lanesBefore: number;
  lanesAfter: number;
  differences: string[];
}

/** A snapshot from what GitHub and the host's agent report. */
export function snapshotOf(
  at: number,
  runners: readonly GitHubRunner[],
  lanes: readonly LaneReport[],
): SmokeSnapshot {
  return {
    at,
    runners: runners
      .map((r) => ({
        id: r.id,
        name: r.name,
        labels: [...r.labels].sort(cmp),
        status: r.githubStatus ?? r.status,
      }))
      .sort((a, b) => a.id - b.id),
    lanes: lanes
      .map((l) => ({
        laneId: l.laneId,
        name: l.name,
        state: l.state === 'busy' ? 'online' : l.state,
        backendState: l.backendState ?? null,
      }))
      .sort((a, b) => cmp(a.laneId, b.laneId)),
  };
}

/** Compares two snapshots, leaving out the smoke's own lane and runner. */
export function compareSnapshots(
  before: SmokeSnapshot,
  after: SmokeSnapshot,
  own: SmokeOwn,
): SmokeComparison {
  const isOwnRunner = (r: SnapshotRunner): boolean =>
    r.id === own.runnerId || r.name === own.runnerName;
  const runnersBefore = before.runners.filter((r) => !isOwnRunner(r));
  const runnersAfter = after.runners.filter((r) => !isOwnRunner(r));
  const lanesBefore = before.lanes.filter((l) => l.laneId !== own.laneId);
  const lanesAfter = after.lanes.filter((l) => l.laneId !== own.laneId);
  const differences: string[] = [];

  const afterRunners = new Map(runnersAfter.map((r) => [r.id, r]));
  const beforeRunners = new Map(runnersBefore.map((r) => [r.id, r]));
  for (const b of runnersBefore) {
    const a = afterRunners.get(b.id);
    if (a === undefined) {
      differences.push(`runner ${b.id} "${b.name}" is gone from GitHub`);
      continue;
    }
    if (a.name !== b.name) {
      differences.push(`runner ${b.id} was named "${b.name}", now "${a.name}"`);
    }
    if (a.status !== b.status) {
      differences.push(`runner ${b.id} "${b.name}" was ${b.status}, now ${a.status}`);
    }
    const gone = b.labels.filter((l) => !a.labels.includes(l));
    const added = a.labels.filter((l) => !b.labels.includes(l));
    if (gone.length > 0 || added.length > 0) {
      differences.push(
        `runner ${b.id} "${b.name}" labels changed (removed ${gone.join(',') || '-'}; added ${added.join(',') || '-'})`,
      );
    }
  }
  for (const a of runnersAfter) {
    if (!beforeRunners.has(a.id)) differences.push(`runner ${a.id} "${a.name}" appeared on GitHub`);
  }

  const afterLanes = new Map(lanesAfter.map((l) => [l.laneId, l]));
  const beforeLanes = new Map(lanesBefore.map((l) => [l.laneId, l]));
  for (const b of lanesBefore) {
    const a = afterLanes.get(b.laneId);
    if (a === undefined) {
      differences.push(`lane ${b.laneId} ("${b.name}") is gone from the host`);
      continue;
    }
    if (a.state !== b.state) {
      differences.push(`lane ${b.laneId} ("${b.name}") was ${b.state}, now ${a.state}`);
    }
    if (a.backendState !== b.backendState) {
      differences.push(
        `lane ${b.laneId} ("${b.name}") backend was "${b.backendState ?? '-'}", now "${a.backendState ?? '-'}"`,
      );
    }
  }
  for (const a of lanesAfter) {
    if (!beforeLanes.has(a.laneId)) {
      differences.push(`lane ${a.laneId} ("${a.name}") appeared on the host`);
    }
  }
  return {
    runnersBefore: runnersBefore.length,
    runnersAfter: runnersAfter.length,
    lanesBefore: lanesBefore.length,
    lanesAfter: lanesAfter.length,
    differences,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

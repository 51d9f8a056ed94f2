/**
 * What the coordinator remembers about lanes of demand pools between plans, computed from the
 * last memory and a fresh observation. Pure: the observer keeps the results (the reservations
 * also in its store, so a restart does not forget a job a lane took).
 *
 * - Reservations (see {@link DemandReservation}): lanes that took a job no stored job names yet.
 * - Idle clocks: since when the host and GitHub have both said a lane is idle, for the
 *   `scaleDownAfterSec` hysteresis.
 */
import type { LaneReport } from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import type { DemandJob, DemandReservation } from './demand.js';
import { saysBusy } from './lane-view.js';

/** One observation, as the trackers need it. */
export interface LaneObservation {
  /** The ledger's lanes that are not removed. */
  lanes: readonly LaneRecord[];
  /** Agent reports by lane id. */
  reports: ReadonlyMap<string, LaneReport>;
  /** GitHub runners by runner id, for the scopes that could be listed. */
  runners: ReadonlyMap<number, GitHubRunner>;
  jobs: readonly DemandJob[];
  now: number;
}

/** Which stored jobs name a runner, by runner name and by runner id. */
export class JobsByRunner {
  readonly #byName = new Map<string, DemandJob[]>();
  readonly #byId = new Map<number, DemandJob[]>();

  constructor(jobs: readonly DemandJob[]) {
    for (const j of jobs) {
      if (j.runnerName !== undefined) push(this.#byName, j.runnerName, j);
      if (j.runnerId !== undefined) push(this.#byId, j.runnerId, j);
    }
  }

  /** Jobs that name this lane's runner (any status). */
  of(lane: { runnerName: string; runnerId?: number | undefined }): DemandJob[] {
    const byName = this.#byName.get(lane.runnerName) ?? [];
    const byId = lane.runnerId === undefined ? [] : (this.#byId.get(lane.runnerId) ?? []);
    return byId.length === 0 ? byName : [...new Set([...byName, ...byId])];
  }

  /** A stored job says this lane's runner is running it now. */
  running(lane: { runnerName: string; runnerId?: number | undefined }): boolean {
    return this.of(lane).some((j) => j.status === 'in_progress');
  }

  /**
   * Whether a stored job accounts for a job the lane took at `takenAt`: one naming its runner
   * that runs now, or finished at or after `takenAt` (an ephemeral lane's only job, whenever).
   * A job that finished before belongs to an earlier job of a persistent lane.
   */
  explains(
    r: Pick<DemandReservation, 'runnerName' | 'runnerId' | 'ephemeral' | 'takenAt'>,
  ): boolean {
    return this.of(r).some(
      (j) =>
        j.status === 'in_progress' ||
        r.ephemeral ||
        (j.completedAt !== undefined && j.completedAt >= r.takenAt),
    );
  }

  /** When the lane's runner last finished a job, by the stored jobs. */
  lastCompletedAt(lane: { runnerName: string; runnerId?: number | undefined }): number | undefined {
    let last: number | undefined;
    for (const j of this.of(lane)) {
      if (j.completedAt !== undefined && (last === undefined || j.completedAt > last)) {
        last = j.completedAt;
      }
    }
    return last;
  }
}

/** Whether a lane has taken a job, by its record, its agent or GitHub. */
export function tookJob(
  lane: LaneRecord,
  report: LaneReport | undefined,
  runner: GitHubRunner | undefined,
): boolean {
  return (
    saysBusy({ record: lane, report, runner }) ||
    lane.state === 'completed' ||
    report?.state === 'completed'
  );
}

/**
 * The next reservations: a lane that took a job no stored job names starts one (or keeps its
 * first `takenAt`); one ends when a stored job names its runner, or `ttlSec(pool)` after it began
 * (undefined: the pool no longer follows demand). A lane that left the ledger keeps its
 * reservation until then: the job it ran may still look queued.
 */
export function nextReservations(
  prev: readonly DemandReservation[],
  obs: LaneObservation,
  ttlSec: (pool: string) => number | undefined,
): DemandReservation[] {
  const jobs = new JobsByRunner(obs.jobs);
  const before = new Map(prev.map((r) => [r.laneId, r]));
  const out = new Map<string, DemandReservation>();
  const live = (r: DemandReservation): boolean =>
    reservationHolds(r, jobs, obs.now, ttlSec(r.pool));
  for (const lane of obs.lanes) {
    if (ttlSec(lane.pool) === undefined) continue;
    const runner = lane.runnerId === undefined ? undefined : obs.runners.get(lane.runnerId);
    if (!tookJob(lane, obs.reports.get(lane.laneId), runner)) continue;
    const r: DemandReservation = {
      laneId: lane.laneId,
      pool: lane.pool,
      hostId: lane.hostId,
      runnerName: lane.runnerName,
      ...(lane.runnerId === undefined ? {} : { runnerId: lane.runnerId }),
      ephemeral: lane.ephemeral,
      takenAt: before.get(lane.laneId)?.takenAt ?? obs.now,
    };
    if (live(r)) out.set(r.laneId, r);
  }
  for (const r of prev) {
    if (!out.has(r.laneId) && live(r)) out.set(r.laneId, r);
  }
  return [...out.values()].sort((a, b) => a.takenAt - b.takenAt || cmp(a.laneId, b.laneId));
}

/** A reservation still counts: within its pool's TTL, and no stored job accounts for it yet. */
export function reservationHolds(
  r: DemandReservation,
  jobs: JobsByRunner,
  now: number,
  ttlSec: number | undefined,
): boolean {
  return ttlSec !== undefined && now - r.takenAt < ttlSec && !jobs.explains(r);
}

/**
 * The next idle clocks: a lane that its agent reports online and not busy, whose runner GitHub
 * shows online and not busy, and that no stored job says is running keeps (or starts) its clock;
 * every other lane has none.
 *
 * A clock starts at the lane's last sign of work, not at the look that first saw it idle: rounds
 * may be an interval apart, and a lane goes `scaleDownAfterSec` after its last job, not up to an
 * interval later. The last sign of work is the latest of its record's last change (it came
 * online, its agent reported a job finished, it was taken back) and {@link lastWorkAt}; never
 * after now, and never before `watchingSince`, the observer's first look (Unix seconds): a
 * restarted coordinator lets every lane idle a full `scaleDownAfterSec` before it may go.
 */
export function nextIdleSince(
  prev: Readonly<Record<string, number>>,
  obs: LaneObservation,
  watchingSince: number,
): Record<string, number> {
  const jobs = new JobsByRunner(obs.jobs);
  const out: Record<string, number> = {};
  for (const lane of [...obs.lanes].sort((a, b) => cmp(a.laneId, b.laneId))) {
    const report = obs.reports.get(lane.laneId);
    const runner = lane.runnerId === undefined ? undefined : obs.runners.get(lane.runnerId);
    if (!idleByHostAndGitHub(lane, report, runner) || jobs.running(lane)) continue;
    const kept = prev[lane.laneId];
    out[lane.laneId] =
      kept ??
      Math.max(
        watchingSince,
        Math.min(obs.now, Math.max(lane.updatedAt, lastWorkAt(lane, report, jobs, obs.now) ?? 0)),
      );
  }
  return out;
}

/**
 * When the lane last finished a job: by the stored jobs (GitHub's word) or by its agent's report.
 * The agent's time is the mtime of a file in the lane directory, which the job can set: a time
 * after `now` is ignored, or a job could keep its lane from ever going idle long enough to go.
 */
export function lastWorkAt(
  lane: LaneRecord,
  report: LaneReport | undefined,
  jobs: JobsByRunner,
  now: number,
): number | undefined {
  const hostSays = report?.local?.lastJobCompletedAt;
  const times = [
    jobs.lastCompletedAt(lane),
    hostSays !== undefined && hostSays <= now ? hostSays : undefined,
  ];
  const known = times.filter((t): t is number => t !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}

/** The host and GitHub both say the lane is up and idle. */
export function idleByHostAndGitHub(
  lane: LaneRecord,
  report: LaneReport | undefined,
  runner: GitHubRunner | undefined,
): boolean {
  return (
    lane.state === 'online' &&
    report?.state === 'online' &&
    report.local?.busy !== true &&
    runner !== undefined &&
    runner.status === 'online' &&
    !runner.busy
  );
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

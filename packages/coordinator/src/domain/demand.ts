/**
 * Demand: the GitHub Actions jobs the coordinator knows of, as the planner receives them. The
 * job store (fed by `workflow_job` webhooks and a polling safety net) produces it; the planner
 * only reads it, the way it reads GitHub's runners. Pure data: no I/O here.
 *
 * The contract other parts build on: {@link DemandJob}, {@link PlanDemand} (`PlanInput.demand`),
 * {@link DemandReservation} (what the coordinator keeps between plans) and {@link DemandSource}
 * (the port the job store implements). See docs/policy.md "Scaling on demand".
 */

/** One GitHub Actions job as the coordinator last saw it (webhook or poll). Times are Unix seconds. */
export interface DemandJob {
  /** GitHub's job id. */
  id: number;
  runId: number;
  /** `owner/name` (organization pools match on the owner). */
  repository: string;
  /** The job's `runs-on` labels, as GitHub reports them. */
  labels: readonly string[];
  /** GitHub's `waiting`, `requested` and `pending` are stored as `queued`. */
  status: 'queued' | 'in_progress' | 'completed';
  /** Set once a runner took it. */
  runnerId?: number;
  runnerName?: string;
  runnerGroupId?: number;
  /** `created_at` of the job. */
  queuedAt: number;
  startedAt?: number;
  completedAt?: number;
}

/**
 * A lane that took a job which no stored job names yet (its agent or GitHub said busy, or the
 * ephemeral lane completed, before the job store learnt who ran the job).
 *
 * Every lane of a demand pool holds a reservation for one waiting job of its pool from the moment
 * its record is made (its create is in flight) until it takes a job — a count per pool, never a
 * binding to a job id, because GitHub may give any matching job to any matching runner. When the
 * lane takes a job before the job store knows, that job would look both running and still queued;
 * this record keeps it counted once. It ends when a stored job names the lane's runner, or
 * `scaling.reservationSec` after `takenAt`. Lanes leave the ledger (an ephemeral lane is removed
 * once it completed) while the job store may still lag, so the coordinator keeps these between
 * plans: {@link nextReservations} computes the next set from the last one and a fresh observation.
 */
export interface DemandReservation {
  laneId: string;
  pool: string;
  /** The host the lane ran on: the job it took was one this host's lanes can run. */
  hostId: string;
  /** The lane's runner name, as stored jobs name their runner. */
  runnerName: string;
  /** The lane's GitHub runner id, when it had one. */
  runnerId?: number;
  /** An ephemeral lane runs one job: any stored job naming its runner is that job. */
  ephemeral: boolean;
  /** Unix seconds the lane was first seen taking a job that no stored job named. */
  takenAt: number;
}

/** `PlanInput.demand`: the jobs, and what the coordinator remembers between plans. */
export interface PlanDemand {
  /**
   * Jobs of the scopes the policy serves, queued and in progress, and those completed recently
   * (at least `scaleDownAfterSec` back, so a lane's last job tells since when it is idle).
   */
  jobs: readonly DemandJob[];
  /** The reservations kept from the previous plan (see {@link DemandReservation}). */
  reservations?: readonly DemandReservation[];
  /**
   * Lane id → Unix seconds since which its host and GitHub have both said it is idle, kept by the
   * coordinator between plans like `PlanInput.offlineSince` (see {@link nextIdleSince}).
   */
  idleSince?: Readonly<Record<string, number>>;
  /** Unix seconds the job data were last known complete (the job store's last full poll). */
  observedAt: number;
  /**
   * Set when the job data could not be read this round: pools that follow demand then plan for
   * no waiting jobs and remove nothing, rather than read the gap as "no demand".
   */
  unavailable?: string;
}

/** What the job store gives the coordinator for one plan. */
export interface JobSnapshot {
  jobs: readonly DemandJob[];
  /** Unix seconds the job data were last known complete. */
  observedAt: number;
}

/**
 * The port the job store implements. The observer asks it once per plan; an error makes the plan
 * treat every demand pool as unobservable for that round (its lanes are neither created nor
 * removed for demand), never as "no demand".
 */
export interface DemandSource {
  /** Jobs of these scopes (`acme/api`, or `org:acme` for every repository of `acme`). */
  snapshot(scopes: readonly string[], now: number): Promise<JobSnapshot>;
}

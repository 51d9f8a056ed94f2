/**
 * How the simulated `busy` flag trails the truth. GitHub's flag is known to turn true 25–60 s
 * after a job starts, to read false for a moment mid-job, and to stay true a while after the job
 * ended; consumers must not trust it alone.
 */
export interface BusyLag {
  /** Delay between a job really starting and `busy` reading true. Default 2000 ms. */
  lagMs: number;
  /** Once `busy` reads true, how long until it flips back to false for a while. */
  flipAfterMs: number;
  /** How long the mid-job flip lasts; 0 disables flipping. */
  flipMs: number;
  /** How long `busy` keeps reading true after the job ended. Default 0. */
  trailMs: number;
}

export const DEFAULT_BUSY_LAG: BusyLag = { lagMs: 2000, flipAfterMs: 0, flipMs: 0, trailMs: 0 };

/** The runner's current job, or its most recent one: what the flag is derived from. */
export interface BusySource {
  startedAt: number;
  /** `null` while the job runs. */
  endedAt: number | null;
}

/**
 * What GitHub would report as `busy` at `now`: true from `lagMs` after the job started until
 * `trailMs` after it ended, except during the mid-job flip.
 */
export function reportedBusy(job: BusySource | null, now: number, lag: BusyLag): boolean {
  if (job === null) return false;
  if (job.endedAt !== null && now >= job.endedAt + lag.trailMs) return false;
  const since = now - job.startedAt;
  if (since < lag.lagMs) return false;
  const flipStart = lag.lagMs + lag.flipAfterMs;
  if (lag.flipMs > 0 && since >= flipStart && since < flipStart + lag.flipMs) return false;
  return true;
}

/**
 * How the simulated `busy` flag trails the truth. GitHub's flag is known to turn true 25–60 s
 * after a job starts and to read false for a moment mid-job; consumers must not trust it alone.
 */
export interface BusyLag {
  /** Delay between a job really starting and `busy` reading true. Default 2000 ms. */
  lagMs: number;
  /** Once `busy` reads true, how long until it flips back to false for a while. */
  flipAfterMs: number;
  /** How long the mid-job flip lasts; 0 disables flipping. */
  flipMs: number;
}

export const DEFAULT_BUSY_LAG: BusyLag = { lagMs: 2000, flipAfterMs: 0, flipMs: 0 };

/**
 * What GitHub would report as `busy` at `now` for a runner whose current job started at
 * `jobStartedAt` (`null`: no job).
 */
export function reportedBusy(jobStartedAt: number | null, now: number, lag: BusyLag): boolean {
  if (jobStartedAt === null) return false;
  const since = now - jobStartedAt;
  if (since < lag.lagMs) return false;
  const flipStart = lag.lagMs + lag.flipAfterMs;
  if (lag.flipMs > 0 && since >= flipStart && since < flipStart + lag.flipMs) return false;
  return true;
}

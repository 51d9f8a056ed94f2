import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/** One job of a trace (`POST /_sim/trace`): when it arrives, where, on what, for how long. */
export interface TraceJob {
  /** Arrival, in ms after the trace starts (divided by the replay's speed). */
  atMs: number;
  /** `owner/repo`; or give `organization` for a job of the organization's `.github` repository. */
  repository?: string;
  organization?: string;
  /** The job's `runs-on` labels. */
  labels: string[];
  /** How long it runs once a runner took it (divided by the replay's speed). */
  durationMs: number;
  /** `failure`: it runs its whole duration and is recorded failed. Default `success`. */
  conclusion?: 'success' | 'failure';
  /** `runs-on: {group: NAME}`. */
  runnerGroup?: string;
}

/** An inclusive range of whole numbers. */
export type Range = readonly [min: number, max: number];

/** Options of {@link burstyTrace}. */
export interface BurstyTraceOptions {
  /** The same seed and options give the same trace. */
  seed: number;
  bursts: number;
  /** Jobs in one burst. */
  jobsPerBurst: Range;
  /** From the start of one burst to the start of the next. */
  burstGapMs: Range;
  /** A burst's jobs arrive at uniformly random times within this long of its start. */
  burstSpreadMs: number;
  durationMs: Range;
  labels: readonly string[];
  /** Exactly one of `repository` and `organization`. */
  repository?: string;
  organization?: string;
  /** Share (0–1) of jobs that end in failure. Default 0. */
  failureRate?: number;
  /** Arrival of the first burst. Default 0. */
  startMs?: number;
}

function checkRange(name: string, r: Range): void {
  const [min, max] = r;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 0 || max < min) {
    throw new RangeError(`"${name}" must be two whole numbers [min, max] with 0 <= min <= max`);
  }
}

/**
 * A seeded trace of bursts: `bursts` groups of `jobsPerBurst` jobs, a burst every `burstGapMs`,
 * each job arriving within `burstSpreadMs` of its burst's start and running for `durationMs`.
 * Jobs are in order of arrival. For benchmarks and tests of demand-driven scaling.
 */
export function burstyTrace(o: BurstyTraceOptions): TraceJob[] {
  checkRange('jobsPerBurst', o.jobsPerBurst);
  checkRange('burstGapMs', o.burstGapMs);
  checkRange('durationMs', o.durationMs);
  if (!Number.isInteger(o.bursts) || o.bursts < 0) throw new RangeError('"bursts" must be >= 0');
  if (!Number.isInteger(o.burstSpreadMs) || o.burstSpreadMs < 0) {
    throw new RangeError('"burstSpreadMs" must be a whole number >= 0');
  }
  const failureRate = o.failureRate ?? 0;
  if (!(failureRate >= 0 && failureRate <= 1)) throw new RangeError('"failureRate" must be 0 to 1');
  let where: { repository: string } | { organization: string };
  if (o.repository !== undefined && o.organization === undefined) {
    where = { repository: o.repository };
  } else if (o.organization !== undefined && o.repository === undefined) {
    where = { organization: o.organization };
  } else {
    throw new RangeError('Give exactly one of "repository" and "organization"');
  }
  const rng = xoroshiro128plus(o.seed);
  const between = (r: Range): number => uniformInt(rng, r[0], r[1]);
  const jobs: TraceJob[] = [];
  let start = o.startMs ?? 0;
  for (let b = 0; b < o.bursts; b++) {
    if (b > 0) start += between(o.burstGapMs);
    const n = between(o.jobsPerBurst);
    for (let i = 0; i < n; i++) {
      const failed = failureRate > 0 && uniformFloat64(rng) < failureRate;
      jobs.push({
        atMs: start + uniformInt(rng, 0, o.burstSpreadMs),
        ...where,
        labels: [...o.labels],
        durationMs: between(o.durationMs),
        ...(failed ? { conclusion: 'failure' as const } : {}),
      });
    }
  }
  return mergeTraces(jobs);
}

/** Traces merged into one, in order of arrival (ties keep their order). */
export function mergeTraces(...traces: readonly (readonly TraceJob[])[]): TraceJob[] {
  return traces.flat().sort((a, b) => a.atMs - b.atMs);
}

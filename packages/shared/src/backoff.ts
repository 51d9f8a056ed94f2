/**
 * The one backoff: capped exponential, optionally with full jitter. Pure: the random draw is
 * passed in. With full jitter a fleet that failed at the same moment does not retry in lockstep.
 */

/** Limits of a backoff, in milliseconds. */
export interface BackoffLimits {
  /** The first ceiling. */
  baseMs: number;
  /** The largest ceiling. */
  capMs: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
}

/** The ceiling of attempt `attempt` (0-based): `min(cap, base · factor^attempt)`, in ms. */
export function backoffCeilingMs(attempt: number, limits: BackoffLimits): number {
  // Past this exponent the ceiling is the cap anyway; stops factor^attempt reaching Infinity.
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 64);
  return Math.min(limits.capMs, limits.baseMs * (limits.factor ?? 2) ** exp);
}

/**
 * The delay before retry `attempt` (0-based), in whole ms. Without `random` it is the ceiling;
 * with a draw in [0, 1) it is full jitter, uniform in [0, ceiling]. A broken draw (NaN, out of
 * range) never yields a negative, NaN or over-cap delay.
 */
export function backoffDelayMs(
  attempt: number,
  limits: BackoffLimits & { random?: number },
): number {
  const ceiling = backoffCeilingMs(attempt, limits);
  if (limits.random === undefined) return Math.round(ceiling);
  const r = limits.random;
  const u = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1;
  return Math.round(u * ceiling);
}

/** Options of {@link Backoff}. */
export interface BackoffOptions extends Partial<BackoffLimits> {
  /** Uniform random number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 64_000;

/** A stateful, fully jittered delay sequence over {@link backoffDelayMs}. */
export class Backoff {
  readonly #limits: Required<BackoffLimits>;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#limits = {
      baseMs: options.baseMs ?? DEFAULT_BACKOFF_BASE_MS,
      capMs: options.capMs ?? DEFAULT_BACKOFF_CAP_MS,
      factor: options.factor ?? 2,
    };
    this.#random = options.random ?? Math.random;
    const { baseMs, capMs, factor } = this.#limits;
    if (!(baseMs > 0) || !(capMs >= baseMs) || !(factor >= 1)) {
      throw new RangeError('Backoff needs baseMs > 0, capMs >= baseMs and factor >= 1');
    }
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in ms, an integer in [0, ceiling]; advances the attempt. */
  next(): number {
    const delay = backoffDelayMs(this.#attempt, { ...this.#limits, random: this.#random() });
    this.#attempt += 1;
    return delay;
  }

  /** Starts over from the base delay. */
  reset(): void {
    this.#attempt = 0;
  }
}

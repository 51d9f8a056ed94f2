/**
 * Reconnect delays: capped exponential backoff with full jitter
 * (docs/design/protocol.md "Heartbeat and reconnect"), so a
 * fleet of agents that lost the coordinator at the same moment does not come back in lockstep.
 * Pure: the random source is passed in.
 */

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First ceiling, in ms. Default 1 000. */
  baseMs?: number;
  /** Largest ceiling, in ms. Default 64 000. */
  capMs?: number;
  /** Growth of the ceiling per attempt. Default 2. */
  factor?: number;
  /** Uniform random number in [0, 1). Default `Math.random`. */
  random?: () => number;
}

export const DEFAULT_BACKOFF_BASE_MS = 1_000;
export const DEFAULT_BACKOFF_CAP_MS = 64_000;

/** The ceiling of attempt `attempt` (0-based): `min(cap, base * factor^attempt)`. */
export function backoffCeiling(
  attempt: number,
  opts: { baseMs: number; capMs: number; factor: number },
): number {
  // Past this exponent the ceiling is the cap anyway; stops factor^attempt reaching Infinity.
  const exp = Math.min(Math.max(0, Math.floor(attempt)), 64);
  return Math.min(opts.capMs, opts.baseMs * opts.factor ** exp);
}

/** Stateful delay sequence: each {@link next} draws uniformly from [0, ceiling of the attempt]. */
export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #factor: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.#capMs = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#capMs >= this.#baseMs) || !(this.#factor >= 1)) {
      throw new RangeError('Backoff needs baseMs > 0, capMs >= baseMs and factor >= 1');
    }
  }

  /** Attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in ms, an integer in [0, ceiling]; advances the attempt. */
  next(): number {
    const ceiling = backoffCeiling(this.#attempt, {
      baseMs: this.#baseMs,
      capMs: this.#capMs,
      factor: this.#factor,
    });
    this.#attempt += 1;
    const r = this.#random();
    // A broken random source must not yield a negative, NaN or over-cap delay.
    const u = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1;
    return Math.round(u * ceiling);
  }

  /** Starts over from the base delay (after a stable session). */
  reset(): void {
    this.#attempt = 0;
  }
}

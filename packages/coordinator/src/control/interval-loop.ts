/**
 * A background loop that runs a round, waits an interval on the control clock, and repeats until
 * stopped: the reconciler's and the job poller's. A failed round is logged and the next one tries
 * again; stopping aborts the wait and waits for the round in flight. `wake()` cuts the wait short
 * (an event worth acting on, e.g. a queued job's webhook): many wakes during one round or wait
 * make one extra round, never one each, and rounds stay at least `minGapMs` apart.
 */
import type { Logger } from '../ports/logger.js';
import type { Clock } from '@launchplane/shared';
import { errorBody } from './saga-support.js';

export interface IntervalLoopDeps {
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  /** Least time between the end of a round and the start of the next, woken or not. */
  minGapMs?: number;
  what: string;
}

export class IntervalLoop {
  readonly #round: (signal: AbortSignal) => Promise<unknown>;
  readonly #deps: IntervalLoopDeps;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  /** Aborts the current wait (not the loop) when woken. */
  #wait: AbortController | undefined;
  #woken = false;
  /** When a round asked for the next one (`wakeAt`), if sooner than the interval. */
  #dueAtMs: number | undefined;

  constructor(round: (signal: AbortSignal) => Promise<unknown>, deps: IntervalLoopDeps) {
    this.#round = round;
    this.#deps = deps;
  }

  /** Starts the loop (idempotent); the first round runs at once. */
  start(): void {
    if (this.#loop !== undefined) return;
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = this.#run(abort.signal);
  }

  /** Stops the loop and waits for the current round to end. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#loop;
    this.#loop = undefined;
    this.#abort = undefined;
  }

  /**
   * Runs the next round early: now if the loop is waiting (once `minGapMs` has passed since the
   * last round ended), or right after the round in flight.
   */
  wake(): void {
    this.#woken = true;
    this.#wait?.abort();
  }

  /**
   * Called by a round: runs the next round no later than `atMs` (on the loop's clock), still at
   * least `minGapMs` after this one, for something the round knows will be due then. The
   * earliest asked for wins; the next round starting clears it.
   */
  wakeAt(atMs: number): void {
    this.#dueAtMs = Math.min(this.#dueAtMs ?? Infinity, atMs);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { clock, intervalMs, minGapMs = 0 } = this.#deps;
    while (!signal.aborted) {
      this.#woken = false;
      this.#dueAtMs = undefined;
      try {
        await this.#round(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#deps.logger.error({ err: errorBody(err) }, `${this.#deps.what} round failed`);
      }
      const endedMs = clock.nowMs();
      if (!this.#woken) {
        const wait = new AbortController();
        this.#wait = wait;
        const both = AbortSignal.any([signal, wait.signal]);
        try {
          const dueInMs = (this.#dueAtMs ?? Infinity) - clock.nowMs();
          await clock.sleep(Math.max(0, Math.min(intervalMs, dueInMs)), both);
        } catch {
          if (signal.aborted) return;
        } finally {
          this.#wait = undefined;
        }
      }
      const gapLeftMs = endedMs + minGapMs - clock.nowMs();
      if (gapLeftMs > 0) {
        try {
          await clock.sleep(gapLeftMs, signal);
        } catch {
          return;
        }
      }
    }
  }
}

/**
 * A background loop that runs a round, waits an interval on the control clock, and repeats until
 * stopped: the reconciler's and the job poller's. A failed round is logged and the next one tries
 * again; stopping aborts the wait and waits for the round in flight.
 */
import type { Logger } from '../ports/logger.js';
import type { Clock } from './clock.js';
import { errorBody } from './saga-support.js';

export class IntervalLoop {
  readonly #round: (signal: AbortSignal) => Promise<unknown>;
  readonly #deps: { clock: Clock; logger: Logger; intervalMs: number; what: string };
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;

  constructor(
    round: (signal: AbortSignal) => Promise<unknown>,
    deps: { clock: Clock; logger: Logger; intervalMs: number; what: string },
  ) {
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

  async #run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#round(signal);
      } catch (err) {
        if (signal.aborted) return;
        this.#deps.logger.error({ err: errorBody(err) }, `${this.#deps.what} round failed`);
      }
      try {
        await this.#deps.clock.sleep(this.#deps.intervalMs, signal);
      } catch {
        return;
      }
    }
  }
}

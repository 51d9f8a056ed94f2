/**
 * One saga per lane at a time: a drain and a remove of the same lane, or an operator's action
 * racing the reconciler, must not interleave. A second caller is refused, never queued.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { LaneSaga } from '../domain/plan.js';

export class LaneLocks {
  readonly #held = new Map<string, { what: string; saga: LaneSaga | undefined }>();

  /**
   * Takes the lock of `key` for `what`, or throws `LP_CONFLICT` naming the holder. `saga` says
   * what is done to the lane `key` (the planner reads it, see {@link sagas}); other locks (the
   * apply's) have none.
   */
  acquire(key: string, what: string, saga?: LaneSaga): () => void {
    const holder = this.#held.get(key)?.what;
    if (holder !== undefined) {
      throw new LaunchplaneError('LP_CONFLICT', `Cannot ${what}: "${holder}" is in progress`, {
        recovery: 'Wait for it to finish (see "launchplane audit"), then try again',
      });
    }
    this.#held.set(key, { what, saga });
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(key);
    };
  }

  /** Says that the saga holding `key` now does `saga` (a scale-down being taken back). */
  retag(key: string, saga: LaneSaga): void {
    const held = this.#held.get(key);
    if (held !== undefined) held.saga = saga;
  }

  /** The lanes a saga works on now, and what it does to each. */
  sagas(): Map<string, LaneSaga> {
    const out = new Map<string, LaneSaga>();
    for (const [key, { saga }] of this.#held) if (saga !== undefined) out.set(key, saga);
    return out;
  }

  /** Whether `key` is locked. */
  has(key: string): boolean {
    return this.#held.has(key);
  }
}

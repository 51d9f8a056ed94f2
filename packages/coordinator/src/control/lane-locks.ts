/**
 * One saga per lane at a time: a drain and a remove of the same lane, or an operator's action
 * racing the reconciler, must not interleave. A second caller is refused, never queued.
 */
import { LaunchplaneError } from '@launchplane/shared';

export class LaneLocks {
  readonly #held = new Map<string, string>();

  /** Takes the lock of `key` for `what`, or throws `LP_CONFLICT` naming the holder. */
  acquire(key: string, what: string): () => void {
    const holder = this.#held.get(key);
    if (holder !== undefined) {
      throw new LaunchplaneError('LP_CONFLICT', `Cannot ${what}: "${holder}" is in progress`, {
        recovery: 'Wait for it to finish (see "launchplane audit"), then try again',
      });
    }
    this.#held.set(key, what);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.delete(key);
    };
  }

  /** Whether `key` is locked. */
  has(key: string): boolean {
    return this.#held.has(key);
  }
}

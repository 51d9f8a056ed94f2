/**
 * The Clock port: time and timers for the agent core. The health loop and command checks read time
 * only through it, so unit tests drive them deterministically with {@link ManualClock}.
 */

import {
  sleepOnTimer,
  type Clock as SharedClock,
  type SetTimer,
  type TimerHandle,
} from '@launchplane/shared';

export type { TimerHandle };

/** The shared Clock port, plus a timer scheduler for the agent's loops. */
export interface Clock extends SharedClock {
  /** Runs `fn` once after `delayMs`. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

/** The real clock: `Date.now()` and `setTimeout` (unref'd, so it never keeps a process alive). */
const unrefTimer: SetTimer = (delayMs, fn) => {
  const t = setTimeout(fn, delayMs);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer: unrefTimer,
  sleep: (ms, signal) => sleepOnTimer(unrefTimer, ms, signal),
};

/** A clock that only moves when told to: `advance(ms)` fires the timers that fall due, in order. */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; id: number; fn: () => void }[] = [];
  #nextId = 0;

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOnTimer((d, fn) => this.setTimer(d, fn), ms, signal);
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const id = this.#nextId++;
    this.#timers.push({ at: this.#now + Math.max(0, delayMs), id, fn });
    return { cancel: () => (this.#timers = this.#timers.filter((t) => t.id !== id)) };
  }

  /** Moves time forward by `ms`, running every timer due on the way (timers set meanwhile too). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t.id !== due.id);
      this.#now = Math.max(this.#now, due.at);
      due.fn();
    }
    this.#now = target;
  }

  /** Number of timers still scheduled. */
  get pending(): number {
    return this.#timers.length;
  }
}

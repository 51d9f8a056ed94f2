/** The real clock: `Date.now()` and unref'd timers (a wait never keeps the process alive). */
import { sleepOnTimer, type Clock, type SetTimer } from '@launchplane/shared';

const unrefTimer: SetTimer = (delayMs, fn) => {
  const timer = setTimeout(fn, delayMs);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) => sleepOnTimer(unrefTimer, ms, signal),
};

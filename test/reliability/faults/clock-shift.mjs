// Preload (`node --import ./clock-shift.mjs`) that runs a process with a skewed wall clock:
// `Date.now()` and `new Date()` read LP_CLOCK_SHIFT_SEC seconds ahead (negative: behind). Timers
// are untouched. Used to run the real agent on a host whose clock is off by minutes.
import process from 'node:process';

const shiftMs = Number(process.env.LP_CLOCK_SHIFT_SEC ?? '0') * 1000;
if (Number.isFinite(shiftMs) && shiftMs !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + shiftMs);
      else super(...args);
    }
    static now() {
      return realNow() + shiftMs;
    }
  }
  globalThis.Date = ShiftedDate;
}

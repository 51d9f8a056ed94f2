/**
 * Two ways of doing the same read, timed in alternating batches: on a shared machine interference
 * comes and goes, and alternating (A B, B A, A B, …) lets both see the same share of it, where
 * running one after the other would hand all of a noisy minute to one of them.
 */
import { performance } from 'node:perf_hooks';
import { CpuMeter } from './proc-stat.js';
import type { CpuTimes } from './proc-stat.js';

/**
 * One way of reading: `once(i, timed)` does read number `i` and resolves with its latency in ms;
 * `timed` is false for warm-up reads.
 */
export interface ReadMethod {
  count: number;
  once(i: number, timed: boolean): Promise<number>;
}

/** Samples, summed batch wall time and CPU use (per process) of one method. */
export interface MethodRun {
  samples: number[];
  wallMs: number;
  cpu: Map<string, CpuTimes>;
}

function add(into: Map<string, CpuTimes>, diff: Map<string, CpuTimes>): void {
  for (const [name, t] of diff) {
    const prev = into.get(name) ?? { selfMs: 0, childrenMs: 0 };
    into.set(name, {
      selfMs: prev.selfMs + t.selfMs,
      childrenMs: prev.childrenMs + t.childrenMs,
    });
  }
}

/**
 * Runs `warmup` untimed reads of each, then `rounds` rounds of one batch of each (order alternating
 * per round), each batch a slice of the method's `count` reads done one at a time.
 */
export async function interleave(
  a: ReadMethod,
  b: ReadMethod,
  options: { rounds: number; warmup: number; meter: CpuMeter },
): Promise<[MethodRun, MethodRun]> {
  for (let i = 0; i < options.warmup; i++) {
    await a.once(i, false);
    await b.once(i, false);
  }
  const runs: [MethodRun, MethodRun] = [
    { samples: [], wallMs: 0, cpu: new Map() },
    { samples: [], wallMs: 0, cpu: new Map() },
  ];
  const methods = [a, b] as const;
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const);
    for (const which of order) {
      const method = methods[which];
      const run = runs[which];
      const from = Math.floor((round * method.count) / options.rounds);
      const to = Math.floor(((round + 1) * method.count) / options.rounds);
      const before = options.meter.snapshot();
      const start = performance.now();
      for (let i = from; i < to; i++) run.samples.push(await method.once(i, true));
      run.wallMs += performance.now() - start;
      add(run.cpu, CpuMeter.diff(before, options.meter.snapshot()));
    }
  }
  return runs;
}

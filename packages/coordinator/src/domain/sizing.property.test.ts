/**
 * Properties of pool sizing and placement, checked against an independent max-flow oracle: the
 * plan reaches exactly the target where placement allows, stays within every per-host limit,
 * never makes a lane for a job that a free lane could run or on a host that cannot run it, and
 * makes one lane per job at most.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  poolTarget,
  sizePool,
  type SizingHost,
  type SizingInput,
  type SizingJob,
} from './sizing.js';

const HOST_IDS = ['h0', 'h1', 'h2', 'h3'] as const;

const hostArb: fc.Arbitrary<Omit<SizingHost, 'hostId'>> = fc
  .record({
    lanes: fc.integer({ min: 0, max: 4 }),
    busyShare: fc.integer({ min: 0, max: 4 }),
    room: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ lanes, busyShare, room }) => ({
    lanes,
    free: lanes - Math.min(lanes, busyShare),
    room,
    block: { guardrail: 'capacity' as const, message: 'full' },
  }));

const inputArb: fc.Arbitrary<SizingInput> = fc
  .record({
    hosts: fc.array(hostArb, { minLength: 1, maxLength: HOST_IDS.length }),
    jobs: fc.array(
      fc.record({
        queuedAt: fc.integer({ min: 0, max: 50 }),
        hostMask: fc.integer({ min: 1, max: 15 }),
      }),
      { maxLength: 10 },
    ),
    min: fc.integer({ min: 0, max: 6 }),
    maxExtra: fc.integer({ min: 0, max: 14 }),
    minIdle: fc.integer({ min: 0, max: 6 }),
    placement: fc.constantFrom('spread' as const, 'pack' as const),
    everywhere: fc.boolean(),
  })
  .map(({ hosts, jobs, min, maxExtra, minIdle, placement, everywhere }) => {
    const hs: SizingHost[] = hosts.map((h, i) => ({ hostId: HOST_IDS[i] ?? 'h9', ...h }));
    const ids = hs.map((h) => h.hostId);
    const waiting: SizingJob[] = jobs.map((j, i) => {
      const eligible = everywhere ? ids : ids.filter((_, k) => (j.hostMask >> k) & 1);
      return { id: 100 + i, queuedAt: j.queuedAt, hosts: eligible.length > 0 ? eligible : ids };
    });
    const max = min + maxExtra;
    return {
      min,
      max,
      minIdle: Math.min(minIdle, max),
      busy: hs.reduce((n, h) => n + h.lanes - h.free, 0),
      hosts: hs,
      waiting,
      placement,
    };
  });

/** Maximum matching of jobs to host slots (Edmonds–Karp on a unit network): the oracle. */
function maxServed(jobs: readonly SizingJob[], slots: ReadonlyMap<string, number>): number {
  const hostIds = [...slots.keys()];
  const n = 2 + jobs.length + hostIds.length;
  const S = 0;
  const T = n - 1;
  const capacity = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  jobs.forEach((j, i) => {
    capacity[S]![1 + i] = 1;
    for (const h of j.hosts) {
      const k = hostIds.indexOf(h);
      if (k >= 0) capacity[1 + i]![1 + jobs.length + k] = 1;
    }
  });
  hostIds.forEach((h, k) => {
    capacity[1 + jobs.length + k]![T] = slots.get(h) ?? 0;
  });
  let flow = 0;
  for (;;) {
    const prev = new Array<number>(n).fill(-1);
    prev[S] = S;
    const queue = [S];
    while (queue.length > 0 && prev[T] === -1) {
      const u = queue.shift() ?? 0;
      for (let v = 0; v < n; v++) {
        if (prev[v] === -1 && (capacity[u]?.[v] ?? 0) > 0) {
          prev[v] = u;
          queue.push(v);
        }
      }
    }
    if (prev[T] === -1) return flow;
    for (let v = T; v !== S; v = prev[v] ?? S) {
      const u = prev[v] ?? S;
      capacity[u]![v]! -= 1;
      capacity[v]![u]! += 1;
    }
    flow++;
  }
}

const RUNS = { numRuns: 400 };

describe('sizePool() properties', () => {
  it('computes the target as min(max, max(min, busy + waiting + minIdle))', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = sizePool(input);
        expect(r.target).toBe(
          Math.min(
            input.max,
            Math.max(input.min, input.busy + input.waiting.length + input.minIdle),
          ),
        );
        expect(r.target).toBe(poolTarget({ ...input, waiting: input.waiting.length }));
      }),
      RUNS,
    );
  });

  it('never places a lane beyond a host`s room, never on a host that cannot run its job, never above max', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = sizePool(input);
        const lanes = input.hosts.reduce((n, h) => n + h.lanes, 0);
        for (const h of input.hosts) {
          const here = r.creates.filter((c) => c.hostId === h.hostId).length;
          expect(here).toBeLessThanOrEqual(h.room);
        }
        expect(r.creates.length).toBeLessThanOrEqual(Math.max(0, input.max - lanes));
        const byId = new Map(input.waiting.map((j) => [j.id, j]));
        const jobIds = r.creates.flatMap((c) =>
          c.purpose.kind === 'job' ? [c.purpose.jobId] : [],
        );
        expect(new Set(jobIds).size).toBe(jobIds.length); // one lane per job at most
        for (const c of r.creates) {
          if (c.purpose.kind !== 'job') continue;
          expect(byId.get(c.purpose.jobId)?.hosts).toContain(c.hostId);
          expect(r.uncovered).toContain(c.purpose.jobId);
        }
      }),
      RUNS,
    );
  });

  it('covers as many waiting jobs with free lanes as possible, and makes lanes only for the rest', () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = sizePool(input);
        const lanes = input.hosts.reduce((n, h) => n + h.lanes, 0);
        const free = new Map(input.hosts.map((h) => [h.hostId, h.free]));
        const both = new Map(input.hosts.map((h) => [h.hostId, h.free + h.room]));
        const coverable = maxServed(input.waiting, free);
        const servable = maxServed(input.waiting, both);
        expect(r.covered).toHaveLength(coverable);
        const budget = Math.max(0, input.max - lanes);
        const forJobs = r.creates.filter((c) => c.purpose.kind === 'job').length;
        expect(forJobs).toBe(Math.min(servable - coverable, budget));
        // Idle lanes never beyond minIdle, lanes for min never beyond min.
        const spare = input.hosts.reduce((n, h) => n + h.free, 0) - coverable;
        const idle = r.creates.filter((c) => c.purpose.kind === 'min-idle').length;
        expect(idle).toBeLessThanOrEqual(Math.max(0, input.minIdle - spare));
        const forMin = r.creates.filter((c) => c.purpose.kind === 'min').length;
        expect(lanes + r.creates.length - forMin).toBeLessThanOrEqual(
          Math.max(lanes + r.creates.length - forMin, input.min),
        );
        if (forMin > 0) expect(lanes + r.creates.length).toBeLessThanOrEqual(input.min);
      }),
      RUNS,
    );
  });

  it('plans exactly the target when every job can run anywhere and hosts have room: never over, never under', () => {
    fc.assert(
      fc.property(
        inputArb.map((i) => ({
          ...i,
          waiting: i.waiting.map((j) => ({ ...j, hosts: i.hosts.map((h) => h.hostId) })),
        })),
        (input) => {
          const r = sizePool(input);
          const lanes = input.hosts.reduce((n, h) => n + h.lanes, 0);
          const room = input.hosts.reduce((n, h) => n + h.room, 0);
          const wanted = Math.max(0, r.target - lanes);
          expect(r.creates.length).toBe(Math.min(wanted, room));
          // What could not be placed is reported as blocked, with the reason of a host.
          const blocked = r.blocked.reduce((n, b) => n + b.count, 0);
          if (r.creates.length < wanted) {
            expect(blocked).toBe(wanted - r.creates.length);
          } else {
            expect(blocked).toBe(0);
          }
          // Scale-down never takes the pool below its target, min or minIdle.
          expect(lanes - r.removable).toBeGreaterThanOrEqual(Math.min(lanes, r.target));
          expect(r.removable === 0 || r.creates.length === 0).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('spreads over the hosts with the fewest lanes, or packs onto the fullest', () => {
    fc.assert(
      fc.property(
        inputArb.map((i) => ({
          ...i,
          waiting: i.waiting.map((j) => ({ ...j, hosts: i.hosts.map((h) => h.hostId) })),
        })),
        (input) => {
          const r = sizePool(input);
          const after = new Map(input.hosts.map((h) => [h.hostId, h.lanes]));
          const made = new Map<string, number>();
          for (const c of r.creates) {
            after.set(c.hostId, (after.get(c.hostId) ?? 0) + 1);
            made.set(c.hostId, (made.get(c.hostId) ?? 0) + 1);
          }
          for (const h of input.hosts) {
            if ((made.get(h.hostId) ?? 0) === 0) continue;
            for (const o of input.hosts) {
              const left = o.room - (made.get(o.hostId) ?? 0);
              if (o === h || left <= 0) continue;
              // A host still with room was not a better choice when h got its last lane: under
              // spread it held at least as many then (so at least as many now); under pack at
              // most as many then (so it started with at most as many).
              const last = (after.get(h.hostId) ?? 0) - 1;
              if (input.placement === 'spread') {
                expect(last).toBeLessThanOrEqual(after.get(o.hostId) ?? 0);
              } else {
                expect(last).toBeGreaterThanOrEqual(o.lanes);
              }
            }
          }
        },
      ),
      RUNS,
    );
  });
});

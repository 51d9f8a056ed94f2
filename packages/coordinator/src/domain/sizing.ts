/**
 * Sizing and placement of one pool that follows demand (docs/policy.md "Scaling on demand").
 * Pure arithmetic over counts: no I/O, no clock, deterministic.
 *
 *   target = min(max, max(min, busy + waiting + minIdle))
 *
 * Each waiting job may only run on some hosts (those whose lanes carry its labels). A lane that
 * exists and is not busy covers one waiting job it could run; a job no such lane covers gets one
 * new lane, on a host it can run on — so one job never causes more than one lane. Then idle lanes
 * are made up to `minIdle`, then lanes up to `min`, never above `max`. Every new lane goes on a
 * host with room (its per-host `lanes`, its `maxLanes`, and no guardrail in the way), chosen
 * `spread` (fewest lanes of the pool first) or `pack` (most first). Lanes that cannot be placed are
 * reported as blocked, never placed where they would not help.
 *
 * Matching jobs to lanes and to hosts is a bipartite matching with host capacities, solved
 * exactly (augmenting paths), so no job is left uncovered while a lane that could run it idles.
 */
import type { Guardrail } from '@launchplane/shared';

/** One host of the pool as sizing sees it. */
export interface SizingHost {
  hostId: string;
  /** Lanes of the pool on this host that hold a slot, busy or not. */
  lanes: number;
  /** Of those, the lanes not running a job: each may take one waiting job this host can run. */
  free: number;
  /** New lanes of the pool the host may take now (0 while a guardrail blocks it). */
  room: number;
  /** Why the host takes no more than `room`: reported when a wanted lane could go nowhere. */
  block: { guardrail: Guardrail; message: string };
}

/** A job waiting for a runner, and the hosts whose lanes of the pool could run it. */
export interface SizingJob {
  id: number;
  queuedAt: number;
  hosts: readonly string[];
}

export interface SizingInput {
  /** Effective bounds (schedule windows applied); `max` is already at most the sum of `lanes`. */
  min: number;
  max: number;
  minIdle: number;
  /** Lanes of the pool running a job. */
  busy: number;
  hosts: readonly SizingHost[];
  waiting: readonly SizingJob[];
  placement: 'spread' | 'pack';
}

/** Why a lane is made: for one waiting job, to keep `minIdle` idle lanes, or to reach `min`. */
export type CreatePurpose = { kind: 'job'; jobId: number } | { kind: 'min-idle' } | { kind: 'min' };

export interface PlacedCreate {
  hostId: string;
  purpose: CreatePurpose;
}

export interface SizingBlocked {
  hostId: string;
  count: number;
  guardrail: Guardrail;
  message: string;
  /** The waiting jobs among them. */
  jobIds: number[];
}

export interface SizingResult {
  target: number;
  /** Lanes of the pool holding a slot before this plan. */
  lanes: number;
  /** Waiting jobs a lane that already exists covers. */
  covered: number[];
  /** Waiting jobs no existing lane covers. */
  uncovered: number[];
  creates: PlacedCreate[];
  blocked: SizingBlocked[];
  /** Waiting jobs that get no lane because the pool is at `max`. */
  capped: number[];
  /** Per host, lanes that are neither busy nor covering a waiting job. */
  spare: ReadonlyMap<string, number>;
  /** How many spare lanes may be removed while keeping `min` and `minIdle`. */
  removable: number;
}

/** The target of a pool: `min(max, max(min, busy + waiting + minIdle))`. */
export function poolTarget(b: {
  min: number;
  max: number;
  minIdle: number;
  busy: number;
  waiting: number;
}): number {
  return Math.min(b.max, Math.max(b.min, b.busy + b.waiting + b.minIdle));
}

/** Sizes and places one pool. */
export function sizePool(input: SizingInput): SizingResult {
  const hosts = [...input.hosts].sort((a, b) => cmp(a.hostId, b.hostId));
  const lanes = sum(hosts.map((h) => h.lanes));
  const free = sum(hosts.map((h) => h.free));
  const waiting = [...input.waiting].sort((a, b) => a.queuedAt - b.queuedAt || a.id - b.id);
  const target = poolTarget({ ...input, waiting: waiting.length });

  // Every host offers two kinds of slot: its free lanes (`f:`) and room for new lanes (`r:`).
  const F = (h: string): string => `f:${h}`;
  const R = (h: string): string => `r:${h}`;
  const cap = new Map<string, number>();
  for (const h of hosts) {
    cap.set(F(h.hostId), Math.max(0, h.free));
    cap.set(R(h.hostId), Math.max(0, h.room));
  }
  const m = new Matcher(cap);
  const count = new Map(hosts.map((h) => [h.hostId, h.lanes]));
  const roomLeft = (h: string): number => (cap.get(R(h)) ?? 0) - m.load(R(h));
  const prefer = (candidates: readonly string[]): string[] =>
    [...candidates].sort((a, b) => {
      const na = (count.get(a) ?? 0) + m.load(R(a));
      const nb = (count.get(b) ?? 0) + m.load(R(b));
      return (input.placement === 'spread' ? na - nb : nb - na) || cmp(a, b);
    });
  const freeSlots = (job: SizingJob): string[] => [...job.hosts].sort(cmp).map(F);
  const anySlot = (job: SizingJob): string[] => [...freeSlots(job), ...prefer(job.hosts).map(R)];

  // 1. Lanes that exist and are free cover as many waiting jobs as any arrangement can.
  for (const job of waiting) m.add(job.id, () => freeSlots(job));
  // 2. Jobs still uncovered get a new lane each, oldest first, never above max. Augmenting paths
  //    only ever add a slot, so every free lane used in step 1 stays used.
  const budget = Math.max(0, input.max - lanes);
  const roomUsed = (): number => sum(hosts.map((h) => m.load(R(h.hostId))));
  const blockedJobs: SizingJob[] = [];
  const capped: number[] = [];
  let frozen = false;
  for (const job of waiting) m.retarget(job.id, () => anySlot(job));
  for (const job of waiting) {
    if (m.has(job.id)) continue;
    if (!frozen && roomUsed() >= budget) {
      // At max: no more new lanes, though a free lane may still be found by rearranging.
      for (const h of hosts) cap.set(R(h.hostId), m.load(R(h.hostId)));
      frozen = true;
    }
    if (m.add(job.id, () => anySlot(job))) continue;
    // A lane that cannot be placed still counts against max: it is wanted, and reported.
    if (frozen || roomUsed() + blockedJobs.length >= budget) capped.push(job.id);
    else blockedJobs.push(job);
  }
  const inFree = (id: number): boolean => (m.slotOf(id) ?? '').startsWith('f:');
  const covered = waiting.filter((j) => inFree(j.id)).map((j) => j.id);
  const uncovered = waiting.filter((j) => !inFree(j.id)).map((j) => j.id);
  const creates: PlacedCreate[] = [];
  for (const job of waiting) {
    const slot = m.slotOf(job.id);
    if (slot?.startsWith('r:') === true) {
      creates.push({ hostId: slot.slice(2), purpose: { kind: 'job', jobId: job.id } });
    }
  }
  const spare = new Map(hosts.map((h) => [h.hostId, h.free - m.load(F(h.hostId))]));
  const spareTotal = free - covered.length;

  // 3. Idle lanes up to minIdle, then lanes up to min, on any host with room.
  const unplaced: { purpose: 'min-idle' | 'min'; n: number }[] = [];
  const wantedUnplaced = (): number => blockedJobs.length + sum(unplaced.map((u) => u.n));
  const addAnywhere = (kind: 'min-idle' | 'min', wanted: number): void => {
    // Lanes above max are not made, and not reported as blocked: max is the operator's choice.
    let n = Math.min(wanted, Math.max(0, budget - roomUsed() - wantedUnplaced()));
    while (n > 0) {
      const hostId = prefer(hosts.map((h) => h.hostId).filter((h) => roomLeft(h) > 0))[0];
      if (hostId === undefined) break;
      // Negative keys: these lanes are for no job.
      m.add(-(creates.length + 1), () => [R(hostId)]);
      creates.push({ hostId, purpose: kind === 'min' ? { kind: 'min' } : { kind: 'min-idle' } });
      n--;
    }
    if (n > 0) unplaced.push({ purpose: kind, n });
  };
  addAnywhere('min-idle', Math.max(0, input.minIdle - spareTotal));
  addAnywhere('min', Math.max(0, input.min - (lanes + creates.length + wantedUnplaced())));

  const blocked = blockedOf(hosts, blockedJobs, unplaced);
  const removable = Math.max(0, Math.min(spareTotal - input.minIdle, lanes - input.min));
  return {
    target,
    lanes,
    covered,
    uncovered,
    creates: creates.sort(
      (a, b) => cmp(a.hostId, b.hostId) || purposeOrder(a.purpose) - purposeOrder(b.purpose),
    ),
    blocked,
    capped,
    spare,
    removable,
  };
}

/** Lanes that could go nowhere, each on the first host it could have gone to, with its reason. */
function blockedOf(
  hosts: readonly SizingHost[],
  jobs: readonly SizingJob[],
  unplaced: readonly { purpose: 'min-idle' | 'min'; n: number }[],
): SizingBlocked[] {
  const byHost = new Map<string, SizingBlocked>();
  const blockOf = new Map(hosts.map((h) => [h.hostId, h.block]));
  const put = (candidates: readonly string[], jobId: number | undefined): void => {
    const hostId = [...candidates].sort(cmp)[0];
    const block = hostId === undefined ? undefined : blockOf.get(hostId);
    if (hostId === undefined || block === undefined) return;
    const entry = byHost.get(hostId) ?? { hostId, count: 0, ...block, jobIds: [] };
    entry.count++;
    if (jobId !== undefined) entry.jobIds.push(jobId);
    byHost.set(hostId, entry);
  };
  for (const job of jobs) put(job.hosts, job.id);
  const all = hosts.map((h) => h.hostId);
  for (const u of unplaced) for (let i = 0; i < u.n; i++) put(all, undefined);
  return [...byHost.values()].sort((a, b) => cmp(a.hostId, b.hostId));
}

function purposeOrder(p: CreatePurpose): number {
  return p.kind === 'job'
    ? p.jobId
    : p.kind === 'min-idle'
      ? Number.MAX_SAFE_INTEGER - 1
      : Number.MAX_SAFE_INTEGER;
}

/**
 * Assigns items to hosts with capacities, maximally: when an item finds no host with room, it
 * moves earlier items along augmenting paths (Kuhn's algorithm), so an assignment never fails
 * while some rearrangement would succeed. Items keep the order they were added in.
 */
class Matcher {
  readonly #cap: ReadonlyMap<string, number>;
  readonly #onHost = new Map<string, number[]>();
  readonly #hostOf = new Map<number, string>();
  readonly #hostsOf = new Map<number, () => readonly string[]>();

  constructor(cap: ReadonlyMap<string, number>) {
    this.#cap = cap;
  }

  load(hostId: string): number {
    return this.#onHost.get(hostId)?.length ?? 0;
  }

  has(item: number): boolean {
    return this.#hostOf.has(item);
  }

  slotOf(item: number): string | undefined {
    return this.#hostOf.get(item);
  }

  /** Changes where an item (assigned or not) may go from now on; it stays where it is. */
  retarget(item: number, hosts: () => readonly string[]): void {
    this.#hostsOf.set(item, hosts);
  }

  /** Assigns `item` to one of `hosts()` (tried in that order); false when no arrangement fits it. */
  add(item: number, hosts: () => readonly string[]): boolean {
    this.#hostsOf.set(item, hosts);
    const ok = this.#augment(item, new Set());
    if (!ok) this.#hostsOf.delete(item);
    return ok;
  }

  #augment(item: number, seen: Set<string>): boolean {
    const candidates = this.#hostsOf.get(item)?.() ?? [];
    // A host with space first, in the item's order; only then rearrange.
    for (const h of candidates) {
      if (seen.has(h) || this.load(h) >= (this.#cap.get(h) ?? 0)) continue;
      seen.add(h);
      this.#place(item, h);
      return true;
    }
    for (const h of candidates) {
      if (seen.has(h)) continue;
      seen.add(h);
      for (const other of [...(this.#onHost.get(h) ?? [])]) {
        // Moving `other` elsewhere takes it off this host and makes room here.
        if (this.#augment(other, seen)) {
          this.#place(item, h);
          return true;
        }
      }
    }
    return false;
  }

  #place(item: number, h: string): void {
    const prev = this.#hostOf.get(item);
    if (prev !== undefined && prev !== h) {
      const list = this.#onHost.get(prev);
      if (list !== undefined && list.includes(item)) list.splice(list.indexOf(item), 1);
    }
    const here = this.#onHost.get(h) ?? [];
    if (!here.includes(item)) here.push(item);
    this.#onHost.set(h, here);
    this.#hostOf.set(item, h);
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

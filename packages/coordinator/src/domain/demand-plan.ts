/**
 * The planner's part for pools that follow demand (`scaling.mode: demand`): from the jobs, the
 * pool's lanes and its hosts, the pool's target and the creates, removes and blocked lanes that
 * reach it, each with a reason that names its jobs or its schedule window. Pure: `plan()` calls it
 * once per demand pool, after the per-host checks every pool gets (scope, backend, permission,
 * health), and applies what it returns.
 */
import {
  windowsInForce,
  type ActiveWindow,
  type Blocked,
  type Guardrail,
  type PlanAction,
  type Policy,
  type Pool,
  type PoolScaling,
  type Scaling,
  type UnmatchedJob,
} from '@launchplane/shared';
import type { DemandJob, PlanDemand } from './demand.js';
import type { GuardrailBlock, HostView } from './guardrails.js';
import { freeCapacity } from './guardrails.js';
import type { LaneView } from './lane-view.js';
import { saysBusy } from './lane-view.js';
import { matchJob, poolProfiles, type MatchHost } from './matching.js';
import {
  JobsByRunner,
  idleByHostAndGitHub,
  lastWorkAt,
  nextReservations,
  type LaneObservation,
} from './reservations.js';
import {
  sizePool,
  type CreatePurpose,
  type PlacedCreate,
  type SizingHost,
  type SizingJob,
} from './sizing.js';

/** The pool follows demand. */
export function followsDemand(pool: Pool): pool is Pool & { scaling: Scaling } {
  return pool.scaling?.mode === 'demand';
}

/** A waiting job and the hosts of its pool whose lanes could run it. */
interface WaitingJob {
  job: DemandJob;
  hosts: string[];
}

/** The jobs of one plan, matched to pools once. */
export interface DemandContext {
  demand: PlanDemand | undefined;
  /** Why the job data cannot be relied on this round, when they cannot. */
  unknown: string | undefined;
  jobs: JobsByRunner;
  waitingByPool: ReadonlyMap<string, WaitingJob[]>;
  unmatched: UnmatchedJob[];
  unmatchedTotal: number;
}

const MAX_LISTED = 100;

/**
 * Matches every queued job that no runner took to the pool it counts toward. Jobs of pools that
 * do not follow demand are matched too (they count toward that pool, which does not scale).
 */
export function prepareDemand(
  policy: Policy,
  coordinatorId: string,
  hosts: readonly MatchHost[],
  demand: PlanDemand | undefined,
): DemandContext {
  const unknown =
    demand === undefined
      ? 'no job source is configured'
      : demand.unavailable !== undefined
        ? `the job data could not be read: ${demand.unavailable}`
        : undefined;
  const jobs = demand?.jobs ?? [];
  const profiles = poolProfiles(policy, coordinatorId, hosts);
  const waitingByPool = new Map<string, WaitingJob[]>();
  const unmatched: UnmatchedJob[] = [];
  let unmatchedTotal = 0;
  const queued = [...jobs]
    .filter((j) => j.status === 'queued' && j.runnerId === undefined && j.runnerName === undefined)
    .sort((a, b) => a.queuedAt - b.queuedAt || a.id - b.id);
  const seen = new Set<number>();
  for (const job of queued) {
    if (seen.has(job.id)) continue;
    seen.add(job.id);
    const m = matchJob(job, profiles);
    if (m.matched) {
      const list = waitingByPool.get(m.pool) ?? [];
      list.push({ job, hosts: m.hosts });
      waitingByPool.set(m.pool, list);
    } else {
      unmatchedTotal++;
      if (unmatched.length < MAX_LISTED) {
        unmatched.push({
          jobId: job.id,
          repository: job.repository,
          labels: [...job.labels].slice(0, 100),
          reason: m.reason,
          message: clip(m.message),
        });
      }
    }
  }
  return {
    demand,
    unknown,
    jobs: new JobsByRunner(jobs),
    waitingByPool,
    unmatched,
    unmatchedTotal,
  };
}

/** One host of a demand pool, after the per-host checks of `plan()`. */
export interface DemandHostSlot {
  hostId: string;
  host: HostView;
  /** What keeps new lanes off this host (a guardrail, or GitHub unlisted), if anything. */
  stop: GuardrailBlock | undefined;
  /** Lanes of the pool on the host that hold a slot, are not being removed and may take a job. */
  kept: readonly LaneView[];
  /**
   * Lanes of the pool on the host that still hold a slot but will take no job again (quarantined,
   * or a drain or remove is under way): no supply, but within the pool's `lanes` for the host.
   */
  leaving: number;
  /**
   * Of the leaving lanes, those a scale-down is draining and has not begun removing: a lane the
   * pool needs is taken back from these (`reclaim`) before one is made.
   */
  reclaimable: readonly LaneView[];
  /** The pool's `lanes` for this host: the most lanes of the pool it may hold. */
  limit: number;
}

/** What `plan()` applies for one demand pool. */
export interface DemandPoolPlan {
  creates: (Omit<
    Extract<PlanAction, { kind: 'create' }>,
    'id' | 'scope' | 'backend' | 'ephemeral'
  > & {
    /** 1-based number of the lane on its host, for the action id. */
    n: number;
  })[];
  removes: { view: LaneView; reason: string }[];
  /** Lanes taken back from their scale-down, each instead of a create. */
  reclaims: { view: LaneView; reason: string }[];
  blocked: Blocked[];
  view: PoolScaling;
}

/** Sizes one demand pool. `held` is every host's lane count so far (all pools, this plan's creates included). */
export function planDemandPool(
  ctx: DemandContext,
  args: {
    poolName: string;
    pool: Pool & { scaling: Scaling };
    hosts: readonly DemandHostSlot[];
    /** Every lane of the pool in the ledger (completed ones too): who took which job. */
    poolViews: readonly LaneView[];
    held: ReadonlyMap<string, number>;
    now: number;
  },
): DemandPoolPlan {
  const { poolName, pool, now } = args;
  const scaling = pool.scaling;
  const bounds = effectiveBounds(pool, now);
  const known = ctx.unknown === undefined;

  // Lanes: busy ones run a job by their record, agent, GitHub or the job data.
  const kept = args.hosts.flatMap((h) => h.kept);
  const busy = (v: LaneView): boolean => saysBusy(v) || ctx.jobs.running(v.record);
  const busyCount = kept.filter(busy).length;

  // Waiting jobs, less those lanes took before the job data said so (reservations).
  const queued = known ? [...(ctx.waitingByPool.get(poolName) ?? [])] : [];
  const obs: LaneObservation = {
    lanes: args.poolViews.map((v) => v.record),
    reports: new Map(
      args.poolViews.flatMap((v) => (v.report === undefined ? [] : [[v.record.laneId, v.report]])),
    ),
    runners: new Map(
      args.poolViews.flatMap((v) => (v.runner === undefined ? [] : [[v.runner.id, v.runner]])),
    ),
    jobs: ctx.demand?.jobs ?? [],
    now,
  };
  const takers = known
    ? nextReservations(
        (ctx.demand?.reservations ?? []).filter((r) => r.pool === poolName),
        obs,
        (p) => (p === poolName ? scaling.reservationSec : undefined),
      )
    : [];
  let taken = 0;
  for (const t of takers) {
    const i = queued.findIndex((w) => w.hosts.includes(t.hostId));
    if (i < 0) continue;
    queued.splice(i, 1);
    taken++;
  }
  const waiting: SizingJob[] = queued.map((w) => ({
    id: w.job.id,
    queuedAt: w.job.queuedAt,
    hosts: w.hosts,
  }));
  const jobOf = new Map(queued.map((w) => [w.job.id, w.job]));

  // Hosts: room for new lanes within the pool's per-host limit, maxLanes and every guardrail.
  const sizingHosts: SizingHost[] = args.hosts.map((h) => {
    const used = args.held.get(h.hostId) ?? 0;
    const holds = h.kept.length + h.leaving;
    const poolLeft = Math.max(0, h.limit - holds);
    const capLeft = freeCapacity(h.host, used);
    // A lane taken back from its scale-down already holds its slot: it is room a create may use.
    const room = h.stop !== undefined ? 0 : Math.min(poolLeft, capLeft) + h.reclaimable.length;
    const block: { guardrail: Guardrail; message: string } =
      h.stop ??
      (capLeft < poolLeft
        ? {
            guardrail: 'capacity',
            message: `Host "${h.hostId}" opts in to at most ${h.host.optIn?.maxLanes ?? 0} lane(s) and holds ${used}`,
          }
        : {
            guardrail: 'capacity',
            message: `Pool "${poolName}" may hold at most ${h.limit} lane(s) on host "${h.hostId}" (its lanes) and holds ${holds}`,
          });
    return {
      hostId: h.hostId,
      lanes: h.kept.length,
      free: h.kept.filter((v) => !busy(v)).length,
      room,
      block,
    };
  });

  // The lanes being scaled down that may be taken back, by host: only a host that may take a
  // lane offers its lanes back; a leaving lane on any other host stays leaving.
  const unclaimed = new Map(
    args.hosts.filter((h) => h.stop === undefined).map((h) => [h.hostId, [...h.reclaimable]]),
  );
  const offered = [...unclaimed.values()].reduce((n, l) => n + l.length, 0);
  // Leaving lanes take no job but still count against max until they are gone; those offered
  // back do not: each one taken back replaces a create.
  const leavingTotal = args.hosts.reduce((n, h) => n + h.leaving, 0);
  const leaving = leavingTotal - offered;
  const sized = sizePool({
    min: bounds.min,
    max: Math.max(0, bounds.max - leaving),
    minIdle: bounds.minIdle,
    busy: busyCount,
    hosts: sizingHosts,
    waiting,
    placement: scaling.placement,
  });

  const why = poolReason({
    busy: busyCount,
    waiting: waiting.length,
    taken,
    bounds,
    target: sized.target,
    unknown: ctx.unknown,
  });

  // Creates, each for one job, for minIdle or for min; a lane being scaled down is taken back
  // instead where there is one (`unclaimed`), first on the create's own host (where it may be
  // all the room there is), then on any host.
  const reclaims: DemandPoolPlan['reclaims'] = [];
  const purposeText = (p: CreatePurpose): string => {
    if (p.kind === 'job') {
      const job = jobOf.get(p.jobId);
      return `job ${p.jobId} (${job?.repository ?? '?'} run ${job?.runId ?? '?'}) is queued for pool "${poolName}"`;
    }
    return p.kind === 'min-idle'
      ? `pool "${poolName}" keeps ${bounds.minIdle} idle lane(s)${windowText(bounds.minIdleFrom)}`
      : `pool "${poolName}" keeps at least ${bounds.min} lane(s)${windowText(bounds.minFrom)}`;
  };
  const reclaimFor = (c: PlacedCreate, hostId: string): boolean => {
    const view = unclaimed.get(hostId)?.shift();
    if (view === undefined) return false;
    reclaims.push({
      view,
      reason: clip(
        `${purposeText(c.purpose)}: takes back lane "${view.record.laneId}" from its scale-down; ${why}`,
      ),
    });
    return true;
  };
  // A job's lane must be on a host that can run it (its capabilities); min and minIdle need
  // only a lane of the pool.
  const hostsOfJob = new Map(waiting.map((w) => [w.id, w.hosts]));
  const mayServe = (c: PlacedCreate, hostId: string): boolean =>
    c.purpose.kind !== 'job' || (hostsOfJob.get(c.purpose.jobId)?.includes(hostId) ?? false);
  const elsewhere: PlacedCreate[] = [];
  for (const c of sized.creates) if (!reclaimFor(c, c.hostId)) elsewhere.push(c);
  const hostIds = [...unclaimed.keys()].sort(cmp);
  const toCreate: PlacedCreate[] = [];
  for (const c of elsewhere) {
    const hostId = hostIds.find((h) => mayServe(c, h) && (unclaimed.get(h)?.length ?? 0) > 0);
    if (hostId === undefined || !reclaimFor(c, hostId)) toCreate.push(c);
  }
  // A lane sized as one to take back that no create could use (none of its jobs may run on its
  // host) is still leaving: it holds its place within max until it is gone, so the creates that
  // would pass max beside it wait for the next round.
  const overMax = Math.max(0, kept.length + leavingTotal + toCreate.length - bounds.max);
  const capped = toCreate.splice(toCreate.length - Math.min(overMax, toCreate.length));
  const perHost = new Map<string, number>();
  const creates: DemandPoolPlan['creates'] = toCreate.map((c) => {
    const k = (perHost.get(c.hostId) ?? 0) + 1;
    perHost.set(c.hostId, k);
    const n = (args.hosts.find((h) => h.hostId === c.hostId)?.kept.length ?? 0) + k;
    const reason = `${purposeText(c.purpose)}: ${why}`;
    return { kind: 'create' as const, hostId: c.hostId, pool: poolName, reason: clip(reason), n };
  });

  const blocked: Blocked[] = sized.blocked.map((b) => ({
    hostId: b.hostId,
    pool: poolName,
    count: b.count,
    guardrail: b.guardrail,
    message: clip(
      b.jobIds.length === 0 ? b.message : `${b.message} (wanted for job(s) ${listIds(b.jobIds)})`,
    ),
  }));

  // Scale down: spare lanes idle by the host and GitHub for scaleDownAfterSec, never below min
  // or minIdle, only while the job data are known.
  const removes: DemandPoolPlan['removes'] = [];
  let nextScaleDownAt: number | undefined;
  if (known && sized.removable > 0) {
    const takerIds = new Set(takers.map((t) => t.laneId));
    const idleSince = ctx.demand?.idleSince ?? {};
    const candidates: { view: LaneView; since: number; laneCount: number }[] = [];
    for (const h of args.hosts) {
      for (const v of h.kept) {
        const c = idleCandidate(v, {
          jobs: ctx.jobs,
          takers: takerIds,
          idleSince,
          now,
          scaleDownAfterSec: scaling.scaleDownAfterSec,
          reservationSec: scaling.reservationSec,
          waiting: waiting.length,
        });
        if (c === undefined) continue;
        if (c.dueAt <= now) candidates.push({ view: v, since: c.since, laneCount: h.kept.length });
        else nextScaleDownAt = Math.min(nextScaleDownAt ?? Infinity, c.dueAt);
      }
    }
    candidates.sort(
      (a, b) =>
        (scaling.placement === 'spread' ? b.laneCount - a.laneCount : a.laneCount - b.laneCount) ||
        a.since - b.since ||
        cmp(a.view.record.hostId, b.view.record.hostId) ||
        cmp(a.view.record.laneId, b.view.record.laneId),
    );
    const spareLeft = new Map(sized.spare);
    for (const c of candidates) {
      if (removes.length >= sized.removable) break;
      const left = spareLeft.get(c.view.record.hostId) ?? 0;
      if (left <= 0) continue;
      spareLeft.set(c.view.record.hostId, left - 1);
      removes.push({
        view: c.view,
        reason: clip(
          `pool "${poolName}": lane idle for ${now - c.since} s (scaleDownAfterSec ${scaling.scaleDownAfterSec}); ${why}`,
        ),
      });
    }
    // A lane that will be due matters only while this round leaves a spare lane to remove.
    if (removes.length >= sized.removable) nextScaleDownAt = undefined;
  }

  return {
    creates,
    removes,
    reclaims,
    blocked,
    view: {
      pool: poolName,
      lanes: sized.lanes,
      busy: busyCount,
      queued: waiting.length + taken,
      taken,
      waiting: waiting.length,
      waitingJobs: [...waiting]
        .sort((a, b) => a.queuedAt - b.queuedAt || a.id - b.id)
        .slice(0, MAX_LISTED)
        .map((w) => w.id),
      min: bounds.min,
      max: bounds.max,
      minIdle: bounds.minIdle,
      windows: bounds.windows.map(windowName),
      target: sized.target,
      creates: creates.length,
      reclaims: reclaims.length,
      removes: removes.length,
      blocked: blocked.reduce((n, b) => n + b.count, 0),
      capped: sized.capped.length + capped.length,
      demandKnown: known,
      ...(nextScaleDownAt === undefined ? {} : { nextScaleDownAt }),
      reason: clip(why),
    },
  };
}

/**
 * A lane's idle clock, if it could be removed for lack of demand at all: since when it is idle,
 * and when it may go (`dueAt`: idle for scaleDownAfterSec, and past its reservation).
 */
function idleCandidate(
  v: LaneView,
  o: {
    jobs: JobsByRunner;
    takers: ReadonlySet<string>;
    idleSince: Readonly<Record<string, number>>;
    now: number;
    scaleDownAfterSec: number;
    reservationSec: number;
    /** Jobs of the pool that still wait for a runner (less those lanes took). */
    waiting: number;
  },
): { since: number; dueAt: number } | undefined {
  const lane = v.record;
  if (!idleByHostAndGitHub(lane, v.report, v.runner) || o.jobs.running(lane)) return undefined;
  if (o.takers.has(lane.laneId)) return undefined;
  // A lane made for demand keeps its reservation until it takes a job or reservationSec passes,
  // while a job of its pool still waits for it: once none does (GitHub gave the job to another
  // runner), it is an idle lane like any other.
  const local = v.report?.local;
  const neverTookJob =
    o.jobs.of(lane).length === 0 &&
    (local?.jobsCompleted ?? 0) === 0 &&
    local?.lastJobStartedAt === undefined;
  const reservedUntil = neverTookJob && o.waiting > 0 ? lane.createdAt + o.reservationSec : 0;
  // Idle since the observer's clock started, or the last job it finished (by the job data or
  // the host's own record), whichever is latest.
  if (!Object.hasOwn(o.idleSince, lane.laneId)) return undefined;
  const since = Math.max(
    o.idleSince[lane.laneId] ?? o.now,
    lastWorkAt(lane, v.report, o.jobs, o.now) ?? 0,
  );
  return { since, dueAt: Math.max(since + o.scaleDownAfterSec, reservedUntil) };
}

/** A pool's bounds at `now`: schedule windows in force replace min and minIdle. */
export interface EffectiveBounds {
  min: number;
  max: number;
  minIdle: number;
  windows: ActiveWindow[];
  /** The window that set `min` / `minIdle`, when one did. */
  minFrom: ActiveWindow | undefined;
  minIdleFrom: ActiveWindow | undefined;
}

/**
 * `max` is the policy's `max` within the sum of `lanes`; a window in force replaces `min` and/or
 * `minIdle` (several in force: the largest value), each kept within `max`.
 */
export function effectiveBounds(pool: Pool & { scaling: Scaling }, now: number): EffectiveBounds {
  const s = pool.scaling;
  const total = Object.values(pool.lanes).reduce((a, b) => a + b, 0);
  const max = Math.min(s.max ?? total, total);
  const windows = windowsInForce(s, now);
  const pick = (key: 'min' | 'minIdle'): [number, ActiveWindow | undefined] => {
    let best: ActiveWindow | undefined;
    for (const w of windows) {
      const v = w.window[key];
      if (v !== undefined && (best === undefined || v > (best.window[key] ?? 0))) best = w;
    }
    return [best?.window[key] ?? s[key], best];
  };
  const [min, minFrom] = pick('min');
  const [minIdle, minIdleFrom] = pick('minIdle');
  return {
    min: Math.min(min, max),
    max,
    minIdle: Math.min(minIdle, max),
    windows,
    minFrom,
    minIdleFrom,
  };
}

/** `2 busy + 3 queued jobs + minIdle 1 → target 6 (max 6)`. */
function poolReason(o: {
  busy: number;
  waiting: number;
  taken: number;
  bounds: EffectiveBounds;
  target: number;
  unknown: string | undefined;
}): string {
  const parts: string[] = [];
  if (o.busy > 0) parts.push(`${o.busy} busy`);
  if (o.waiting > 0 || o.taken > 0) {
    const taken = o.taken > 0 ? ` (${o.taken} more already taken by a lane)` : '';
    parts.push(`${o.waiting} queued job${o.waiting === 1 ? '' : 's'}${taken}`);
  }
  if (o.bounds.minIdle > 0) {
    parts.push(`minIdle ${o.bounds.minIdle}${windowNote(o.bounds.minIdleFrom)}`);
  }
  const sum = parts.length === 0 ? 'no demand' : parts.join(' + ');
  const limits = [
    ...(o.bounds.min > 0 ? [`min ${o.bounds.min}${windowNote(o.bounds.minFrom)}`] : []),
    `max ${o.bounds.max}`,
  ].join(', ');
  const head = o.unknown === undefined ? '' : `job data unknown (${o.unknown}), nothing removed: `;
  return `${head}${sum} → target ${o.target} (${limits})`;
}

function windowName(w: ActiveWindow): string {
  return w.window.name ?? `schedule[${w.index}]`;
}

function windowNote(w: ActiveWindow | undefined): string {
  return w === undefined ? '' : ` from window "${windowName(w)}"`;
}

function windowText(w: ActiveWindow | undefined): string {
  if (w === undefined) return '';
  const until = new Date(w.endsAt * 1000).toISOString().replace(/\.000Z$/, 'Z');
  return ` (schedule window "${windowName(w)}", ${w.window.cron} ${w.window.timezone ?? 'UTC'}, until ${until})`;
}

function listIds(ids: readonly number[]): string {
  const shown = ids.slice(0, 10).join(', ');
  return ids.length > 10 ? `${shown} and ${ids.length - 10} more` : shown;
}

function clip(text: string): string {
  return text.length <= 500 ? text : `${text.slice(0, 497)}...`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

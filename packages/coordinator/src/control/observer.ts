/**
 * Gathers what the planner needs — policy, hosts with their live sessions' inventories, lane
 * records, GitHub's runners per scope and, for pools that follow demand, the jobs — and remembers
 * since when each runner has been offline, so the pure planner can tell a blip from a dead lane.
 * For demand pools it also keeps each lane's idle clock and the reservations of lanes that took a
 * job the job data do not show yet (those in the store too: a restart must not forget them).
 */
import { toLaunchplaneError, type LaneReport, type Policy, type Scope } from '@launchplane/shared';
import { z } from 'zod';
import type { DemandReservation, PlanDemand } from '../domain/demand.js';
import { followsDemand } from '../domain/demand-plan.js';
import { nextIdleSince, nextReservations, type LaneObservation } from '../domain/reservations.js';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import {
  poolScope,
  scopeKey,
  type PlanHost,
  type PlanInput,
  type ScopeObservation,
} from '../domain/plan.js';
import { staleHealth } from '../domain/host-health.js';
import { nowSec } from '@launchplane/shared';
import { parseStoredPolicy } from './stored-policy.js';
import type { ControlDeps } from './control-deps.js';

export class Observer {
  readonly #deps: ControlDeps;
  /** Runner id → Unix seconds it was first seen offline. */
  readonly #offlineSince = new Map<number, number>();
  /** Lane id → Unix seconds since when its host and GitHub both say it is idle. */
  #idleSince: Record<string, number> = {};
  /** Unix seconds of the first look at demand: no idle clock starts before it. */
  #watchingSince: number | undefined;
  /** Loaded from the store on first use, then kept here and written back when they change. */
  #reservations: DemandReservation[] | undefined;
  #reservationsText = '';

  constructor(deps: ControlDeps) {
    this.#deps = deps;
  }

  /** One fresh observation, ready for `plan()`. */
  async observe(): Promise<PlanInput> {
    const deps = this.#deps;
    const now = nowSec(deps.clock);
    const current = await deps.store.currentPolicy();
    let policy: Policy | undefined;
    if (current !== undefined) {
      const parsed = parseStoredPolicy(current);
      if (parsed.ok) policy = parsed.value;
      else deps.logger.error({ version: current.version }, 'stored policy no longer validates');
    }
    const records = await deps.store.listHosts();
    const hosts: PlanHost[] = records.map((h) => {
      const revoked = h.revokedAt !== undefined;
      const session = revoked ? undefined : deps.hub.session(h.hostId);
      return {
        hostId: h.hostId,
        enrolled: true,
        revoked,
        connected: session !== undefined,
        optIn: session?.inventory?.optIn ?? h.optIn,
        capabilities: session?.inventory?.capabilities ?? h.capabilities,
        lanes: session?.inventory?.lanes ?? [],
        degraded: staleHealth(h.hostId, session?.health, now)?.message,
      };
    });
    const lanes = await deps.store.listLanes();
    const scopes = new Map<string, Scope>();
    for (const pool of Object.values(policy?.pools ?? {})) {
      const s = poolScope(pool);
      scopes.set(scopeKey(s), s);
    }
    for (const l of lanes) scopes.set(scopeKey(l.scope), l.scope);
    const github: ScopeObservation[] = await Promise.all(
      [...scopes.values()].map(async (scope): Promise<ScopeObservation> => {
        try {
          return { scope, runners: await deps.github.listRunners(scope) };
        } catch (err) {
          const e = toLaunchplaneError(err, 'LP_GITHUB_UNAVAILABLE');
          return { scope, unavailable: `${e.code}: ${e.message}` };
        }
      }),
    );
    this.#track(github, now);
    const demand = await this.#demand(policy, { hosts, lanes, github, now });
    return {
      policy,
      policyDigest: current?.digest ?? null,
      coordinatorId: deps.coordinatorId,
      hosts,
      lanes,
      github,
      offlineSince: Object.fromEntries([...this.#offlineSince].map(([id, at]) => [String(id), at])),
      now,
      options: { unhealthyAfterSec: deps.options.unhealthyAfterSec },
      ...(demand === undefined ? {} : { demand }),
    };
  }

  /**
   * The jobs of the scopes of pools that follow demand, with the idle clocks and reservations
   * brought up to date. Undefined without such pools or without a job source. A job source that
   * fails gives `unavailable` (the planner then neither grows for jobs nor shrinks), never an
   * empty list that would read as "no demand".
   */
  async #demand(
    policy: Policy | undefined,
    seen: {
      hosts: readonly PlanHost[];
      lanes: readonly LaneRecord[];
      github: readonly ScopeObservation[];
      now: number;
    },
  ): Promise<PlanDemand | undefined> {
    const source = this.#deps.demand;
    const pools = new Map(Object.entries(policy?.pools ?? {}).filter(([, p]) => followsDemand(p)));
    if (source === undefined || pools.size === 0) return undefined;
    const scopes = [...new Set([...pools.values()].map((p) => scopeKey(poolScope(p))))].sort();
    let snapshot: Awaited<ReturnType<typeof source.snapshot>> | undefined;
    let unavailable: string | undefined;
    try {
      snapshot = await source.snapshot(scopes, seen.now);
    } catch (err) {
      const e = toLaunchplaneError(err, 'LP_INTERNAL');
      unavailable = `${e.code}: ${e.message}`;
      this.#deps.logger.warn({ code: e.code }, 'the job source could not be read');
    }
    const reports = new Map<string, LaneReport>();
    for (const h of seen.hosts) for (const l of h.lanes) reports.set(l.laneId, l);
    const runners = new Map<number, GitHubRunner>();
    for (const o of seen.github)
      if ('runners' in o) for (const r of o.runners) runners.set(r.id, r);
    const obs: LaneObservation = {
      lanes: seen.lanes.filter((l) => l.state !== 'removed' && pools.has(l.pool)),
      reports,
      runners,
      jobs: snapshot?.jobs ?? [],
      now: seen.now,
    };
    this.#idleSince = nextIdleSince(this.#idleSince, obs, (this.#watchingSince ??= seen.now));
    let reservations = await this.#loadReservations();
    // Without job data nothing can end a reservation early: keep them as they are.
    if (snapshot !== undefined) {
      reservations = nextReservations(
        reservations,
        obs,
        (pool) => pools.get(pool)?.scaling?.reservationSec,
      );
      await this.#saveReservations(reservations);
    }
    return {
      jobs: snapshot?.jobs ?? [],
      reservations,
      idleSince: { ...this.#idleSince },
      observedAt: snapshot?.observedAt ?? 0,
      ...(unavailable === undefined ? {} : { unavailable }),
    };
  }

  async #loadReservations(): Promise<DemandReservation[]> {
    if (this.#reservations === undefined) {
      const text = (await this.#deps.store.getMeta(RESERVATIONS_KEY)) ?? '[]';
      this.#reservations = parseReservations(text);
      this.#reservationsText = JSON.stringify(this.#reservations);
    }
    return this.#reservations;
  }

  async #saveReservations(next: DemandReservation[]): Promise<void> {
    this.#reservations = next;
    const text = JSON.stringify(next);
    if (text === this.#reservationsText) return;
    await this.#deps.store.setMeta(RESERVATIONS_KEY, text);
    this.#reservationsText = text;
  }

  #track(github: readonly ScopeObservation[], now: number): void {
    const seen = new Set<number>();
    for (const o of github) {
      // An unlisted scope tells nothing: its runners keep their offline clocks.
      if ('unavailable' in o) {
        for (const id of this.#offlineSince.keys()) seen.add(id);
        continue;
      }
      for (const r of o.runners) {
        seen.add(r.id);
        if (r.status === 'online') this.#offlineSince.delete(r.id);
        else if (!this.#offlineSince.has(r.id)) this.#offlineSince.set(r.id, now);
      }
    }
    for (const id of [...this.#offlineSince.keys()])
      if (!seen.has(id)) this.#offlineSince.delete(id);
  }
}

/** Where the observer keeps the reservations in the store's meta table (a JSON array). */
export const RESERVATIONS_KEY = 'scaling.reservations';

const reservationSchema = z.object({
  laneId: z.string().max(64),
  pool: z.string().max(64),
  hostId: z.string().max(64),
  runnerName: z.string().max(128),
  runnerId: z.number().int().positive().optional(),
  ephemeral: z.boolean(),
  takenAt: z.number().int().nonnegative(),
});

/** Reservations read back from the store; anything malformed is dropped, never trusted. */
function parseReservations(text: string): DemandReservation[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((r: unknown) => {
    const parsed = reservationSchema.safeParse(r);
    if (!parsed.success) return [];
    const { runnerId, ...rest } = parsed.data;
    return [runnerId === undefined ? rest : { ...rest, runnerId }];
  });
}

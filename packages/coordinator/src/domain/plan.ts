/**
 * The planner (docs/design/architecture.md "The plan"):
 * the pure diff of the policy against what the coordinator
 * observes — enrolled hosts and their inventories, its own lane records, and GitHub's runners —
 * as a deterministic {@link ControlPlan}. No I/O and no clock: `now` is passed in, every list is
 * sorted, so the same input (in any order) gives byte-identical JSON.
 *
 * Safety rules the code below keeps, and the property tests try to break:
 * - an action only ever names a lane of the ledger, on the host the ledger records it on;
 * - a runner that `classifyRunner` does not prove ours is listed as unmanaged, never acted on;
 * - a host never holds more lanes than its `maxLanes` because of a create;
 * - empty allowlists allow nothing;
 * - a smoke lane (`purpose: smoke`, the disposable lane of `launchplane smoke`) is never acted
 *   on: its smoke run owns it from create to remove. It only counts against its host's capacity,
 *   and a failed one is reported with its clean-up command.
 */
import {
  LABEL_DRAINING,
  classifyRunner,
  drainingLabels,
  grantedCapabilities,
  holdsSlot,
  isQuarantined,
  isTransitional,
  ownEntry,
  poolScopeKey,
  type Blocked,
  type IgnoredCapabilityView,
  type ControlPlan,
  type LaneReport,
  type PlanAction,
  type Policy,
  type Pool,
  type PoolScaling,
  type Scope,
  type UnmanagedRunner,
} from '@launchplane/shared';
import type { GitHubRunner } from '../ports/github-runners.js';
import type { LaneRecord } from '../ports/store.js';
import { checkLaneGuardrails, freeCapacity, withdrawsPermission } from './guardrails.js';
import type { GuardrailBlock, HostView } from './guardrails.js';
import { removalOrder, type LaneView } from './lane-view.js';
import type { PlanDemand } from './demand.js';
import {
  followsDemand,
  planDemandPool,
  prepareDemand,
  type DemandHostSlot,
} from './demand-plan.js';

/** One host as the planner sees it: its record, session state and last inventory. */
export interface PlanHost extends HostView {
  /** Lanes as the host's agent last reported them. */
  lanes: readonly LaneReport[];
}

/** GitHub's runners of one scope, or why they could not be listed. */
export type ScopeObservation =
  { scope: Scope; runners: readonly GitHubRunner[] } | { scope: Scope; unavailable: string };

/** Options of {@link plan}. */
export interface PlanOptions {
  /**
   * How long a lane's runner may show `offline` on GitHub while its agent says it runs before
   * the lane is restarted (default 300 s: longer than a runner's own reconnect backoff).
   */
  unhealthyAfterSec?: number;
}

export const DEFAULT_UNHEALTHY_AFTER_SEC = 300;

/** What a saga running in the coordinator does to a lane. */
export type LaneSaga =
  | 'create'
  | 'drain'
  | 'restart'
  | 'remove'
  /** A remove a demand pool's scale-down started: a later plan may take the lane back. */
  | 'scale-down'
  /** A scale-down being taken back: the lane serves the pool again once its labels are back. */
  | 'reclaim'
  | 'repair-labels'
  | 'smoke';

/** Everything the planner needs. */
export interface PlanInput {
  /** The current policy; undefined when none was applied (then nothing is planned). */
  policy: Policy | undefined;
  policyDigest: string | null;
  coordinatorId: string;
  /** Enrolled hosts (revoked included) and hosts the policy names that never enrolled need not be here. */
  hosts: readonly PlanHost[];
  /** The coordinator's lane records (the ledger); removed lanes are ignored. */
  lanes: readonly LaneRecord[];
  /** One observation per scope; a lane whose scope is missing here is treated as unobservable. */
  github: readonly ScopeObservation[];
  /** Runner id → Unix seconds since GitHub first showed it offline (kept by the observer). */
  offlineSince?: Readonly<Record<string, number>>;
  /**
   * The jobs, for pools that follow demand (`scaling.mode: demand`). Without it such pools keep
   * `min` and `minIdle` but neither grow for jobs nor shrink; other pools never read it.
   */
  demand?: PlanDemand;
  /**
   * Lanes a saga works on right now (an apply's detached actions, an operator's lane action):
   * the plan gives them no new action, and those a drain or remove is taking away count toward
   * no demand pool's supply, only toward their host's slots.
   */
  sagas?: ReadonlyMap<string, LaneSaga>;
  /** Unix seconds. */
  now: number;
  options?: PlanOptions;
}

/** GitHub's read-only default labels; they are not part of a lane's custom label set. */
const READ_ONLY_LABELS = new Set([
  'self-hosted',
  'Linux',
  'Windows',
  'macOS',
  'X64',
  'ARM',
  'ARM64',
]);

/** A runner's custom labels: every label but GitHub's read-only defaults. */
export function customLabelsOf(labels: readonly string[]): string[] {
  return labels.filter((l) => !READ_ONLY_LABELS.has(l));
}

const KIND_ORDER: Record<PlanAction['kind'], number> = {
  remove: 0,
  restart: 1,
  'repair-labels': 2,
  reclaim: 3,
  create: 4,
};

/** A scope as one string: `acme/api` or `org:acme`. */
export function scopeKey(scope: Scope): string {
  return poolScopeKey(scope);
}

/** A pool's scope in the protocol's form. */
export function poolScope(pool: Pick<Pool, 'repository' | 'organization'>): Scope {
  return pool.repository !== undefined
    ? { repository: pool.repository }
    : { organization: pool.organization ?? '' };
}

/** Computes the control plan. Pure and deterministic. */
export function plan(input: PlanInput): ControlPlan {
  const unhealthyAfter = input.options?.unhealthyAfterSec ?? DEFAULT_UNHEALTHY_AFTER_SEC;
  const degraded = new Set<string>();
  const actions: PlanAction[] = [];
  const blocked: Blocked[] = [];

  const hosts = new Map<string, PlanHost>();
  for (const h of [...input.hosts].sort((a, b) => cmp(a.hostId, b.hostId))) {
    if (!hosts.has(h.hostId)) hosts.set(h.hostId, h);
  }
  const ledger = [...input.lanes]
    .filter((l) => l.state !== 'removed')
    .sort((a, b) => cmp(a.laneId, b.laneId));
  const ledgerById = new Map(ledger.map((l) => [l.laneId, l]));

  // GitHub: classify every runner of every observed scope against the ledger.
  const observations = new Map<string, ScopeObservation>();
  for (const o of [...input.github].sort((a, b) => cmp(scopeKey(a.scope), scopeKey(b.scope)))) {
    const key = scopeKey(o.scope);
    const prev = observations.get(key);
    // Two observations of one scope: an unavailable one wins, so nothing acts on half a picture.
    if (prev === undefined || 'unavailable' in o) observations.set(key, o);
  }
  const managedRunner = new Map<string, GitHubRunner>();
  const unmanaged: UnmanagedRunner[] = [];
  for (const [key, o] of observations) {
    if ('unavailable' in o) {
      degraded.add(`GitHub runners of "${key}" could not be listed: ${o.unavailable}`);
      continue;
    }
    for (const runner of [...o.runners].sort((a, b) => a.id - b.id)) {
      const c = classifyRunner(runner, {
        coordinatorId: input.coordinatorId,
        findLane: (laneId) => {
          const lane = ledgerById.get(laneId);
          // A lane recorded for another scope does not own a runner in this one.
          if (lane === undefined || scopeKey(lane.scope) !== key) return undefined;
          return { laneId: lane.laneId, runnerId: lane.runnerId };
        },
      });
      if (c.ours) {
        managedRunner.set(c.laneId, runner);
      } else {
        unmanaged.push({
          runnerId: runner.id,
          name: runner.name,
          scope: key,
          status: runner.githubStatus ?? runner.status,
          labels: [...runner.labels].sort(cmp),
          reason: `${c.reason}: ${c.message}`,
        });
      }
    }
  }

  const allViews: LaneView[] = ledger.map((record) => {
    const host = hosts.get(record.hostId);
    const report = host?.lanes.find((r) => r.laneId === record.laneId);
    const obs = observations.get(scopeKey(record.scope));
    return {
      record,
      report,
      runner: managedRunner.get(record.laneId),
      observable: obs !== undefined && !('unavailable' in obs),
    };
  });
  // The lanes the planner may act on: smoke lanes belong to their smoke run alone.
  const views = allViews.filter((v) => v.record.purpose !== 'smoke');

  /** Whether the coordinator can act on a lane now: its host is connected, GitHub is listed. */
  const inSaga = (v: LaneView): boolean => input.sagas?.has(v.record.laneId) ?? false;
  /** A lane that will take no job again: quarantined, or a drain or remove is under way. */
  const leaving = (v: LaneView): boolean => {
    const saga = input.sagas?.get(v.record.laneId);
    // A lane being taken back is still quarantined, but it is the pool's again: it counts as
    // supply, so the job it was taken back for gets no second lane.
    if (saga === 'reclaim') return false;
    return (
      isQuarantined(v.record.state) ||
      saga === 'drain' ||
      saga === 'remove' ||
      saga === 'scale-down'
    );
  };
  /**
   * A lane a demand pool's scale-down is draining that has not begun its remove: a plan that
   * needs lanes takes it back (`reclaim`) rather than make a new one.
   */
  const reclaimable = (v: LaneView): boolean =>
    input.sagas?.get(v.record.laneId) === 'scale-down' &&
    isQuarantined(v.record.state) &&
    v.record.runnerId !== undefined &&
    v.runner !== undefined;
  const actionable = (v: LaneView): boolean => {
    const host = hosts.get(v.record.hostId);
    if (host === undefined || !host.connected || host.revoked) {
      degraded.add(
        `Host "${v.record.hostId}" is ${host === undefined ? 'not enrolled' : host.revoked ? 'revoked' : 'offline'}: its lanes cannot be changed`,
      );
      return false;
    }
    if (!v.observable) {
      degraded.add(
        `Lanes of scope "${scopeKey(v.record.scope)}" cannot be changed while GitHub cannot be listed`,
      );
      return false;
    }
    return true;
  };

  const policy = input.policy;
  // Fail closed without acting: an empty allowlist allows nothing new, and it is far likelier to
  // be a mistake than a wish to tear down every lane, so existing lanes are only reported.
  const frozen =
    policy === undefined ||
    policy.allowedHosts.length === 0 ||
    (policy.allowedRepositories.length === 0 && policy.allowedOrganizations.length === 0);
  if (policy === undefined) {
    degraded.add('No policy has been applied: nothing is planned');
  } else if (frozen) {
    degraded.add(
      'The policy allows no hosts or no repositories and organizations: nothing is planned, existing lanes are left alone',
    );
  }

  const removing = new Set<string>();
  const remove = (v: LaneView, why: string, scaleDown = false): void => {
    if (frozen || removing.has(v.record.laneId) || inSaga(v) || !actionable(v)) return;
    removing.add(v.record.laneId);
    actions.push({
      kind: 'remove',
      id: `remove:${v.record.laneId}`,
      hostId: v.record.hostId,
      pool: v.record.pool,
      laneId: v.record.laneId,
      ...(v.record.runnerId === undefined ? {} : { runnerId: v.record.runnerId }),
      state: v.record.state,
      ...(scaleDown ? { scaleDown: true } : {}),
      reason: why,
    });
  };

  // Failed lanes are reported and keep their slot: a failing create is never retried forever.
  for (const v of allViews) {
    if (v.record.state === 'failed' || v.report?.state === 'failed') {
      const what = v.record.purpose === 'smoke' ? 'smoke lane' : 'pool';
      degraded.add(
        `Lane "${v.record.laneId}" on host "${v.record.hostId}" (${what} "${v.record.pool}") failed: ${
          v.record.recovery ?? v.report?.recovery ?? 'run "launchplane lane remove" to clear it'
        }`,
      );
    }
  }

  // Completed ephemeral lanes are replaced: removed here, their slot counted as missing below
  // (in a pool that follows demand, a new lane is made only if demand or minIdle asks for one).
  for (const v of views) {
    if (v.record.state === 'completed' || (v.report?.state === 'completed' && v.record.ephemeral)) {
      const pool = policy === undefined ? undefined : ownEntry(policy.pools, v.record.pool);
      remove(
        v,
        pool !== undefined && followsDemand(pool)
          ? 'ephemeral lane completed its job'
          : 'ephemeral lane completed its job: replaced by a new lane',
      );
    }
  }

  // Desired state, pool by pool and host by host.
  let desiredTotal = 0;
  const held = new Map<string, number>();
  // Every lane, smoke lanes too, takes one of its host's maxLanes.
  for (const v of allViews) held.set(v.record.hostId, (held.get(v.record.hostId) ?? 0) + 1);
  const byPair = new Map<string, LaneView[]>();
  for (const v of views) {
    const k = `${v.record.hostId}\u0000${v.record.pool}`;
    const list = byPair.get(k);
    if (list === undefined) byPair.set(k, [v]);
    else list.push(v);
  }
  const lanesOfPair = (hostId: string, pool: string): LaneView[] =>
    byPair.get(`${hostId}\u0000${pool}`) ?? [];
  const handledPairs = new Set<string>();

  const poolEntries: [string, Pool][] =
    policy === undefined ? [] : Object.entries(policy.pools).sort(([a], [b]) => cmp(a, b));
  const githubStop = (key: string): GuardrailBlock | undefined =>
    observations.get(key) === undefined || 'unavailable' in (observations.get(key) ?? {})
      ? {
          guardrail: 'github-unavailable',
          message: `GitHub runners of "${key}" could not be listed`,
        }
      : undefined;
  // Pools that follow demand: the jobs, matched to pools once for the whole plan.
  const demand =
    policy !== undefined && poolEntries.some(([, p]) => followsDemand(p))
      ? prepareDemand(policy, input.coordinatorId, [...hosts.values()], input.demand)
      : undefined;
  if (demand?.unknown !== undefined) {
    degraded.add(
      `Pools that follow demand plan without jobs (${demand.unknown}): they keep min and minIdle, make no lane for a job and remove none`,
    );
  }
  const scalingViews: PoolScaling[] = [];
  for (const [poolName, pool] of poolEntries) {
    const scope = poolScope(pool);
    const key = scopeKey(scope);
    // A pool that follows demand collects its hosts here and is sized as a whole below.
    const demandSlots: DemandHostSlot[] | undefined = followsDemand(pool) ? [] : undefined;
    for (const [hostId, desired] of Object.entries(pool.lanes).sort(([a], [b]) => cmp(a, b))) {
      if (policy === undefined) break;
      handledPairs.add(`${hostId}\u0000${poolName}`);
      if (demandSlots === undefined) desiredTotal += desired;
      const host: HostView = hosts.get(hostId) ?? {
        hostId,
        enrolled: false,
        revoked: false,
        connected: false,
        optIn: undefined,
        capabilities: [],
      };
      const guard = checkLaneGuardrails(policy, { poolName, pool, host });
      const lanes = lanesOfPair(hostId, poolName);
      for (const v of lanes) {
        if (scopeKey(v.record.scope) !== key) {
          remove(v, `pool "${poolName}" now serves "${key}", not "${scopeKey(v.record.scope)}"`);
        } else if (v.record.backend !== pool.backend) {
          remove(v, `pool "${poolName}" now uses backend "${pool.backend}"`);
        } else if (v.record.ephemeral !== pool.ephemeral) {
          remove(v, `pool "${poolName}" is now ${pool.ephemeral ? 'ephemeral' : 'persistent'}`);
        } else if (guard !== undefined && withdrawsPermission(guard.guardrail)) {
          remove(v, `no longer permitted: ${guard.message}`);
        }
      }
      let kept = lanes.filter((v) => holdsSlot(v.record.state) && !removing.has(v.record.laneId));

      // Unhealthy lanes: persistent ones restart in place, ephemeral ones are replaced.
      for (const v of kept) {
        const why = unhealthyReason(v, input, unhealthyAfter);
        if (why === undefined) continue;
        if (v.record.ephemeral) {
          remove(v, `${why}: ephemeral lane replaced`);
        } else if (!frozen && !inSaga(v) && actionable(v)) {
          actions.push({
            kind: 'restart',
            id: `restart:${v.record.laneId}`,
            hostId,
            pool: poolName,
            laneId: v.record.laneId,
            ...(v.record.runnerId === undefined ? {} : { runnerId: v.record.runnerId }),
            state: v.record.state,
            reason: why,
          });
        }
      }
      kept = kept.filter((v) => !removing.has(v.record.laneId));

      if (kept.length > desired) {
        const excess = [...kept].sort(removalOrder).slice(0, kept.length - desired);
        for (const v of excess) {
          remove(
            v,
            `pool "${poolName}" ${demandSlots === undefined ? 'wants' : 'may have at most'} ${desired} lane(s) on host "${hostId}", ${kept.length} exist`,
          );
        }
        kept = kept.filter((v) => !removing.has(v.record.laneId));
      }

      if (demandSlots !== undefined) {
        demandSlots.push({
          hostId,
          host,
          stop: guard ?? githubStop(key),
          kept: kept.filter((v) => !leaving(v)),
          leaving: kept.filter(leaving).length,
          reclaimable: kept.filter((v) => leaving(v) && reclaimable(v) && actionable(v)),
          limit: desired,
        });
        continue;
      }
      const missing = desired - kept.length;
      if (missing <= 0) continue;
      const stop: GuardrailBlock | undefined = guard ?? githubStop(key);
      if (stop !== undefined) {
        blocked.push({ hostId, pool: poolName, count: missing, ...stop });
        continue;
      }
      const used = held.get(hostId) ?? 0;
      const creates = Math.min(missing, freeCapacity(host, used));
      for (let i = 0; i < creates; i++) {
        actions.push({
          kind: 'create',
          id: `create:${hostId}:${poolName}:${kept.length + i + 1}`,
          hostId,
          pool: poolName,
          scope,
          backend: pool.backend,
          ephemeral: pool.ephemeral,
          reason: `pool "${poolName}" wants ${desired} lane(s) on host "${hostId}", ${kept.length} exist`,
        });
      }
      held.set(hostId, used + creates);
      if (creates < missing) {
        blocked.push({
          hostId,
          pool: poolName,
          count: missing - creates,
          guardrail: 'capacity',
          message: `Host "${hostId}" opts in to at most ${host.optIn?.maxLanes ?? 0} lane(s) and holds ${used + creates}`,
        });
      }
    }
    if (demand !== undefined && demandSlots !== undefined && followsDemand(pool)) {
      const sized = planDemandPool(demand, {
        poolName,
        pool,
        hosts: demandSlots,
        poolViews: views.filter((v) => v.record.pool === poolName),
        held,
        now: input.now,
      });
      for (const r of sized.removes) remove(r.view, r.reason, true);
      for (const r of sized.reclaims) {
        const runnerId = r.view.record.runnerId;
        if (runnerId === undefined) continue;
        actions.push({
          kind: 'reclaim',
          id: `reclaim:${r.view.record.laneId}`,
          hostId: r.view.record.hostId,
          pool: poolName,
          laneId: r.view.record.laneId,
          runnerId,
          state: r.view.record.state,
          reason: r.reason,
        });
      }
      for (const c of sized.creates) {
        actions.push({
          kind: 'create',
          id: `create:${c.hostId}:${poolName}:${c.n}`,
          hostId: c.hostId,
          pool: poolName,
          scope,
          backend: pool.backend,
          ephemeral: pool.ephemeral,
          reason: c.reason,
        });
        held.set(c.hostId, (held.get(c.hostId) ?? 0) + 1);
      }
      blocked.push(...sized.blocked);
      desiredTotal += sized.view.target;
      scalingViews.push({
        ...sized.view,
        removes: sized.removes.filter((r) => removing.has(r.view.record.laneId)).length,
      });
    }
  }

  // Lanes whose pool, or whose host within the pool, the policy no longer names.
  for (const v of views) {
    if (handledPairs.has(`${v.record.hostId}\u0000${v.record.pool}`)) continue;
    if (policy === undefined) continue;
    remove(
      v,
      ownEntry(policy.pools, v.record.pool) === undefined
        ? `pool "${v.record.pool}" is no longer in the policy`
        : `pool "${v.record.pool}" no longer has lanes on host "${v.record.hostId}"`,
    );
  }

  // A drain left waiting by a coordinator restart or a deadline: quarantined, taking no job, its
  // slot held, and nothing will end it but an operator.
  if (input.sagas !== undefined) {
    for (const v of views) {
      if (v.record.state !== 'draining' || inSaga(v) || removing.has(v.record.laneId)) continue;
      degraded.add(
        `Lane "${v.record.laneId}" on host "${v.record.hostId}" is quarantined (draining) with no drain under way: it takes no job and holds its slot. Run "launchplane lane remove ${v.record.laneId}" to remove it, or "launchplane lane restart ${v.record.laneId}" to return it to service`,
      );
    }
  }

  // Label drift on lanes that stay and that no saga is working on.
  const restarting = new Set(actions.filter((a) => a.kind === 'restart').map((a) => a.laneId));
  for (const v of views) {
    const runner = v.runner;
    if (runner === undefined || removing.has(v.record.laneId)) continue;
    if (restarting.has(v.record.laneId) || isTransitional(v.record.state) || inSaga(v)) continue;
    if (v.record.state === 'failed' || v.record.state === 'completed') continue;
    const draining = isQuarantined(v.record.state);
    const canonical = draining
      ? drainingLabels(input.coordinatorId, v.record.laneId)
      : [...v.record.labels];
    if (canonical.length === 0) continue;
    const custom = customLabelsOf(runner.labels);
    if (!draining && custom.includes(LABEL_DRAINING)) {
      // Taking a lane out of quarantine routes jobs to it: only an operator's restart does that.
      degraded.add(
        `Lane "${v.record.laneId}" is quarantined (lp-draining) on GitHub but recorded as "${v.record.state}": run "launchplane lane restart ${v.record.laneId}" to return it to service`,
      );
      continue;
    }
    const missing = canonical.filter((l) => !custom.includes(l)).sort(cmp);
    const extra = [...new Set(custom.filter((l) => !canonical.includes(l)))].sort(cmp);
    if (missing.length === 0 && extra.length === 0) continue;
    // Repairs only need GitHub; the host may be offline.
    if (frozen || !v.observable) continue;
    actions.push({
      kind: 'repair-labels',
      id: `repair-labels:${v.record.laneId}`,
      hostId: v.record.hostId,
      pool: v.record.pool,
      laneId: v.record.laneId,
      runnerId: runner.id,
      missing,
      extra,
      reason: `labels drifted from the ${draining ? 'draining' : 'canonical'} set on GitHub`,
    });
  }

  for (const v of views) {
    if (v.record.runnerId !== undefined && v.observable && v.runner === undefined) {
      if (
        !removing.has(v.record.laneId) &&
        !isTransitional(v.record.state) &&
        !v.record.ephemeral
      ) {
        degraded.add(
          `Runner ${v.record.runnerId} of lane "${v.record.laneId}" is not on GitHub (or no longer provably ours)`,
        );
      }
    }
  }

  // A lane both unhealthy and no longer wanted is removed, not restarted first.
  for (let i = actions.length - 1; i >= 0; i--) {
    const a = actions[i]!;
    if (a.kind === 'restart' && removing.has(a.laneId)) actions.splice(i, 1);
  }
  actions.sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      cmp(a.hostId, b.hostId) ||
      cmp(a.pool, b.pool) ||
      cmp(a.id, b.id),
  );
  blocked.sort((a, b) => cmp(a.hostId, b.hostId) || cmp(a.pool, b.pool));
  unmanaged.sort((a, b) => cmp(a.scope, b.scope) || a.runnerId - b.runnerId);

  // What hosts report as capabilities becomes a label only where the policy grants it.
  const ignoredCapabilities: IgnoredCapabilityView[] = [];
  if (policy !== undefined) {
    for (const host of hosts.values()) {
      for (const i of grantedCapabilities(policy, host.hostId, host.capabilities).ignored) {
        ignoredCapabilities.push({ hostId: host.hostId, ...i });
      }
    }
  }

  const count = (k: PlanAction['kind']): number => actions.filter((a) => a.kind === k).length;
  return {
    version: 1,
    generatedAt: input.now,
    policyDigest: input.policyDigest,
    actions,
    blocked,
    unmanaged,
    ignoredCapabilities,
    degraded: [...degraded].sort(cmp),
    ...(demand === undefined
      ? {}
      : {
          scaling: {
            pools: scalingViews,
            unmatched: demand.unmatched,
            unmatchedTotal: demand.unmatchedTotal,
          },
        }),
    summary: {
      desired: desiredTotal,
      observed: ledger.length,
      creates: count('create'),
      reclaims: count('reclaim'),
      removes: count('remove'),
      restarts: count('restart'),
      repairs: count('repair-labels'),
      blocked: blocked.reduce((n, b) => n + b.count, 0),
      unmanaged: unmanaged.length,
    },
  };
}

/** Why a lane needs a restart, or undefined when it looks healthy. */
function unhealthyReason(v: LaneView, input: PlanInput, afterSec: number): string | undefined {
  if (isTransitional(v.record.state) || v.record.state === 'failed') return undefined;
  if (isQuarantined(v.record.state)) return undefined;
  if (v.report?.state === 'unhealthy' || v.record.state === 'unhealthy') {
    return 'agent reports the lane unhealthy';
  }
  const runner = v.runner;
  const agentSaysRuns = v.report?.state === 'online' || v.report?.state === 'busy';
  if (runner !== undefined && runner.status === 'offline' && agentSaysRuns) {
    const since = input.offlineSince?.[String(runner.id)];
    if (since !== undefined && input.now - since >= afterSec) {
      return `runner offline on GitHub for ${input.now - since} s while the agent says it runs`;
    }
  }
  return undefined;
}

/** Code-point string order: locale-independent, so plans compare byte for byte everywhere. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

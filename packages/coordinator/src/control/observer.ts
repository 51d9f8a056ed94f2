/**
 * Gathers what the planner needs — policy, hosts with their live sessions' inventories, lane
 * records, GitHub's runners per scope — and remembers since when each runner has been offline,
 * so the pure planner can tell a blip from a dead lane.
 */
import { toLaunchplaneError, type Policy, type Scope } from '@launchplane/shared';
import {
  poolScope,
  scopeKey,
  type PlanHost,
  type PlanInput,
  type ScopeObservation,
} from '../domain/plan.js';
import { nowSec } from '@launchplane/shared';
import { parseStoredPolicy } from './stored-policy.js';
import type { ControlDeps } from './control-deps.js';

export class Observer {
  readonly #deps: ControlDeps;
  /** Runner id → Unix seconds it was first seen offline. */
  readonly #offlineSince = new Map<number, number>();

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
    };
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

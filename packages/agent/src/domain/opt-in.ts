/**
 * The host's own consent, enforced whatever the coordinator says
 * (docs/design/architecture.md "Consent: policy and opt-in"). Pure.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { Backend, LaneCreateCommand, OptIn } from '@launchplane/shared';

/** What the opt-in check needs to know about the host right now. */
export interface OptInContext {
  optIn: OptIn;
  /** Backends this agent can drive (adapter present and connected). */
  availableBackends: ReadonlySet<Backend>;
  /** Lanes in the ledger that are not `removed`. */
  activeLanes: number;
}

/**
 * Checks a `lane.create` against the host's opt-in: scope (repository or organization), pool (when
 * the host lists pools), backend (opted in, then available) and `maxLanes`. Returns the refusal, or
 * undefined when the host consents.
 */
export function checkCreateOptIn(
  cmd: Pick<LaneCreateCommand, 'laneId' | 'scope' | 'pool' | 'backend'>,
  ctx: OptInContext,
): LaunchplaneError | undefined {
  const { optIn } = ctx;
  const lane = cmd.laneId;
  const hint = 'Add it to optIn in the agent config if this host should run it';
  if ('repository' in cmd.scope) {
    const repo = cmd.scope.repository.toLowerCase();
    const owner = repo.split('/')[0] ?? '';
    const allowed =
      optIn.repositories.some((r) => r.toLowerCase() === repo) ||
      optIn.organizations.some((o) => o.toLowerCase() === owner);
    if (!allowed) {
      return new LaunchplaneError(
        'LP_NOT_OPTED_IN',
        `Cannot create lane "${lane}": repository "${repo}" is not opted in on this host`,
        { recovery: hint, details: { laneId: lane, repository: repo } },
      );
    }
  } else {
    const org = cmd.scope.organization.toLowerCase();
    if (!optIn.organizations.some((o) => o.toLowerCase() === org)) {
      return new LaunchplaneError(
        'LP_NOT_OPTED_IN',
        `Cannot create lane "${lane}": organization "${org}" is not opted in on this host`,
        { recovery: hint, details: { laneId: lane, organization: org } },
      );
    }
  }
  if (optIn.pools !== undefined && !optIn.pools.includes(cmd.pool)) {
    return new LaunchplaneError(
      'LP_NOT_OPTED_IN',
      `Cannot create lane "${lane}": pool "${cmd.pool}" is not opted in on this host`,
      { recovery: hint, details: { laneId: lane, pool: cmd.pool } },
    );
  }
  if (!optIn.backends.includes(cmd.backend)) {
    return new LaunchplaneError(
      'LP_NOT_OPTED_IN',
      `Cannot create lane "${lane}": backend "${cmd.backend}" is not opted in on this host`,
      { recovery: hint, details: { laneId: lane, backend: cmd.backend } },
    );
  }
  if (!ctx.availableBackends.has(cmd.backend)) {
    return new LaunchplaneError(
      'LP_BACKEND_UNAVAILABLE',
      `Cannot create lane "${lane}": backend "${cmd.backend}" is not available on this host`,
      {
        recovery: 'Run `launchplane-agent doctor` to see why the backend cannot be reached',
        details: { laneId: lane, backend: cmd.backend },
      },
    );
  }
  if (ctx.activeLanes >= optIn.maxLanes) {
    return new LaunchplaneError(
      'LP_CAPACITY',
      `Cannot create lane "${lane}": this host already runs ${ctx.activeLanes} of at most ${optIn.maxLanes} lanes`,
      {
        recovery: 'Remove a lane or raise optIn.maxLanes in the agent config',
        details: { laneId: lane, activeLanes: ctx.activeLanes, maxLanes: optIn.maxLanes },
      },
    );
  }
  return undefined;
}

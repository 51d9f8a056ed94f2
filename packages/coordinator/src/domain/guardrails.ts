/**
 * The guardrails a lane must pass before the coordinator may create it
 * (docs/design/architecture.md "Create"): the
 * policy allows the host and the scope, the host is enrolled, not revoked, connected and has
 * opted in for the scope, pool and backend. Capacity is counted separately, because it depends
 * on how many lanes the plan already placed on the host. Pure: the planner and the create saga
 * both call it, so a plan and its execution refuse for the same reasons.
 */
import type { ErrorCode, Guardrail, OptIn, Policy, Pool } from '@launchplane/shared';

/** What the planner and the executor know about one host. */
export interface HostView {
  hostId: string;
  /** False when the host was never enrolled (a policy may name hosts that do not exist yet). */
  enrolled: boolean;
  revoked: boolean;
  /** A live, authenticated agent session exists. */
  connected: boolean;
  /** The host's own consent, from its last inventory; undefined until one arrived. */
  optIn: OptIn | undefined;
  capabilities: readonly string[];
}

/** A guardrail that keeps a lane from being made, with a message an operator can act on. */
export interface GuardrailBlock {
  guardrail: Guardrail;
  message: string;
}

/**
 * The first guardrail that blocks a lane of `poolName` on `host`, or undefined when none does.
 * Policy guardrails come first (they are the coordinator's decision), then the host's state, then
 * the host's own consent.
 */
export function checkLaneGuardrails(
  policy: Policy,
  opts: { poolName: string; pool: Pool; host: HostView },
): GuardrailBlock | undefined {
  const { poolName, pool, host } = opts;
  const hostId = host.hostId;
  const allowed = allowlists(policy);
  if (!allowed.hosts.has(hostId)) {
    return block('host-not-allowed', `Host "${hostId}" is not in the policy's allowedHosts`);
  }
  if (pool.repository !== undefined && !allowed.repositories.has(pool.repository)) {
    return block(
      'repository-not-allowed',
      `Repository "${pool.repository}" of pool "${poolName}" is not in allowedRepositories`,
    );
  }
  if (pool.organization !== undefined && !allowed.organizations.has(pool.organization)) {
    return block(
      'organization-not-allowed',
      `Organization "${pool.organization}" of pool "${poolName}" is not in allowedOrganizations`,
    );
  }
  if (!host.enrolled) return block('host-not-enrolled', `Host "${hostId}" is not enrolled`);
  if (host.revoked) return block('host-revoked', `Host "${hostId}" was revoked`);
  if (!host.connected) return block('host-offline', `Host "${hostId}" has no live agent session`);
  const optIn = host.optIn;
  if (optIn === undefined) {
    return block('host-offline', `Host "${hostId}" has not reported its opt-in yet`);
  }
  if (pool.repository !== undefined && !optIn.repositories.includes(pool.repository)) {
    return block(
      'host-not-opted-in-repository',
      `Host "${hostId}" does not opt in to repository "${pool.repository}"`,
    );
  }
  if (pool.organization !== undefined && !optIn.organizations.includes(pool.organization)) {
    return block(
      'host-not-opted-in-organization',
      `Host "${hostId}" does not opt in to organization "${pool.organization}"`,
    );
  }
  if (optIn.pools !== undefined && !optIn.pools.includes(poolName)) {
    return block(
      'host-not-opted-in-pool',
      `Host "${hostId}" does not opt in to pool "${poolName}"`,
    );
  }
  if (!optIn.backends.includes(pool.backend)) {
    return block(
      'host-not-opted-in-backend',
      `Host "${hostId}" does not opt in to backend "${pool.backend}"`,
    );
  }
  return undefined;
}

/** Lanes the host will still take: its `maxLanes` less the lanes it already holds. */
export function freeCapacity(host: HostView, lanesHeld: number): number {
  return Math.max(0, (host.optIn?.maxLanes ?? 0) - lanesHeld);
}

/**
 * Guardrails that withdraw permission for lanes that already exist (so they are removed), as
 * opposed to those that only say the coordinator cannot act on the host right now.
 */
export function withdrawsPermission(guardrail: Guardrail): boolean {
  switch (guardrail) {
    case 'host-not-allowed':
    case 'repository-not-allowed':
    case 'organization-not-allowed':
    case 'host-not-opted-in-repository':
    case 'host-not-opted-in-organization':
    case 'host-not-opted-in-pool':
    case 'host-not-opted-in-backend':
      return true;
    case 'host-not-enrolled':
    case 'host-revoked':
    case 'host-offline':
    case 'capacity':
    case 'github-unavailable':
      return false;
  }
}

/** The stable error code a refused action carries for a guardrail. */
export function errorCodeForGuardrail(guardrail: Guardrail): ErrorCode {
  switch (guardrail) {
    case 'host-not-allowed':
    case 'repository-not-allowed':
    case 'organization-not-allowed':
      return 'LP_FORBIDDEN';
    case 'host-not-enrolled':
      return 'LP_NOT_FOUND';
    case 'host-revoked':
      return 'LP_HOST_REVOKED';
    case 'host-offline':
      return 'LP_HOST_OFFLINE';
    case 'host-not-opted-in-repository':
    case 'host-not-opted-in-organization':
    case 'host-not-opted-in-pool':
    case 'host-not-opted-in-backend':
      return 'LP_NOT_OPTED_IN';
    case 'capacity':
      return 'LP_CAPACITY';
    case 'github-unavailable':
      return 'LP_GITHUB_UNAVAILABLE';
  }
}

interface Allowlists {
  hosts: ReadonlySet<string>;
  repositories: ReadonlySet<string>;
  organizations: ReadonlySet<string>;
}

// A plan checks every (host, pool) pair against the same policy: look-ups stay O(1) at 10,000 hosts.
const allowlistCache = new WeakMap<Policy, Allowlists>();

function allowlists(policy: Policy): Allowlists {
  let sets = allowlistCache.get(policy);
  if (sets === undefined) {
    sets = {
      hosts: new Set(policy.allowedHosts),
      repositories: new Set(policy.allowedRepositories),
      organizations: new Set(policy.allowedOrganizations),
    };
    allowlistCache.set(policy, sets);
  }
  return sets;
}

function block(guardrail: Guardrail, message: string): GuardrailBlock {
  return { guardrail, message };
}

/**
 * The stored policy, parsed once per version. Every observation (plan, apply, `lanes`, each
 * reconciler tick) needs it, and parsing a large policy costs far more than the rest of an
 * observation. Keyed by the version's digest, so a new version is always parsed afresh.
 */
import { LaunchplaneError, parsePolicy, type ParseResult, type Policy } from '@launchplane/shared';
import type { CoordinatorStore, PolicyVersionRecord } from '../ports/store.js';

let last: { digest: string; result: ParseResult<Policy> } | undefined;

/** The parsed policy of a stored version. Treat the result as read-only: it is shared. */
export function parseStoredPolicy(
  record: Pick<PolicyVersionRecord, 'digest' | 'text'>,
): ParseResult<Policy> {
  if (last?.digest !== record.digest)
    last = { digest: record.digest, result: parsePolicy(record.text) };
  return last.result;
}

/**
 * The current policy, for an action that needs one (`what`: "create a lane", "smoke"): refused
 * with `LP_CONFLICT` when none was applied, `LP_POLICY_INVALID` when it no longer validates.
 */
export async function requireCurrentPolicy(store: CoordinatorStore, what: string): Promise<Policy> {
  const current = await store.currentPolicy();
  if (current === undefined) {
    throw new LaunchplaneError('LP_CONFLICT', `Cannot ${what}: no policy has been applied`, {
      recovery: 'Run "launchplane policy apply FILE" first',
    });
  }
  const parsed = parseStoredPolicy(current);
  if (!parsed.ok) {
    throw new LaunchplaneError('LP_POLICY_INVALID', 'The stored policy no longer validates', {
      recovery: 'Apply a valid policy with "launchplane policy apply FILE"',
    });
  }
  return parsed.value;
}

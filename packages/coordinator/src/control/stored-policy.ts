/**
 * The stored policy, parsed once per version. Every observation (plan, apply, `lanes`, each
 * reconciler tick) needs it, and parsing a large policy costs far more than the rest of an
 * observation. Keyed by the version's digest, so a new version is always parsed afresh.
 */
import { parsePolicy, type ParseResult, type Policy } from '@launchplane/shared';
import type { PolicyVersionRecord } from '../ports/store.js';

let last: { digest: string; result: ParseResult<Policy> } | undefined;

/** The parsed policy of a stored version. Treat the result as read-only: it is shared. */
export function parseStoredPolicy(
  record: Pick<PolicyVersionRecord, 'digest' | 'text'>,
): ParseResult<Policy> {
  if (last?.digest !== record.digest)
    last = { digest: record.digest, result: parsePolicy(record.text) };
  return last.result;
}

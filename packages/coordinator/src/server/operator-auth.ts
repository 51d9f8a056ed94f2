/**
 * Operator token authentication and creation. A request carries `Authorization: Bearer lpt_…`;
 * the id selects the stored record, the secret is compared by hash in constant time.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { CoordinatorStore, OperatorTokenRecord, Role } from '../ports/store.js';
import { mintToken, parseToken, secretMatches } from './secret-tokens.js';

/** An authenticated caller. */
export interface Principal {
  tokenId: string;
  role: Role;
}

/**
 * Resolves an `Authorization` header to a principal. Throws LP_UNAUTHENTICATED when there is no
 * bearer token, LP_TOKEN_INVALID when the token is malformed, unknown, wrong or revoked (one
 * message for all, so a caller learns nothing about which).
 */
export async function authenticate(
  store: CoordinatorStore,
  authorization: string | undefined,
): Promise<Principal> {
  if (authorization === undefined || authorization.trim() === '') {
    throw new LaunchplaneError('LP_UNAUTHENTICATED', 'This request needs a bearer token', {
      recovery: 'Pass --token or set LAUNCHPLANE_TOKEN',
    });
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const parsed = m === null ? undefined : parseToken('operator', m[1] ?? '');
  const invalid = () =>
    new LaunchplaneError('LP_TOKEN_INVALID', 'The bearer token is not valid', {
      recovery: 'Check the token, or ask an admin for a new one with "launchplane token create"',
    });
  if (parsed === undefined) throw invalid();
  const record = await store.getOperatorToken(parsed.id);
  if (record === undefined || !secretMatches(parsed.secret, record.hash)) throw invalid();
  if (record.revokedAt !== undefined) throw invalid();
  return { tokenId: record.id, role: record.role };
}

/** Creates and stores a new operator token; the returned `value` is shown once. */
export async function createOperatorToken(
  store: CoordinatorStore,
  opts: { role: Role; name: string; now: number },
): Promise<{ record: OperatorTokenRecord; value: string }> {
  const minted = mintToken('operator');
  const record: OperatorTokenRecord = {
    id: minted.id,
    name: opts.name,
    role: opts.role,
    hash: minted.hash,
    createdAt: opts.now,
    revokedAt: undefined,
  };
  await store.putOperatorToken(record);
  return { record, value: minted.value };
}

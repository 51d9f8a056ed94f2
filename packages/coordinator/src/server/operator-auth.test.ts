import { describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { authenticate, createOperatorToken } from './operator-auth.js';

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(LaunchplaneError);
    return (e as LaunchplaneError).code;
  }
}

describe('operator auth', () => {
  it('authenticates a created token and refuses missing, malformed, forged and revoked ones', async () => {
    const store = SqliteCoordinatorStore.open(':memory:');
    const { record, value } = await createOperatorToken(store, {
      role: 'operator',
      name: 'n',
      now: 1,
    });
    expect(await authenticate(store, `Bearer ${value}`)).toEqual({
      tokenId: record.id,
      role: 'operator',
    });
    expect(await authenticate(store, `bearer   ${value}`)).toEqual({
      tokenId: record.id,
      role: 'operator',
    });
    expect(await code(authenticate(store, undefined))).toBe('LP_UNAUTHENTICATED');
    expect(await code(authenticate(store, ''))).toBe('LP_UNAUTHENTICATED');
    expect(await code(authenticate(store, `Basic ${value}`))).toBe('LP_TOKEN_INVALID');
    expect(await code(authenticate(store, 'Bearer lpt_x'))).toBe('LP_TOKEN_INVALID');
    const forged = `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`;
    expect(await code(authenticate(store, `Bearer ${forged}`))).toBe('LP_TOKEN_INVALID');
    await store.putOperatorToken({ ...record, revokedAt: 2 });
    expect(await code(authenticate(store, `Bearer ${value}`))).toBe('LP_TOKEN_INVALID');
    await store.close();
  });
});

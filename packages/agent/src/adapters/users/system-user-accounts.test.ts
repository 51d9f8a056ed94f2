import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SystemUserAccounts } from './system-user-accounts.js';

// Reads the host's own user database through getent; changes nothing.
describe('SystemUserAccounts.idsInUse', () => {
  const accounts = new SystemUserAccounts();

  it('names the ids some user or group has, from one list, and no others', async () => {
    const root = await accounts.byUid(0);
    expect(root?.name).toBe('root');
    // A gid with a group: the root group, 0. An id no user or group has: the highest free one
    // below 2^31 that getent finds no entry for (checked one by one first).
    let free = 2_147_480_000;
    while ((await accounts.byUid(free)) !== undefined) free--;
    const inUse = await accounts.idsInUse([0, free, 0]);
    expect([...inUse]).toEqual([0]);
  });

  it('answers an empty list without running anything', async () => {
    expect((await accounts.idsInUse([])).size).toBe(0);
  });

  it('counts a gid that only a group has', async () => {
    const groups = (await promisify(execFile)('getent', ['group'])).stdout;
    const users = new Set((await accounts.list()).map((u) => u.uid));
    const groupOnly = groups
      .split('\n')
      .map((l) => Number(l.split(':')[2]))
      .find((gid) => Number.isInteger(gid) && !users.has(gid));
    expect(groupOnly, 'a group whose gid no user has').toBeDefined();
    expect([...(await accounts.idsInUse([groupOnly!]))]).toEqual([groupOnly]);
  });
});

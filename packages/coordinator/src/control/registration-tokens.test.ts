import { describe, expect, it } from 'vitest';
import type { Scope } from '@launchplane/shared';
import type { RunnerToken } from '../ports/github-runners.js';
import { RegistrationTokens } from './registration-tokens.js';

const API: Scope = { repository: 'acme/api' };
const WEB: Scope = { repository: 'acme/web' };

/** A GitHub that issues numbered tokens living `ttlSec`, and can be made to fail. */
function tokenSource(ttlSec = 3600) {
  const clock = { ms: 1_000_000_000 };
  const asked: string[] = [];
  let fail: Error | undefined;
  const github = {
    createRegistrationToken(scope: Scope): Promise<RunnerToken> {
      const key = 'repository' in scope ? scope.repository : scope.organization;
      asked.push(key);
      if (fail !== undefined) return Promise.reject(fail);
      return Promise.resolve({
        token: `T${asked.length}`,
        expiresAt: Math.floor(clock.ms / 1000) + ttlSec,
      });
    },
  };
  const tokens = new RegistrationTokens(github, { nowMs: () => clock.ms });
  return {
    tokens,
    asked,
    clock,
    failWith: (e: Error | undefined) => (fail = e),
  };
}

describe('RegistrationTokens', () => {
  it('reuses a scope token while it has ten minutes left, then asks for a new one', async () => {
    const s = tokenSource();
    expect((await s.tokens.get(API)).token).toBe('T1');
    s.clock.ms += 49 * 60_000;
    expect((await s.tokens.get(API)).token).toBe('T1');
    s.clock.ms += 2 * 60_000; // 9 minutes left: too little for a create to reach config.sh
    expect((await s.tokens.get(API)).token).toBe('T2');
    expect(s.asked).toEqual(['acme/api', 'acme/api']);
  });

  it('keeps one token per scope', async () => {
    const s = tokenSource();
    const [a, b] = await Promise.all([s.tokens.get(API), s.tokens.get(WEB)]);
    expect(a.token).not.toBe(b.token);
    expect((await s.tokens.get(WEB)).token).toBe(b.token);
    expect(s.asked).toEqual(['acme/api', 'acme/web']);
  });

  it('a burst of creates shares one request', async () => {
    const s = tokenSource();
    const got = await Promise.all(Array.from({ length: 10 }, () => s.tokens.get(API)));
    expect(new Set(got.map((t) => t.token))).toEqual(new Set(['T1']));
    expect(s.asked).toHaveLength(1);
  });

  it('does not keep a failure: the next call asks again', async () => {
    const s = tokenSource();
    s.failWith(new Error('GitHub is down'));
    await expect(s.tokens.get(API)).rejects.toThrow('GitHub is down');
    s.failWith(undefined);
    expect((await s.tokens.get(API)).token).toBe('T2');
  });

  it('forget drops the token a failed create used, and only that one', async () => {
    const s = tokenSource();
    await s.tokens.get(API);
    s.tokens.forget(API, 'T-other');
    expect((await s.tokens.get(API)).token).toBe('T1');
    s.tokens.forget(API, 'T1');
    expect((await s.tokens.get(API)).token).toBe('T2');
    expect((await s.tokens.get(API)).token).toBe('T2');
  });

  it('never hands out a token that came back already short-lived', async () => {
    const s = tokenSource(300);
    expect((await s.tokens.get(API)).token).toBe('T1');
    expect((await s.tokens.get(API)).token).toBe('T2');
  });
});

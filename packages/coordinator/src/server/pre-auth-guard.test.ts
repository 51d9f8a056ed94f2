import { describe, expect, it } from 'vitest';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { silentLogger } from '../ports/logger.js';
import { AuditTally } from './audit-tally.js';
import {
  DEFAULT_PRE_AUTH_LIMITS,
  PreAuthGuard,
  parseExemptList,
  sourceKeyOf,
  type PreAuthLimits,
} from './pre-auth-guard.js';

function guard(limits: Partial<PreAuthLimits> = {}) {
  const store = SqliteCoordinatorStore.open(':memory:');
  const tally = new AuditTally({ store, logger: silentLogger, now: () => 1_790_000_000 });
  return {
    store,
    guard: new PreAuthGuard({ limits: { ...DEFAULT_PRE_AUTH_LIMITS, ...limits }, tally }),
  };
}

describe('sourceKeyOf', () => {
  it('keys IPv4 (also IPv4-mapped) by address and IPv6 by its /64', () => {
    expect(sourceKeyOf('203.0.113.7')).toBe('203.0.113.7');
    expect(sourceKeyOf('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(sourceKeyOf('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(sourceKeyOf('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(sourceKeyOf('fe80::1%eth0')).toBe('fe80::/64');
    expect(sourceKeyOf('::1')).toBe('::/64');
    expect(sourceKeyOf(undefined)).toBe('unknown');
    expect(sourceKeyOf('not an address')).toBe('unknown');
  });
});

describe('PreAuthGuard', () => {
  it('each source holds at most its limit of slots; one source full leaves another free', async () => {
    const { store, guard: g } = guard({ pendingHandshakes: 2 });
    const a = g.source('127.0.0.2');
    const b = g.source('127.0.0.1');
    expect(g.tryAcquire('handshake', a)).toBe(true);
    expect(g.tryAcquire('handshake', a)).toBe(true);
    expect(g.tryAcquire('handshake', a)).toBe(false);
    expect(g.tryAcquire('handshake', b)).toBe(true);
    g.release('handshake', a);
    expect(g.tryAcquire('handshake', a)).toBe(true);
    expect(g.held('handshake', a)).toBe(2);
    // Another address of the same IPv6 /64 is the same source.
    const v6 = g.source('2001:db8::1');
    expect(g.tryAcquire('handshake', v6)).toBe(true);
    expect(g.tryAcquire('handshake', g.source('2001:db8::2'))).toBe(true);
    expect(g.tryAcquire('handshake', g.source('2001:db8::3'))).toBe(false);
    await store.close();
  });

  it('a source is blocked once it used its refusals for the minute; rate-limit answers do not count', async () => {
    const { store, guard: g } = guard({ refusalsPerMinute: 3 });
    const a = g.source('198.51.100.9');
    for (let i = 0; i < 2; i++) g.refused(a, 'api', 'LP_TOKEN_INVALID');
    for (let i = 0; i < 10; i++) g.refused(a, 'api', 'LP_RATE_LIMITED');
    await Promise.resolve();
    expect(await g.isBlocked(a)).toBe(false);
    g.refused(a, 'api', 'LP_TOKEN_INVALID');
    await Promise.resolve();
    expect(await g.isBlocked(a)).toBe(true);
    expect(await g.isBlocked(g.source('198.51.100.10'))).toBe(false);
    await g.tally.flush();
    const [row] = await store.listAudit({});
    expect(row?.params).toMatchObject({ count: 13 });
    await store.close();
  });

  it('exempt addresses and blocks are counted but never limited', async () => {
    const { store, guard: g } = guard({
      pendingHandshakes: 1,
      refusalsPerMinute: 1,
      exempt: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'],
    });
    for (const addr of ['10.1.2.3', '::ffff:10.1.2.3', '2001:db8:5::1', '192.0.2.7']) {
      const s = g.source(addr);
      expect(s.exempt, addr).toBe(true);
      expect(g.tryAcquire('handshake', s)).toBe(true);
      expect(g.tryAcquire('handshake', s)).toBe(true);
      g.refused(s, 'api', 'LP_TOKEN_INVALID');
      g.refused(s, 'api', 'LP_TOKEN_INVALID');
      expect(await g.isBlocked(s)).toBe(false);
    }
    expect(g.source('192.0.2.8').exempt).toBe(false);
    expect(g.source('11.0.0.1').exempt).toBe(false);
    await store.close();
  });

  it('an exempt entry that is not an address or block is refused with LP_CONFIG_INVALID', () => {
    expect(() => parseExemptList(['10.0.0.0/8', 'nope'])).toThrow(
      expect.objectContaining({ code: 'LP_CONFIG_INVALID' }),
    );
  });
});

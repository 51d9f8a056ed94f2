import { describe, expect, it } from 'vitest';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { silentLogger } from '../ports/logger.js';
import { AuditTally, OVERFLOW_SOURCE } from './audit-tally.js';

function setup(opts: { maxSourcesPerMinute?: number } = {}) {
  const store = SqliteCoordinatorStore.open(':memory:');
  const clock = { now: 1_790_000_000 };
  const tally = new AuditTally({
    store,
    logger: silentLogger,
    now: () => clock.now,
    flushMs: 60_000,
    ...opts,
  });
  return { store, clock, tally };
}

const refusal = (
  source: string,
  code: 'LP_TOKEN_INVALID' | 'LP_RATE_LIMITED' = 'LP_TOKEN_INVALID',
) => ({
  action: 'auth.refused',
  source,
  code,
  kind: 'api',
});

describe('AuditTally', () => {
  it('counts a flood from one source into one record for the minute, whose count adds up', async () => {
    const { store, tally } = setup();
    for (let i = 0; i < 5000; i++)
      tally.record(refusal('203.0.113.7', i < 60 ? 'LP_TOKEN_INVALID' : 'LP_RATE_LIMITED'));
    await tally.flush();
    const rows = await store.listAudit({ limit: 100 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor: 'anonymous',
      action: 'auth.refused',
      outcome: 'refused',
      code: 'LP_TOKEN_INVALID',
      at: 1_789_999_980,
      params: {
        source: '203.0.113.7',
        count: 5000,
        codes: { LP_TOKEN_INVALID: 60, LP_RATE_LIMITED: 4940 },
        kinds: { api: 5000 },
      },
    });
    await store.close();
  });

  it('writes the first refusal of a minute at once, then updates the same record', async () => {
    const { store, tally } = setup();
    tally.record(refusal('198.51.100.1'));
    // The first one is written without waiting for a flush.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const first = await store.listAudit({});
    expect(first.map((r) => r.params.count)).toEqual([1]);
    tally.record(refusal('198.51.100.1'));
    await tally.flush();
    const after = await store.listAudit({});
    expect(after.map((r) => [r.seq, r.params.count])).toEqual([[first[0]?.seq, 2]]);
    await store.close();
  });

  it('one record per source and per minute', async () => {
    const { store, clock, tally } = setup();
    tally.record(refusal('198.51.100.1'));
    tally.record(refusal('198.51.100.2'));
    clock.now += 60;
    tally.record(refusal('198.51.100.1'));
    tally.record(refusal('198.51.100.1'));
    await tally.close();
    const rows = await store.listAudit({});
    expect(rows.map((r) => [r.params.source, r.at, r.params.count])).toEqual([
      ['198.51.100.1', 1_789_999_980, 1],
      ['198.51.100.2', 1_789_999_980, 1],
      ['198.51.100.1', 1_790_000_040, 2],
    ]);
    await store.close();
  });

  it('past the cap of sources in a minute, the rest are counted under "*"', async () => {
    const { store, tally } = setup({ maxSourcesPerMinute: 3 });
    for (let i = 0; i < 100; i++) tally.record(refusal(`10.0.0.${i}`));
    await tally.flush();
    const rows = await store.listAudit({ limit: 1000 });
    expect(rows).toHaveLength(4);
    expect(rows.at(-1)?.params).toMatchObject({ source: OVERFLOW_SOURCE, count: 97 });
    expect(rows.reduce((n, r) => n + Number(r.params.count), 0)).toBe(100);
    await store.close();
  });
});

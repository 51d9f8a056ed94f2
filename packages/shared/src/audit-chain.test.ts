import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  auditRecordHash,
  chainRecord,
  GENESIS_HASH,
  verifyChain,
  type ChainLinks,
} from './audit-chain.js';
import { canonicalJson } from './canonical-json.js';
import { createHash } from 'node:crypto';
import { auditRecordSchema, type AuditRecord } from './protocol.js';

type Unchained = Omit<AuditRecord, 'prevHash' | 'hash'>;

const recordArb: fc.Arbitrary<Unchained> = fc.record(
  {
    seq: fc.integer({ min: 1, max: 1_000_000 }),
    at: fc.integer({ min: 1_700_000_000, max: 1_900_000_000 }),
    actor: fc.constantFrom('reconciler', 'agent', 'tok_01', 'cli:local'),
    hostId: fc.constantFrom('host-a', 'host-b'),
    laneId: fc.constant('01jd3xk5m8q2w7r9t4v6y0z1ab'),
    action: fc.constantFrom('lane.create', 'lane.remove', 'lane.stop'),
    params: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), {
      maxKeys: 4,
    }),
    dryRun: fc.boolean(),
    outcome: fc.constantFrom('ok', 'refused', 'failed', 'dry-run'),
    code: fc.constantFrom('LP_NOT_OWNED', 'LP_CAPACITY'),
    message: fc.string({ maxLength: 20 }),
  },
  { requiredKeys: ['seq', 'at', 'actor', 'action', 'params', 'dryRun', 'outcome'] },
);

function chain(records: readonly Unchained[]): (Unchained & ChainLinks)[] {
  const out: (Unchained & ChainLinks)[] = [];
  for (const record of records) out.push(chainRecord(out.at(-1), record));
  return out;
}

const chainArb = fc.array(recordArb, { minLength: 2, maxLength: 8 }).map(chain);

describe('chainRecord()', () => {
  test('hash = SHA-256 hex over prevHash, a newline and the canonical record without hash', () => {
    const first = chainRecord(undefined, {
      seq: 1,
      at: 1764370000,
      actor: 'agent',
      action: 'lane.create',
      params: {},
      dryRun: false,
      outcome: 'ok' as const,
    });
    expect(first.prevHash).toBe(GENESIS_HASH);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    const { hash, ...rest } = first;
    const expected = createHash('sha256')
      .update(`${GENESIS_HASH}\n${canonicalJson(rest)}`)
      .digest('hex');
    expect(hash).toBe(expected);
    expect(auditRecordSchema.parse(first)).toEqual(first);
  });

  test('replaces stale hash fields and links to the previous record', () => {
    const [a, b] = chain([
      { seq: 1, at: 1, actor: 'agent', action: 'x', params: {}, dryRun: false, outcome: 'ok' },
      { seq: 2, at: 2, actor: 'agent', action: 'y', params: {}, dryRun: true, outcome: 'dry-run' },
    ]);
    expect(b!.prevHash).toBe(a!.hash);
    const again = chainRecord(a, { ...b!, hash: 'f'.repeat(64), prevHash: 'e'.repeat(64) });
    expect(again).toEqual(b);
  });

  test('does not depend on key order, and survives a trip through JSON', () => {
    fc.assert(
      fc.property(chainArb, (records) => {
        const reordered = records.map((r) => Object.fromEntries(Object.entries(r).reverse()));
        expect(verifyChain(reordered)).toEqual({ ok: true, head: records.at(-1)!.hash });
        expect(verifyChain(JSON.parse(JSON.stringify(records)) as object[]).ok).toBe(true);
      }),
    );
  });
});

describe('verifyChain() detects tampering', () => {
  test('an edited record breaks the chain at that record (hash-mismatch)', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (records, pick) => {
        const index = pick % records.length;
        const edited = records.map((r) => ({ ...r }));
        edited[index] = {
          ...edited[index]!,
          outcome: edited[index]!.outcome === 'ok' ? 'refused' : 'ok',
        };
        expect(verifyChain(edited)).toEqual({ ok: false, index, reason: 'hash-mismatch' });
      }),
    );
  });

  test('an edit that also rewrites that record hash breaks at the next record', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (records, pick) => {
        const index = pick % (records.length - 1);
        const edited = records.slice();
        const { prevHash: _p, hash: _h, ...body } = records[index]!;
        edited[index] = chainRecord(index === 0 ? undefined : records[index - 1], {
          ...body,
          params: { ...body.params, injected: true },
        });
        expect(verifyChain(edited)).toEqual({
          ok: false,
          index: index + 1,
          reason: 'prev-hash-mismatch',
        });
      }),
    );
  });

  test('a removed record breaks the chain where it was', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (records, pick) => {
        const index = pick % (records.length - 1);
        const removed = records.filter((_, i) => i !== index);
        expect(verifyChain(removed)).toEqual({ ok: false, index, reason: 'prev-hash-mismatch' });
      }),
    );
  });

  test('records cut from the end are found against the known head', () => {
    fc.assert(
      fc.property(chainArb, (records) => {
        const head = records.at(-1)!.hash;
        expect(verifyChain(records, { head }).ok).toBe(true);
        expect(verifyChain(records.slice(0, -1), { head })).toEqual({
          ok: false,
          index: records.length - 1,
          reason: 'head-mismatch',
        });
      }),
    );
  });

  test('reordered records break the chain at the first moved one', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), fc.nat(), (records, p, q) => {
        const i = p % records.length;
        const j = q % records.length;
        fc.pre(i !== j);
        const swapped = records.slice();
        [swapped[i], swapped[j]] = [swapped[j]!, swapped[i]!];
        const verdict = verifyChain(swapped);
        expect(verdict).toEqual({ ok: false, index: Math.min(i, j), reason: 'prev-hash-mismatch' });
      }),
    );
  });

  test('an inserted record breaks the chain, even if correctly hashed after its predecessor', () => {
    fc.assert(
      fc.property(chainArb, recordArb, fc.nat(), (records, extra, pick) => {
        const index = pick % records.length;
        const forged = chainRecord(index === 0 ? undefined : records[index - 1], extra);
        const inserted = [...records.slice(0, index), forged, ...records.slice(index)];
        expect(verifyChain(inserted)).toEqual({
          ok: false,
          index: index + 1,
          reason: 'prev-hash-mismatch',
        });
      }),
    );
  });

  test('a record without hash fields is missing-hash', () => {
    const records = chain([
      { seq: 1, at: 1, actor: 'agent', action: 'x', params: {}, dryRun: false, outcome: 'ok' },
    ]);
    const { hash: _h, ...bare } = records[0]!;
    expect(verifyChain([bare])).toEqual({ ok: false, index: 0, reason: 'missing-hash' });
  });

  test('a segment verifies from its anchor, and not from genesis', () => {
    fc.assert(
      fc.property(chainArb, (records) => {
        const tail = records.slice(1);
        expect(verifyChain(tail, { anchor: records[0]!.hash }).ok).toBe(true);
        expect(verifyChain(tail)).toEqual({ ok: false, index: 0, reason: 'prev-hash-mismatch' });
      }),
    );
  });

  test('auditRecordHash ignores the record own hash member', () => {
    const [a] = chain([
      { seq: 1, at: 1, actor: 'agent', action: 'x', params: {}, dryRun: false, outcome: 'ok' },
    ]);
    expect(auditRecordHash(GENESIS_HASH, a!)).toBe(a!.hash);
    expect(auditRecordHash(GENESIS_HASH, { ...a!, hash: 'x' })).toBe(a!.hash);
  });
});

test('chainRecord() refuses to chain after a record without a hash', () => {
  const unhashed: AuditRecord = {
    seq: 1,
    at: 1,
    actor: 'agent',
    action: 'x',
    params: {},
    dryRun: false,
    outcome: 'ok',
  };
  expect(() => chainRecord(unhashed, { ...unhashed, seq: 2 })).toThrow(TypeError);
});

/**
 * The agent's audit log as a SHA-256 hash chain (docs/design/architecture.md "Dry runs and audit").
 *
 * `hash = hex(SHA-256(prevHash + "\n" + canonicalJson(record without "hash")))`, where the
 * hashed record includes its `prevHash` and `canonicalJson` is the JCS-style serialization of
 * canonical-json.ts (sorted keys, no whitespace). The first record's `prevHash` is
 * {@link GENESIS_HASH}. Editing, removing, reordering or inserting a record breaks the chain at
 * that record; dropping records from the end is only visible against a known head hash.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

/** `prevHash` of the first record of a chain: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** The hash fields a chained record carries. */
export interface ChainLinks {
  prevHash: string;
  hash: string;
}

/** A record before it is chained: anything JSON-like, without hash fields. */
export type Unchained<T> = Omit<T, 'prevHash' | 'hash'>;

/** The hash of `record` (its own `hash` member, if any, is ignored) chained after `prevHash`. */
export function auditRecordHash(prevHash: string, record: object): string {
  const { hash: _ignored, ...rest } = record as { hash?: unknown };
  return createHash('sha256')
    .update(`${prevHash}\n${canonicalJson({ ...rest, prevHash })}`, 'utf8')
    .digest('hex');
}

/**
 * Chains `record` after `prev` (the previous chained record, or undefined for the first one):
 * returns a copy with `prevHash` and `hash` set. Any stale `prevHash`/`hash` on `record` is
 * replaced. Throws a TypeError when `prev` carries no hash.
 */
export function chainRecord<T extends object>(
  prev: { hash?: string | undefined } | undefined,
  record: T,
): Unchained<T> & ChainLinks {
  if (prev !== undefined && typeof prev.hash !== 'string') {
    throw new TypeError('Cannot chain after a record that has no hash');
  }
  const { prevHash: _p, hash: _h, ...rest } = record as T & Partial<ChainLinks>;
  const prevHash = prev?.hash ?? GENESIS_HASH;
  const linked = { ...rest, prevHash } as Unchained<T> & { prevHash: string };
  return { ...linked, hash: auditRecordHash(prevHash, linked) };
}

/** Options of {@link verifyChain}. */
export interface VerifyChainOptions {
  /** Expected `prevHash` of the first record: the hash before this segment. Default genesis. */
  anchor?: string;
  /** Expected `hash` of the last record, when known, to detect records cut from the end. */
  head?: string;
}

/** Outcome of {@link verifyChain}: where the chain first breaks, and why. */
export type ChainVerdict =
  { ok: true; head: string } | { ok: false; index: number; reason: ChainBreak };

/** Why a chain breaks at a record. */
export type ChainBreak = 'missing-hash' | 'prev-hash-mismatch' | 'hash-mismatch' | 'head-mismatch';

/**
 * Verifies a chain (or a segment starting after `anchor`). `prev-hash-mismatch` at `index`
 * means a record before it was removed, reordered or inserted; `hash-mismatch` means the
 * record itself was edited; `head-mismatch` (index = length) means records were cut from the end.
 */
export function verifyChain(
  records: readonly object[],
  options: VerifyChainOptions = {},
): ChainVerdict {
  let expectedPrev = options.anchor ?? GENESIS_HASH;
  for (const [index, record] of records.entries()) {
    const { prevHash, hash } = record as Partial<Record<keyof ChainLinks, unknown>>;
    if (typeof prevHash !== 'string' || typeof hash !== 'string') {
      return { ok: false, index, reason: 'missing-hash' };
    }
    if (prevHash !== expectedPrev) return { ok: false, index, reason: 'prev-hash-mismatch' };
    if (auditRecordHash(prevHash, record) !== hash) {
      return { ok: false, index, reason: 'hash-mismatch' };
    }
    expectedPrev = hash;
  }
  if (options.head !== undefined && options.head !== expectedPrev) {
    return { ok: false, index: records.length, reason: 'head-mismatch' };
  }
  return { ok: true, head: expectedPrev };
}

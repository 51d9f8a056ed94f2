/**
 * The unit of work every `CoordinatorStore` keeps (ports/store.ts; docs/design/architecture.md
 * "The store"), as tests an adapter's own test file runs on a fresh, empty store:
 * `unitOfWorkContract(() => open(), { oneConnection })`. They use only the port, so a PostgreSQL
 * store can run them as they are.
 */
import { expect, it } from 'vitest';
import type { CoordinatorStore, StoreTx } from '../ports/store.js';

/** What the adapter under test is. */
export interface UnitOfWorkContractOptions {
  /**
   * The store has one connection (SQLite): a call from outside an open transaction waits for it
   * to end, so the order in which such calls finish is checked too.
   */
  oneConnection: boolean;
}

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

const misuse = (kind: string): unknown =>
  expect.objectContaining({ code: 'LP_INTERNAL', details: { storeMisuse: kind } });

/** Registers the contract's tests (inside the caller's `describe`). */
export function unitOfWorkContract(
  open: () => CoordinatorStore,
  opts: UnitOfWorkContractOptions,
): void {
  it('commits together and rolls back together', async () => {
    const s = open();
    await s.transaction(async (tx) => {
      await tx.setMeta('a', '1');
      await tx.setMeta('b', '1');
    });
    expect(await s.getMeta('b')).toBe('1');
    await expect(
      s.transaction(async (tx) => {
        await tx.setMeta('a', '2');
        await tx.setMeta('b', '2');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect([await s.getMeta('a'), await s.getMeta('b')]).toEqual(['1', '1']);
    await s.close();
  });

  it('keeps a call from another caller out of an open transaction', async () => {
    const s = open();
    await s.setMeta('a', '1');
    const inside = gate();
    const proceed = gate();
    const seenInside: (string | undefined)[] = [];
    const txDone = s.transaction(async (tx) => {
      await tx.setMeta('a', '2');
      inside.open();
      await proceed.opened;
      // Had the outside write run inside this transaction, it would see it.
      seenInside.push(await tx.getMeta('c'));
      throw new Error('boom');
    });
    await inside.opened;
    // Called from the test's own context while the transaction is open.
    const order: string[] = [];
    const outside = [
      s.setMeta('c', 'outside').then(() => order.push('write')),
      s.getMeta('a').then((v) => order.push(`read a=${v}`)),
    ];
    proceed.open();
    await expect(txDone).rejects.toThrow('boom');
    await Promise.all(outside);
    expect(seenInside).toEqual([undefined]);
    // The read saw the value from before the transaction; the rollback did not take the outside
    // write with it. With one connection, both ran after the transaction, in call order.
    expect(order).toContain('read a=1');
    if (opts.oneConnection) expect(order).toEqual(['write', 'read a=1']);
    expect(await s.getMeta('c')).toBe('outside');
    await s.close();
  });

  it('runs transactions of concurrent callers one after another (no lost update)', async () => {
    const s = open();
    await s.setMeta('n', '0');
    const bump = () =>
      s.transaction(async (tx) => {
        const n = Number(await tx.getMeta('n'));
        await new Promise((r) => setImmediate(r));
        await tx.setMeta('n', String(n + 1));
      });
    await Promise.all([bump(), bump(), bump()]);
    expect(await s.getMeta('n')).toBe('3');
    await s.close();
  });

  // Each of these hung for ever before (the outer store waited for the transaction that waited
  // for it); the short timeout makes a regression fail instead of hanging the suite.
  it(
    'refuses the outer store inside its own transaction instead of hanging',
    { timeout: 2000 },
    async () => {
      const s = open();
      await expect(
        s.transaction(async (tx) => {
          await tx.setMeta('a', 'in-tx');
          await s.getMeta('a');
        }),
      ).rejects.toEqual(misuse('store-inside-tx'));
      await expect(
        s.transaction(async () => {
          await s.setMeta('b', 'outside');
        }),
      ).rejects.toEqual(misuse('store-inside-tx'));
      // The transaction that caught the refusal goes on and commits what it wrote through `tx`.
      const refusals = await s.transaction(async (tx) => {
        const seen: unknown[] = [];
        for (const call of [
          () => s.transaction(() => Promise.resolve()),
          () =>
            s.appendAudit({
              at: 1,
              actor: 'x',
              action: 'y',
              params: {},
              dryRun: false,
              outcome: 'ok',
            }),
          () => s.close(),
        ]) {
          await call().catch((err: unknown) => seen.push(err));
        }
        await tx.setMeta('c', 'committed');
        return seen;
      });
      expect(refusals).toEqual([
        misuse('store-inside-tx'),
        misuse('store-inside-tx'),
        misuse('store-inside-tx'),
      ]);
      expect([await s.getMeta('a'), await s.getMeta('b'), await s.getMeta('c')]).toEqual([
        undefined,
        undefined,
        'committed',
      ]);
      expect(await s.listAudit({})).toEqual([]);
      await s.close();
    },
  );

  it('refuses a transaction handle used after its transaction ended; nothing is written', async () => {
    const s = open();
    let committed: StoreTx | undefined;
    await s.transaction(async (tx) => {
      committed = tx;
      await tx.setMeta('a', '1');
    });
    let rolledBack: StoreTx | undefined;
    await expect(
      s.transaction((tx) => {
        rolledBack = tx;
        return Promise.reject(new Error('boom'));
      }),
    ).rejects.toThrow('boom');
    for (const tx of [committed, rolledBack]) {
      await expect(tx?.setMeta('a', 'late')).rejects.toEqual(misuse('tx-after-end'));
      await expect(tx?.getMeta('a')).rejects.toEqual(misuse('tx-after-end'));
    }
    expect(await s.getMeta('a')).toBe('1');
    await s.close();
  });

  it('refuses a write a transaction left running past its end, and keeps what it committed', async () => {
    const s = open();
    const later = gate();
    let late: Promise<void> | undefined;
    await s.transaction(async (tx) => {
      await tx.setMeta('a', '1');
      late = later.opened.then(() => tx.setMeta('a', 'late'));
    });
    later.open();
    await expect(late).rejects.toEqual(misuse('tx-after-end'));
    expect(await s.getMeta('a')).toBe('1');
    await s.close();
  });

  it('lets work started inside a transaction use the store once the transaction ended', async () => {
    const s = open();
    const later = gate();
    let after: Promise<string | undefined> | undefined;
    await s.transaction(async (tx) => {
      await tx.setMeta('a', '1');
      // Runs in the transaction's async context, but after its commit.
      after = later.opened.then(() => s.getMeta('a'));
    });
    later.open();
    expect(await after).toBe('1');
    await s.close();
  });

  it('puts a call the transaction did not await inside it, so it rolls back with it', async () => {
    const s = open();
    let unawaited: Promise<void> | undefined;
    await expect(
      s.transaction((tx) => {
        unawaited = tx.setMeta('a', 'not awaited');
        return Promise.reject(new Error('boom'));
      }),
    ).rejects.toThrow('boom');
    await unawaited;
    expect(await s.getMeta('a')).toBeUndefined();
    await s.close();
  });
}

/** What {@link retryingEveryTransaction}'s first run throws to roll itself back. */
const RETRY = new Error('serialization failure (simulated)');

/**
 * `store`, but each transaction's function runs twice: once in a transaction that is then rolled
 * back, as a database retrying a serialization failure does (PostgreSQL, SQLSTATE 40001), then for
 * real. A call site whose function acts outside `tx` (counts into an outer variable, sends
 * something) shows it under this store. An error of the first run's own is thrown as it is.
 */
export function retryingEveryTransaction(store: CoordinatorStore): CoordinatorStore {
  return new Proxy(store, {
    get(target, prop): unknown {
      if (prop === 'transaction') {
        return async <T>(fn: (tx: StoreTx) => Promise<T>): Promise<T> => {
          await target
            .transaction(async (tx) => {
              await fn(tx);
              throw RETRY;
            })
            .catch((err: unknown) => {
              if (err !== RETRY) throw err;
            });
          return target.transaction(fn);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      // Bound to the store itself: its methods use private fields a proxy does not have.
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

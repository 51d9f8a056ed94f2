/**
 * The guards of the store's unit of work (ports/store.ts), the same for every database adapter:
 * each transaction marks its async context (`AsyncLocalStorage`), so that
 *
 * - the outer store, called from inside one of its own open transactions, refuses at once
 *   ({@link TxContexts.assertOutside}) instead of waiting for the transaction that waits for it,
 *   or running on another connection outside it;
 * - a transaction's handle, used after the transaction ended, refuses ({@link TxLife.assertOpen})
 *   instead of writing outside any transaction.
 *
 * Both refusals are LP_INTERNAL: they are bugs in the caller, never an operator's to fix. The
 * context outlives the transaction (a timer or a promise made inside it keeps it), so the outer
 * store refuses only while the transaction is still open.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { LaunchplaneError } from '@launchplane/shared';

/** One transaction's life: open from its BEGIN until its COMMIT or ROLLBACK is under way. */
export class TxLife {
  #open = true;

  get open(): boolean {
    return this.#open;
  }

  /** Ends the transaction for its handle and its context; called before COMMIT or ROLLBACK. */
  end(): void {
    this.#open = false;
  }

  /** Throws LP_INTERNAL once the transaction has ended. */
  assertOpen(): void {
    if (!this.#open) {
      throw new LaunchplaneError(
        'LP_INTERNAL',
        'A store transaction handle was used after its transaction ended',
        { details: { storeMisuse: 'tx-after-end' } },
      );
    }
  }
}

/** The async contexts of one store's transactions. */
export class TxContexts {
  readonly #als = new AsyncLocalStorage<TxLife>();

  /** Runs `fn` in the context of the transaction `life`. */
  run<T>(life: TxLife, fn: () => Promise<T>): Promise<T> {
    return this.#als.run(life, fn);
  }

  /** Throws LP_INTERNAL when called from inside an open transaction of this store. */
  assertOutside(): void {
    if (this.#als.getStore()?.open === true) {
      throw new LaunchplaneError(
        'LP_INTERNAL',
        "The store was called inside one of its own transactions; use the transaction's handle",
        { details: { storeMisuse: 'store-inside-tx' } },
      );
    }
  }
}

/**
 * The reconciler: on an interval it observes and plans; with `auto` it also applies the plan as
 * actor `reconciler`, without waiting for new lanes' runners to come online (they finish in the
 * background, so demand that arrives meanwhile is planned at once). Awareness first: `auto` is off by default, and then it only keeps the
 * latest plan fresh (GitHub polled, offline clocks running) for operators to read.
 */
import type { ControlPlan } from '@launchplane/shared';
import type { Logger } from '../ports/logger.js';
import type { Clock } from '@launchplane/shared';
import type { ApplyResult, ControlService } from './control-service.js';
import { IntervalLoop } from './interval-loop.js';

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  /** Apply every plan (default false: only observe and plan). */
  auto?: boolean;
  /** Seconds between rounds (default 30). */
  intervalSec?: number;
  /** Least seconds between rounds when woken early (default 1). */
  minGapSec?: number;
}

export const RECONCILER_ACTOR = 'reconciler';

export class Reconciler {
  readonly #service: ControlService;
  readonly #logger: Logger;
  readonly #auto: boolean;
  readonly #loop: IntervalLoop;
  #rounds = 0;

  constructor(
    deps: { service: ControlService; clock: Clock; logger: Logger },
    opts: ReconcilerOptions = {},
  ) {
    this.#service = deps.service;
    this.#logger = deps.logger;
    this.#auto = opts.auto ?? false;
    this.#loop = new IntervalLoop((signal) => this.tick(signal), {
      clock: deps.clock,
      logger: deps.logger,
      intervalMs: (opts.intervalSec ?? 30) * 1000,
      minGapMs: (opts.minGapSec ?? 1) * 1000,
      what: 'reconciler',
    });
  }

  /** Plans (and with `auto` applies) now rather than at the next interval: demand changed. */
  wake(): void {
    this.#loop.wake();
  }

  /** Rounds completed so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /**
   * One round: plan, and with `auto` apply. Never throws: a failed round is logged and the next
   * one tries again. An apply already running (an operator's) makes the round plan only.
   */
  async tick(
    signal?: AbortSignal,
  ): Promise<{ plan: ControlPlan; applied: ApplyResult | undefined }> {
    try {
      if (this.#auto && !this.#service.applying()) {
        const applied = await this.#service.apply({
          actor: RECONCILER_ACTOR,
          dryRun: false,
          detach: true,
          ...(signal === undefined ? {} : { signal }),
        });
        if (!applied.ok) {
          this.#logger.warn(
            {
              failed: applied.reports
                .filter((r) => !r.ok)
                .map((r) => ({ id: r.actionId, code: r.error?.code })),
            },
            'reconciler: some actions failed',
          );
        }
        this.#afterRound(applied.plan);
        return { plan: applied.plan, applied };
      }
      const plan = await this.#service.plan();
      this.#afterRound(plan);
      return { plan, applied: undefined };
    } finally {
      this.#rounds++;
    }
  }

  /** Logs what the round decided for demand pools, and wakes the loop for the next scale-down. */
  #afterRound(plan: ControlPlan): void {
    const pools = plan.scaling?.pools ?? [];
    if (pools.length === 0) return;
    // For anyone tracing when a lane came or went (debug level).
    this.#logger.debug(
      {
        pools: pools.map((p) => ({
          pool: p.pool,
          lanes: p.lanes,
          busy: p.busy,
          waiting: p.waiting,
          target: p.target,
          creates: p.creates,
          reclaims: p.reclaims,
          removes: p.removes,
          nextScaleDownAt: p.nextScaleDownAt,
        })),
      },
      'reconciler round',
    );
    // A spare lane that becomes idle long enough to go before the next interval is removed then,
    // not up to an interval late: the next round runs when the first one is due.
    const due = pools.flatMap((p) => (p.nextScaleDownAt === undefined ? [] : [p.nextScaleDownAt]));
    if (due.length > 0) this.#loop.wakeAt(Math.min(...due) * 1000);
  }

  /** Starts the loop (idempotent). */
  start(): void {
    this.#loop.start();
  }

  /** Stops the loop and waits for the current round, and the creates it left running, to end. */
  async stop(): Promise<void> {
    await this.#loop.stop();
    await this.#service.settled();
  }
}

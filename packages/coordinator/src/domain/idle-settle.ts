/**
 * When a draining lane may be called idle
 * (docs/design/lane-lifecycle.md "Drain"). GitHub's `busy` flag lags 25–60 s
 * and flips mid-job, so neither signal is trusted alone: the lane is idle only after both the
 * agent's local signal and GitHub said idle in `observations` consecutive checks spanning at
 * least `settleMs`. Any busy observation, from either side, starts the count again.
 */

/** One look at a lane: each side's answer, with unknown counted as busy by the caller. */
export interface IdleObservation {
  /** Milliseconds (any epoch, but one clock). */
  at: number;
  localBusy: boolean;
  githubBusy: boolean;
}

/** How much agreement makes idle. */
export interface SettleRule {
  /** Consecutive idle observations needed (at least 1). */
  observations: number;
  /** Least time between the first and the last of them, in milliseconds. */
  settleMs: number;
}

/** The running count; start from {@link INITIAL_SETTLE}. */
export interface SettleState {
  idleCount: number;
  idleSince: number | undefined;
}

export const INITIAL_SETTLE: SettleState = { idleCount: 0, idleSince: undefined };

/** Folds one observation in; `settled` is true once the lane may be called idle. */
export function observeIdle(
  state: SettleState,
  obs: IdleObservation,
  rule: SettleRule,
): { state: SettleState; settled: boolean } {
  if (obs.localBusy || obs.githubBusy) return { state: INITIAL_SETTLE, settled: false };
  const next: SettleState = {
    idleCount: state.idleCount + 1,
    idleSince: state.idleSince ?? obs.at,
  };
  const settled =
    next.idleCount >= Math.max(1, rule.observations) &&
    obs.at - (next.idleSince ?? obs.at) >= rule.settleMs;
  return { state: next, settled };
}

/** Capped exponential delay before poll number `attempt` (0-based), in milliseconds. */
export function pollDelayMs(attempt: number, opts: { baseMs: number; capMs: number }): number {
  return Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30));
}

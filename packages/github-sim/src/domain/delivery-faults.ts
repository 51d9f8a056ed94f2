/**
 * Faults of webhook deliveries (`/_sim/hooks/faults`): what a receiver must survive. They apply
 * to `workflow_job` deliveries as they are made, not to pings or to redeliveries asked for.
 */
export interface HookFaults {
  /** The next this-many deliveries are dropped: never sent, and not in the REST delivery lists. */
  dropNext: number;
  /** That share (0–1) of deliveries is dropped. */
  dropRate: number;
  /** The next this-many deliveries are sent twice, with the same `X-GitHub-Delivery`. */
  duplicateNext: number;
  /** That share (0–1) of deliveries is sent twice. */
  duplicateRate: number;
  /** Every delivery is sent this long after its event. */
  delayMs: number;
  /**
   * The next this-many deliveries are each held back until the hook's next delivery has been
   * sent, so the two arrive swapped (or until `reorderHoldMs` passed without one).
   */
  reorderNext: number;
  /** How long a held delivery waits for a next one before it is sent anyway. Default 2000 ms. */
  reorderHoldMs: number;
}

export const NO_HOOK_FAULTS: HookFaults = {
  dropNext: 0,
  dropRate: 0,
  duplicateNext: 0,
  duplicateRate: 0,
  delayMs: 0,
  reorderNext: 0,
  reorderHoldMs: 2000,
};

/** What becomes of one delivery. */
export interface DeliveryPlan {
  drop: boolean;
  duplicate: boolean;
  /** Held back until the hook's next delivery is sent. */
  hold: boolean;
  delayMs: number;
}

/** Merges a partial update into `faults`; a string names the first bad value. */
export function mergeHookFaults(
  faults: HookFaults,
  update: Record<string, unknown>,
): HookFaults | string {
  const next: HookFaults = { ...faults };
  for (const [k, v] of Object.entries(update)) {
    switch (k) {
      case 'dropRate':
      case 'duplicateRate':
        if (typeof v !== 'number' || !(v >= 0 && v <= 1))
          return `${k} must be a number from 0 to 1`;
        next[k] = v;
        break;
      case 'dropNext':
      case 'duplicateNext':
      case 'delayMs':
      case 'reorderNext':
      case 'reorderHoldMs':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
          return `${k} must be a non-negative integer`;
        next[k] = v;
        break;
      default:
        return `unknown hook fault "${k}"`;
    }
  }
  return next;
}

/**
 * Decides the fate of the next delivery and spends the counted faults it used. `canHold` is false
 * while the hook already holds a delivery back (the new one is the one sent before it).
 */
export function planDelivery(
  faults: HookFaults,
  random: () => number,
  canHold: boolean,
): { plan: DeliveryPlan; faults: HookFaults } {
  const next = { ...faults };
  const take = (counted: 'dropNext' | 'duplicateNext', rate: 'dropRate' | 'duplicateRate') => {
    if (next[counted] > 0) {
      next[counted] -= 1;
      return true;
    }
    return next[rate] > 0 && random() < next[rate];
  };
  const drop = take('dropNext', 'dropRate');
  if (drop) return { plan: { drop, duplicate: false, hold: false, delayMs: 0 }, faults: next };
  const duplicate = take('duplicateNext', 'duplicateRate');
  const hold = canHold && next.reorderNext > 0;
  if (hold) next.reorderNext -= 1;
  return { plan: { drop, duplicate, hold, delayMs: next.delayMs }, faults: next };
}

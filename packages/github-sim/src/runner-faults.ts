/**
 * Situations the control API can put the runner-facing service (`/_runner/`) in, to drive the stub
 * runner to each exit code the real one has (docs/runner-contract.md).
 */
export interface RunnerFaults {
  /**
   * Runners that report an older version get their message poll refused as "runner version too
   * old" (the broker's `RunnerVersionTooOld`): the listener exits 7 with
   * `ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE`, else 1. `null`: any version is fine.
   */
  minRunnerVersion: string | null;
  /** The next this-many message polls answer 401 (the listener gives up with exit code 2). */
  pollUnauthorizedNext: number;
  /** The next this-many message polls answer 503 (the listener retries). */
  pollServerErrorNext: number;
  /** The next this-many session creations answer 503 (the listener retries). */
  sessionServerErrorNext: number;
}

export const NO_RUNNER_FAULTS: RunnerFaults = {
  minRunnerVersion: null,
  pollUnauthorizedNext: 0,
  pollServerErrorNext: 0,
  sessionServerErrorNext: 0,
};

const VERSION = /^\d+(\.\d+){0,3}$/;

/** Merges a partial update into `faults`, or says what is wrong with it. */
export function mergeRunnerFaults(
  faults: RunnerFaults,
  update: Record<string, unknown>,
): RunnerFaults | string {
  const next: RunnerFaults = { ...faults };
  for (const [k, v] of Object.entries(update)) {
    switch (k) {
      case 'minRunnerVersion':
        if (v !== null && (typeof v !== 'string' || !VERSION.test(v)))
          return 'minRunnerVersion must be a version such as "2.330.0", or null';
        next.minRunnerVersion = v;
        break;
      case 'pollUnauthorizedNext':
      case 'pollServerErrorNext':
      case 'sessionServerErrorNext':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
          return `${k} must be a non-negative integer`;
        next[k] = v;
        break;
      default:
        return `unknown runner fault "${k}"`;
    }
  }
  return next;
}

/** Whether dotted version `version` is older than `min` (missing parts count as 0). */
export function versionBelow(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (Number.isNaN(x)) return true;
    if (x !== y) return x < y;
  }
  return false;
}

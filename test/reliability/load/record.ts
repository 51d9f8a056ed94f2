/**
 * Appends one JSON line per scenario to `$LP_RELIABILITY_OUT` (when set) for bench/reliability.
 */
import { appendFileSync } from 'node:fs';

/** One scenario's outcome, as bench/reliability reads it. */
export interface ScenarioRecord {
  area: 'load';
  scenario: string;
  /** What was done to the system, in words, starting with how many faults (`1 coordinator SIGKILL …`). */
  injected: string;
  survived: boolean;
  /** Counts that must be zero, and other counts. */
  counts: Record<string, number>;
  /** Measured figures (times in ms, sizes in bytes). */
  figures?: Record<string, number | string | null>;
}

/** Writes `record` when LP_RELIABILITY_OUT names a file; otherwise does nothing. */
export function recordScenario(record: ScenarioRecord): void {
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  appendFileSync(out, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`);
}

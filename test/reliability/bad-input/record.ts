/**
 * Appends one JSON line per scenario to `$LP_RELIABILITY_OUT` (when set) for bench/reliability,
 * in the shape the other reliability areas use.
 */
import { appendFileSync } from 'node:fs';

/** One scenario's outcome. */
export interface BadInputRecord {
  area: 'bad-input';
  scenario: string;
  /** What was sent, in words, starting with how many (`1 frame of 300 KiB`). */
  injected: string;
  survived: boolean;
  /** Cases tried and refused, refusals by code, and counts that must be zero. */
  counts: Record<string, number>;
}

/** Writes `record` when LP_RELIABILITY_OUT names a file; otherwise does nothing. */
export function recordBadInput(record: Omit<BadInputRecord, 'area'>): void {
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  appendFileSync(
    out,
    `${JSON.stringify({ area: 'bad-input', ...record, at: new Date().toISOString() })}\n`,
  );
}

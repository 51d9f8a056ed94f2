/**
 * Appends one JSON line per scenario to `$LP_RELIABILITY_OUT` (when set) for bench/reliability,
 * in the shape every reliability area uses: bad input, and the hostile-host and hostile-job
 * attacks (whose counts of what got through must be zero).
 */
import { appendFileSync } from 'node:fs';

/** One scenario's outcome. */
export interface ScenarioRecord<Area extends string = string> {
  area: Area;
  scenario: string;
  /** What was sent or attempted, in words, starting with how many (`1 frame of 300 KiB`). */
  injected: string;
  survived: boolean;
  /** Cases tried and refused, refusals by code, and counts that must be zero. */
  counts: Record<string, number>;
}

export type BadInputRecord = ScenarioRecord<'bad-input'>;

/** Writes `record` when LP_RELIABILITY_OUT names a file; otherwise does nothing. */
export function recordScenario(record: ScenarioRecord): void {
  const out = process.env.LP_RELIABILITY_OUT;
  if (out === undefined || out === '') return;
  appendFileSync(out, `${JSON.stringify({ ...record, at: new Date().toISOString() })}\n`);
}

/** A bad-input scenario's line. */
export function recordBadInput(record: Omit<BadInputRecord, 'area'>): void {
  recordScenario({ area: 'bad-input', ...record });
}

/**
 * A hostile job's attempts on a real lane, from `name=blocked|escaped` lines: the counts of what
 * got through, by kind, all of which must be zero.
 */
export function recordJobAttack(
  scenario: string,
  result: Record<string, string | undefined>,
  kinds: { hostKeys: string[]; acrossLanes: string[]; host: string[] },
): void {
  const escaped = (names: string[]): number => names.filter((n) => result[n] !== 'blocked').length;
  const counts = {
    attempts: kinds.hostKeys.length + kinds.acrossLanes.length + kinds.host.length,
    hostKeysReadableFromLane: escaped(kinds.hostKeys),
    secretsReadableAcrossLanes: escaped(kinds.acrossLanes),
    hostEscapesFromLane: escaped(kinds.host),
  };
  recordScenario({
    area: 'hostile-job',
    scenario,
    injected: `${counts.attempts} attempts by a real job`,
    survived:
      counts.hostKeysReadableFromLane +
        counts.secretsReadableAcrossLanes +
        counts.hostEscapesFromLane ===
      0,
    counts,
  });
}

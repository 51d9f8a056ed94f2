/**
 * Redaction of command parameters before they reach an audit record, a log line or a result.
 * Pure.
 */

/** The value that replaces a secret. */
export const REDACTED = '[redacted]';

/** Keys whose values are secrets wherever they appear. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'jitConfig',
  'registrationToken',
  'token',
  'sealed',
  'secret',
  'proof',
  'ACTIONS_RUNNER_INPUT_TOKEN',
  'ACTIONS_RUNNER_INPUT_JITCONFIG',
]);

/** A deep copy of `value` with every {@link SECRET_KEYS} value replaced by `[redacted]`. */
export function redactParams(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactParams);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.has(k) ? REDACTED : redactParams(v);
    }
    return out;
  }
  return value;
}

/** {@link redactParams} for a record, typed as one. */
export function redactRecord(value: object): Record<string, unknown> {
  return redactParams(value) as Record<string, unknown>;
}

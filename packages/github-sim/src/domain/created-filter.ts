/**
 * The `created` filter of GitHub's workflow-run lists, in GitHub's search syntax for dates:
 * `2026-01-01` (that day, UTC), `>=T`, `>T`, `<=T`, `<T`, `A..B`, `A..*`, `*..B`, where each
 * bound is a date (`YYYY-MM-DD`) or a date-time (`YYYY-MM-DDTHH:MM:SS` with `Z` or an offset;
 * without a zone, UTC). A date as a lower bound means its first second, as an upper bound its
 * last. Pure.
 */

/** Inclusive bounds in epoch milliseconds; either may be open. */
export interface CreatedRange {
  from: number | null;
  to: number | null;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const DAY_MS = 86_400_000;

/** One bound: the instant it names, and for a bare date the last millisecond of its day. */
function bound(text: string): { start: number; end: number } | null {
  if (DATE.test(text)) {
    const start = Date.parse(`${text}T00:00:00Z`);
    return Number.isFinite(start) ? { start, end: start + DAY_MS - 1 } : null;
  }
  if (DATE_TIME.test(text)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
    const at = Date.parse(zoned);
    return Number.isFinite(at) ? { start: at, end: at } : null;
  }
  return null;
}

/** Parses a `created` value; null when it is not in the syntax above. */
export function parseCreated(raw: string): CreatedRange | null {
  const text = raw.trim();
  const range = /^(.+?)\.\.(.+)$/.exec(text);
  if (range !== null) {
    const [, a = '', b = ''] = range;
    const lo = a === '*' ? undefined : bound(a);
    const hi = b === '*' ? undefined : bound(b);
    if (lo === null || hi === null) return null;
    return { from: lo?.start ?? null, to: hi?.end ?? null };
  }
  const op = /^(>=|<=|>|<)(.+)$/.exec(text);
  if (op !== null) {
    const b = bound(op[2] ?? '');
    if (b === null) return null;
    switch (op[1]) {
      case '>=':
        return { from: b.start, to: null };
      case '>':
        return { from: b.end + 1, to: null };
      case '<=':
        return { from: null, to: b.end };
      default:
        return { from: null, to: b.start - 1 };
    }
  }
  const b = bound(text);
  return b === null ? null : { from: b.start, to: b.end };
}

/** Whether `atMs` lies in `range`, compared at whole seconds as GitHub stores them. */
export function inCreatedRange(range: CreatedRange, atMs: number): boolean {
  const at = Math.floor(atMs / 1000) * 1000;
  return (range.from === null || at >= range.from) && (range.to === null || at <= range.to);
}

/**
 * Deterministic JSON text for hashing (the audit chain).
 *
 * The rules are those of RFC 8785 (JCS) for the value types Launchplane records use:
 * - object members sorted by key, compared as UTF-16 code units (JavaScript's default sort);
 * - no insignificant whitespace;
 * - strings and finite numbers spelled exactly as `JSON.stringify` spells them, which is the
 *   ECMAScript serialization JCS prescribes (`-0` becomes `0`);
 * - object members whose value is `undefined` are left out and `undefined` array items become
 *   `null`, as `JSON.stringify` does, so a record hashes the same before and after a trip
 *   through JSON.
 * Anything JCS cannot express the same way everywhere (non-finite numbers, bigint, functions,
 * symbols, class instances such as Date or Map, cycles) is refused with a TypeError rather than
 * silently coerced.
 */

/** Options of {@link canonicalJson}. */
export interface CanonicalJsonOptions {
  /** Deepest allowed nesting; guards against cycles. Default 64. */
  maxDepth?: number;
}

/** Serializes a JSON-compatible value canonically (sorted keys, no whitespace). */
export function canonicalJson(value: unknown, options: CanonicalJsonOptions = {}): string {
  return write(value, options.maxDepth ?? 64, '$');
}

function write(value: unknown, depth: number, path: string): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`Cannot canonicalize ${path}: not finite`);
      return JSON.stringify(value);
    case 'object':
      break;
    case 'undefined':
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`Cannot canonicalize ${path}: ${typeof value} is not JSON`);
  }
  if (depth <= 0) throw new TypeError(`Cannot canonicalize ${path}: nested too deep or cyclic`);
  if (Array.isArray(value)) {
    const items = value.map((item: unknown, i) =>
      item === undefined ? 'null' : write(item, depth - 1, `${path}[${i}]`),
    );
    return `[${items.join(',')}]`;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`Cannot canonicalize ${path}: not a plain object`);
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    members.push(`${JSON.stringify(key)}:${write(member, depth - 1, `${path}.${key}`)}`);
  }
  return `{${members.join(',')}}`;
}

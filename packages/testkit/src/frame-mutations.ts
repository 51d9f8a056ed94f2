/**
 * Mutations of a valid protocol frame (or signed payload) that each make it invalid for certain,
 * for the property-based fuzz suites of the agent and the coordinator
 * (`@launchplane/testkit/fuzz`).
 *
 * Every mutation is chosen so that no correct parser can accept the result: a required member
 * dropped, a member retyped, an unknown member added, a string over every length limit, an
 * unknown type tag, truncated text, invalid UTF-8 between tokens, nesting past the strict-JSON
 * limit, out-of-range numbers, a duplicated member whose last copy is the valid one (only a
 * strict parser refuses it), and prototype-pollution members.
 */
import fc from 'fast-check';

/** JSON text emitted verbatim by {@link render}. */
export class Raw {
  constructor(readonly text: string) {}
}

/** An object with explicit (possibly duplicated) members, in order. */
export class Members {
  constructor(readonly entries: readonly (readonly [string, unknown])[]) {}
}

/** Serializes a tree of plain JSON values, {@link Raw} and {@link Members}. */
export function render(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Members) {
    return `{${value.entries.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(',')}}`;
  }
  if (Array.isArray(value)) return `[${value.map(render).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    return render(new Members(Object.entries(value).filter(([, v]) => v !== undefined)));
  }
  return JSON.stringify(value);
}

/** The kinds of mutation, as recorded in results. */
export const MUTATION_KINDS = [
  'drop',
  'retype',
  'extra',
  'oversize',
  'type-tag',
  'truncated',
  'invalid-utf8',
  'deep',
  'huge-number',
  'duplicate-key',
  'proto-key',
] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** A valid frame and what may be mutated in it. */
export interface FrameTemplate {
  value: Record<string, unknown>;
  /** Paths (dot-joined, array indexes as numbers) of members that are required. */
  required: readonly string[];
  /** Path of the type tag and the tags that are valid there (the mutation picks another). */
  tag?: { path: string; valid: readonly string[] };
  /** Paths whose subtree accepts any JSON (records of unknowns): never mutated inside. */
  opaque?: readonly string[];
}

/** A mutated frame: its bytes, and what was done. */
export interface Mutated {
  kind: MutationKind;
  path: string;
  bytes: Buffer;
}

type Path = (string | number)[];

function pathKey(p: Path): string {
  return p.join('.');
}

/** Every node path (excluding the root) not inside an opaque subtree. */
function nodePaths(value: unknown, opaque: ReadonlySet<string>, prefix: Path = []): Path[] {
  const out: Path[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const p = [...prefix, i];
      out.push(p);
      if (!opaque.has(pathKey(p))) out.push(...nodePaths(v, opaque, p));
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const p = [...prefix, k];
      out.push(p);
      if (!opaque.has(pathKey(p))) out.push(...nodePaths(v, opaque, p));
    }
  }
  return out;
}

function getAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const seg of path) node = (node as Record<string | number, unknown>)[seg];
  return node;
}

/** A deep copy with the node at `path` replaced (`undefined` removes an object member). */
function setAt(root: unknown, path: Path, replace: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replace(root);
  const [head, ...rest] = path as [string | number, ...Path];
  if (Array.isArray(root)) {
    return (root as unknown[]).map((v, i) => (i === head ? setAt(v, rest, replace) : v));
  }
  const obj = root as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k !== head) {
      out[k] = v;
      continue;
    }
    const next = setAt(v, rest, replace);
    if (next !== undefined) out[k] = next;
  }
  // A member that is not there yet (a type tag on a payload without one) is added.
  if (!(head in obj)) {
    const next = setAt(undefined, rest, replace);
    if (next !== undefined) out[head] = next;
  }
  return out;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

const RETYPE_VALUES: readonly unknown[] = [
  'x',
  '',
  0,
  17,
  true,
  false,
  null,
  [],
  ['x'],
  {},
  { a: 1 },
];

/** Over every string limit of the protocol, including a whole frame's 256 KiB. */
const OVERSIZE = 270 * 1024;

const HUGE_NUMBERS = ['1e400', '-1e400', '123456789012345678901234567890', '-1', '0.5', '-0.25'];

const BAD_UTF8: readonly Buffer[] = [
  Buffer.from([0xff]),
  Buffer.from([0xc3]),
  Buffer.from([0xc0, 0xaf]),
  Buffer.from([0xed, 0xa0, 0x80]),
  Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
];

const BAD_TAGS = ['', 'HELLO', 'unknown', 'lane.delete', 'hello ', 'ack\u0000', '__proto__'];

/** An arbitrary mutation of `t`; each result is invalid by construction. */
export function mutatedFrame(t: FrameTemplate): fc.Arbitrary<Mutated> {
  const opaque = new Set(t.opaque ?? []);
  const all = nodePaths(t.value, opaque);
  // Members added to a record of unknowns would be valid: only strict objects get extras.
  const objects = [
    [] as Path,
    ...all.filter((p) => typeOf(getAt(t.value, p)) === 'object' && !opaque.has(pathKey(p))),
  ];
  const strings = all.filter((p) => typeof getAt(t.value, p) === 'string');
  const leaves = all.filter((p) => {
    const ty = typeOf(getAt(t.value, p));
    return ty !== 'object' && ty !== 'array';
  });
  const required = t.required.map((r) =>
    r.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
  );
  const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
  const text = (v: unknown): Buffer => Buffer.from(render(v), 'utf8');
  // The template's own text and each oversize frame (~270 KiB to render) are the same every time
  // they are drawn: made once per template, not once per case.
  let fullText: Buffer | undefined;
  const full = (): Buffer => (fullText ??= text(t.value));
  const oversized = new Map<string, Buffer>();
  const oversize = (p: Path): Buffer => {
    const key = pathKey(p);
    let bytes = oversized.get(key);
    if (bytes === undefined) {
      bytes = text(setAt(t.value, p, () => 'A'.repeat(OVERSIZE)));
      oversized.set(key, bytes);
    }
    return bytes;
  };
  const arbs: fc.Arbitrary<Mutated>[] = [
    pick(required).map((p) => ({
      kind: 'drop' as const,
      path: pathKey(p),
      bytes: text(setAt(t.value, p, () => undefined)),
    })),
    fc.tuple(pick(all), fc.nat()).map(([p, n]) => {
      const old = getAt(t.value, p);
      const choices = RETYPE_VALUES.filter((v) => typeOf(v) !== typeOf(old));
      const v = choices[n % choices.length];
      return { kind: 'retype' as const, path: pathKey(p), bytes: text(setAt(t.value, p, () => v)) };
    }),
    fc
      .tuple(pick(objects), fc.constantFrom('extra', 'zz', 'Type', 'polluted'), fc.jsonValue())
      .map(([p, k, v]) => ({
        kind: 'extra' as const,
        path: pathKey(p),
        bytes: text(setAt(t.value, p, (o) => ({ ...(o as object), [k]: v ?? null }))),
      })),
    pick(strings).map((p) => ({
      kind: 'oversize' as const,
      path: pathKey(p),
      bytes: oversize(p),
    })),
    fc.nat().map((n) => {
      const tag = t.tag ?? { path: 'type', valid: [] };
      const p = tag.path.split('.');
      const bad = BAD_TAGS.filter((b) => !tag.valid.includes(b));
      return {
        kind: 'type-tag' as const,
        path: tag.path,
        bytes: text(setAt(t.value, p, () => bad[n % bad.length])),
      };
    }),
    fc.nat().map((n) => {
      const bytes = full();
      return { kind: 'truncated' as const, path: '', bytes: bytes.subarray(0, n % bytes.length) };
    }),
    fc.tuple(pick(BAD_UTF8), fc.boolean()).map(([bad, front]) => {
      const bytes = full();
      // Between tokens, never inside a string: a decoder that replaces bad bytes with U+FFFD
      // must still see text that is not JSON.
      const at = front ? 1 : bytes.length - 1;
      return {
        kind: 'invalid-utf8' as const,
        path: '',
        bytes: Buffer.concat([bytes.subarray(0, at), bad, bytes.subarray(at)]),
      };
    }),
    fc.tuple(pick([[] as Path, ...all]), fc.integer({ min: 40, max: 5_000 })).map(([p, depth]) => ({
      kind: 'deep' as const,
      path: pathKey(p),
      bytes: text(
        setAt(
          t.value,
          p,
          (old) => new Raw(`${'['.repeat(depth)}${render(old)}${']'.repeat(depth)}`),
        ),
      ),
    })),
    fc.tuple(pick(leaves), pick(HUGE_NUMBERS)).map(([p, n]) => {
      // A huge number where a number is expected; where another type is expected any number is wrong.
      return {
        kind: 'huge-number' as const,
        path: pathKey(p),
        bytes: text(setAt(t.value, p, () => new Raw(n))),
      };
    }),
    fc.tuple(pick(objects), fc.nat(), fc.jsonValue()).map(([p, n, v]) => {
      const obj = getAt(t.value, p) as Record<string, unknown>;
      const keys = Object.keys(obj);
      const k = keys[n % keys.length] ?? 'type';
      // The first copy is junk, the last the valid value: `JSON.parse` keeps the last and sees a
      // valid frame; only a parser that refuses duplicates is safe.
      const entries: [string, unknown][] = [[k, v ?? null], ...Object.entries(obj)];
      return {
        kind: 'duplicate-key' as const,
        path: pathKey([...p, k]),
        bytes: text(setAt(t.value, p, () => new Members(entries))),
      };
    }),
    fc
      .tuple(
        pick(objects),
        fc.constantFrom(
          ['__proto__', { polluted: true, isAdmin: true }] as const,
          ['constructor', { prototype: { polluted: true } }] as const,
          ['prototype', { polluted: true }] as const,
        ),
      )
      .map(([p, [k, v]]) => {
        const obj = getAt(t.value, p) as Record<string, unknown>;
        return {
          kind: 'proto-key' as const,
          path: pathKey([...p, k]),
          bytes: text(setAt(t.value, p, () => new Members([[k, v], ...Object.entries(obj)]))),
        };
      }),
  ];
  return fc.oneof(...arbs);
}

/** Arbitrary junk: random bytes, random text, random JSON values of any shape. */
export function arbitraryFrame(): fc.Arbitrary<Mutated> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }).map((b) => ({
      kind: 'truncated' as const,
      path: 'random-bytes',
      bytes: Buffer.from(b),
    })),
    fc.string({ maxLength: 300, unit: 'binary' }).map((s) => ({
      kind: 'retype' as const,
      path: 'random-text',
      bytes: Buffer.from(s, 'utf8'),
    })),
    fc.jsonValue({ maxDepth: 6 }).map((v) => ({
      kind: 'retype' as const,
      path: 'random-json',
      bytes: Buffer.from(JSON.stringify(v) ?? 'null', 'utf8'),
    })),
    fc.record({ type: fc.string({ maxLength: 12 }) }, { requiredKeys: [] }).chain((base) =>
      fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 })).map((extra) => ({
        kind: 'extra' as const,
        path: 'random-object',
        bytes: Buffer.from(JSON.stringify({ ...extra, ...base }), 'utf8'),
      })),
    ),
  );
}

/** Whether `Object.prototype` picked up anything a frame tried to plant. */
export function prototypePolluted(): boolean {
  const probe = {} as Record<string, unknown>;
  return probe.polluted !== undefined || probe.isAdmin !== undefined;
}

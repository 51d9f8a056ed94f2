import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { parseStrictJson, StrictJsonError } from './strict-json.js';

function parsesWithJsonParse(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('parseStrictJson()', () => {
  test('accepts every JSON text JSON.stringify produces, with the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        for (const text of [JSON.stringify(value), JSON.stringify(value, null, 2)]) {
          expect(parseStrictJson(text)).toEqual(JSON.parse(text));
        }
      }),
    );
  });

  test('accepts what the grammar allows: whitespace, escapes, exponents', () => {
    const text = ' {\t"a" : [ -0.5e+10 , 0 , 1E3, "\\u00e9\\n\\/" , true,false ,null ]\r\n} ';
    expect(parseStrictJson(text)).toEqual(JSON.parse(text));
  });

  test('refuses every text JSON.parse refuses', () => {
    const jsonish = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'{}[]":,0123456789.eE+-tfnrulas \\\n'.split('')) }),
      fc.json().map((t) => t.slice(0, Math.max(0, t.length - 1))),
      fc
        .json()
        .chain((t) =>
          fc
            .tuple(fc.nat({ max: t.length }), fc.string({ maxLength: 2 }))
            .map(([i, s]) => t.slice(0, i) + s + t.slice(i)),
        ),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        if (!parsesWithJsonParse(text)) {
          expect(() => parseStrictJson(text)).toThrow(StrictJsonError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  test.each([
    ['a top-level duplicate', '{"aud":"host-b","aud":"host-a"}'],
    ['a nested duplicate', '{"cmd":{"type":"lane.start","type":"lane.remove"}}'],
    ['a duplicate spelled with an escape', '{"alg":"none","\\u0061lg":"EdDSA"}'],
    ['a duplicate in an object inside an array', '[{"a":1},{"b":1,"b":2}]'],
  ])('refuses %s', (_name, text) => {
    expect(() => parseStrictJson(text)).toThrow(/Duplicate member name/);
  });

  test('allows the same key in sibling objects', () => {
    expect(parseStrictJson('[{"a":1},{"a":2}]')).toEqual([{ a: 1 }, { a: 2 }]);
  });

  test('refuses any object with a repeated key, wherever it is', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), {
          minKeys: 1,
        }),
        fc.nat(),
        fc.jsonValue({ maxDepth: 1 }),
        (object, pick, other) => {
          const keys = Object.keys(object);
          const key = keys[pick % keys.length]!;
          const text = `{${JSON.stringify(key)}:${JSON.stringify(other)},${JSON.stringify(object).slice(1)}`;
          expect(() => parseStrictJson(text)).toThrow(StrictJsonError);
        },
      ),
    );
  });

  test('refuses nesting beyond maxDepth', () => {
    expect(parseStrictJson('[[[1]]]', { maxDepth: 3 })).toEqual([[[1]]]);
    expect(() => parseStrictJson('[[[[1]]]]', { maxDepth: 3 })).toThrow(/Nesting deeper/);
    expect(() => parseStrictJson(`${'['.repeat(100_000)}${']'.repeat(100_000)}`)).toThrow(
      StrictJsonError,
    );
  });

  test('keeps "__proto__" as data, not as a prototype', () => {
    const value = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('parseStrictJson() tells member names from string values', () => {
  test.each([
    ['a value that looks like a member', '{"a":"},{\\"a\\":1","b":1}', true],
    ['a value ending in an escaped backslash', '{"a":"x\\\\","b":"y"}', true],
    ['a name ending in an escaped backslash, repeated', '{"a\\\\":1,"a\\\\":2}', false],
    ['an escaped quote inside a name', '{"a\\"b":1,"a\\"b":2}', false],
    ['arrays of strings between members', '{"a":["a","a"],"b":{"a":"a"}}', true],
    ['a repeat after a nested object closes', '{"a":{"b":1},"a":2}', false],
    ['a repeat after an array closes', '{"a":[{"a":1}],"a":2}', false],
  ])('%s', (_name, text, ok) => {
    if (ok) expect(parseStrictJson(text)).toEqual(JSON.parse(text));
    else expect(() => parseStrictJson(text)).toThrow(/Duplicate member name/);
  });
});

test('parseStrictJson() errors do not quote the text, which may hold a secret', () => {
  for (const text of [
    '{"jitConfig":"s3cr3t-value" x}',
    's3cr3t-value',
    '{"jitConfig":"s3cr3t-value"',
  ]) {
    try {
      parseStrictJson(text);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(StrictJsonError);
      expect((error as Error).message).not.toContain('s3cr3t');
      expect((error as Error).cause).toBeUndefined();
    }
  }
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { linkHeader, paginate, parsePaging } from './pagination.js';

function rels(link: string | null): Record<string, number> {
  if (link === null) return {};
  return Object.fromEntries(
    [...link.matchAll(/<([^>]+)>; rel="(\w+)"/g)].map((m): [string, number] => [
      m[2] ?? '',
      Number(new URL(m[1] ?? '').searchParams.get('page')),
    ]),
  );
}

describe('parsePaging()', () => {
  it('defaults to 30 per page and page 1, clamps per_page to 100 and floors at 1', () => {
    expect(parsePaging(null, null)).toEqual({ perPage: 30, page: 1 });
    expect(parsePaging('500', '3')).toEqual({ perPage: 100, page: 3 });
    expect(parsePaging('0', '-2')).toEqual({ perPage: 1, page: 1 });
    expect(parsePaging('abc', '')).toEqual({ perPage: 30, page: 1 });
  });
});

describe('paginate() and linkHeader()', () => {
  const base = new URL('http://127.0.0.1:1/orgs/acme/actions/runners?name=x');

  it('has no Link when everything fits on one page', () => {
    expect(linkHeader(base, paginate([1, 2], { perPage: 30, page: 1 }))).toBeNull();
  });

  it('links the middle page to prev, next, last and first, keeping other query parameters', () => {
    const link = linkHeader(base, paginate([1, 2, 3, 4, 5], { perPage: 2, page: 2 }));
    expect(rels(link)).toEqual({ prev: 1, next: 3, last: 3, first: 1 });
    expect(link).toContain('name=x');
    expect(link).toContain('per_page=2');
  });

  it('walking `next` from page 1 visits every item exactly once (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer(), { maxLength: 400 }),
        fc.integer({ min: 1, max: 100 }),
        (items, perPage) => {
          const seen: number[] = [];
          let page = 1;
          for (let guard = 0; guard < 1000; guard++) {
            const p = paginate(items, { perPage, page });
            seen.push(...p.items);
            const next = rels(linkHeader(base, p))['next'];
            if (next === undefined) break;
            expect(next).toBe(page + 1);
            page = next;
          }
          expect(seen).toEqual(items);
          const first = rels(linkHeader(base, paginate(items, { perPage, page: 1 })));
          if (items.length > perPage) expect(first['last']).toBe(Math.ceil(items.length / perPage));
        },
      ),
    );
  });

  it('a page past the end is empty and links back', () => {
    const p = paginate([1, 2, 3], { perPage: 2, page: 5 });
    expect(p.items).toEqual([]);
    expect(rels(linkHeader(base, p))).toEqual({ prev: 2, first: 1 });
  });
});

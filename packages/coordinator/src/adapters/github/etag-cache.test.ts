import { describe, expect, it } from 'vitest';
import { CACHE_HEADER, EtagCache, type FetchCounters, conditionalFetch } from './etag-cache.js';

const entry = (etag: string, body: string) => ({ etag, body, headers: [] });

describe('EtagCache', () => {
  it('evicts the least recently used entry past maxEntries', () => {
    const cache = new EtagCache({ maxEntries: 2 });
    cache.set('a', entry('1', 'A'));
    cache.set('b', entry('2', 'B'));
    expect(cache.get('a')?.body).toBe('A'); // a is now the most recently used
    cache.set('c', entry('3', 'C'));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.body).toBe('A');
    expect(cache.get('c')?.body).toBe('C');
    expect(cache.size).toBe(2);
  });

  it('keeps total body size within maxBytes and skips a body larger than the budget', () => {
    const cache = new EtagCache({ maxBytes: 10 });
    cache.set('a', entry('1', '12345'));
    cache.set('b', entry('2', '123456'));
    expect(cache.get('a')).toBeUndefined();
    expect(cache.bytes).toBe(6);
    cache.set('huge', entry('3', 'x'.repeat(11)));
    expect(cache.get('huge')).toBeUndefined();
    expect(cache.get('b')?.body).toBe('123456');
    cache.set('b', entry('4', '1'));
    expect(cache.bytes).toBe(1);
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new EtagCache({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new EtagCache({ maxBytes: 1.5 })).toThrow(RangeError);
  });
});

describe('conditionalFetch()', () => {
  /** A server stand-in: one resource with a version, answering 304 to a matching ETag. */
  function origin() {
    const state = { version: 1, seen: [] as (string | null)[] };
    const fetchFn: typeof fetch = (_input, init) => {
      const inm = new Headers(init?.headers).get('if-none-match');
      state.seen.push(inm);
      const etag = `"v${state.version}"`;
      if (inm === etag)
        return Promise.resolve(
          new Response(null, {
            status: 304,
            headers: { etag, 'x-ratelimit-remaining': '41' },
          }),
        );
      return Promise.resolve(
        new Response(JSON.stringify({ version: state.version }), {
          status: 200,
          headers: {
            etag,
            'content-type': 'application/json',
            link: '<http://x/?page=2>; rel="next"',
            'x-ratelimit-remaining': '40',
          },
        }),
      );
    };
    return { state, fetchFn };
  }

  it('revalidates with If-None-Match and serves a 304 as the cached 200 with fresh headers', async () => {
    const { state, fetchFn } = origin();
    const counters: FetchCounters = { requests: 0, notModified: 0 };
    const f = conditionalFetch(fetchFn, new EtagCache(), counters);
    const first = await f('http://api/x', { method: 'GET' });
    expect(await first.json()).toEqual({ version: 1 });
    expect(first.url).toBe('http://api/x');
    const second = await f('http://api/x', { method: 'GET' });
    expect(second.status).toBe(200);
    expect(second.headers.get(CACHE_HEADER)).toBe('hit');
    expect(second.headers.get('link')).toContain('page=2');
    expect(second.headers.get('x-ratelimit-remaining')).toBe('41');
    expect(await second.json()).toEqual({ version: 1 });
    state.version = 2;
    expect(await (await f('http://api/x', { method: 'GET' })).json()).toEqual({ version: 2 });
    expect(state.seen).toEqual([null, '"v1"', '"v1"']);
    expect(counters).toEqual({ requests: 3, notModified: 1 });
  });

  it('never makes writes conditional and sends plain GETs without a cache', async () => {
    const { state, fetchFn } = origin();
    const counters: FetchCounters = { requests: 0, notModified: 0 };
    const cached = conditionalFetch(fetchFn, new EtagCache(), counters);
    await cached('http://api/x', { method: 'GET' });
    await cached('http://api/x', { method: 'POST' });
    const naive = conditionalFetch(fetchFn, undefined, counters);
    await naive('http://api/x', { method: 'GET' });
    await naive('http://api/x', { method: 'GET' });
    expect(state.seen).toEqual([null, null, null, null]);
    expect(counters).toEqual({ requests: 4, notModified: 0 });
  });
});

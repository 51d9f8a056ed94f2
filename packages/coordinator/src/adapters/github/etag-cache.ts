/**
 * A bounded cache of GitHub GET responses keyed by URL, and a `fetch` wrapper that revalidates
 * them with `If-None-Match`. GitHub answers a matching conditional request with `304 Not
 * Modified`, which does not count against the primary rate limit, so steady polling is free.
 */

/** One cached response: what a 304 stands for. */
export interface CachedResponse {
  etag: string;
  /** Response body as received. */
  body: string;
  /** Headers worth replaying on a 304 (content type, pagination `link`). */
  headers: ReadonlyArray<readonly [string, string]>;
}

/** Limits of an {@link EtagCache}. */
export interface EtagCacheOptions {
  /** Most entries kept; the least recently used goes first. Default 2000. */
  maxEntries?: number;
  /** Most body bytes kept (UTF-16 length as an estimate). Default 32 MiB. */
  maxBytes?: number;
}

export const DEFAULT_ETAG_CACHE_MAX_ENTRIES = 2000;
export const DEFAULT_ETAG_CACHE_MAX_BYTES = 32 * 1024 * 1024;

/** An LRU map from URL to cached response, bounded by entry count and total body size. */
export class EtagCache {
  readonly #entries = new Map<string, CachedResponse>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(opts: EtagCacheOptions = {}) {
    this.#maxEntries = opts.maxEntries ?? DEFAULT_ETAG_CACHE_MAX_ENTRIES;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_ETAG_CACHE_MAX_BYTES;
    if (!Number.isInteger(this.#maxEntries) || this.#maxEntries < 1) {
      throw new RangeError(`EtagCache maxEntries must be a positive integer`);
    }
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1) {
      throw new RangeError(`EtagCache maxBytes must be a positive integer`);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The entry for `key`, marking it most recently used. */
  get(key: string): CachedResponse | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry;
  }

  /** Stores `entry`, evicting least recently used entries past the limits. */
  set(key: string, entry: CachedResponse): void {
    this.delete(key);
    // A body larger than the whole budget would only evict everything else and then itself.
    if (entry.body.length > this.#maxBytes) return;
    this.#entries.set(key, entry);
    this.#bytes += entry.body.length;
    for (const [oldest, old] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= old.body.length;
    }
  }

  delete(key: string): void {
    const old = this.#entries.get(key);
    if (old === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= old.body.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }
}

/** Marks a response that a 304 turned back into the cached 200. */
export const CACHE_HEADER = 'x-launchplane-cache';

const REPLAYED_HEADERS = new Set(['content-type', 'link']);

/** Counters a {@link conditionalFetch} keeps. */
export interface FetchCounters {
  /** Requests sent to GitHub (every attempt, retries included). */
  requests: number;
  /** Of those, answered `304 Not Modified` and served from the cache. */
  notModified: number;
}

/**
 * Wraps `fetch` so that GETs carry `If-None-Match` when a cached ETag exists, a `304` comes back
 * as the cached `200` (with the 304's own headers, so rate-limit headers stay fresh) and a new
 * `200` with an ETag is stored. Every other request passes through untouched. Keyed by the full
 * URL, so each page of a paginated list has its own entry.
 */
export function conditionalFetch(
  inner: typeof fetch,
  cache: EtagCache | undefined,
  counters: FetchCounters,
): typeof fetch {
  return async (input, init) => {
    counters.requests++;
    const method = (init?.method ?? 'GET').toUpperCase();
    const url = input instanceof Request ? input.url : String(input);
    if (cache === undefined || method !== 'GET') return inner(input, init);

    // Captured now: an eviction while the request is in flight must not orphan a 304.
    const cached = cache.get(url);
    const headers = new Headers(init?.headers);
    if (cached !== undefined) headers.set('if-none-match', cached.etag);
    const res = await inner(input, { ...init, headers });

    if (res.status === 304 && cached !== undefined) {
      counters.notModified++;
      const out = new Headers(res.headers);
      for (const [k, v] of cached.headers) out.set(k, v);
      out.set('etag', cached.etag);
      out.set(CACHE_HEADER, 'hit');
      return withUrl(
        new Response(cached.body, { status: 200, statusText: 'OK', headers: out }),
        res.url || url,
      );
    }
    const etag = res.headers.get('etag');
    if (res.status !== 200 || etag === null) {
      if (res.status !== 200) cache.delete(url);
      return res;
    }
    const body = await res.text();
    cache.set(url, {
      etag,
      body,
      headers: [...res.headers].filter(([k]) => REPLAYED_HEADERS.has(k.toLowerCase())),
    });
    return withUrl(
      new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers }),
      res.url || url,
    );
  };
}

/** A constructed Response has an empty `url`; Octokit's pagination reads it. */
function withUrl(res: Response, url: string): Response {
  Object.defineProperty(res, 'url', { value: url });
  return res;
}

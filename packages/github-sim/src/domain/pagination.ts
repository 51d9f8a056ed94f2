/** GitHub's page-size rules for the list endpoints. */
export const DEFAULT_PER_PAGE = 30;
export const MAX_PER_PAGE = 100;

/** A slice of a list plus what the `Link` header needs. */
export interface Page<T> {
  items: T[];
  page: number;
  perPage: number;
  lastPage: number;
}

/**
 * Parses `per_page`/`page` the way GitHub does: missing or unparsable values take the default,
 * `per_page` above 100 is clamped to 100, values below 1 become 1.
 */
export function parsePaging(
  perPage: string | null,
  page: string | null,
): { perPage: number; page: number } {
  const pp = toPositiveInt(perPage, DEFAULT_PER_PAGE);
  return { perPage: Math.min(pp, MAX_PER_PAGE), page: toPositiveInt(page, 1) };
}

function toPositiveInt(raw: string | null, fallback: number): number {
  if (raw === null || raw.trim() === '') return fallback;
  const n = Number.parseInt(raw, 10);
  if (!Number.isFinite(n)) return fallback;
  return Math.max(1, n);
}

/** Cuts `page` (1-based) of `perPage` items out of `all`. A page past the end is empty. */
export function paginate<T>(all: readonly T[], opts: { perPage: number; page: number }): Page<T> {
  const start = (opts.page - 1) * opts.perPage;
  return {
    items: all.slice(start, start + opts.perPage),
    page: opts.page,
    perPage: opts.perPage,
    lastPage: Math.max(1, Math.ceil(all.length / opts.perPage)),
  };
}

/**
 * Builds an RFC 5988 `Link` header as GitHub sends it (`prev`, `next`, `last`, `first`), or
 * `null` when everything fits on one page. `baseUrl` carries the request's other query
 * parameters, which every link keeps.
 */
export function linkHeader(baseUrl: URL, page: Page<unknown>): string | null {
  const links: string[] = [];
  const at = (n: number, rel: string): void => {
    const u = new URL(baseUrl.href);
    u.searchParams.set('per_page', String(page.perPage));
    u.searchParams.set('page', String(n));
    links.push(`<${u.href}>; rel="${rel}"`);
  };
  if (page.page > 1) at(Math.min(page.page - 1, page.lastPage), 'prev');
  if (page.page < page.lastPage) {
    at(page.page + 1, 'next');
    at(page.lastPage, 'last');
  }
  if (page.page > 1) at(1, 'first');
  return links.length === 0 ? null : links.join(', ');
}

/**
 * How the server mounts routes (`http/route.ts` has their shape): role ranking and path patterns.
 */
import type { Role } from '../ports/store.js';

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True when `have` is at least `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLE_RANK[have] >= ROLE_RANK[need];
}

/** A compiled path pattern. */
export interface PathMatcher {
  match(path: string): Record<string, string> | undefined;
}

/** Compiles `/v1/lanes/:id/drain` into a matcher. */
export function compilePath(pattern: string): PathMatcher {
  const parts = pattern.split('/');
  return {
    match(path: string) {
      const segs = path.split('/');
      if (segs.length !== parts.length) return undefined;
      const params: Record<string, string> = {};
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i] ?? '';
        const s = segs[i] ?? '';
        if (p.startsWith(':')) {
          if (s === '') return undefined;
          let decoded: string;
          try {
            decoded = decodeURIComponent(s);
          } catch {
            return undefined;
          }
          params[p.slice(1)] = decoded;
        } else if (p !== s) {
          return undefined;
        }
      }
      return params;
    },
  };
}

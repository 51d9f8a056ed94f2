/**
 * The admin API's route shape, which both the server (that mounts routes) and the control layer
 * (that provides some) use. The server authenticates the bearer token, enforces `role`, caps and
 * strictly parses the JSON body, and maps thrown `LaunchplaneError`s to
 * `{error:{code,message,recovery}}` with `httpStatusFor(code)`. Handlers (the server's own, and
 * the control routes in `control/api.ts`) only see a parsed, authorized request.
 */
import type { z } from 'zod';
import { LaunchplaneError } from '@launchplane/shared';
import type { Role } from '../ports/store.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a handler gets: the authenticated actor, path parameters, query and parsed body. */
export interface RouteContext {
  /** The token id (the audit actor). Never the token itself. */
  actor: string;
  role: Role;
  /** `:name` segments of the path pattern, already URI-decoded. */
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The request body parsed as strict JSON; undefined when there was none. */
  body: unknown;
  /** Aborted when the client goes away; long waits (drain, online) should stop on it. */
  signal: AbortSignal;
}

/** A handler's answer; `body` is serialized as JSON. */
export interface RouteResponse {
  status: number;
  body: unknown;
}

/** One admin API route. */
export interface Route {
  method: HttpMethod;
  /** A path under `/v1/` with `:name` parameters, e.g. `/v1/lanes/:id/drain`. */
  path: string;
  /** The least role allowed: viewer < operator < admin. */
  role: Role;
  handler: (ctx: RouteContext) => Promise<RouteResponse>;
}

/**
 * Parses a request body with a zod schema; a mismatch is `LP_USAGE` (HTTP 400) naming the first
 * offending path, never echoing values (a body may carry a secret).
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body ?? {});
  if (parsed.success) return parsed.data;
  const first = parsed.error.issues[0];
  const path = first === undefined ? '' : first.path.map(String).join('.');
  throw new LaunchplaneError(
    'LP_USAGE',
    `Request body is invalid${path === '' ? '' : ` at "${path}"`}: ${first?.message ?? 'invalid'}`,
    {
      details: {
        issues: parsed.error.issues.map((i) => ({
          path: i.path.map(String).join('.'),
          code: i.code,
        })),
      },
    },
  );
}

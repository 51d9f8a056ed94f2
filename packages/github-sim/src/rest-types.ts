import type { Principal } from './auth.js';

/** What a public operation answers. */
export interface Outcome {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One operation of the public REST API, as the router resolved it. */
export interface Operation {
  /** `operationId` in GitHub's OpenAPI description. */
  id: string;
  /** Whether the operation takes an app JWT rather than a token. */
  jwt?: boolean;
  run: (ctx: { body: unknown; url: URL; principal: Principal }) => Outcome;
}

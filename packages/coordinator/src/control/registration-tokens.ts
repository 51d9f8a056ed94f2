/**
 * Registration tokens, one per scope, reused while they have life left
 * (docs/design/lane-lifecycle.md "Who drives which transition",
 * "Registration tokens").
 *
 * A registration token lets `config.sh` register any number of runners in its scope until it
 * expires (GitHub: one hour). Asking GitHub for a new one at every create costs a write request,
 * and the GitHub client spaces writes at least a second apart (GitHub's guidance against its
 * secondary rate limits), so a burst of ten creates would wait ten seconds for tokens alone.
 * Reusing the scope's token gives a host nothing it did not have: every persistent create hands
 * its host a token of the same scope with an hour to live anyway.
 *
 * The token lives in memory only (never stored, logged or audited). It is handed out while it
 * has at least `minLifeSec` left, enough for a create to reach `config.sh`; concurrent callers
 * share one request. A create that fails after it got a token drops it ({@link forget}), so a
 * token GitHub no longer accepts costs one failed create, not an hour of them.
 */
import { nowSec, type Clock } from '@launchplane/shared';
import type { Scope } from '@launchplane/shared';
import type { GitHubRunners, RunnerToken } from '../ports/github-runners.js';
import { scopeKey } from '../domain/plan.js';

/** Least life a cached token must have left to be handed out (default 10 minutes). */
export const TOKEN_MIN_LIFE_SEC = 600;

/** A scope's token: the request, and its answer once it came. */
interface Entry {
  pending: Promise<RunnerToken>;
  token: RunnerToken | undefined;
}

export class RegistrationTokens {
  readonly #github: Pick<GitHubRunners, 'createRegistrationToken'>;
  readonly #clock: Pick<Clock, 'nowMs'>;
  readonly #minLifeSec: number;
  readonly #cache = new Map<string, Entry>();

  constructor(
    github: Pick<GitHubRunners, 'createRegistrationToken'>,
    clock: Pick<Clock, 'nowMs'>,
    minLifeSec = TOKEN_MIN_LIFE_SEC,
  ) {
    this.#github = github;
    this.#clock = clock;
    this.#minLifeSec = minLifeSec;
  }

  /** The scope's token: the cached one while it has `minLifeSec` left, else a new one. */
  async get(scope: Scope): Promise<RunnerToken> {
    const key = scopeKey(scope);
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.token === undefined) {
      // Asked already: share the answer (a failure is dropped by the caller that asked).
      const token = await cached.pending.catch(() => undefined);
      if (token !== undefined && this.#fresh(token)) return token;
      return this.get(scope);
    }
    if (cached?.token !== undefined && this.#fresh(cached.token)) return cached.token;
    const entry: Entry = { pending: this.#github.createRegistrationToken(scope), token: undefined };
    this.#cache.set(key, entry);
    try {
      entry.token = await entry.pending;
      return entry.token;
    } catch (err) {
      if (this.#cache.get(key) === entry) this.#cache.delete(key);
      throw err;
    }
  }

  /** Drops the scope's token if it is still `token` (a create that used it failed). */
  forget(scope: Scope, token: string): void {
    const key = scopeKey(scope);
    if (this.#cache.get(key)?.token?.token === token) this.#cache.delete(key);
  }

  #fresh(token: RunnerToken): boolean {
    return token.expiresAt - nowSec(this.#clock) >= this.#minLifeSec;
  }
}

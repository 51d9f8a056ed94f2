/**
 * The one mapping from a failed GitHub request to a `LaunchplaneError` with a stable code. The
 * result carries status, GitHub's message and request id, never the request (its body may hold
 * a runner name today and a secret tomorrow) nor its headers.
 */
import { LaunchplaneError } from '@launchplane/shared';

/** What the adapter was doing, for the message: `list runners of repository "o/r"`. */
export interface GitHubAction {
  /** Verb phrase, e.g. `delete runner 42 of repository "o/r"`. */
  what: string;
  /** Set on runner deletion: a 422 then means the runner runs a job. */
  deletesRunner?: boolean;
  /** What a 403 asks of the credential, when not the runner administration rights. */
  forbiddenRecovery?: string;
}

/** The shape of `@octokit/request-error`'s `RequestError` that this mapping reads. */
interface RequestErrorLike {
  status: number;
  message: string;
  request?: { url?: string };
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

function isRequestErrorLike(err: unknown): err is RequestErrorLike {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}

function header(err: RequestErrorLike, name: string): string | undefined {
  const v = err.response?.headers?.[name];
  return v === undefined ? undefined : String(v);
}

/** GitHub's own message (without its documentation URL), cut short. */
function githubMessage(err: RequestErrorLike): string | undefined {
  const data = err.response?.data;
  const msg =
    typeof data === 'object' && data !== null && 'message' in data ? data.message : undefined;
  return typeof msg === 'string' ? msg.slice(0, 300) : undefined;
}

/** True when the answer is GitHub's primary (hourly budget) rate limit. */
export function isPrimaryRateLimit(err: unknown): boolean {
  return (
    isRequestErrorLike(err) &&
    (err.status === 403 || err.status === 429) &&
    header(err, 'x-ratelimit-remaining') === '0' &&
    !isSecondaryRateLimit(err)
  );
}

/** True when the answer is one of GitHub's secondary rate limits. */
export function isSecondaryRateLimit(err: unknown): boolean {
  if (!isRequestErrorLike(err) || (err.status !== 403 && err.status !== 429)) return false;
  return (
    /\bsecondary rate\b/i.test(githubMessage(err) ?? err.message) ||
    header(err, 'retry-after') !== undefined
  );
}

function isoSeconds(unixSec: number): string {
  return new Date(unixSec * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * `LP_GITHUB_RATE_LIMITED` for a spent primary budget; the recovery names the reset time.
 */
export function primaryRateLimitError(
  action: GitHubAction,
  resetAtSec: number,
  details: Record<string, unknown>,
): LaunchplaneError {
  const when = Number.isFinite(resetAtSec) && resetAtSec > 0 ? isoSeconds(resetAtSec) : undefined;
  return new LaunchplaneError(
    'LP_GITHUB_RATE_LIMITED',
    `Cannot ${action.what}: GitHub's hourly API budget for this credential is spent`,
    {
      recovery:
        when === undefined
          ? "Wait for GitHub's rate-limit window to reset, or use a credential with its own budget"
          : `Wait until ${when}, when GitHub's rate-limit window resets, or use a credential with its own budget`,
      details: { ...details, ...(when === undefined ? {} : { resetAt: resetAtSec }) },
    },
  );
}

/**
 * Maps anything a GitHub call threw to a `LaunchplaneError`. `LaunchplaneError`s pass through.
 */
export function toGitHubError(err: unknown, action: GitHubAction): LaunchplaneError {
  if (err instanceof LaunchplaneError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  if (name === 'AbortError' || !isRequestErrorLike(err)) {
    return new LaunchplaneError(
      'LP_GITHUB_UNAVAILABLE',
      name === 'AbortError'
        ? `Cannot ${action.what}: GitHub did not answer within the call deadline`
        : `Cannot ${action.what}: request failed (${name}: ${err instanceof Error ? err.message.slice(0, 200) : ''})`,
      { recovery: 'Check GitHub status and the network path to the API URL, then retry' },
    );
  }
  const status = err.status;
  const gh = githubMessage(err);
  const details: Record<string, unknown> = {
    status,
    ...(gh === undefined ? {} : { githubMessage: gh }),
    ...(header(err, 'x-github-request-id') === undefined
      ? {}
      : { githubRequestId: header(err, 'x-github-request-id') }),
  };
  const answered = `GitHub answered ${status}${gh === undefined ? '' : ` "${gh}"`}`;

  if (isPrimaryRateLimit(err)) {
    return primaryRateLimitError(action, Number(header(err, 'x-ratelimit-reset')), details);
  }
  if (isSecondaryRateLimit(err)) {
    const after = Number(header(err, 'retry-after'));
    return new LaunchplaneError(
      'LP_GITHUB_RATE_LIMITED',
      `Cannot ${action.what}: GitHub's secondary rate limit still applies after the allowed retries`,
      {
        recovery: Number.isFinite(after)
          ? `Retry after ${after} s; lower the request rate if this repeats`
          : 'Retry in a minute; lower the request rate if this repeats',
        details: { ...details, ...(Number.isFinite(after) ? { retryAfterSec: after } : {}) },
      },
    );
  }
  // The App flow's token exchange failing is a credential problem whatever the status says.
  if (status < 500 && /\/app\/installations\/[^/]+\/access_tokens$/.test(err.request?.url ?? '')) {
    return new LaunchplaneError(
      'LP_FORBIDDEN',
      `Cannot ${action.what}: GitHub refused the App installation token (${status}${gh === undefined ? '' : ` "${gh}"`})`,
      {
        recovery:
          'Check appId, installationId and the private key of the GitHub App in the coordinator config',
        details,
      },
    );
  }
  if (status === 401 || status === 403) {
    return new LaunchplaneError('LP_FORBIDDEN', `Cannot ${action.what}: ${answered}`, {
      recovery:
        status === 401
          ? 'Check the GitHub credential in the coordinator config: it is missing, wrong or expired'
          : (action.forbiddenRecovery ??
            'Give the credential administration rights on the repository (or self-hosted runner rights on the organization)'),
      details,
    });
  }
  if (status === 404) {
    return new LaunchplaneError('LP_NOT_FOUND', `Cannot ${action.what}: ${answered}`, {
      recovery:
        'Check that the repository or organization exists and that the credential can administer its runners',
      details,
    });
  }
  if (status === 422 && action.deletesRunner === true) {
    return new LaunchplaneError('LP_LANE_BUSY', `Cannot ${action.what}: it is running a job`, {
      recovery: 'Drain the lane and wait for its job to finish, then remove it',
      details,
    });
  }
  if (status >= 500 || status === 0) {
    return new LaunchplaneError(
      'LP_GITHUB_UNAVAILABLE',
      `Cannot ${action.what}: ${status === 500 && gh === undefined ? `request failed (${err.message.slice(0, 200)})` : answered} after retries`,
      { recovery: 'Check GitHub status and the network path to the API URL, then retry', details },
    );
  }
  return new LaunchplaneError('LP_CONFLICT', `Cannot ${action.what}: ${answered}`, { details });
}

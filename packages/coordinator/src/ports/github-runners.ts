/**
 * The coordinator's view of GitHub's self-hosted runner API. One implementation talks to
 * github.com, GitHub Enterprise Server or the simulator through Octokit; tests may use a fake.
 * Every method works for repository and organization scope alike.
 */
import type { Scope } from '@launchplane/shared';

/** A runner as GitHub reports it. */
export interface GitHubRunner {
  id: number;
  name: string;
  os: string;
  /** GitHub's status; any value other than `online` and `offline` reads as `offline`. */
  status: 'online' | 'offline';
  /** The status exactly as GitHub sent it, when it was neither `online` nor `offline`. */
  githubStatus?: string;
  busy: boolean;
  /** Every label name, read-only defaults included. */
  labels: string[];
}

/** A single-use token GitHub hands out for `config.sh` or `config.sh remove`. */
export interface RunnerToken {
  /** Secret: never log it, never put it in an audit record or an error. */
  token: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface JitConfigRequest {
  name: string;
  labels: string[];
  runnerGroupId: number;
  workFolder?: string;
}

export interface JitConfig {
  runner: GitHubRunner;
  /** Secret: never log it, never put it in an audit record or an error. */
  encodedJitConfig: string;
}

/** A runner group of an organization, as GitHub lists it. */
export interface RunnerGroup {
  id: number;
  name: string;
  /** The organization's default group (id 1, where runners go unless told otherwise). */
  default: boolean;
}

/** Rate-limit state as last seen on a response. */
export interface RateLimitStatus {
  limit: number;
  remaining: number;
  /** Unix seconds. */
  resetAt: number;
}

/**
 * Errors are `LaunchplaneError`s: 422 on deleting a busy runner → `LP_LANE_BUSY`; 404 →
 * `LP_NOT_FOUND`; rate limits that outlast the retry budget → `LP_GITHUB_RATE_LIMITED`; 5xx and
 * network failures after retries → `LP_GITHUB_UNAVAILABLE`; 401/403 → `LP_FORBIDDEN`.
 */
export interface GitHubRunners {
  /** Every runner of the scope (all pages). Conditional requests keep steady polling free. */
  listRunners(scope: Scope): Promise<GitHubRunner[]>;
  /** One runner, or undefined when GitHub has no such runner. */
  getRunner(scope: Scope, runnerId: number): Promise<GitHubRunner | undefined>;
  createRegistrationToken(scope: Scope): Promise<RunnerToken>;
  createRemoveToken(scope: Scope): Promise<RunnerToken>;
  /** Registers a runner for just-in-time use; the runner exists (offline) when this returns. */
  generateJitConfig(scope: Scope, request: JitConfigRequest): Promise<JitConfig>;
  /** Deletes a runner registration; a runner that runs a job is refused with `LP_LANE_BUSY`. */
  deleteRunner(scope: Scope, runnerId: number): Promise<void>;
  /** Every runner group of an organization (all pages). Groups exist for organizations only. */
  listRunnerGroups(organization: string): Promise<RunnerGroup[]>;
  /** Replaces the runner's custom labels; returns every label the runner has afterwards. */
  setCustomLabels(scope: Scope, runnerId: number, labels: readonly string[]): Promise<string[]>;
  /** The last rate-limit headers seen, if any request has been made. */
  rateLimit(): RateLimitStatus | undefined;
}

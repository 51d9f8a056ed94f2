/**
 * `@launchplane/coordinator`: the coordinator server, planner, reconciler, GitHub client and the
 * `launchplane` operator CLI.
 */
export { runCli, CLI_VERSION } from './cli/program.js';
export type { CliIo } from './cli/output.js';

// GitHub client (C3).
export {
  OctokitGitHubRunners,
  GITHUB_API_URL,
  describeScope,
} from './adapters/github/octokit-github-runners.js';
export type {
  GitHubAuth,
  GitHubRunnersStats,
  OctokitGitHubRunnersOptions,
} from './adapters/github/octokit-github-runners.js';
export {
  createGitHubRunners,
  resolveGitHubAuth,
  scopeWebUrl,
} from './adapters/github/create-github-runners.js';
export type { GitHubConfig, GitHubRunnersTuning } from './adapters/github/create-github-runners.js';
export { EtagCache } from './adapters/github/etag-cache.js';
export type { EtagCacheOptions } from './adapters/github/etag-cache.js';
export type {
  GitHubRunner,
  GitHubRunners,
  JitConfig,
  JitConfigRequest,
  RateLimitStatus,
  RunnerToken,
} from './ports/github-runners.js';

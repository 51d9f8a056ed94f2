/**
 * `@launchplane/coordinator`: the coordinator server, planner, reconciler, GitHub client and the
 * `launchplane` operator CLI.
 */
export { runCli, CLI_VERSION } from './cli/program.js';
export type { CliIo } from './cli/output.js';

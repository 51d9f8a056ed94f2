export { startGitHubSim } from './server.js';
export type { GitHubSim, GitHubSimOptions } from './server.js';
export { GitHubSimulator, DEFAULT_CONFIG, STUB_RUNNER_VERSION } from './simulator.js';
export type {
  ApiLabel,
  ApiRunner,
  AssignedJob,
  SimConfig,
  GitHubSimulatorOptions,
} from './simulator.js';
export { appFromPem } from './auth.js';
export type { SimApp } from './auth.js';
export { NO_FAULTS } from './faults.js';
export type { Faults } from './faults.js';
export { SimError } from './errors.js';
export type { SimErrorCode } from './errors.js';
export type { RequestCount } from './rest-api.js';
export type { JobRecord, JobStatus, RunnerRecord } from './sim-state.js';
export type { BusyLag } from './domain/busy.js';
export { stubRunnerTemplateDir } from './stub-runner-dir.js';

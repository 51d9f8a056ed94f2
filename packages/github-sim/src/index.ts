export { startGitHubSim } from './server.js';
export type { GitHubSim, GitHubSimOptions } from './server.js';
export { GitHubSimulator, DEFAULT_CONFIG, STUB_RUNNER_VERSION } from './simulator.js';
export type {
  ApiLabel,
  ApiRunner,
  AssignedJob,
  JobAction,
  JobEvent,
  JobInput,
  SimConfig,
  GitHubSimulatorOptions,
} from './simulator.js';
export { Webhooks, HOOKSHOT_USER_AGENT } from './webhooks.js';
export type { HookInput, WebhooksOptions } from './webhooks.js';
export type { DeliveryRecord, DeliveryState, HookRecord } from './hook-records.js';
export { NO_HOOK_FAULTS } from './domain/delivery-faults.js';
export type { HookFaults } from './domain/delivery-faults.js';
export { TraceReplay, MAX_TRACE_JOBS, MAX_TRACE_SPEED } from './trace-replay.js';
export type { TraceProgress } from './trace-replay.js';
export { burstyTrace, mergeTraces } from './domain/trace.js';
export type { BurstyTraceOptions, Range, TraceJob } from './domain/trace.js';
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

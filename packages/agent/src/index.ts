/**
 * `@launchplane/agent`: the host agent. The daemon is `launchplane-agent run`; these exports let
 * tests and tools drive its parts directly.
 */
export { AgentCore } from './agent-core.js';
export type { AgentCoreDeps, LocalRemoveResult } from './agent-core.js';
export { AgentSession } from './session/agent-session.js';
export type {
  AgentSessionOptions,
  SessionCore,
  SessionState,
  SessionStatus,
} from './session/agent-session.js';
export { probeCoordinator } from './session/probe-coordinator.js';
export { enroll } from './enroll/enroll.js';
export type { EnrollOptions, EnrollResult } from './enroll/enroll.js';
export {
  CONFIG_ENV_VAR,
  ConfigInvalidError,
  loadAgentConfig,
  resolveConfigPath,
  writeCoordinatorSection,
} from './config/config-file.js';
export { readStatusFile } from './config/status-file.js';
export type { DaemonStatus } from './config/status-file.js';
export { ensureHostKey, loadHostKey } from './keys/host-key.js';
export { loadCoordinatorKey } from './keys/coordinator-key.js';
export {
  CRASH_AT_ENV,
  crashInjection,
  loadEnrolledHost,
  realBackends,
  runDaemon,
  startAgent,
} from './main.js';
export { CRASH_POINTS } from './lanes/lane-service.js';
export type { CrashPoint, CrashPointName } from './lanes/lane-service.js';
export type { BackendFactories, RunningAgent, StartAgentOptions } from './main.js';
export { runCli } from './cli/program.js';
export { AGENT_VERSION } from './version.js';

/**
 * `@launchplane/coordinator`: the coordinator server, planner, reconciler, GitHub client and the
 * `launchplane` operator CLI.
 */
export { runCli, CLI_VERSION } from './cli/program.js';
export type { CliIo } from './cli/output.js';

// Server, store and wiring (C1).
export { startCoordinator, ADMIN_TOKEN_FILE, DATABASE_FILE } from './main.js';
export type { Coordinator, RouteFactory, StartCoordinatorOptions } from './main.js';
export {
  parseCoordinatorConfig,
  loadCoordinatorConfig,
  agentUrlOf,
  coordinatorConfigSchema,
} from './config/coordinator-config.js';
export type { CoordinatorConfig } from './config/coordinator-config.js';
export { SqliteCoordinatorStore } from './adapters/sqlite/sqlite-store.js';
export { CoordinatorServer } from './server/coordinator-server.js';
export type { CoordinatorServerOptions } from './server/coordinator-server.js';
export { WsAgentHub } from './server/agent-hub.js';
export { roleAllows, compilePath } from './server/routes.js';
export { parseBody } from './http/route.js';
export type { Route, RouteContext, RouteResponse, HttpMethod } from './http/route.js';
export { silentLogger } from './ports/logger.js';
export type { Logger } from './ports/logger.js';
export type * from './ports/store.js';
export type * from './ports/agent-hub.js';
export { ApiClient } from './api-client/api-client.js';
export type { ApiClientOptions } from './api-client/api-client.js';
export { auditCommand } from './cli/audit.js';
export type { AuditOptions } from './cli/audit.js';
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
export type {
  GitHubWorkflows,
  RunQuery,
  Workflow,
  WorkflowJob,
  WorkflowRun,
} from './ports/github-workflows.js';
// The control layer (C2): planner, sagas, control service, reconciler, API routes.
export { plan, poolScope, scopeKey, DEFAULT_UNHEALTHY_AFTER_SEC } from './domain/plan.js';
export type { PlanInput, PlanHost, PlanOptions, ScopeObservation } from './domain/plan.js';
export { checkLaneGuardrails } from './domain/guardrails.js';
export type { HostView, GuardrailBlock } from './domain/guardrails.js';
export { ControlService } from './control/control-service.js';
export type {
  ApplyJob,
  ApplyResult,
  LaneJob,
  LaneListing,
  LaneActionOptions,
  RunnerListing,
  SmokeJob,
  SmokeOptions,
} from './control/control-service.js';
export { SMOKE_LABEL_INPUT } from './control/smoke.js';
export type {
  SmokeReport,
  SmokeRequest,
  SmokeStep,
  SmokeStepName,
  SmokeWorkflowResult,
} from './control/smoke.js';
export { compareSnapshots, snapshotOf } from './domain/smoke-compare.js';
export type { SmokeComparison, SmokeSnapshot } from './domain/smoke-compare.js';
export type { ActionReport, ActionKind } from './control/action-report.js';
export { Reconciler, RECONCILER_ACTOR } from './control/reconciler.js';
export type { ReconcilerOptions } from './control/reconciler.js';
export { controlRoutes } from './control/api.js';
export { controlRouteFactory, startControl } from './control/wire-control.js';
export type { Control, ControlParts, StartControlOptions } from './control/wire-control.js';
export { resolveControlOptions, DEFAULT_CONTROL_OPTIONS } from './control/control-deps.js';
export type { ControlDeps, ControlOptions } from './control/control-deps.js';
export { systemClock } from './adapters/system-clock.js';
export type { Clock } from '@launchplane/shared';

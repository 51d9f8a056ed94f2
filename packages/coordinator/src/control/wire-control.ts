/**
 * Builds the control layer from a running coordinator's parts: the GitHub client from the config,
 * the control service, the reconciler (started; applying only with `reconcile.auto`) and the API
 * routes. `serve` passes {@link controlRouteFactory} to `startCoordinator`.
 */
import { LaunchplaneError } from '@launchplane/shared';
import { createGitHubRunners } from '../adapters/github/create-github-runners.js';
import type { CoordinatorConfig } from '../config/coordinator-config.js';
import type { DemandSource } from '../domain/demand.js';
import type { Route } from '../http/route.js';
import type { AgentHub } from '../ports/agent-hub.js';
import type { GitHubRunners } from '../ports/github-runners.js';
import type { GitHubWorkflows } from '../ports/github-workflows.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore } from '../ports/store.js';
import { controlRoutes } from './api.js';
import type { Clock } from '@launchplane/shared';
import { systemClock } from '../adapters/system-clock.js';
import type { JobIngest } from './job-ingest.js';
import { resolveControlOptions, type ControlOptions } from './control-deps.js';
import { ControlService } from './control-service.js';
import { JobPoller } from './job-poller.js';
import { Reconciler } from './reconciler.js';
import { RegistrationTokens } from './registration-tokens.js';

/**
 * The parts of a running coordinator the control layer uses. A running `Coordinator` (`main.ts`)
 * has them all, so {@link controlRouteFactory} serves as its `RouteFactory`; naming them here
 * keeps `control/` from importing `main.ts` or `server/`.
 */
export interface ControlParts {
  config: CoordinatorConfig;
  store: CoordinatorStore;
  coordinatorId: string;
  server: { readonly hub: AgentHub };
  jobs: JobIngest;
  logger: Logger;
  /**
   * Registers work to stop when the coordinator closes, before its server and store do (see
   * `Coordinator.onClose`). The control layer stops its loops there.
   */
  onClose?(hook: () => Promise<void>): void;
}

/** The control layer of one coordinator. */
export interface Control {
  service: ControlService;
  reconciler: Reconciler;
  /**
   * The job store's polling safety net and the planner's demand source; undefined when the
   * caller gave its own `demand`.
   */
  poller: JobPoller | undefined;
  routes: Route[];
  /** Stops the reconciler and the poller. */
  stop(): Promise<void>;
}

/** Options of {@link startControl}. */
export interface StartControlOptions {
  /** Defaults to the Octokit client built from `config.github`. */
  github?: GitHubRunners;
  /** Defaults to `github` when it is one client for both (the Octokit client is). */
  workflows?: GitHubWorkflows;
  clock?: Clock;
  /** Overrides of the limits the config does not set (settle time, poll intervals…). */
  options?: ControlOptions;
  /**
   * The jobs, for pools that follow demand. Defaults to the job store, fed by webhooks and by a
   * {@link JobPoller} started here with the config's `jobs` settings.
   */
  demand?: DemandSource;
}

/** Builds and starts the control layer. */
export async function startControl(
  parts: ControlParts,
  opts: StartControlOptions = {},
): Promise<Control> {
  const { config } = parts;
  const auth = config.github.auth;
  const github =
    opts.github ??
    (auth === undefined
      ? unconfiguredGitHub()
      : await createGitHubRunners(
          { apiUrl: config.github.apiUrl, auth },
          { log: parts.logger, minWriteIntervalMs: config.github.minWriteIntervalMs },
        ));
  const clock = opts.clock ?? systemClock;
  const workflows = opts.workflows ?? (isWorkflows(github) ? github : unconfiguredWorkflows());
  const poller =
    opts.demand === undefined
      ? new JobPoller(
          {
            store: parts.store,
            workflows,
            rateLimit: () => github.rateLimit(),
            ingest: parts.jobs,
            clock,
            logger: parts.logger,
          },
          config.jobs,
        )
      : undefined;
  const demand = opts.demand ?? poller;
  const service = new ControlService({
    store: parts.store,
    hub: parts.server.hub,
    github,
    registrationTokens: new RegistrationTokens(github, clock),
    workflows,
    clock,
    logger: parts.logger,
    coordinatorId: parts.coordinatorId,
    githubWebUrl: config.github.webUrl,
    ...(demand === undefined ? {} : { demand }),
    options: resolveControlOptions({
      ...opts.options,
      createOnlineSec: config.timeouts.createOnlineSec,
      drainSec: config.timeouts.drainSec,
      pollCapMs: opts.options?.pollCapMs ?? config.timeouts.onlinePollMaxSec * 1000,
      // Options given in code (tests) win over the config file's drain settings.
      settleSec: opts.options?.settleSec ?? config.drain.settleSec,
      settleObservations: opts.options?.settleObservations ?? config.drain.settleObservations,
      drainPollSec: opts.options?.drainPollSec ?? config.drain.pollSec,
      commandTimeoutMs: config.agents.commandTimeoutSec * 1000,
    }),
  });
  const recovered = await service.recoverInterrupted();
  if (recovered.length > 0) {
    parts.logger.warn(
      { lanes: recovered.map((l) => ({ laneId: l.laneId, state: l.state })) },
      'lanes left mid-saga by the last run were marked for an operator',
    );
  }
  const reconciler = new Reconciler(
    { service, clock, logger: parts.logger },
    {
      auto: config.reconcile.auto,
      intervalSec: config.reconcile.intervalSec,
      minGapSec: config.reconcile.minGapSec,
    },
  );
  // A job queued (or started) changes the plan: act on it now, not at the next interval.
  parts.jobs.onDemandChange(() => reconciler.wake());
  // So does a lane its host saw finish a job (or take one): a freed lane is planned with at once,
  // and its scale-down clock is due from its last job, not from the next interval's look. Rounds
  // stay at least reconcile.minGapSec apart however often hosts report.
  parts.server.hub.onLaneChange?.(() => reconciler.wake());
  poller?.start();
  reconciler.start();
  const stop = async (): Promise<void> => {
    await reconciler.stop();
    await poller?.stop();
  };
  // A closing coordinator stops the rounds, and the actions they left running, while its store
  // is still open: an action cut off by a closed store would end half-done.
  parts.onClose?.(stop);
  return {
    service,
    reconciler,
    poller,
    routes: controlRoutes(service),
    stop,
  };
}

/** A route factory for `startCoordinator({routes: [controlRouteFactory()]})`. */
export function controlRouteFactory(
  opts: StartControlOptions & { onStarted?: (control: Control) => void } = {},
): (parts: ControlParts) => Promise<Route[]> {
  return async (parts) => {
    const control = await startControl(parts, opts);
    opts.onStarted?.(control);
    return control.routes;
  };
}

/** Every call of an unconfigured GitHub fails with this. */
function notConfigured(): Promise<never> {
  return Promise.reject(
    new LaunchplaneError('LP_GITHUB_UNAVAILABLE', 'GitHub credentials are not configured', {
      recovery: 'Set github.auth in coordinator.yaml (a token, a token file, or a GitHub App)',
    }),
  );
}

function isWorkflows(github: GitHubRunners): github is GitHubRunners & GitHubWorkflows {
  const g = github as Partial<GitHubWorkflows>;
  return typeof g.dispatchWorkflow === 'function' && typeof g.listRuns === 'function';
}

function unconfiguredWorkflows(): GitHubWorkflows {
  const fail = notConfigured;
  return {
    getWorkflow: fail,
    dispatchWorkflow: fail,
    listRuns: fail,
    getRun: fail,
    listRunJobs: fail,
    getJob: fail,
  };
}

/** Without credentials every GitHub call fails with a clear code: plans show it as degraded. */
function unconfiguredGitHub(): GitHubRunners {
  const fail = notConfigured;
  return {
    listRunners: fail,
    getRunner: fail,
    createRegistrationToken: fail,
    createRemoveToken: fail,
    generateJitConfig: fail,
    deleteRunner: fail,
    setCustomLabels: fail,
    listRunnerGroups: fail,
    rateLimit: () => undefined,
  };
}

/**
 * What the control layer (sagas, executor, reconciler) needs, passed in one `deps` object, and
 * every limit it uses as an option with a documented default.
 */
import type { DemandSource } from '../domain/demand.js';
import type { AgentHub } from '../ports/agent-hub.js';
import type { GitHubRunners } from '../ports/github-runners.js';
import type { GitHubWorkflows } from '../ports/github-workflows.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore } from '../ports/store.js';
import type { Clock } from '@launchplane/shared';
import type { RegistrationTokens } from './registration-tokens.js';

/** Limits of the control layer. */
export interface ControlOptions {
  /** How long a new or restarted lane may take to show `online` on GitHub (default 300 s). */
  createOnlineSec?: number;
  /** How long a drain waits for a lane to be idle, and a remove retries GitHub's 422 (default 900 s). */
  drainSec?: number;
  /** Consecutive idle observations (agent and GitHub together) a drain needs (default 3). */
  settleObservations?: number;
  /** Least time those observations must span (default 60 s: longer than GitHub's busy lag). */
  settleSec?: number;
  /** Interval between idle checks while draining (default 5 s). */
  drainPollSec?: number;
  /** First delay when polling GitHub for a runner to come online (default 1 s)… */
  pollBaseMs?: number;
  /** …doubling up to this cap (default 10 s). */
  pollCapMs?: number;
  /** How long to wait for an agent's result to one command (default 30 s). */
  commandTimeoutMs?: number;
  /** Offline on GitHub this long while the agent says it runs makes a lane unhealthy (300 s). */
  unhealthyAfterSec?: number;
  /** Actions of one apply run at once, at most (default 4). */
  applyConcurrency?: number;
  /** How long a smoke waits for its workflow's job to finish (default 900 s). */
  smokeWorkflowSec?: number;
}

export type ResolvedControlOptions = Required<ControlOptions>;

export const DEFAULT_CONTROL_OPTIONS: ResolvedControlOptions = {
  createOnlineSec: 300,
  drainSec: 900,
  settleObservations: 3,
  settleSec: 60,
  drainPollSec: 5,
  pollBaseMs: 1000,
  pollCapMs: 10_000,
  commandTimeoutMs: 30_000,
  unhealthyAfterSec: 300,
  applyConcurrency: 4,
  smokeWorkflowSec: 900,
};

/** The ports and settings every saga uses. */
export interface ControlDeps {
  store: CoordinatorStore;
  hub: AgentHub;
  github: GitHubRunners;
  /** The scopes' registration tokens, reused while they have life left (over `github`). */
  registrationTokens: RegistrationTokens;
  /** Workflows, runs and jobs (`launchplane smoke` dispatches and follows one). */
  workflows: GitHubWorkflows;
  clock: Clock;
  logger: Logger;
  coordinatorId: string;
  /** GitHub's web URL (`https://github.com`), for a persistent runner's `config.sh --url`. */
  githubWebUrl: string;
  options: ResolvedControlOptions;
  /**
   * The jobs, for pools that follow demand (the job store). Without it such pools keep their
   * `min` and `minIdle` and neither grow for jobs nor shrink.
   */
  demand?: DemandSource;
}

/** Fills the defaults in. */
export function resolveControlOptions(opts: ControlOptions = {}): ResolvedControlOptions {
  const out = { ...DEFAULT_CONTROL_OPTIONS };
  for (const [k, v] of Object.entries(opts) as [keyof ControlOptions, number | undefined][]) {
    if (v !== undefined) out[k] = v;
  }
  return out;
}

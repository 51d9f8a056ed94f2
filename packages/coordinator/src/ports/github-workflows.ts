/**
 * The coordinator's view of GitHub Actions workflows, their runs and jobs: what `launchplane
 * smoke` dispatches and follows, and what demand-driven scaling lists (queued runs and the labels
 * their jobs wait for). One implementation talks to GitHub or the simulator through Octokit
 * (the same client as {@link GitHubRunners}); tests may use a fake. Repository scope only: runs
 * and workflows belong to repositories.
 */

/** A workflow file of a repository. */
export interface Workflow {
  id: number;
  name: string;
  /** `.github/workflows/<file>`. */
  path: string;
  /** `active`, `disabled_manually`, …: only an active workflow can be dispatched. */
  state: string;
}

/** A workflow run as GitHub reports it. */
export interface WorkflowRun {
  id: number;
  workflowId: number;
  name: string | null;
  event: string;
  /** `queued`, `in_progress`, `completed` (or another state GitHub sends: `waiting`, …). */
  status: string;
  /** Set once completed: `success`, `failure`, `cancelled`, … */
  conclusion: string | null;
  headBranch: string | null;
  /** Unix seconds. */
  createdAt: number;
  htmlUrl: string;
}

/** A job of a workflow run as GitHub reports it. */
export interface WorkflowJob {
  id: number;
  runId: number;
  name: string;
  /** `queued`, `in_progress`, `completed`, … */
  status: string;
  conclusion: string | null;
  /** The `runs-on` labels the job waits for or ran on. */
  labels: string[];
  /** The runner that took it; null while queued. */
  runnerId: number | null;
  runnerName: string | null;
  /** The runner group of that runner, when GitHub says. */
  runnerGroupId?: number | null;
  runnerGroupName?: string | null;
  /** The name of the run's workflow, when GitHub says. */
  workflowName?: string | null;
  /** Unix seconds. */
  createdAt: number;
  startedAt: number | undefined;
  completedAt: number | undefined;
  htmlUrl: string | null;
}

/** Filters of {@link GitHubWorkflows.listRuns}; each narrows what GitHub returns. */
export interface RunQuery {
  /** A workflow's id or file name (`launchplane-smoke.yml`); all of the repository's otherwise. */
  workflow?: string;
  event?: string;
  /** A status (`queued`, `in_progress`, `completed`) or a conclusion (`success`, …). */
  status?: string;
  /** Only runs created at or after this time (Unix seconds). */
  createdSinceSec?: number;
}

/**
 * Errors are `LaunchplaneError`s, as for {@link GitHubRunners}: an unknown workflow or run →
 * `LP_NOT_FOUND` (reads answer undefined instead); a dispatch GitHub refuses (no
 * `workflow_dispatch` trigger, an input the workflow does not declare) → `LP_CONFLICT`; 401/403
 * → `LP_FORBIDDEN`; 5xx and rate limits after retries → `LP_GITHUB_UNAVAILABLE` /
 * `LP_GITHUB_RATE_LIMITED`.
 */
export interface GitHubWorkflows {
  /** A workflow of `repository` (`owner/repo`) by id or file name, or undefined. */
  getWorkflow(repository: string, workflow: string): Promise<Workflow | undefined>;
  /** `workflow_dispatch`: GitHub queues a run of `workflow` on `ref` with `inputs`. */
  dispatchWorkflow(
    repository: string,
    workflow: string,
    request: { ref: string; inputs: Record<string, string> },
  ): Promise<void>;
  /** Runs of `repository`, newest first (every page, within the client's page limit). */
  listRuns(repository: string, query?: RunQuery): Promise<WorkflowRun[]>;
  /** One run, or undefined. */
  getRun(repository: string, runId: number): Promise<WorkflowRun | undefined>;
  /** The jobs of a run's latest attempt. */
  listRunJobs(repository: string, runId: number): Promise<WorkflowJob[]>;
  /** One job, or undefined. */
  getJob(repository: string, jobId: number): Promise<WorkflowJob | undefined>;
}

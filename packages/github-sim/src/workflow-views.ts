/**
 * GitHub's wire shapes of workflows, workflow runs and workflow jobs
 * (`#/components/schemas/workflow`, `workflow-run`, `job`), built from the simulator's records.
 * URLs point at the simulator's origin, which serves the API and stands in for the web pages.
 */
import { createHash } from 'node:crypto';
import { isoSeconds } from './domain/iso-time.js';
import type { JobRecord, RunRecord, WorkflowRecord } from './sim-state.js';
import type { GitHubSimulator } from './simulator.js';

/** A stable positive id for a name (repositories and owners have no records of their own). */
export function stableId(kind: string, name: string): number {
  return createHash('sha256').update(`${kind}:${name}`).digest().readUInt32BE(0) & 0x7fffffff;
}

export function nodeId(prefix: string, id: number): string {
  return `${prefix}_${Buffer.from(String(id)).toString('base64url')}`;
}

/** `#/components/schemas/workflow`. */
export function workflowView(origin: string, wf: WorkflowRecord): Record<string, unknown> {
  const repo = wf.repository;
  const file = wf.path.slice(wf.path.lastIndexOf('/') + 1);
  return {
    id: wf.id,
    node_id: nodeId('W', wf.id),
    name: wf.name,
    path: wf.path,
    state: 'active',
    created_at: isoSeconds(wf.createdAt),
    updated_at: isoSeconds(wf.createdAt),
    url: `${origin}/repos/${repo}/actions/workflows/${wf.id}`,
    html_url: `${origin}/${repo}/blob/main/${wf.path}`,
    badge_url: `${origin}/${repo}/workflows/${encodeURIComponent(file)}/badge.svg`,
  };
}

/**
 * `#/components/schemas/simple-user` of an account: a repository owner (every owner the sim knows
 * is an organization) or a user such as a webhook's sender.
 */
export function accountView(
  origin: string,
  login: string,
  type: 'Organization' | 'User' = 'Organization',
): Record<string, unknown> {
  const u = `${origin}/users/${login}`;
  const id = stableId(type === 'Organization' ? 'owner' : 'user', login);
  return {
    login,
    id,
    node_id: nodeId(type === 'Organization' ? 'O' : 'U', id),
    avatar_url: `${origin}/avatars/${login}`,
    gravatar_id: '',
    url: u,
    html_url: `${origin}/${login}`,
    followers_url: `${u}/followers`,
    following_url: `${u}/following{/other_user}`,
    gists_url: `${u}/gists{/gist_id}`,
    starred_url: `${u}/starred{/owner}{/repo}`,
    subscriptions_url: `${u}/subscriptions`,
    organizations_url: `${u}/orgs`,
    repos_url: `${u}/repos`,
    events_url: `${u}/events{/privacy}`,
    received_events_url: `${u}/received_events`,
    type,
    site_admin: false,
  };
}

/** The `{…}_url` templates of `#/components/schemas/minimal-repository`, under the repo URL. */
const REPO_URLS: Record<string, string> = {
  archive_url: '/{archive_format}{/ref}',
  assignees_url: '/assignees{/user}',
  blobs_url: '/git/blobs{/sha}',
  branches_url: '/branches{/branch}',
  collaborators_url: '/collaborators{/collaborator}',
  comments_url: '/comments{/number}',
  commits_url: '/commits{/sha}',
  compare_url: '/compare/{base}...{head}',
  contents_url: '/contents/{+path}',
  contributors_url: '/contributors',
  deployments_url: '/deployments',
  downloads_url: '/downloads',
  events_url: '/events',
  forks_url: '/forks',
  git_commits_url: '/git/commits{/sha}',
  git_refs_url: '/git/refs{/sha}',
  git_tags_url: '/git/tags{/sha}',
  hooks_url: '/hooks',
  issue_comment_url: '/issues/comments{/number}',
  issue_events_url: '/issues/events{/number}',
  issues_url: '/issues{/number}',
  keys_url: '/keys{/key_id}',
  labels_url: '/labels{/name}',
  languages_url: '/languages',
  merges_url: '/merges',
  milestones_url: '/milestones{/number}',
  notifications_url: '/notifications{?since,all,participating}',
  pulls_url: '/pulls{/number}',
  releases_url: '/releases{/id}',
  stargazers_url: '/stargazers',
  statuses_url: '/statuses/{sha}',
  subscribers_url: '/subscribers',
  subscription_url: '/subscription',
  tags_url: '/tags',
  teams_url: '/teams',
  trees_url: '/git/trees{/sha}',
};

/** `#/components/schemas/minimal-repository` of `owner/repo`. */
export function repositoryView(origin: string, repository: string): Record<string, unknown> {
  const [owner = '', name = ''] = repository.split('/');
  const url = `${origin}/repos/${repository}`;
  const id = stableId('repo', repository);
  return {
    id,
    node_id: nodeId('R', id),
    name,
    full_name: repository,
    owner: accountView(origin, owner),
    private: true,
    html_url: `${origin}/${repository}`,
    description: null,
    fork: false,
    url,
    ...Object.fromEntries(Object.entries(REPO_URLS).map(([k, v]) => [k, `${url}${v}`])),
  };
}

/** `#/components/schemas/workflow-run`: status and conclusion follow from its jobs. */
export function runView(
  origin: string,
  sim: GitHubSimulator,
  run: RunRecord,
): Record<string, unknown> {
  const wf = sim.state.workflows.find((w) => w.id === run.workflowId);
  const state = sim.runState(run);
  const api = `${origin}/repos/${run.repository}`;
  const url = `${api}/actions/runs/${run.id}`;
  const repo = repositoryView(origin, run.repository);
  return {
    id: run.id,
    name: wf?.name ?? null,
    node_id: nodeId('WFR', run.id),
    check_suite_id: run.id,
    check_suite_node_id: nodeId('CS', run.id),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    path: wf?.path ?? '',
    display_title: run.displayTitle,
    run_number: run.runNumber,
    run_attempt: 1,
    event: run.event,
    status: state.status,
    conclusion: state.conclusion,
    workflow_id: run.workflowId,
    url,
    html_url: `${origin}/${run.repository}/actions/runs/${run.id}`,
    pull_requests: [],
    created_at: isoSeconds(run.createdAt),
    updated_at: isoSeconds(state.updatedAt),
    run_started_at: isoSeconds(run.createdAt),
    jobs_url: `${url}/jobs`,
    logs_url: `${url}/logs`,
    check_suite_url: `${api}/check-suites/${run.id}`,
    artifacts_url: `${url}/artifacts`,
    cancel_url: `${url}/cancel`,
    rerun_url: `${url}/rerun`,
    previous_attempt_url: null,
    workflow_url: `${api}/actions/workflows/${run.workflowId}`,
    head_commit: {
      id: run.headSha,
      tree_id: run.headSha,
      message: `Head of ${run.headBranch}`,
      timestamp: isoSeconds(run.createdAt),
      author: null,
      committer: null,
    },
    repository: repo,
    head_repository: repo,
  };
}

/**
 * `#/components/schemas/job`. A job the sim cancelled reads `completed`/`cancelled`, as on GitHub;
 * `started_at` of a job still queued is its creation time, as GitHub reports it.
 */
export function jobView(
  origin: string,
  sim: GitHubSimulator,
  job: JobRecord,
): Record<string, unknown> {
  const run = sim.state.run(job.runId);
  const wf =
    run === undefined ? undefined : sim.state.workflows.find((w) => w.id === run.workflowId);
  const repository = run?.repository ?? job.repository.toLowerCase();
  const api = `${origin}/repos/${repository}`;
  const group = job.runnerGroupId ?? null;
  return {
    id: job.id,
    run_id: job.runId,
    run_url: `${api}/actions/runs/${job.runId}`,
    run_attempt: 1,
    node_id: nodeId('CR', job.id),
    head_sha: run?.headSha ?? '',
    url: `${api}/actions/jobs/${job.id}`,
    html_url: `${origin}/${repository}/actions/runs/${job.runId}/job/${job.id}`,
    status: job.status === 'cancelled' ? 'completed' : job.status,
    conclusion: job.conclusion,
    created_at: isoSeconds(job.queuedAt),
    started_at: isoSeconds(job.startedAt ?? job.queuedAt),
    completed_at: job.completedAt === null ? null : isoSeconds(job.completedAt),
    name: job.name ?? `job-${job.id}`,
    steps: [],
    check_run_url: `${api}/check-runs/${job.id}`,
    labels: job.labels,
    runner_id: job.runnerId,
    runner_name: job.runnerName,
    runner_group_id: group,
    runner_group_name: group === null ? null : sim.runnerGroupName(group),
    workflow_name: wf?.name ?? null,
    head_branch: run?.headBranch ?? null,
  };
}

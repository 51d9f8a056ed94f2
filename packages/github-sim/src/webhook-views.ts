/**
 * GitHub's shapes around webhooks: the `workflow_job` and `ping` payloads
 * (`@octokit/openapi-webhooks`: `webhook-workflow-job-*`, `webhook-ping`), and the REST views of
 * hooks and their deliveries (`hook`, `org-hook`, `hook-delivery-item`, `hook-delivery`).
 */
import { isoSeconds } from './domain/iso-time.js';
import type { DeliveryRecord, HookRecord } from './hook-records.js';
import type { GitHubSimulator, JobAction } from './simulator.js';
import type { JobRecord } from './sim-state.js';
import { accountView, jobView, nodeId, repositoryView, stableId } from './workflow-views.js';

/** The user every simulated event is sent by (`sender`). */
export const SIM_SENDER = 'launchplane-sim';

/** `#/components/schemas/repository-webhooks` of `owner/repo`. */
export function webhookRepositoryView(
  origin: string,
  repository: string,
  at: number,
): Record<string, unknown> {
  const host = new URL(origin).host;
  const time = isoSeconds(at);
  return {
    ...repositoryView(origin, repository),
    clone_url: `${origin}/${repository}.git`,
    git_url: `git://${host}/${repository}.git`,
    ssh_url: `git@${host}:${repository}.git`,
    svn_url: `${origin}/${repository}`,
    mirror_url: null,
    homepage: null,
    language: null,
    default_branch: 'main',
    forks: 0,
    forks_count: 0,
    stargazers_count: 0,
    watchers: 0,
    watchers_count: 0,
    open_issues: 0,
    open_issues_count: 0,
    size: 0,
    has_downloads: true,
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    archived: false,
    disabled: false,
    license: null,
    visibility: 'private',
    pushed_at: time,
    created_at: time,
    updated_at: time,
  };
}

/** `#/components/schemas/organization-simple-webhooks`. */
export function webhookOrganizationView(origin: string, org: string): Record<string, unknown> {
  const id = stableId('owner', org);
  const url = `${origin}/orgs/${org}`;
  return {
    login: org,
    id,
    node_id: nodeId('O', id),
    url,
    repos_url: `${url}/repos`,
    events_url: `${url}/events`,
    hooks_url: `${url}/hooks`,
    issues_url: `${url}/issues`,
    members_url: `${url}/members{/member}`,
    public_members_url: `${url}/public_members{/member}`,
    avatar_url: `${origin}/avatars/${org}`,
    description: null,
  };
}

/**
 * The payload of a `workflow_job` event: the job as the REST API shows it at that moment, its
 * repository, the organization that owns it (every owner the sim knows is one) and the sender.
 */
export function workflowJobPayload(
  origin: string,
  sim: GitHubSimulator,
  action: JobAction,
  job: JobRecord,
): Record<string, unknown> {
  const repository = sim.state.run(job.runId)?.repository ?? job.repository.toLowerCase();
  const [owner = ''] = repository.split('/');
  return {
    action,
    workflow_job: jobView(origin, sim, job),
    repository: webhookRepositoryView(origin, repository, job.queuedAt),
    organization: webhookOrganizationView(origin, owner),
    sender: accountView(origin, SIM_SENDER, 'User'),
  };
}

/** The target a hook is installed on: `repository` or `organization`, and its id. */
export function hookTarget(hook: HookRecord): { type: 'repository' | 'organization'; id: number } {
  return hook.scope.kind === 'repo'
    ? {
        type: 'repository',
        id: stableId('repo', `${hook.scope.owner}/${hook.scope.repo}`.toLowerCase()),
      }
    : { type: 'organization', id: stableId('owner', hook.scope.org.toLowerCase()) };
}

function hookApiBase(origin: string, hook: HookRecord): string {
  return hook.scope.kind === 'repo'
    ? `${origin}/repos/${hook.scope.owner}/${hook.scope.repo}/hooks/${hook.id}`
    : `${origin}/orgs/${hook.scope.org}/hooks/${hook.id}`;
}

/**
 * `#/components/schemas/hook` (a repository's) or `org-hook`. The secret shows as `********`, as
 * GitHub shows it; the sim never returns it.
 */
export function hookView(origin: string, hook: HookRecord): Record<string, unknown> {
  const url = hookApiBase(origin, hook);
  const time = isoSeconds(hook.createdAt);
  const common = {
    id: hook.id,
    name: 'web',
    active: hook.active,
    events: hook.events,
    config: {
      url: hook.url,
      content_type: hook.contentType,
      insecure_ssl: '0',
      ...(hook.secret === null ? {} : { secret: '********' }),
    },
    created_at: time,
    updated_at: time,
    url,
    ping_url: `${url}/pings`,
    deliveries_url: `${url}/deliveries`,
  };
  if (hook.scope.kind === 'org') return { ...common, type: 'Organization' };
  return {
    ...common,
    type: 'Repository',
    test_url: `${url}/test`,
    last_response: hook.lastResponse,
  };
}

/** The `ping` event GitHub sends when a hook is made (and on request). */
export function pingPayload(origin: string, hook: HookRecord): Record<string, unknown> {
  const target =
    hook.scope.kind === 'repo'
      ? {
          repository: webhookRepositoryView(
            origin,
            `${hook.scope.owner}/${hook.scope.repo}`.toLowerCase(),
            hook.createdAt,
          ),
        }
      : { organization: webhookOrganizationView(origin, hook.scope.org.toLowerCase()) };
  return {
    zen: 'Keep it logically awesome.',
    hook_id: hook.id,
    hook: hookView(origin, hook),
    ...target,
    sender: accountView(origin, SIM_SENDER, 'User'),
  };
}

/** `#/components/schemas/hook-delivery-item`. */
export function deliveryItemView(d: DeliveryRecord): Record<string, unknown> {
  return {
    id: d.id,
    guid: d.guid,
    delivered_at: isoSeconds(d.deliveredAt ?? d.createdAt),
    redelivery: d.redelivery,
    duration: (d.durationMs ?? 0) / 1000,
    status: d.status,
    status_code: d.statusCode,
    event: d.event,
    action: d.action,
    installation_id: null,
    repository_id: d.repositoryId,
    throttled_at: null,
  };
}

/** `#/components/schemas/hook-delivery`: the item with the request and response. */
export function deliveryView(hook: HookRecord, d: DeliveryRecord): Record<string, unknown> {
  return {
    ...deliveryItemView(d),
    url: hook.url,
    request: {
      headers: d.requestHeaders,
      payload: JSON.parse(d.payload) as Record<string, unknown>,
    },
    response: { headers: d.responseHeaders, payload: d.responseBody },
  };
}

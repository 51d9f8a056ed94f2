/**
 * `GitHubRunners` over Octokit: github.com, GitHub Enterprise Server or the simulator, with a
 * personal access token or a GitHub App installation. Steady polling is free (ETag cache), 5xx
 * and network failures are retried a bounded number of times with backoff, secondary rate limits
 * honour `retry-after` within bounds, and an exhausted hourly budget is reported at once.
 */
import { randomBytes } from 'node:crypto';
import { LaunchplaneError, msToSec, type Clock } from '@launchplane/shared';
import { systemClock } from '../system-clock.js';
import type { Scope } from '@launchplane/shared';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import Bottleneck from 'bottleneck';
import { z } from 'zod';
import type {
  GitHubRunner,
  GitHubRunners,
  JitConfig,
  JitConfigRequest,
  RateLimitStatus,
  RunnerGroup,
  RunnerToken,
} from '../../ports/github-runners.js';
import type {
  GitHubWorkflows,
  RunQuery,
  Workflow,
  WorkflowJob,
  WorkflowRun,
} from '../../ports/github-workflows.js';
import type { Logger } from '../../ports/logger.js';
import {
  EtagCache,
  type EtagCacheOptions,
  type FetchCounters,
  conditionalFetch,
} from './etag-cache.js';
import { type GitHubAction, primaryRateLimitError, toGitHubError } from './github-errors.js';

/** How the adapter authenticates. */
export type GitHubAuth =
  | {
      kind: 'token';
      /** Personal access token (classic or fine-grained) or any bearer token GitHub accepts. */
      token: string;
    }
  | {
      kind: 'app';
      appId: number | string;
      /** PEM private key of the GitHub App. */
      privateKey: string;
      installationId: number;
    };

/** Options of {@link OctokitGitHubRunners}. Every limit has a documented default. */
export interface OctokitGitHubRunnersOptions {
  auth: GitHubAuth;
  /**
   * REST API base URL: `https://api.github.com` (default), `https://HOST/api/v3` for GitHub
   * Enterprise Server, or the simulator's URL.
   */
  apiUrl?: string;
  /** Retries of a request that failed with 5xx or a network error. Default 3. */
  retries?: number;
  /** Backoff before retry n is `retryBaseDelayMs × n²` (1 s, 4 s, 9 s by default). Default 1000. */
  retryBaseDelayMs?: number;
  /** Retries after a secondary rate limit (each waits its `retry-after`). Default 2. */
  maxSecondaryRetries?: number;
  /** A secondary limit asking to wait longer than this fails the call instead. Default 60. */
  maxRetryAfterSec?: number;
  /** One attempt's time limit; a timed-out attempt counts as a network failure. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * One method call's time limit, all pages, retries and waits included: the call fails with
   * `LP_GITHUB_UNAVAILABLE` at this deadline and no attempt is sent after it. Default 120 000.
   */
  callTimeoutMs?: number;
  /** Spacing of writes (POST/PUT/DELETE), as GitHub asks of integrations. Default 1000. */
  minWriteIntervalMs?: number;
  /** Runners per page when listing (GitHub's maximum is 100). Default 100. */
  perPage?: number;
  /** Pages one listing may span before it is refused as runaway. Default 100. */
  maxPages?: number;
  /**
   * The conditional-request cache (one entry per page URL), or `false` to poll without
   * conditional requests. Default `{ maxEntries: 2000, maxBytes: 32 MiB }`.
   */
  etagCache?: EtagCacheOptions | false;
  /** The `fetch` to use; default the global one. */
  fetch?: typeof fetch;
  /** Where rate-limit and retry deadlines read the time; default the system clock. */
  clock?: Pick<Clock, 'nowMs'>;
  /** Where Octokit's own warnings (deprecations, plugin errors) go; default nowhere. */
  log?: Logger;
  userAgent?: string;
}

export const GITHUB_API_URL = 'https://api.github.com';

const DEFAULTS = {
  retries: 3,
  retryBaseDelayMs: 1000,
  maxSecondaryRetries: 2,
  maxRetryAfterSec: 60,
  requestTimeoutMs: 30_000,
  callTimeoutMs: 120_000,
  minWriteIntervalMs: 1000,
  perPage: 100,
  maxPages: 100,
} as const;

/** Limits where 0 would make every call fail. */
const POSITIVE = new Set<keyof typeof DEFAULTS>([
  'requestTimeoutMs',
  'callTimeoutMs',
  'perPage',
  'maxPages',
]);

type Limits = Required<Pick<OctokitGitHubRunnersOptions, keyof typeof DEFAULTS | 'apiUrl'>>;

/** Listings whose pages disagree (a runner came or went between pages) are read again. */
const LIST_ATTEMPTS = 3;

const LpOctokit = Octokit.plugin(paginateRest, retry, throttling);
type LpOctokit = InstanceType<typeof LpOctokit>;

const runnerSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  os: z.string(),
  // GitHub's API description allows any string here; unknown values are read as offline.
  status: z.string(),
  busy: z.boolean(),
  labels: z.array(z.object({ name: z.string() })),
});
const runnerPageSchema = z.array(runnerSchema);
const tokenSchema = z.object({ token: z.string().min(1), expires_at: z.string() });
const jitSchema = z.object({ runner: runnerSchema, encoded_jit_config: z.string().min(1) });
const runnerGroupSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  default: z.boolean(),
});
const labelsSchema = z.object({ labels: z.array(z.object({ name: z.string() })) });
const workflowSchema = z.object({
  id: z.number().int(),
  name: z.string(),
  path: z.string(),
  state: z.string(),
});
const runSchema = z.object({
  id: z.number().int(),
  workflow_id: z.number().int(),
  name: z.string().nullish(),
  event: z.string(),
  status: z.string().nullish(),
  conclusion: z.string().nullish(),
  head_branch: z.string().nullish(),
  created_at: z.string(),
  html_url: z.string(),
});
const jobSchema = z.object({
  id: z.number().int(),
  run_id: z.number().int(),
  name: z.string(),
  status: z.string(),
  conclusion: z.string().nullish(),
  labels: z.array(z.string()),
  runner_id: z.number().int().nullish(),
  runner_name: z.string().nullish(),
  runner_group_id: z.number().int().nullish(),
  runner_group_name: z.string().nullish(),
  workflow_name: z.string().nullish(),
  created_at: z.string(),
  started_at: z.string().nullish(),
  completed_at: z.string().nullish(),
  html_url: z.string().nullish(),
});

/** Unix seconds of a GitHub time; undefined for none or an unreadable one. */
function unixOf(iso: string | null | undefined): number | undefined {
  const ms = iso === null || iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isFinite(ms) ? msToSec(ms) : undefined;
}

function toRun(r: z.infer<typeof runSchema>): WorkflowRun {
  return {
    id: r.id,
    workflowId: r.workflow_id,
    name: r.name ?? null,
    event: r.event,
    status: r.status ?? 'queued',
    conclusion: r.conclusion ?? null,
    headBranch: r.head_branch ?? null,
    createdAt: unixOf(r.created_at) ?? 0,
    htmlUrl: r.html_url,
  };
}

/** A job in GitHub's shape (the REST API's `job`, a `workflow_job` webhook's `workflow_job`). */
export const githubJobSchema = jobSchema;

/** A job as the port has it. */
export function toJob(j: z.infer<typeof jobSchema>): WorkflowJob {
  return {
    id: j.id,
    runId: j.run_id,
    name: j.name,
    status: j.status,
    conclusion: j.conclusion ?? null,
    labels: j.labels,
    runnerId: j.runner_id ?? null,
    runnerName: j.runner_name ?? null,
    runnerGroupId: j.runner_group_id ?? null,
    runnerGroupName: j.runner_group_name ?? null,
    workflowName: j.workflow_name ?? null,
    createdAt: unixOf(j.created_at) ?? 0,
    startedAt: unixOf(j.started_at),
    completedAt: unixOf(j.completed_at),
    htmlUrl: j.html_url ?? null,
  };
}

/** What a 403 on the workflow endpoints asks of the credential. */
const ACTIONS_FORBIDDEN =
  'Give the credential Actions read and write on the repository (fine-grained token or GitHub App permission "actions: write")';

/** The REST path of a repository's Actions endpoints. */
function actionsPath(repository: string): string {
  const [owner = '', repo = ''] = repository.split('/');
  return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/actions`;
}

/** Runner statuses the coordinator knows; anything else GitHub sends reads as offline. */
const KNOWN_STATUSES: ReadonlySet<string> = new Set(['online', 'offline']);

/** Distinct (runner, status) pairs remembered so an unknown status is logged once, not per poll. */
const MAX_REMEMBERED_STATUSES = 10_000;

function toRunner(r: z.infer<typeof runnerSchema>): GitHubRunner {
  const known = KNOWN_STATUSES.has(r.status);
  return {
    id: r.id,
    name: r.name,
    os: r.os,
    status: r.status === 'online' ? 'online' : 'offline',
    ...(known ? {} : { githubStatus: r.status.slice(0, 64) }),
    busy: r.busy,
    labels: r.labels.map((l) => l.name),
  };
}

/** `repository "o/r"` or `organization "o"`, for messages. */
export function describeScope(scope: Scope): string {
  return 'repository' in scope
    ? `repository "${scope.repository}"`
    : `organization "${scope.organization}"`;
}

/** The REST path prefix of a scope's runners. */
function runnersPath(scope: Scope): string {
  if ('repository' in scope) {
    const [owner = '', repo = ''] = scope.repository.split('/');
    return `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}/actions/runners`;
  }
  return `/orgs/${encodeURIComponent(scope.organization)}/actions/runners`;
}

function unexpected(action: GitHubAction, err: z.ZodError): LaunchplaneError {
  return new LaunchplaneError(
    'LP_GITHUB_UNAVAILABLE',
    `Cannot ${action.what}: GitHub answered with an unexpected body`,
    {
      recovery: 'Check that the API URL points at GitHub or GitHub Enterprise Server',
      details: { issues: err.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) },
    },
  );
}

function parse<T>(schema: z.ZodType<T>, data: unknown, action: GitHubAction): T {
  const r = schema.safeParse(data);
  if (!r.success) throw unexpected(action, r.error);
  return r.data;
}

type RequestFn = LpOctokit['request'];

function isStatus(err: unknown, status: number): boolean {
  return (err as { status?: unknown } | null)?.status === status;
}

/** How many retries the retry plugin had made when this error came back. */
function retryCountOf(err: unknown): number {
  const n = (err as { request?: { request?: { retryCount?: unknown } } } | null)?.request?.request
    ?.retryCount;
  return typeof n === 'number' ? n : 0;
}

/** Counters of what the adapter sent, for benchmarks and diagnostics. */
export interface GitHubRunnersStats {
  /** HTTP requests sent (every attempt and page). */
  requests: number;
  /** Of those, answered 304 and served from the cache. */
  notModified: number;
  cacheEntries: number;
  cacheBytes: number;
}

/** {@link GitHubRunners} and {@link GitHubWorkflows} over Octokit: one client, one budget. */
export class OctokitGitHubRunners implements GitHubRunners, GitHubWorkflows {
  readonly #octokit: LpOctokit;
  readonly #cache: EtagCache | undefined;
  readonly #counters: FetchCounters = { requests: 0, notModified: 0 };
  readonly #clock: Pick<Clock, 'nowMs'>;
  readonly #deadlines = new WeakMap<AbortSignal, number>();
  readonly #opts: Limits;
  readonly #log: Logger | undefined;
  /** `runnerId:status` pairs of unknown statuses already logged. */
  readonly #oddStatuses = new Set<string>();
  #rate: RateLimitStatus | undefined;
  /** Local time before which the primary budget is known to be spent. */
  #blockedUntilMs = 0;

  constructor(opts: OctokitGitHubRunnersOptions) {
    this.#opts = { ...DEFAULTS, apiUrl: (opts.apiUrl ?? GITHUB_API_URL).replace(/\/+$/, '') };
    for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
      const v = opts[k] ?? DEFAULTS[k];
      this.#opts[k] = v;
      const min = POSITIVE.has(k) ? 1 : 0;
      if (!Number.isInteger(v) || v < min) {
        throw new LaunchplaneError(
          'LP_CONFIG_INVALID',
          `GitHub client option "${k}" must be an integer of ${min} or more`,
        );
      }
    }
    if (this.#opts.perPage < 1 || this.#opts.perPage > 100) {
      throw new LaunchplaneError(
        'LP_CONFIG_INVALID',
        'GitHub client option "perPage" must be 1 to 100',
      );
    }
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.log;
    this.#cache = opts.etagCache === false ? undefined : new EtagCache(opts.etagCache ?? {});
    const baseFetch = opts.fetch ?? globalThis.fetch;
    const cached = conditionalFetch(this.#timedFetch(baseFetch), this.#cache, this.#counters);
    const logger = opts.log;
    const forward =
      (level: keyof Logger) =>
      (message: string): void =>
        logger?.[level]({ component: 'octokit' }, message);
    const log = {
      debug: forward('debug'),
      info: forward('info'),
      warn: forward('warn'),
      error: forward('error'),
    };
    const auth =
      opts.auth.kind === 'token'
        ? { auth: opts.auth.token }
        : {
            authStrategy: createAppAuth,
            auth: {
              appId: opts.auth.appId,
              privateKey: opts.auth.privateKey,
              installationId: opts.auth.installationId,
            },
          };
    const o = this.#opts;
    this.#octokit = new LpOctokit({
      ...auth,
      baseUrl: o.apiUrl,
      userAgent: opts.userAgent ?? 'launchplane-coordinator',
      log,
      request: { fetch: this.#recordingFetch(cached) },
      retry: {
        retries: o.retries,
        retryAfterBaseValue: o.retryBaseDelayMs,
        // 403/429 are the throttling plugin's: it alone knows retry-after and budgets.
        doNotRetry: [400, 401, 403, 404, 409, 410, 422, 429, 451],
      },
      throttle: {
        id: `launchplane-${randomBytes(6).toString('hex')}`,
        write: new Bottleneck.Group({ maxConcurrent: 1, minTime: o.minWriteIntervalMs }),
        onRateLimit: () => false,
        onSecondaryRateLimit: (retryAfter, options, _octokit, retryCount) => {
          const signal = (options.request as { signal?: AbortSignal }).signal;
          const deadline = signal === undefined ? undefined : this.#deadlines.get(signal);
          return (
            retryCount < o.maxSecondaryRetries &&
            retryAfter <= o.maxRetryAfterSec &&
            (deadline === undefined || this.#clock.nowMs() + retryAfter * 1000 < deadline)
          );
        },
      },
    });
  }

  /** The last rate-limit headers seen, if any request has been made. */
  rateLimit(): RateLimitStatus | undefined {
    return this.#rate === undefined ? undefined : { ...this.#rate };
  }

  /** What the adapter sent so far. */
  stats(): GitHubRunnersStats {
    return {
      ...this.#counters,
      cacheEntries: this.#cache?.size ?? 0,
      cacheBytes: this.#cache?.bytes ?? 0,
    };
  }

  async listRunners(scope: Scope): Promise<GitHubRunner[]> {
    const action = { what: `list runners of ${describeScope(scope)}` };
    return this.#call(action, async (request) => {
      for (let attempt = 1; ; attempt++) {
        const listing = await this.#listOnce(request, scope, action);
        if (listing !== undefined) return listing;
        if (attempt >= LIST_ATTEMPTS) {
          throw new LaunchplaneError(
            'LP_GITHUB_UNAVAILABLE',
            `Cannot ${action.what}: the runner list kept changing while its pages were read`,
            { recovery: 'Retry; runners are being registered or removed right now' },
          );
        }
      }
    });
  }

  async getRunner(scope: Scope, runnerId: number): Promise<GitHubRunner | undefined> {
    const action = { what: `read runner ${runnerId} of ${describeScope(scope)}` };
    return this.#call(action, async (request) => {
      try {
        const res = await request(`GET ${runnersPath(scope)}/${runnerId}`);
        return this.#toRunner(parse(runnerSchema, res.data, action));
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      // GitHub also answers 404 for a repository the credential cannot see; only a scope that
      // lists fine proves the runner itself is gone.
      await request(`GET ${runnersPath(scope)}`, { per_page: 1 });
      return undefined;
    });
  }

  async createRegistrationToken(scope: Scope): Promise<RunnerToken> {
    return this.#scopeToken(scope, 'registration-token', 'registration');
  }

  async createRemoveToken(scope: Scope): Promise<RunnerToken> {
    return this.#scopeToken(scope, 'remove-token', 'remove');
  }

  /**
   * A conflict (`LP_CONFLICT`) means a runner of that name exists — possibly made by an earlier
   * attempt of this very call whose answer was lost to a 5xx; its JIT config cannot be read
   * back, so the caller deletes that runner by name and tries again.
   */
  async generateJitConfig(scope: Scope, req: JitConfigRequest): Promise<JitConfig> {
    const action = { what: `create runner "${req.name}" in ${describeScope(scope)}` };
    return this.#call(action, async (request) => {
      let res;
      try {
        res = await request(`POST ${runnersPath(scope)}/generate-jitconfig`, {
          name: req.name,
          runner_group_id: req.runnerGroupId,
          labels: req.labels,
          ...(req.workFolder === undefined ? {} : { work_folder: req.workFolder }),
        });
      } catch (err) {
        if (isStatus(err, 409) && retryCountOf(err) > 0) {
          throw new LaunchplaneError(
            'LP_CONFLICT',
            `Cannot ${action.what}: a runner of that name exists, likely made by an earlier attempt whose answer was lost`,
            {
              recovery: `Delete runner "${req.name}" from ${describeScope(scope)} and create it again`,
              details: { status: 409, retried: true },
            },
          );
        }
        throw err;
      }
      const body = parse(jitSchema, res.data, action);
      return { runner: this.#toRunner(body.runner), encodedJitConfig: body.encoded_jit_config };
    });
  }

  async deleteRunner(scope: Scope, runnerId: number): Promise<void> {
    const action = {
      what: `delete runner ${runnerId} of ${describeScope(scope)}`,
      deletesRunner: true,
    };
    await this.#call(action, async (request) => {
      try {
        await request(`DELETE ${runnersPath(scope)}/${runnerId}`);
      } catch (err) {
        // A 404 on a retry means an earlier attempt deleted the runner before its answer was
        // lost: the deletion is done.
        if (!(isStatus(err, 404) && retryCountOf(err) > 0)) throw err;
      }
    });
  }

  async listRunnerGroups(organization: string): Promise<RunnerGroup[]> {
    const action = { what: `list runner groups of organization "${organization}"` };
    return this.#call(action, async (request) => {
      const groups = await this.#allPages(
        request,
        `GET /orgs/${encodeURIComponent(organization)}/actions/runner-groups?per_page=${this.#opts.perPage}`,
        runnerGroupSchema,
        action,
      );
      return groups.map((g): RunnerGroup => ({ id: g.id, name: g.name, default: g.default }));
    });
  }

  async setCustomLabels(
    scope: Scope,
    runnerId: number,
    labels: readonly string[],
  ): Promise<string[]> {
    const action = { what: `set labels of runner ${runnerId} of ${describeScope(scope)}` };
    return this.#call(action, async (request) => {
      const res = await request(`PUT ${runnersPath(scope)}/${runnerId}/labels`, {
        labels: [...labels],
      });
      return parse(labelsSchema, res.data, action).labels.map((l) => l.name);
    });
  }

  async getWorkflow(repository: string, workflow: string): Promise<Workflow | undefined> {
    const action = {
      what: `read workflow "${workflow}" of repository "${repository}"`,
      forbiddenRecovery: ACTIONS_FORBIDDEN,
    };
    const w = await this.#readOne(
      action,
      `GET ${actionsPath(repository)}/workflows/${encodeURIComponent(workflow)}`,
      workflowSchema,
    );
    return w === undefined ? undefined : { id: w.id, name: w.name, path: w.path, state: w.state };
  }

  async dispatchWorkflow(
    repository: string,
    workflow: string,
    req: { ref: string; inputs: Record<string, string> },
  ): Promise<void> {
    const action = {
      what: `dispatch workflow "${workflow}" of repository "${repository}" on "${req.ref}"`,
      forbiddenRecovery: ACTIONS_FORBIDDEN,
    };
    await this.#call(action, async (request) => {
      await request(
        `POST ${actionsPath(repository)}/workflows/${encodeURIComponent(workflow)}/dispatches`,
        { ref: req.ref, inputs: req.inputs },
      );
    });
  }

  async listRuns(repository: string, query: RunQuery = {}): Promise<WorkflowRun[]> {
    const what =
      query.workflow === undefined
        ? `list workflow runs of repository "${repository}"`
        : `list runs of workflow "${query.workflow}" of repository "${repository}"`;
    const action = { what, forbiddenRecovery: ACTIONS_FORBIDDEN };
    const base =
      query.workflow === undefined
        ? `${actionsPath(repository)}/runs`
        : `${actionsPath(repository)}/workflows/${encodeURIComponent(query.workflow)}/runs`;
    const params = new URLSearchParams({ per_page: String(this.#opts.perPage) });
    if (query.event !== undefined) params.set('event', query.event);
    if (query.status !== undefined) params.set('status', query.status);
    if (query.createdSinceSec !== undefined) {
      params.set(
        'created',
        `>=${new Date(query.createdSinceSec * 1000).toISOString().replace('.000Z', 'Z')}`,
      );
    }
    return this.#call(action, async (request) =>
      (await this.#allPages(request, `GET ${base}?${params.toString()}`, runSchema, action)).map(
        toRun,
      ),
    );
  }

  async getRun(repository: string, runId: number): Promise<WorkflowRun | undefined> {
    const action = {
      what: `read workflow run ${runId} of repository "${repository}"`,
      forbiddenRecovery: ACTIONS_FORBIDDEN,
    };
    const run = await this.#readOne(
      action,
      `GET ${actionsPath(repository)}/runs/${runId}`,
      runSchema,
    );
    return run === undefined ? undefined : toRun(run);
  }

  async listRunJobs(repository: string, runId: number): Promise<WorkflowJob[]> {
    const action = {
      what: `list jobs of workflow run ${runId} of repository "${repository}"`,
      forbiddenRecovery: ACTIONS_FORBIDDEN,
    };
    return this.#call(action, async (request) =>
      (
        await this.#allPages(
          request,
          `GET ${actionsPath(repository)}/runs/${runId}/jobs?filter=latest&per_page=${this.#opts.perPage}`,
          jobSchema,
          action,
        )
      ).map(toJob),
    );
  }

  async getJob(repository: string, jobId: number): Promise<WorkflowJob | undefined> {
    const action = {
      what: `read job ${jobId} of repository "${repository}"`,
      forbiddenRecovery: ACTIONS_FORBIDDEN,
    };
    const job = await this.#readOne(
      action,
      `GET ${actionsPath(repository)}/jobs/${jobId}`,
      jobSchema,
    );
    return job === undefined ? undefined : toJob(job);
  }

  /** One object of the Actions API, or undefined for GitHub's 404. */
  async #readOne<T>(
    action: GitHubAction,
    route: string,
    schema: z.ZodType<T>,
  ): Promise<T | undefined> {
    return this.#call(action, async (request) => {
      try {
        return parse(schema, (await request(route)).data, action);
      } catch (err) {
        if (isStatus(err, 404)) return undefined;
        throw err;
      }
    });
  }

  /** Every item of a paged list (`{total_count, <items>}`), within `maxPages`. */
  async #allPages<T>(
    request: RequestFn,
    route: string,
    schema: z.ZodType<T>,
    action: GitHubAction,
  ): Promise<T[]> {
    const out: T[] = [];
    let pages = 0;
    for await (const page of this.#octokit.paginate.iterator(request, route)) {
      if (++pages > this.#opts.maxPages) {
        throw new LaunchplaneError(
          'LP_GITHUB_UNAVAILABLE',
          `Cannot ${action.what}: more than ${this.#opts.maxPages} pages`,
        );
      }
      out.push(...parse(z.array(schema), [...(page.data as unknown[])], action));
    }
    return out;
  }

  async #scopeToken(
    scope: Scope,
    path: 'registration-token' | 'remove-token',
    kind: string,
  ): Promise<RunnerToken> {
    const action = { what: `create a ${kind} token for ${describeScope(scope)}` };
    return this.#call(action, async (request) => {
      const res = await request(`POST ${runnersPath(scope)}/${path}`);
      const body = parse(tokenSchema, res.data, action);
      const expiresMs = Date.parse(body.expires_at);
      if (!Number.isFinite(expiresMs)) {
        throw new LaunchplaneError(
          'LP_GITHUB_UNAVAILABLE',
          `Cannot ${action.what}: GitHub answered with an unreadable expiry`,
        );
      }
      return { token: body.token, expiresAt: msToSec(expiresMs) };
    });
  }

  /** A runner in the port's shape; an unknown status is logged once per runner and value. */
  #toRunner(r: z.infer<typeof runnerSchema>): GitHubRunner {
    const runner = toRunner(r);
    if (runner.githubStatus !== undefined) {
      const key = `${runner.id}:${runner.githubStatus}`;
      if (!this.#oddStatuses.has(key)) {
        if (this.#oddStatuses.size >= MAX_REMEMBERED_STATUSES) this.#oddStatuses.clear();
        this.#oddStatuses.add(key);
        this.#log?.warn(
          { runnerId: runner.id, runnerName: runner.name, githubStatus: runner.githubStatus },
          'GitHub reports a runner status Launchplane does not know; treating it as offline',
        );
      }
    }
    return runner;
  }

  /** One pass over every page; undefined when the pages disagree and the list must be re-read. */
  async #listOnce(
    request: RequestFn,
    scope: Scope,
    action: GitHubAction,
  ): Promise<GitHubRunner[] | undefined> {
    const byId = new Map<number, GitHubRunner>();
    let total: number | undefined;
    let pages = 0;
    // The paginate plugin reads a 409 as "no more pages"; for runners it is an error, so it
    // leaves the page request as a LaunchplaneError the plugin passes on.
    const guarded = Object.assign(
      async (options: Parameters<RequestFn>[0]) => {
        try {
          return await request(options);
        } catch (err) {
          throw (err as { status?: unknown }).status === 409 ? toGitHubError(err, action) : err;
        }
      },
      { endpoint: request.endpoint },
    ) as unknown as RequestFn;
    const iterator = this.#octokit.paginate.iterator(
      guarded,
      `GET ${runnersPath(scope)}?per_page=${this.#opts.perPage}`,
    );
    for await (const page of iterator) {
      if (++pages > this.#opts.maxPages) {
        throw new LaunchplaneError(
          'LP_GITHUB_UNAVAILABLE',
          `Cannot ${action.what}: more than ${this.#opts.maxPages} pages`,
          {
            recovery:
              'Raise the GitHub client option "maxPages" if the scope really has that many runners',
          },
        );
      }
      const data = page.data as unknown as { total_count?: unknown };
      const count = typeof data.total_count === 'number' ? data.total_count : undefined;
      if (total !== undefined && count !== total) return undefined;
      total = count;
      for (const r of parse(runnerPageSchema, [...(page.data as unknown[])], action)) {
        byId.set(r.id, this.#toRunner(r));
      }
    }
    if (total !== undefined && byId.size !== total) return undefined;
    return [...byId.values()];
  }

  /**
   * Runs one method call with its deadline, failing fast while the primary budget is known to
   * be spent, and maps whatever it throws to a `LaunchplaneError`.
   */
  async #call<T>(action: GitHubAction, fn: (request: RequestFn) => Promise<T>): Promise<T> {
    const now = this.#clock.nowMs();
    if (now < this.#blockedUntilMs && this.#rate !== undefined) {
      throw primaryRateLimitError(action, this.#rate.resetAt, { sent: false });
    }
    const controller = new AbortController();
    const late = (): LaunchplaneError =>
      new LaunchplaneError(
        'LP_GITHUB_UNAVAILABLE',
        `Cannot ${action.what}: no answer within ${this.#opts.callTimeoutMs} ms`,
        { recovery: 'Check GitHub status and the network path to the API URL, then retry' },
      );
    // The plugins' backoff waits cannot be interrupted; the race ends the call at its deadline
    // anyway, and the aborted signal keeps any later attempt from being sent.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(late());
      }, this.#opts.callTimeoutMs);
    });
    this.#deadlines.set(controller.signal, now + this.#opts.callTimeoutMs);
    const request = this.#octokit.request.defaults({ request: { signal: controller.signal } });
    const work = fn(request);
    work.catch(() => undefined);
    try {
      return await Promise.race([work, deadline]);
    } catch (err) {
      if (err instanceof LaunchplaneError) throw err;
      if (err instanceof Error && err.name === 'AbortError' && controller.signal.aborted) {
        throw late();
      }
      throw toGitHubError(err, action);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Gives each attempt its own timeout on top of the call's signal. */
  #timedFetch(inner: typeof fetch): typeof fetch {
    const ms = this.#opts.requestTimeoutMs;
    return (input, init) => {
      const signals = [AbortSignal.timeout(ms)];
      if (init?.signal) signals.push(init.signal);
      return inner(input, { ...init, signal: AbortSignal.any(signals) });
    };
  }

  /** Records rate-limit headers of every answer, 304s and errors included. */
  #recordingFetch(inner: typeof fetch): typeof fetch {
    return async (input, init) => {
      const res = await inner(input, init);
      // The App's JWT endpoints have a budget of their own; it says nothing about the token's.
      const url = input instanceof Request ? input.url : String(input);
      if (url.startsWith(`${this.#opts.apiUrl}/app/`) || url === `${this.#opts.apiUrl}/app`) {
        return res;
      }
      const limit = Number(res.headers.get('x-ratelimit-limit'));
      const remaining = Number(res.headers.get('x-ratelimit-remaining'));
      const reset = Number(res.headers.get('x-ratelimit-reset'));
      if (
        res.headers.has('x-ratelimit-remaining') &&
        [limit, remaining, reset].every(Number.isFinite)
      ) {
        this.#rate = { limit, remaining, resetAt: reset };
        if (remaining > 0) {
          this.#blockedUntilMs = 0;
        } else {
          // GitHub's reset is on GitHub's clock; measure it from GitHub's Date header so a
          // skewed local clock neither blocks too long nor hammers an empty budget.
          const serverNow = Date.parse(res.headers.get('date') ?? '');
          const untilReset =
            reset * 1000 - (Number.isFinite(serverNow) ? serverNow : this.#clock.nowMs());
          this.#blockedUntilMs = this.#clock.nowMs() + Math.max(0, untilReset) + 1000;
        }
      }
      return res;
    };
  }
}

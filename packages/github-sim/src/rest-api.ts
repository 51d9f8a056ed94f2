import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Principal, type SimApp, credentialOf, verifyAppJwt } from './auth.js';
import { parseCreated } from './domain/created-filter.js';
import { linkHeader, paginate, parsePaging } from './domain/pagination.js';
import { type RateBudget, consume, currentBudget, remaining } from './domain/rate-budget.js';
import { SimError } from './errors.js';
import type { Faults } from './faults.js';
import { field, readJson, send } from './http-io.js';
import type { Scope } from './scope.js';
import { isoSeconds } from './domain/iso-time.js';
import { hookOperation } from './hooks-rest.js';
import type { Operation, Outcome } from './rest-types.js';
import { hashSecret } from './sim-state.js';
import type { GitHubSimulator, RunnerGroup } from './simulator.js';
import type { Webhooks } from './webhooks.js';
import { jobView, runView, workflowView } from './workflow-views.js';

/** Per-operation request counts, read through the control API. */
export interface RequestCount {
  /** Every request that reached the operation. */
  total: number;
  /** Requests that counted against a rate-limit budget. */
  counted: number;
  /** Conditional GETs answered 304 (free, as on GitHub). */
  notModified: number;
}

/** Everything the public API needs from the server around it. */
export interface RestApiDeps {
  sim: GitHubSimulator;
  /** Personal-access-style tokens accepted as bearer tokens. */
  tokens: Set<string>;
  apps: SimApp[];
  faults: () => Faults;
  /** Records that one injected-count fault was used up. */
  useFault: (k: 'serverErrorsNext' | 'secondaryRateLimitNext') => void;
  random: () => number;
  webhooks: Webhooks;
}

const NOT_FOUND = {
  message: 'Not Found',
  documentation_url: 'https://docs.github.com/rest',
  status: '404',
};

/** Builds the request origin GitHub-style links point at. */
function originOf(req: IncomingMessage): string {
  return `http://${req.headers.host ?? '127.0.0.1'}`;
}

/**
 * The public GitHub REST surface: the self-hosted runner endpoints for repositories and
 * organizations, a repository's workflows, their dispatch, workflow runs and jobs, the webhooks of
 * repositories and organizations with their deliveries, and the installation-token endpoint of
 * the App flow. Applies authentication,
 * injected faults, the primary rate limit, ETags and request counting around each operation.
 */
export class RestApi {
  readonly counts = new Map<string, RequestCount>();
  readonly #budgets = new Map<string, RateBudget>();
  readonly #d: RestApiDeps;

  constructor(deps: RestApiDeps) {
    this.#d = deps;
  }

  /** Forgets counts and budgets (control API reset). */
  reset(): void {
    this.counts.clear();
    this.#budgets.clear();
  }

  /** The primary budget of `token` as it stands now. */
  budgetOf(token: string): RateBudget {
    return currentBudget(
      this.#budgets.get(hashSecret(token)),
      this.#d.sim.now(),
      this.#d.sim.config.rateLimit,
    );
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const op = this.#resolve(method, url.pathname, originOf(req));
    if (op === null) {
      send(res, 404, NOT_FOUND, githubHeaders());
      return;
    }
    const count = this.counts.get(op.id) ?? { total: 0, counted: 0, notModified: 0 };
    this.counts.set(op.id, count);
    count.total++;
    const faults = this.#d.faults();
    if (faults.latencyMs > 0) await new Promise((r) => setTimeout(r, faults.latencyMs));
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readJson(req);

    let principal: Principal;
    try {
      principal = this.#authenticate(req.headers.authorization, op);
    } catch (err) {
      if (!(err instanceof SimError)) throw err;
      send(res, err.status, err.body(), githubHeaders());
      return;
    }

    const key = principal.kind === 'token' ? hashSecret(principal.token) : null;
    let budget = principal.kind === 'token' ? this.budgetOf(principal.token) : null;
    const rateHeaders = (): Record<string, string> =>
      budget === null
        ? {}
        : {
            'x-ratelimit-limit': String(budget.limit),
            'x-ratelimit-remaining': String(faults.budgetExhausted ? 0 : remaining(budget)),
            'x-ratelimit-used': String(faults.budgetExhausted ? budget.limit : budget.used),
            'x-ratelimit-reset': String(budget.reset),
            'x-ratelimit-resource': 'core',
          };

    if (budget !== null && (faults.budgetExhausted || remaining(budget) === 0)) {
      send(
        res,
        403,
        {
          message:
            'API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits',
          status: '403',
        },
        { ...githubHeaders(), ...rateHeaders() },
      );
      return;
    }

    const spend = (): void => {
      count.counted++;
      if (budget !== null && key !== null) {
        budget = consume(budget);
        this.#budgets.set(key, budget);
      }
    };

    if (faults.secondaryRateLimitNext > 0) {
      this.#d.useFault('secondaryRateLimitNext');
      spend();
      send(
        res,
        faults.secondaryStatus,
        {
          message:
            'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
          status: String(faults.secondaryStatus),
        },
        {
          ...githubHeaders(),
          ...rateHeaders(),
          'retry-after': String(faults.secondaryRetryAfterSec),
        },
      );
      return;
    }
    if (
      faults.serverErrorsNext > 0 ||
      (faults.serverErrorRate > 0 && this.#d.random() < faults.serverErrorRate)
    ) {
      if (faults.serverErrorsNext > 0) this.#d.useFault('serverErrorsNext');
      spend();
      send(
        res,
        faults.serverErrorStatus,
        { message: 'Server Error' },
        { ...githubHeaders(), ...rateHeaders() },
      );
      return;
    }

    let out: Outcome;
    try {
      out = op.run({ body, url, principal });
    } catch (err) {
      if (!(err instanceof SimError)) throw err;
      out = { status: err.status, body: err.body() };
    }

    if (method === 'GET' && out.status === 200) {
      const etag = `W/"${createHash('sha256').update(JSON.stringify(out.body)).digest('hex')}"`;
      const inm = req.headers['if-none-match'];
      if (
        inm !== undefined &&
        inm.split(',').some((t) => t.trim() === etag || t.trim() === etag.slice(2))
      ) {
        count.notModified++;
        send(res, 304, undefined, { ...githubHeaders(), ...rateHeaders(), etag, ...out.headers });
        return;
      }
      spend();
      send(res, 200, out.body, { ...githubHeaders(), ...rateHeaders(), etag, ...out.headers });
      return;
    }
    spend();
    send(res, out.status, out.body, { ...githubHeaders(), ...rateHeaders(), ...out.headers });
  }

  #authenticate(header: string | undefined, op: Operation): Principal {
    const cred = credentialOf(header);
    if (cred === null) {
      throw new SimError('SIM_UNAUTHENTICATED', 'Requires authentication', {
        documentationUrl: 'https://docs.github.com/rest',
      });
    }
    const { sim } = this.#d;
    if (op.jwt === true) {
      const app = verifyAppJwt(cred, this.#d.apps, sim.now());
      return { kind: 'app', appId: app.appId };
    }
    if (this.#d.tokens.has(cred)) return { kind: 'token', token: cred };
    const t = sim.state.token(cred, sim.now());
    if (t?.kind === 'installation') return { kind: 'token', token: cred };
    throw new SimError('SIM_UNAUTHENTICATED', 'Bad credentials', {
      documentationUrl: 'https://docs.github.com/rest',
    });
  }

  #resolve(method: string, path: string, origin: string): Operation | null {
    const app = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(path);
    if (app !== null) {
      if (method !== 'POST') return null;
      const installationId = Number(app[1]);
      return {
        id: 'apps/create-installation-access-token',
        jwt: true,
        run: ({ principal }) => this.#installationToken(principal, installationId),
      };
    }
    const hooks = /^\/(?:repos\/([^/]+)\/([^/]+)|orgs\/([^/]+))\/hooks(\/.*)?$/.exec(path);
    if (hooks !== null) {
      const scope: Scope =
        hooks[3] === undefined
          ? {
              kind: 'repo',
              owner: decodeURIComponent(hooks[1] ?? ''),
              repo: decodeURIComponent(hooks[2] ?? ''),
            }
          : { kind: 'org', org: decodeURIComponent(hooks[3]) };
      return hookOperation(this.#d.webhooks, method, scope, hooks[4] ?? '', origin);
    }
    const groups = /^\/orgs\/([^/]+)\/actions\/runner-groups(?:\/(\d+))?$/.exec(path);
    if (groups !== null) {
      if (method !== 'GET') return null;
      const scope: Scope = { kind: 'org', org: decodeURIComponent(groups[1] ?? '') };
      return this.#runnerGroupOperation(scope, groups[2], origin);
    }
    const actions = /^\/repos\/([^/]+)\/([^/]+)\/actions\/(workflows|runs|jobs)(\/.*)?$/.exec(path);
    if (actions !== null) {
      const repository = `${decodeURIComponent(actions[1] ?? '')}/${decodeURIComponent(actions[2] ?? '')}`;
      return this.#workflowOperation(
        method,
        repository,
        actions[3] as 'workflows' | 'runs' | 'jobs',
        actions[4] ?? '',
        origin,
      );
    }
    const repo = /^\/repos\/([^/]+)\/([^/]+)\/actions\/runners(\/.*)?$/.exec(path);
    const org = /^\/orgs\/([^/]+)\/actions\/runners(\/.*)?$/.exec(path);
    let scope: Scope;
    let rest: string;
    let kind: 'repo' | 'org';
    if (repo !== null) {
      scope = {
        kind: 'repo',
        owner: decodeURIComponent(repo[1] ?? ''),
        repo: decodeURIComponent(repo[2] ?? ''),
      };
      rest = repo[3] ?? '';
      kind = 'repo';
    } else if (org !== null) {
      scope = { kind: 'org', org: decodeURIComponent(org[1] ?? '') };
      rest = org[2] ?? '';
      kind = 'org';
    } else {
      return null;
    }
    return this.#runnerOperation(method, rest, scope, kind, origin);
  }

  #runnerOperation(
    method: string,
    rest: string,
    scope: Scope,
    kind: 'repo' | 'org',
    origin: string,
  ): Operation | null {
    const { sim } = this.#d;
    const op = (name: string, run: Operation['run']): Operation => ({
      id: `actions/${name}-${kind}`,
      run,
    });
    const labelsOut = (id: number): Outcome => {
      const labels = sim.labels(sim.getRunner(scope, id));
      return { status: 200, body: { total_count: labels.length, labels } };
    };
    const m = /^\/(\d+)(\/labels(?:\/([^/]+))?)?$/.exec(rest);
    const id = m === null ? null : Number(m[1]);
    const label = m?.[3] === undefined ? null : decodeURIComponent(m[3]);
    switch (true) {
      case rest === '' && method === 'GET':
        return op('list-self-hosted-runners-for', ({ url }) => {
          const nameFilter = url.searchParams.get('name');
          const all = sim.listRunners(scope, nameFilter ?? undefined).map((r) => sim.view(r));
          return pagedList(all, 'runners', url, origin);
        });
      case rest === '/registration-token' && method === 'POST':
      case rest === '/remove-token' && method === 'POST': {
        const which = rest === '/registration-token' ? 'registration' : 'remove';
        return op(`create-${which}-token-for`, () => {
          const t = sim.issueScopeToken(scope, which);
          return { status: 201, body: { token: t.token, expires_at: isoSeconds(t.expiresAt) } };
        });
      }
      case rest === '/generate-jitconfig' && method === 'POST':
        return op('generate-runner-jitconfig-for', ({ body }) => {
          const { runner, encoded } = sim.generateJitConfig(scope, origin, body);
          return { status: 201, body: { runner: sim.view(runner), encoded_jit_config: encoded } };
        });
      case id !== null && m?.[2] === undefined && method === 'GET':
        return op('get-self-hosted-runner-for', () => ({
          status: 200,
          body: sim.view(sim.getRunner(scope, id)),
        }));
      case id !== null && m?.[2] === undefined && method === 'DELETE':
        return {
          id: `actions/delete-self-hosted-runner-from-${kind}`,
          run: () => {
            sim.deleteRunner(scope, id);
            return { status: 204 };
          },
        };
      case id !== null && m?.[2] !== undefined && label === null && method === 'GET':
        return op('list-labels-for-self-hosted-runner-for', () => labelsOut(id));
      case id !== null && m?.[2] !== undefined && label === null && method === 'POST':
        return {
          id: `actions/add-custom-labels-to-self-hosted-runner-for-${kind}`,
          run: ({ body }) => labelsOut(sim.addLabels(scope, id, body, 1).id),
        };
      case id !== null && m?.[2] !== undefined && label === null && method === 'PUT':
        return op('set-custom-labels-for-self-hosted-runner-for', ({ body }) =>
          labelsOut(sim.addLabels(scope, id, body, 0).id),
        );
      case id !== null && m?.[2] !== undefined && label === null && method === 'DELETE':
        return {
          id: `actions/remove-all-custom-labels-from-self-hosted-runner-for-${kind}`,
          run: () => labelsOut(sim.removeAllCustomLabels(scope, id).id),
        };
      case id !== null && label !== null && method === 'DELETE':
        return {
          id: `actions/remove-custom-label-from-self-hosted-runner-for-${kind}`,
          run: () => labelsOut(sim.removeLabel(scope, id, label).id),
        };
      default:
        return null;
    }
  }

  /**
   * Workflows, their dispatch, workflow runs and jobs of a repository: what a smoke dispatches
   * and follows, and what demand-driven scaling lists (`?status=queued`, the jobs' labels).
   */
  #workflowOperation(
    method: string,
    repository: string,
    kind: 'workflows' | 'runs' | 'jobs',
    rest: string,
    origin: string,
  ): Operation | null {
    const { sim } = this.#d;
    const op = (id: string, run: Operation['run']): Operation => ({ id: `actions/${id}`, run });
    const runsList = (url: URL, workflowId?: number): Outcome => {
      const created = url.searchParams.get('created');
      const range = created === null ? undefined : parseCreated(created);
      if (range === null) {
        throw new SimError('SIM_INVALID', `Invalid "created" filter "${created ?? ''}"`, {
          documentationUrl:
            'https://docs.github.com/search-github/getting-started-with-searching-on-github/understanding-the-search-syntax#query-for-dates',
        });
      }
      const param = (k: string): string | undefined => url.searchParams.get(k) ?? undefined;
      const runs = sim.listRuns(repository, {
        ...(workflowId === undefined ? {} : { workflowId }),
        ...optional('status', param('status')),
        ...optional('event', param('event')),
        ...optional('branch', param('branch')),
        ...optional('headSha', param('head_sha')),
        ...(range === undefined ? {} : { created: range }),
      });
      return pagedList(
        runs.map((r) => runView(origin, sim, r)),
        'workflow_runs',
        url,
        origin,
      );
    };
    const wf = /^\/([^/]+)(\/dispatches|\/runs)?$/.exec(rest);
    const num = /^\/(\d+)(\/jobs)?$/.exec(rest);
    switch (true) {
      case kind === 'workflows' && rest === '' && method === 'GET':
        return op('list-repo-workflows', ({ url }) =>
          pagedList(
            sim.workflowsOf(repository).map((w) => workflowView(origin, w)),
            'workflows',
            url,
            origin,
          ),
        );
      case kind === 'workflows' && wf !== null && wf[2] === undefined && method === 'GET':
        return op('get-workflow', () => ({
          status: 200,
          body: workflowView(origin, sim.workflow(repository, decodeURIComponent(wf?.[1] ?? ''))),
        }));
      case kind === 'workflows' && wf?.[2] === '/dispatches' && method === 'POST':
        return op('create-workflow-dispatch', ({ body }) => {
          const run = sim.dispatch(repository, decodeURIComponent(wf?.[1] ?? ''), body);
          if (field(body, 'return_run_details') !== true) return { status: 204 };
          const html = `${origin}/${run.repository}/actions/runs/${run.id}`;
          return {
            status: 200,
            body: {
              workflow_run_id: run.id,
              run_url: `${origin}/repos/${run.repository}/actions/runs/${run.id}`,
              html_url: html,
            },
          };
        });
      case kind === 'workflows' && wf?.[2] === '/runs' && method === 'GET':
        return op('list-workflow-runs', ({ url }) =>
          runsList(url, sim.workflow(repository, decodeURIComponent(wf?.[1] ?? '')).id),
        );
      case kind === 'runs' && rest === '' && method === 'GET':
        return op('list-workflow-runs-for-repo', ({ url }) => runsList(url));
      case kind === 'runs' && num !== null && num[2] === undefined && method === 'GET':
        return op('get-workflow-run', () => ({
          status: 200,
          body: runView(origin, sim, sim.getRun(repository, Number(num?.[1]))),
        }));
      case kind === 'runs' && num?.[2] === '/jobs' && method === 'GET':
        // One attempt per run: `filter=latest` and `filter=all` list the same jobs.
        return op('list-jobs-for-workflow-run', ({ url }) => {
          const run = sim.getRun(repository, Number(num?.[1]));
          return pagedList(
            sim.jobsOf(run).map((j) => jobView(origin, sim, j)),
            'jobs',
            url,
            origin,
          );
        });
      case kind === 'jobs' && num !== null && num[2] === undefined && method === 'GET':
        return op('get-job-for-workflow-run', () => ({
          status: 200,
          body: jobView(origin, sim, sim.getJob(repository, Number(num?.[1]))),
        }));
      default:
        return null;
    }
  }

  /** `GET /orgs/{org}/actions/runner-groups[/{id}]`: the default group and the org's own. */
  #runnerGroupOperation(scope: Scope, id: string | undefined, origin: string): Operation {
    const { sim } = this.#d;
    const org = scope.kind === 'org' ? scope.org : '';
    const view = (g: RunnerGroup): Record<string, unknown> => {
      const url = `${origin}/orgs/${encodeURIComponent(org)}/actions/runner-groups/${g.id}`;
      return {
        id: g.id,
        name: g.name,
        visibility: g.visibility,
        default: g.default,
        ...(g.visibility === 'selected'
          ? { selected_repositories_url: `${url}/repositories` }
          : {}),
        runners_url: `${url}/runners`,
        hosted_runners_url: `${url}/hosted-runners`,
        inherited: false,
        allows_public_repositories: false,
        restricted_to_workflows: false,
        selected_workflows: [],
        workflow_restrictions_read_only: false,
      };
    };
    if (id !== undefined) {
      return {
        id: 'actions/get-self-hosted-runner-group-for-org',
        run: () => ({ status: 200, body: view(sim.runnerGroup(scope, Number(id))) }),
      };
    }
    return {
      id: 'actions/list-self-hosted-runner-groups-for-org',
      run: ({ url }) => pagedList(sim.runnerGroups(scope).map(view), 'runner_groups', url, origin),
    };
  }

  #installationToken(principal: Principal, installationId: number): Outcome {
    const app = this.#d.apps.find((a) => principal.kind === 'app' && a.appId === principal.appId);
    if (
      app === undefined ||
      (app.installationIds !== null && !app.installationIds.has(installationId))
    ) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', {
        documentationUrl:
          'https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app',
      });
    }
    const { sim } = this.#d;
    const token = `ghs_${randomBytes(27).toString('base64url').replace(/[-_]/g, 'x').slice(0, 36)}`;
    const expiresAt = sim.now() + sim.config.tokenTtlMs;
    sim.state.issueToken(token, {
      kind: 'installation',
      subject: String(installationId),
      expiresAt,
    });
    return {
      status: 201,
      body: {
        token,
        expires_at: isoSeconds(expiresAt),
        permissions: { administration: 'write', organization_self_hosted_runners: 'write' },
        repository_selection: 'all',
      },
    };
  }
}

/** One page of a list endpoint: `{total_count, <key>: [...]}` with GitHub's `Link` header. */
function pagedList(all: readonly unknown[], key: string, url: URL, origin: string): Outcome {
  const page = paginate(
    all,
    parsePaging(url.searchParams.get('per_page'), url.searchParams.get('page')),
  );
  const link = linkHeader(new URL(url.pathname + url.search, origin), page);
  return {
    status: 200,
    body: { total_count: all.length, [key]: page.items },
    ...(link === null ? {} : { headers: { link } }),
  };
}

/** `{[key]: value}` when the value is there, `{}` otherwise (for optional filters). */
function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function githubHeaders(): Record<string, string> {
  return {
    'x-github-media-type': 'github.v3; format=json',
    'x-github-api-version-selected': '2022-11-28',
    'x-github-request-id': randomBytes(8).toString('hex').toUpperCase(),
  };
}

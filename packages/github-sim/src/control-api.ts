import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { type SimApp, appFromPem, credentialOf } from './auth.js';
import { SimError } from './errors.js';
import { type Faults, NO_FAULTS, mergeFaults } from './faults.js';
import { jobInput, nonNegInt, scopeOf, stringArray } from './control-bodies.js';
import { field, readJson, send } from './http-io.js';
import type { RestApi } from './rest-api.js';
import { routeDemandControl } from './demand-control.js';
import { routeRunnerControl } from './runner-control.js';
import { parseScopeKey } from './scope.js';
import type { JobRecord, RunnerRecord } from './sim-state.js';
import type { GitHubSimulator, SimConfig, WorkflowInput } from './simulator.js';
import type { TraceReplay } from './trace-replay.js';
import type { Webhooks } from './webhooks.js';

/** What the control API drives. */
export interface ControlDeps {
  sim: GitHubSimulator;
  rest: RestApi;
  tokens: Set<string>;
  apps: SimApp[];
  faults: { current: Faults };
  /** When set, `/_sim/` requires `Authorization: Bearer <adminToken>`. */
  adminToken: string | undefined;
  webhooks: Webhooks;
  trace: TraceReplay;
}

/** The control API under `/_sim/` (see the package README for the reference). */
export async function handleControlApi(
  d: ControlDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  try {
    if (d.adminToken !== undefined) {
      const given = Buffer.from(credentialOf(req.headers.authorization) ?? '');
      const want = Buffer.from(d.adminToken);
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        throw new SimError('SIM_UNAUTHENTICATED', 'Admin token required for the control API');
      }
    }
    const out = await route(d, req, url);
    send(res, out.status, out.body);
  } catch (err) {
    if (!(err instanceof SimError)) throw err;
    send(res, err.status, { message: err.message, code: err.code });
  }
}

function jobView(j: JobRecord): Record<string, unknown> {
  const scope = parseScopeKey(j.scope);
  return {
    id: j.id,
    runId: j.runId,
    name: j.name ?? `job-${j.id}`,
    repository: j.repository,
    organization: scope.kind === 'org' ? scope.org : null,
    labels: j.labels,
    durationMs: j.durationMs,
    status: j.status,
    conclusion: j.conclusion,
    runnerId: j.runnerId,
    runnerName: j.runnerName,
    queuedAt: j.queuedAt,
    startedAt: j.startedAt,
    completedAt: j.completedAt,
    failSetup: j.failSetup === true,
    failSteps: j.failSteps === true,
    runnerGroup: j.runnerGroup ?? null,
  };
}

function runnerView(sim: GitHubSimulator, r: RunnerRecord): Record<string, unknown> {
  const scope = parseScopeKey(r.scope);
  return {
    ...sim.view(r),
    scope:
      scope.kind === 'repo'
        ? { repository: `${scope.owner}/${scope.repo}` }
        : { organization: scope.org },
    origin: r.origin,
    sessionActive: r.session !== null,
    lastHeartbeatAt: r.session?.lastHeartbeatAt ?? null,
    registeredAt: r.createdAt,
    firstSessionAt: r.firstSessionAt ?? null,
    currentJobId: sim.currentJob(r.id)?.id ?? null,
  };
}

/** The body of `POST /_sim/workflows`, checked field by field. */
function workflowInput(body: unknown): WorkflowInput {
  const repository = field(body, 'repository');
  if (typeof repository !== 'string' || !/^[^/\s]+\/[^/\s]+$/.test(repository)) {
    throw new SimError('SIM_INVALID', '"repository" must be "owner/repo"');
  }
  const path = field(body, 'path');
  if (typeof path !== 'string') throw new SimError('SIM_INVALID', '"path" must be a string');
  const text = (name: string): string | undefined => {
    const v = field(body, name);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '' || v.length > 100) {
      throw new SimError('SIM_INVALID', `"${name}" must be a string of 1 to 100 characters`);
    }
    return v;
  };
  const labels = field(body, 'labels');
  const inputs = field(body, 'inputs');
  const durationMs = field(body, 'durationMs');
  const conclusion = field(body, 'conclusion');
  if (conclusion !== undefined && conclusion !== 'success' && conclusion !== 'failure') {
    throw new SimError('SIM_INVALID', '"conclusion" must be success or failure');
  }
  const name = text('name');
  const runsOnInput = text('runsOnInput');
  const jobName = text('jobName');
  return {
    repository,
    path,
    ...(name === undefined ? {} : { name }),
    ...(runsOnInput === undefined ? {} : { runsOnInput }),
    ...(labels === undefined ? {} : { labels: stringArray(labels, 'labels') }),
    ...(inputs === undefined ? {} : { inputs: stringArray(inputs, 'inputs') }),
    ...(jobName === undefined ? {} : { jobName }),
    ...(durationMs === undefined ? {} : { durationMs: nonNegInt(durationMs, 'durationMs') }),
    ...(conclusion === undefined ? {} : { conclusion }),
  };
}

function configUpdate(cfg: SimConfig, body: unknown): SimConfig {
  const next: SimConfig = { ...cfg, busyLag: { ...cfg.busyLag } };
  const known = new Set([
    'busyLagMs',
    'busyFlipAfterMs',
    'busyFlipMs',
    'busyTrailMs',
    'offlineAfterMs',
    'pollWaitMs',
    'rateLimit',
    'pickupDelayMs',
  ]);
  for (const [k, v] of Object.entries((body ?? {}) as Record<string, unknown>)) {
    if (!known.has(k)) throw new SimError('SIM_INVALID', `Unknown setting "${k}"`);
    const n = nonNegInt(v, k);
    if (k === 'busyLagMs') next.busyLag.lagMs = n;
    else if (k === 'busyFlipAfterMs') next.busyLag.flipAfterMs = n;
    else if (k === 'busyFlipMs') next.busyLag.flipMs = n;
    else if (k === 'busyTrailMs') next.busyLag.trailMs = n;
    else if (k === 'offlineAfterMs') next.offlineAfterMs = n;
    else if (k === 'pollWaitMs') next.pollWaitMs = n;
    else if (k === 'pickupDelayMs') next.pickupDelayMs = n;
    else next.rateLimit = n;
  }
  return next;
}

function configView(cfg: SimConfig): Record<string, number> {
  return {
    busyLagMs: cfg.busyLag.lagMs,
    busyFlipAfterMs: cfg.busyLag.flipAfterMs,
    busyFlipMs: cfg.busyLag.flipMs,
    busyTrailMs: cfg.busyLag.trailMs,
    offlineAfterMs: cfg.offlineAfterMs,
    pollWaitMs: cfg.pollWaitMs,
    rateLimit: cfg.rateLimit,
    pickupDelayMs: cfg.pickupDelayMs,
  };
}

async function route(
  d: ControlDeps,
  req: IncomingMessage,
  url: URL,
): Promise<{ status: number; body?: unknown }> {
  const { sim } = d;
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/+$/, '');
  const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req);
  const key = `${method} ${path}`;
  const runnerSide = routeRunnerControl(sim, method, path, body);
  if (runnerSide !== undefined) return runnerSide;
  const demandSide = routeDemandControl(d, method, url, body);
  if (demandSide !== undefined) return demandSide;
  if (key === 'GET /_sim/health') return { status: 200, body: { ok: true } };
  if (key === 'POST /_sim/jobs') {
    return { status: 201, body: jobView(sim.enqueueJob(jobInput(body))) };
  }
  if (key === 'POST /_sim/workflows') {
    return { status: 201, body: sim.declareWorkflow(workflowInput(body)) };
  }
  if (key === 'GET /_sim/workflows')
    return { status: 200, body: { workflows: sim.state.workflows } };
  if (key === 'GET /_sim/jobs') {
    sim.sweep();
    return { status: 200, body: { jobs: sim.state.jobs.map(jobView) } };
  }
  const jm = /^\/_sim\/jobs\/(\d+)(\/cancel|\/approve)?$/.exec(path);
  if (jm !== null) {
    const id = Number(jm[1]);
    if (method === 'GET' && jm[2] === undefined) {
      sim.sweep();
      const j = sim.state.job(id);
      if (j === undefined) throw new SimError('SIM_NOT_FOUND', `Job ${id} not found`);
      return { status: 200, body: jobView(j) };
    }
    if (method === 'POST' && jm[2] === '/cancel')
      return { status: 200, body: jobView(sim.cancelJob(id)) };
    if (method === 'POST' && jm[2] === '/approve')
      return { status: 200, body: jobView(sim.approveJob(id)) };
  }
  if (key === 'POST /_sim/runners') {
    const { scope } = scopeOf(body);
    const name = field(body, 'name');
    if (typeof name !== 'string' || name === '' || name.length > 64) {
      throw new SimError('SIM_INVALID', '"name" must be a string of 1 to 64 characters');
    }
    const status = field(body, 'status') ?? 'online';
    if (status !== 'online' && status !== 'offline')
      throw new SimError('SIM_INVALID', '"status" must be online or offline');
    const r = sim.addUnmanagedRunner({
      scope,
      name,
      labels: stringArray(field(body, 'labels') ?? [], 'labels'),
      status,
      busy: field(body, 'busy') === true,
      noDefaultLabels: field(body, 'noDefaultLabels') === true,
    });
    return { status: 201, body: runnerView(sim, r) };
  }
  if (key === 'GET /_sim/runners') {
    sim.sweep();
    return { status: 200, body: { runners: sim.state.runners.map((r) => runnerView(sim, r)) } };
  }
  const rm = /^\/_sim\/runners\/(\d+)$/.exec(path);
  if (rm !== null && method === 'PATCH') {
    const r = sim.state.runner(Number(rm[1]));
    if (r?.origin !== 'unmanaged')
      throw new SimError('SIM_NOT_FOUND', 'Unmanaged runner not found');
    const status = field(body, 'status');
    const busy = field(body, 'busy');
    sim.state.updateRunner(r.id, (x) => {
      if (status === 'online' || status === 'offline') x.fixedStatus = status;
      if (typeof busy === 'boolean') x.fixedBusy = busy;
    });
    return { status: 200, body: runnerView(sim, r) };
  }
  const st = /^\/_sim\/runners\/(\d+)\/status$/.exec(path);
  if (st !== null && method === 'PUT') {
    // Any runner: the REST API then reports this exact status (null restores the real one).
    const r = sim.state.runner(Number(st[1]));
    if (r === undefined) throw new SimError('SIM_NOT_FOUND', 'Runner not found');
    const status = field(body, 'status');
    if (status !== null && (typeof status !== 'string' || status === '' || status.length > 64)) {
      throw new SimError('SIM_INVALID', '"status" must be a string of 1 to 64 characters, or null');
    }
    sim.state.updateRunner(r.id, (x) => {
      x.reportedStatus = status;
    });
    return { status: 200, body: runnerView(sim, r) };
  }
  if (key === 'POST /_sim/runner-groups') {
    const org = field(body, 'organization');
    const name = field(body, 'name');
    const visibility = field(body, 'visibility') ?? 'all';
    if (typeof org !== 'string' || !/^[^/\s]+$/.test(org)) {
      throw new SimError('SIM_INVALID', '"organization" must be an organization login');
    }
    if (typeof name !== 'string' || name.trim() === '' || name.length > 100) {
      throw new SimError('SIM_INVALID', '"name" must be a string of 1 to 100 characters');
    }
    if (visibility !== 'all' && visibility !== 'selected' && visibility !== 'private') {
      throw new SimError('SIM_INVALID', '"visibility" must be all, selected or private');
    }
    return { status: 201, body: sim.createRunnerGroup({ org, name, visibility }) };
  }
  if (key === 'GET /_sim/runner-groups') {
    const orgs = [...new Set(sim.state.groups.map((g) => g.org))];
    return {
      status: 200,
      body: {
        runnerGroups: orgs.flatMap((org) =>
          sim.runnerGroups({ kind: 'org', org }).filter((g) => !g.default),
        ),
      },
    };
  }
  if (key === 'GET /_sim/faults') return { status: 200, body: d.faults.current };
  if (key === 'PUT /_sim/faults' || key === 'PATCH /_sim/faults') {
    const base = method === 'PUT' ? NO_FAULTS : d.faults.current;
    const merged = mergeFaults(base, (body ?? {}) as Record<string, unknown>);
    if (typeof merged === 'string') throw new SimError('SIM_INVALID', merged);
    d.faults.current = merged;
    return { status: 200, body: merged };
  }
  if (key === 'GET /_sim/config') return { status: 200, body: configView(sim.config) };
  if (key === 'PATCH /_sim/config' || key === 'PUT /_sim/config') {
    sim.config = configUpdate(sim.config, body);
    return { status: 200, body: configView(sim.config) };
  }
  if (key === 'POST /_sim/tokens') {
    const token = field(body, 'token');
    if (typeof token !== 'string' || token.length < 8)
      throw new SimError('SIM_INVALID', '"token" must be 8 or more characters');
    d.tokens.add(token);
    return { status: 204 };
  }
  if (key === 'POST /_sim/apps') {
    const appId = field(body, 'appId');
    const pem = field(body, 'publicKey');
    const inst = field(body, 'installationIds');
    if ((typeof appId !== 'string' && typeof appId !== 'number') || typeof pem !== 'string') {
      throw new SimError('SIM_INVALID', 'Give "appId" and "publicKey" (PEM)');
    }
    if (inst !== undefined && (!Array.isArray(inst) || !inst.every((i) => Number.isInteger(i)))) {
      throw new SimError('SIM_INVALID', '"installationIds" must be an array of integers');
    }
    let app: SimApp;
    try {
      app = appFromPem(appId, pem, inst as number[] | undefined);
    } catch {
      throw new SimError('SIM_INVALID', '"publicKey" is not a PEM key');
    }
    const i = d.apps.findIndex((a) => a.appId === app.appId);
    if (i >= 0) d.apps.splice(i, 1);
    d.apps.push(app);
    return { status: 204 };
  }
  if (key === 'GET /_sim/requests') return { status: 200, body: Object.fromEntries(d.rest.counts) };
  if (key === 'POST /_sim/reset') {
    sim.state.reset();
    d.rest.reset();
    d.faults.current = NO_FAULTS;
    sim.resetRunnerService();
    d.webhooks.reset();
    d.trace.reset();
    return { status: 204 };
  }
  throw new SimError('SIM_NOT_FOUND', `No control endpoint ${method} ${path}`);
}

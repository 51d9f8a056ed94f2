/**
 * Fakes of the control layer's ports for saga tests: a clock that advances on sleep, a GitHub
 * that keeps runners in memory, and an agent hub whose agent keeps lanes in memory. Each records
 * what it was asked, so tests assert on commands and calls, not on internals.
 */
import { createHash } from 'node:crypto';
import {
  LaunchplaneError,
  laneLabels,
  type Command,
  type LaneReport,
  type OptIn,
  type ResultPayload,
  type Scope,
} from '@launchplane/shared';
import { SqliteCoordinatorStore } from '../adapters/sqlite/sqlite-store.js';
import { scopeKey } from '../domain/plan.js';
import type { AgentHub, HostSessionInfo, SendOptions } from '../ports/agent-hub.js';
import type {
  GitHubRunner,
  GitHubRunners,
  JitConfig,
  JitConfigRequest,
  RateLimitStatus,
  RunnerGroup,
  RunnerToken,
} from '../ports/github-runners.js';
import type {
  GitHubWorkflows,
  RunQuery,
  Workflow,
  WorkflowJob,
  WorkflowRun,
} from '../ports/github-workflows.js';
import { silentLogger } from '../ports/logger.js';
import type { LaneRecord } from '../ports/store.js';
import type { Clock } from '@launchplane/shared';
import { resolveControlOptions, type ControlDeps, type ControlOptions } from './control-deps.js';
import { RegistrationTokens } from './registration-tokens.js';

export const COORDINATOR_ID = 'coord-test-0001';
export const SECRET_JIT = 'JIT-SECRET-do-not-leak';
export const SECRET_REG = 'REG-SECRET-do-not-leak';

/** A clock whose sleep advances time at once, then runs the test's hooks. */
export class FakeClock implements Clock {
  #now: number;
  readonly #hooks: ((nowMs: number) => void)[] = [];
  sleeps = 0;

  constructor(startMs = 1_764_370_000_000) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw new Error('Aborted');
    this.sleeps++;
    if (this.sleeps > 100_000) throw new Error('FakeClock: runaway loop');
    this.#now += ms;
    for (const h of this.#hooks) h(this.#now);
    // Yield to the event loop, so loops that only sleep on this clock never starve the test.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Runs `hook` after every sleep with the new time. */
  onSleep(hook: (nowMs: number) => void): void {
    this.#hooks.push(hook);
  }
}

const READ_ONLY = ['self-hosted', 'Linux', 'X64'];

/** GitHub's runner API in memory. */
export class FakeGitHubRunners implements GitHubRunners {
  readonly runners = new Map<string, GitHubRunner[]>();
  /** Every call, as `method scope [id]`. */
  readonly calls: string[] = [];
  /** Makes the next call of a method throw. */
  readonly failNext = new Map<string, LaunchplaneError>();
  /** When set, `listRunners` of any scope throws it. */
  listError: LaunchplaneError | undefined;
  #nextId = 100;

  #scope(scope: Scope): GitHubRunner[] {
    const key = scopeKey(scope);
    let list = this.runners.get(key);
    if (list === undefined) {
      list = [];
      this.runners.set(key, list);
    }
    return list;
  }

  #call(method: string, scope: Scope, id?: number): void {
    this.calls.push(`${method} ${scopeKey(scope)}${id === undefined ? '' : ` ${id}`}`);
    const fail = this.failNext.get(method);
    if (fail !== undefined) {
      this.failNext.delete(method);
      throw fail;
    }
  }

  /** Adds a runner (an unmanaged one, or a persistent lane's after config.sh). */
  add(scope: Scope, runner: Omit<GitHubRunner, 'id'> & { id?: number }): GitHubRunner {
    const r: GitHubRunner = { ...runner, id: runner.id ?? this.#nextId++ };
    this.#scope(scope).push(r);
    return r;
  }

  find(id: number): GitHubRunner | undefined {
    for (const list of this.runners.values()) {
      const r = list.find((x) => x.id === id);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  set(id: number, patch: Partial<GitHubRunner>): void {
    const r = this.find(id);
    if (r === undefined) throw new Error(`no runner ${id}`);
    Object.assign(r, patch);
  }

  listRunners(scope: Scope): Promise<GitHubRunner[]> {
    this.#call('listRunners', scope);
    if (this.listError !== undefined) return Promise.reject(this.listError);
    return Promise.resolve(this.#scope(scope).map((r) => ({ ...r, labels: [...r.labels] })));
  }

  getRunner(scope: Scope, runnerId: number): Promise<GitHubRunner | undefined> {
    this.#call('getRunner', scope, runnerId);
    const r = this.#scope(scope).find((x) => x.id === runnerId);
    return Promise.resolve(r === undefined ? undefined : { ...r, labels: [...r.labels] });
  }

  createRegistrationToken(scope: Scope): Promise<RunnerToken> {
    this.#call('createRegistrationToken', scope);
    return Promise.resolve({ token: SECRET_REG, expiresAt: 2_000_000_000 });
  }

  createRemoveToken(scope: Scope): Promise<RunnerToken> {
    this.#call('createRemoveToken', scope);
    return Promise.resolve({ token: 'REMOVE-SECRET', expiresAt: 2_000_000_000 });
  }

  /** The JIT requests made, secrets aside. */
  readonly jitRequests: JitConfigRequest[] = [];

  generateJitConfig(scope: Scope, request: JitConfigRequest): Promise<JitConfig> {
    this.#call('generateJitConfig', scope);
    this.jitRequests.push({ ...request });
    const runner = this.add(scope, {
      name: request.name,
      os: 'Linux',
      status: 'offline',
      busy: false,
      labels: [...READ_ONLY, ...request.labels],
    });
    return Promise.resolve({ runner: { ...runner }, encodedJitConfig: SECRET_JIT });
  }

  deleteRunner(scope: Scope, runnerId: number): Promise<void> {
    this.#call('deleteRunner', scope, runnerId);
    const list = this.#scope(scope);
    const i = list.findIndex((x) => x.id === runnerId);
    if (i < 0) {
      return Promise.reject(new LaunchplaneError('LP_NOT_FOUND', `No runner ${runnerId}`));
    }
    if (list[i]?.busy === true) {
      return Promise.reject(
        new LaunchplaneError('LP_LANE_BUSY', `Runner ${runnerId} is running a job`),
      );
    }
    list.splice(i, 1);
    return Promise.resolve();
  }

  setCustomLabels(scope: Scope, runnerId: number, labels: readonly string[]): Promise<string[]> {
    this.#call('setCustomLabels', scope, runnerId);
    const r = this.#scope(scope).find((x) => x.id === runnerId);
    if (r === undefined) {
      return Promise.reject(new LaunchplaneError('LP_NOT_FOUND', `No runner ${runnerId}`));
    }
    r.labels = [...r.labels.filter((l) => READ_ONLY.includes(l)), ...labels];
    return Promise.resolve([...r.labels]);
  }

  /** Runner groups per organization (the default group is always there). */
  readonly groups = new Map<string, RunnerGroup[]>();

  listRunnerGroups(organization: string): Promise<RunnerGroup[]> {
    this.#call('listRunnerGroups', { organization });
    return Promise.resolve([
      { id: 1, name: 'Default', default: true },
      ...(this.groups.get(organization) ?? []),
    ]);
  }

  rateLimit(): RateLimitStatus | undefined {
    return undefined;
  }
}

/** What happens to a dispatched job in {@link FakeGitHubWorkflows}. */
export type JobFate =
  | { kind: 'run'; conclusion: 'success' | 'failure' }
  | { kind: 'queued' }
  | { kind: 'elsewhere'; runnerId: number; runnerName: string };

/**
 * GitHub's workflow API in memory. A dispatch queues a run with one job for the `runner-label`
 * input; by default the runner of {@link FakeGitHubRunners} that carries that label takes it and
 * it succeeds at once. `fate` changes that per test.
 */
export class FakeGitHubWorkflows implements GitHubWorkflows {
  readonly #github: FakeGitHubRunners;
  readonly #clock: Clock;
  readonly workflows: (Workflow & { repository: string })[] = [];
  readonly runs: (WorkflowRun & { repository: string })[] = [];
  readonly jobs: WorkflowJob[] = [];
  readonly calls: string[] = [];
  readonly failNext = new Map<string, LaunchplaneError>();
  fate: (job: WorkflowJob) => JobFate = () => ({ kind: 'run', conclusion: 'success' });
  #nextId = 500;

  constructor(github: FakeGitHubRunners, clock: Clock) {
    this.#github = github;
    this.#clock = clock;
  }

  declare(repository: string, file: string): Workflow {
    const wf = {
      repository,
      id: this.#nextId++,
      name: file,
      path: `.github/workflows/${file}`,
      state: 'active',
    };
    this.workflows.push(wf);
    return wf;
  }

  #call(method: string, arg: string): void {
    this.calls.push(`${method} ${arg}`);
    const fail = this.failNext.get(method);
    if (fail !== undefined) {
      this.failNext.delete(method);
      throw fail;
    }
  }

  #find(repository: string, workflow: string): (Workflow & { repository: string }) | undefined {
    return this.workflows.find(
      (w) =>
        w.repository === repository &&
        (String(w.id) === workflow || w.path.endsWith(`/${workflow}`)),
    );
  }

  getWorkflow(repository: string, workflow: string): Promise<Workflow | undefined> {
    this.#call('getWorkflow', workflow);
    const w = this.#find(repository, workflow);
    return Promise.resolve(
      w === undefined ? undefined : { id: w.id, name: w.name, path: w.path, state: w.state },
    );
  }

  dispatchWorkflow(
    repository: string,
    workflow: string,
    req: { ref: string; inputs: Record<string, string> },
  ): Promise<void> {
    this.#call('dispatchWorkflow', `${workflow} ${JSON.stringify(req.inputs)}`);
    const w = this.#find(repository, workflow);
    if (w === undefined) return Promise.reject(new LaunchplaneError('LP_NOT_FOUND', 'Not Found'));
    const now = Math.floor(this.#clock.nowMs() / 1000);
    const run = {
      repository,
      id: this.#nextId++,
      workflowId: w.id,
      name: w.name,
      event: 'workflow_dispatch',
      status: 'queued',
      conclusion: null,
      headBranch: req.ref,
      createdAt: now,
      htmlUrl: `https://github.example/${repository}/actions/runs/x`,
    };
    this.runs.push(run);
    const job: WorkflowJob = {
      id: this.#nextId++,
      runId: run.id,
      name: 'run',
      status: 'queued',
      conclusion: null,
      labels: [req.inputs['runner-label'] ?? ''],
      runnerId: null,
      runnerName: null,
      createdAt: now,
      startedAt: undefined,
      completedAt: undefined,
      htmlUrl: null,
    };
    this.jobs.push(job);
    const fate = this.fate(job);
    if (fate.kind !== 'queued') {
      const runner =
        fate.kind === 'elsewhere'
          ? { id: fate.runnerId, name: fate.runnerName }
          : [...this.#github.runners.values()]
              .flat()
              .find((r) => r.labels.includes(job.labels[0] ?? ''));
      if (runner !== undefined) {
        const conclusion = fate.kind === 'run' ? fate.conclusion : 'success';
        Object.assign(job, {
          status: 'completed',
          conclusion,
          runnerId: runner.id,
          runnerName: runner.name,
          startedAt: now,
          completedAt: now,
        });
        Object.assign(run, { status: 'completed', conclusion });
      }
    }
    return Promise.resolve();
  }

  listRuns(repository: string, query: RunQuery = {}): Promise<WorkflowRun[]> {
    this.#call('listRuns', JSON.stringify(query));
    const wf = query.workflow === undefined ? undefined : this.#find(repository, query.workflow);
    return Promise.resolve(
      this.runs
        .filter(
          (r) =>
            r.repository === repository &&
            (wf === undefined || r.workflowId === wf.id) &&
            (query.event === undefined || r.event === query.event) &&
            (query.createdSinceSec === undefined || r.createdAt >= query.createdSinceSec),
        )
        .map(({ repository: _r, ...run }) => ({ ...run }))
        .reverse(),
    );
  }

  getRun(repository: string, runId: number): Promise<WorkflowRun | undefined> {
    this.#call('getRun', String(runId));
    const r = this.runs.find((x) => x.id === runId && x.repository === repository);
    if (r === undefined) return Promise.resolve(undefined);
    const { repository: _r, ...run } = r;
    return Promise.resolve({ ...run });
  }

  listRunJobs(_repository: string, runId: number): Promise<WorkflowJob[]> {
    this.#call('listRunJobs', String(runId));
    return Promise.resolve(this.jobs.filter((j) => j.runId === runId).map((j) => ({ ...j })));
  }

  getJob(_repository: string, jobId: number): Promise<WorkflowJob | undefined> {
    this.#call('getJob', String(jobId));
    const j = this.jobs.find((x) => x.id === jobId);
    return Promise.resolve(j === undefined ? undefined : { ...j });
  }
}

/** What the fake agent does with a command; return undefined for the default behaviour. */
export type AgentBehaviour = (
  hostId: string,
  cmd: Command,
) => Partial<ResultPayload> | undefined | 'timeout';

/** Agents in memory: sessions, a lane table per host, and a log of every command sent. */
export class FakeAgentHub implements AgentHub {
  readonly #github: FakeGitHubRunners;
  readonly #sessions = new Map<string, HostSessionInfo>();
  /** Lanes the fake agents hold, by laneId. */
  readonly lanes = new Map<string, LaneReport & { hostId: string }>();
  /** The local busy signal per lane (default idle). */
  readonly localBusy = new Map<string, boolean>();
  readonly sent: { hostId: string; cmd: Command; actor: string }[] = [];
  /** Overrides per test. */
  behaviour: AgentBehaviour = () => undefined;
  /** Whether a started persistent lane registers its runner (and comes online) on GitHub. */
  registerOnStart = true;

  constructor(github: FakeGitHubRunners) {
    this.#github = github;
  }

  connect(hostId: string, optIn: OptIn, capabilities: string[] = []): void {
    this.#sessions.set(hostId, {
      hostId,
      connectedAt: 0,
      lastSeenAt: 0,
      agentVersion: 'test',
      inventory: { type: 'inventory', optIn, lanes: [], capabilities },
    });
  }

  disconnect(hostId: string): void {
    this.#sessions.delete(hostId);
  }

  session(hostId: string): HostSessionInfo | undefined {
    return this.#sessions.get(hostId);
  }

  sessions(): HostSessionInfo[] {
    return [...this.#sessions.values()];
  }

  send(hostId: string, cmd: Command, opts: SendOptions): Promise<ResultPayload> {
    if (!this.#sessions.has(hostId)) {
      return Promise.reject(new LaunchplaneError('LP_HOST_OFFLINE', `Host "${hostId}" is offline`));
    }
    this.sent.push({ hostId, cmd, actor: opts.actor });
    const override = this.behaviour(hostId, cmd);
    if (override === 'timeout') {
      return Promise.reject(new LaunchplaneError('LP_TIMEOUT', `Host "${hostId}" did not answer`));
    }
    const base: ResultPayload = {
      iss: hostId,
      jti: '00000000-0000-4000-8000-000000000000',
      ok: true,
      dryRun: cmd.dryRun,
      outcome: 'ok',
      ...this.#default(hostId, cmd),
    };
    return Promise.resolve({ ...base, ...override });
  }

  #default(hostId: string, cmd: Command): Partial<ResultPayload> {
    const lane = this.lanes.get(cmd.laneId);
    const notOwned = {
      ok: false,
      outcome: 'refused',
      error: {
        code: 'LP_NOT_OWNED' as const,
        message: `Lane "${cmd.laneId}" is not owned by this host`,
      },
    };
    switch (cmd.type) {
      case 'lane.create': {
        const report: LaneReport & { hostId: string } = {
          hostId,
          laneId: cmd.laneId,
          name: cmd.name,
          pool: cmd.pool,
          scope: cmd.scope,
          backend: cmd.backend,
          ephemeral: cmd.ephemeral,
          state: 'online',
          ...(cmd.runnerId === undefined ? {} : { runnerId: cmd.runnerId }),
          labels: cmd.labels,
          restarts: 0,
          createdAt: 0,
          updatedAt: 0,
        };
        this.lanes.set(cmd.laneId, report);
        if (this.registerOnStart) this.comeOnline(cmd.laneId);
        return { outcome: 'created', lane: stripHost(report) };
      }
      case 'lane.inspect': {
        if (lane === undefined || lane.hostId !== hostId) return notOwned;
        const busy = this.localBusy.get(cmd.laneId) ?? false;
        return {
          outcome: 'inspected',
          lane: {
            ...stripHost(lane),
            state: busy ? 'busy' : lane.state,
            local: { busy, jobRunning: busy, workerProcess: busy, jobsCompleted: 0 },
          },
        };
      }
      case 'lane.remove':
        if (lane === undefined || lane.hostId !== hostId) return notOwned;
        if (!cmd.force && this.localBusy.get(cmd.laneId) === true) {
          return {
            ok: false,
            outcome: 'refused',
            error: { code: 'LP_LANE_BUSY', message: `Lane "${cmd.laneId}" is running a job` },
          };
        }
        this.lanes.delete(cmd.laneId);
        return { outcome: 'removed' };
      case 'lane.restart':
      case 'lane.start':
      case 'lane.stop':
        if (lane === undefined || lane.hostId !== hostId) return notOwned;
        return { outcome: cmd.type.slice(5), lane: stripHost(lane) };
    }
  }

  /** The lane's runner registers (when persistent) and is online on GitHub, as a started runner does. */
  comeOnline(laneId: string): void {
    const lane = this.lanes.get(laneId);
    if (lane === undefined) throw new Error(`FakeAgentHub: no lane ${laneId}`);
    if (lane.runnerId !== undefined) this.#github.set(lane.runnerId, { status: 'online' });
    else
      this.#github.add(lane.scope, {
        name: lane.name,
        os: 'Linux',
        status: 'online',
        busy: false,
        labels: ['self-hosted', 'Linux', 'X64', ...lane.labels],
      });
  }

  /** Commands of one type that were sent. */
  commands(type: Command['type']): Command[] {
    return this.sent.filter((s) => s.cmd.type === type).map((s) => s.cmd);
  }
}

function stripHost(l: LaneReport & { hostId: string }): LaneReport {
  const { hostId: _hostId, ...rest } = l;
  return rest;
}

export const OPT_IN: OptIn = {
  repositories: ['acme/api'],
  organizations: [],
  backends: ['systemd', 'docker'],
  maxLanes: 4,
};

export const POLICY_TEXT = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 2 }
  eph:
    repository: acme/api
    backend: systemd
    ephemeral: true
    lanes: { host-a: 1 }
`;

/** A coordinator world: in-memory SQLite store, fakes, one enrolled and connected host. */
export interface World {
  deps: ControlDeps;
  clock: FakeClock;
  github: FakeGitHubRunners;
  workflows: FakeGitHubWorkflows;
  hub: FakeAgentHub;
  store: SqliteCoordinatorStore;
}

export async function makeWorld(
  opts: { policy?: string; options?: ControlOptions; hosts?: string[] } = {},
): Promise<World> {
  const clock = new FakeClock();
  const github = new FakeGitHubRunners();
  const workflows = new FakeGitHubWorkflows(github, clock);
  const hub = new FakeAgentHub(github);
  const store = SqliteCoordinatorStore.open(':memory:');
  for (const hostId of opts.hosts ?? ['host-a']) {
    await store.putHost({
      hostId,
      publicKey: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) },
      fingerprint: `SHA256:${'A'.repeat(43)}`,
      enrolledAt: 1,
      revokedAt: undefined,
      lastSeenAt: undefined,
      agentVersion: 'test',
      optIn: OPT_IN,
      capabilities: [],
    });
    hub.connect(hostId, OPT_IN);
  }
  const text = opts.policy ?? POLICY_TEXT;
  await store.addPolicyVersion({
    // Stored policies are parsed once per digest: each text needs its own.
    digest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
    text,
    createdAt: 1,
    actor: 'test',
  });
  const deps: ControlDeps = {
    store,
    hub,
    github,
    registrationTokens: new RegistrationTokens(github, clock),
    workflows,
    clock,
    logger: silentLogger,
    coordinatorId: COORDINATOR_ID,
    githubWebUrl: 'https://github.example',
    options: resolveControlOptions({
      createOnlineSec: 60,
      drainSec: 600,
      settleObservations: 3,
      settleSec: 30,
      drainPollSec: 5,
      ...opts.options,
    }),
  };
  return { deps, clock, github, workflows, hub, store };
}

/** Records an online lane with its runner on GitHub and on its agent, as a finished create would. */
export async function seedLane(
  w: World,
  over: Partial<LaneRecord> & { laneId: string },
): Promise<LaneRecord> {
  const hostId = over.hostId ?? 'host-a';
  const pool = over.pool ?? 'build';
  const labels = laneLabels({
    coordinatorId: COORDINATOR_ID,
    laneId: over.laneId,
    pool,
    poolLabels: ['linux'],
  });
  const name = `lp-${hostId}-${pool}-${over.laneId.slice(-8)}`;
  const runner = w.github.add(
    { repository: 'acme/api' },
    { name, os: 'Linux', status: 'online', busy: false, labels: ['self-hosted', ...labels] },
  );
  const lane: LaneRecord = {
    hostId,
    pool,
    purpose: 'pool',
    scope: { repository: 'acme/api' },
    backend: 'systemd',
    ephemeral: false,
    runnerName: name,
    runnerId: runner.id,
    labels,
    state: 'online',
    recovery: undefined,
    lastError: undefined,
    createdAt: 1,
    updatedAt: 1,
    ...over,
  };
  await w.store.putLane(lane);
  w.hub.lanes.set(lane.laneId, {
    hostId,
    laneId: lane.laneId,
    name,
    pool,
    scope: lane.scope,
    backend: 'systemd',
    ephemeral: lane.ephemeral,
    state: 'online',
    runnerId: runner.id,
    labels,
    restarts: 0,
    createdAt: 1,
    updatedAt: 1,
  });
  return lane;
}

import { randomBytes, randomUUID } from 'node:crypto';
import { type BusyLag, type BusySource, DEFAULT_BUSY_LAG, reportedBusy } from './domain/busy.js';
import {
  addCustom,
  initialLabels,
  labelProblem,
  removeCustom,
  satisfies,
  setCustom,
} from './domain/labels.js';
import { SimError } from './errors.js';
import { type CreatedRange, inCreatedRange } from './domain/created-filter.js';
import { parseDispatchBody, parseJitBody, parseLabelBody } from './request-bodies.js';
import { RunnerServiceError } from './runner-errors.js';
import { type RunnerFaults, NO_RUNNER_FAULTS, versionBelow } from './runner-faults.js';
import { encodeJitConfig, runnerFiles } from './runner-files.js';
import { type Scope, parseScopeKey, scopeKey, scopeServes } from './scope.js';
import {
  DEFAULT_RUNNER_GROUP,
  type JobRecord,
  type RunRecord,
  type RunnerGroupRecord,
  type RunnerRecord,
  SimState,
  type WorkflowRecord,
  hashSecret,
  headShaOf,
  implicitWorkflow,
  randomToken,
} from './sim-state.js';

/** Behaviour knobs of the simulator; every one has a default. */
export interface SimConfig {
  /** How `busy` trails the truth. Default lag 2 s, no flip. */
  busyLag: BusyLag;
  /** A runner whose heartbeats stop for this long reads `offline`. Default 5000 ms. */
  offlineAfterMs: number;
  /** How long a runner's job poll waits for work before answering "nothing". Default 1000 ms. */
  pollWaitMs: number;
  /** Primary rate-limit budget per token per hour. Default 5000. */
  rateLimit: number;
  /** Lifetime of registration, remove and installation tokens. Default one hour. */
  tokenTtlMs: number;
  /**
   * How long a queued job waits before it is offered to runners, as GitHub takes a moment to hand
   * a new job to an idle runner. Default 0.
   */
  pickupDelayMs: number;
}

export const DEFAULT_CONFIG: SimConfig = {
  busyLag: DEFAULT_BUSY_LAG,
  offlineAfterMs: 5000,
  pollWaitMs: 1000,
  rateLimit: 5000,
  tokenTtlMs: 3_600_000,
  pickupDelayMs: 0,
};

/** The version string the stub runner reports, shaped like actions/runner's. */
export const STUB_RUNNER_VERSION = '2.330.0';

/** A runner label in the REST shape. */
export interface ApiLabel {
  id: number;
  name: string;
  type: 'read-only' | 'custom';
}

/** A runner in the REST shape (`#/components/schemas/runner`). */
export interface ApiRunner {
  id: number;
  runner_group_id: number;
  name: string;
  os: string;
  /** `online` or `offline`, or whatever the control API set (GitHub allows any string). */
  status: string;
  busy: boolean;
  ephemeral: boolean;
  labels: ApiLabel[];
  version: string | null;
}

/** A runner group as the simulator knows it: the implicit default group or an org's own. */
export interface RunnerGroup {
  id: number;
  name: string;
  default: boolean;
  visibility: 'all' | 'selected' | 'private';
  /** Lowercase organization login; undefined for a repository's default group. */
  org: string | undefined;
}

/** What the runner-side protocol hands a runner that took a job. */
export interface AssignedJob {
  id: number;
  runId: number;
  repository: string;
  labels: string[];
  durationMs: number;
  /** The job fails in "Set up job", before any job hook runs. */
  failSetup: boolean;
}

/** The `workflow_job` webhook actions: one per change of a job's state. */
export type JobAction = 'waiting' | 'queued' | 'in_progress' | 'completed';

/** A change of a job's state, with the job as it stands right after it. */
export interface JobEvent {
  action: JobAction;
  /** A copy: later changes of the job do not show in it. */
  job: JobRecord;
}

/** What {@link GitHubSimulator.enqueueJob} takes. */
export interface JobInput {
  scope: Scope;
  repository: string;
  labels: string[];
  durationMs: number;
  /** The job fails in "Set up job", before any hook runs. */
  failSetup?: boolean;
  /** The job runs its whole duration, then is recorded as failed. */
  failSteps?: boolean;
  /** `runs-on: {group: NAME}`: only runners of that runner group may take it. */
  runnerGroup?: string;
  /** The job waits for an approval (`waiting`) until {@link GitHubSimulator.approveJob}. */
  waiting?: boolean;
}

/** A message a runner's poll answers with: a job to run, or a self-update to apply. */
export type RunnerMessage = { job: AssignedJob } | { update: { targetVersion: string } };

/** Options of {@link GitHubSimulator}. */
export interface GitHubSimulatorOptions {
  config?: Partial<SimConfig>;
  /** JSON file to persist runners, jobs and tokens in. */
  stateFile?: string;
  /** Clock in epoch ms; defaults to `Date.now`. */
  now?: () => number;
}

const RUNNER_DOCS = 'https://docs.github.com/rest/actions/self-hosted-runners';
const WORKFLOW_DOCS = 'https://docs.github.com/rest/actions/workflows';
const RUN_DOCS = 'https://docs.github.com/rest/actions/workflow-runs';
const JOB_DOCS = 'https://docs.github.com/rest/actions/workflow-jobs';

/** A workflow as the control API declares it (`POST /_sim/workflows`). */
export interface WorkflowInput {
  repository: string;
  path: string;
  name?: string;
  runsOnInput?: string;
  labels?: string[];
  inputs?: string[];
  jobName?: string;
  durationMs?: number;
  conclusion?: 'success' | 'failure';
}

/** Filters of the workflow-run lists (`status`, `event`, `branch`, `head_sha`, `created`). */
export interface RunFilter {
  workflowId?: number;
  status?: string;
  event?: string;
  branch?: string;
  headSha?: string;
  created?: CreatedRange;
}

/** A run's state as GitHub derives it from its jobs. */
export interface RunState {
  status: 'waiting' | 'queued' | 'in_progress' | 'completed';
  conclusion: 'success' | 'failure' | 'cancelled' | null;
  /** When the latest of its jobs changed, or its creation. */
  updatedAt: number;
}

/** What `status` of the run lists matches: a status, else a conclusion. */
const RUN_STATUSES = new Set([
  'queued',
  'in_progress',
  'completed',
  'requested',
  'waiting',
  'pending',
]);

/**
 * The simulated GitHub Actions runner service: runners, labels, tokens, jobs, sessions. It speaks
 * in plain objects; the HTTP layers put GitHub's wire shapes around it.
 */
export class GitHubSimulator {
  readonly state: SimState;
  config: SimConfig;
  readonly #now: () => number;
  readonly #waiters = new Set<() => void>();
  /** Situations of the runner-facing service (`/_sim/runner-faults`). */
  runnerFaults: RunnerFaults = NO_RUNNER_FAULTS;
  /** Self-updates waiting for a runner's next poll, by runner id: the target version. */
  readonly #pendingUpdates = new Map<number, string>();
  readonly #jobListeners = new Set<(e: JobEvent) => void>();
  readonly #tickers = new Set<() => void>();

  constructor(opts: GitHubSimulatorOptions = {}) {
    this.state = new SimState(opts.stateFile);
    this.config = { ...DEFAULT_CONFIG, ...opts.config };
    this.#now = opts.now ?? Date.now;
  }

  now(): number {
    return this.#now();
  }

  /** Calls `listener` after every change of a job's state; returns the unsubscribe function. */
  onJobEvent(listener: (e: JobEvent) => void): () => void {
    this.#jobListeners.add(listener);
    return () => this.#jobListeners.delete(listener);
  }

  /**
   * Runs `tick` at the start of every {@link sweep}, so that whatever is due by the sim's clock
   * (a trace's next arrivals) happens before a request is answered. Returns the removal function.
   */
  addTicker(tick: () => void): () => void {
    this.#tickers.add(tick);
    return () => this.#tickers.delete(tick);
  }

  #emit(action: JobAction, jobId: number): void {
    const job = this.state.job(jobId);
    if (job === undefined) return;
    const copy: JobRecord = { ...job, labels: [...job.labels] };
    for (const l of [...this.#jobListeners]) l({ action, job: copy });
  }

  #wakePollers(): void {
    for (const w of [...this.#waiters]) w();
  }

  // ---- REST side -------------------------------------------------------------------------

  /** Runners registered at exactly `scope`, oldest first, optionally filtered by exact name. */
  listRunners(scope: Scope, name?: string): RunnerRecord[] {
    this.sweep();
    const key = scopeKey(scope);
    return this.state.runners.filter(
      (r) => r.scope === key && (name === undefined || r.name === name),
    );
  }

  /** The runner `id` at `scope`, or a 404. */
  getRunner(scope: Scope, id: number): RunnerRecord {
    this.sweep();
    const r = this.state.runner(id);
    if (r === undefined || r.scope !== scopeKey(scope)) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', { documentationUrl: RUNNER_DOCS });
    }
    return r;
  }

  /** The REST view of a runner, with `busy` as GitHub would (mis)report it right now. */
  view(r: RunnerRecord): ApiRunner {
    return {
      id: r.id,
      runner_group_id: r.runnerGroupId,
      name: r.name,
      os: r.os,
      status: r.reportedStatus ?? this.status(r),
      busy: this.reportedBusy(r),
      ephemeral: r.ephemeral,
      labels: this.labels(r),
      version: r.version,
    };
  }

  labels(r: RunnerRecord): ApiLabel[] {
    return r.labels.map((l) => ({ id: this.state.labelId(l.name), name: l.name, type: l.type }));
  }

  status(r: RunnerRecord): 'online' | 'offline' {
    return r.fixedStatus ?? (r.session === null ? 'offline' : 'online');
  }

  reportedBusy(r: RunnerRecord): boolean {
    if (r.fixedBusy) return true;
    if (this.status(r) === 'offline') return false;
    return reportedBusy(this.#busySource(r.id), this.now(), this.config.busyLag);
  }

  /** The runner's current job, else its most recently ended one. */
  #busySource(runnerId: number): BusySource | null {
    let latest: BusySource | null = null;
    for (const j of this.state.jobs) {
      if (j.runnerId !== runnerId || j.startedAt === null) continue;
      if (j.status === 'in_progress') return { startedAt: j.startedAt, endedAt: null };
      if (j.completedAt !== null && (latest === null || (latest.endedAt ?? 0) < j.completedAt)) {
        latest = { startedAt: j.startedAt, endedAt: j.completedAt };
      }
    }
    return latest;
  }

  /** The job the runner really runs right now, if any. */
  currentJob(runnerId: number): JobRecord | undefined {
    return this.state.jobs.find((j) => j.runnerId === runnerId && j.status === 'in_progress');
  }

  /** `DELETE …/runners/{id}`: refused with 422 while the runner runs a job, as GitHub does. */
  deleteRunner(scope: Scope, id: number): void {
    const r = this.getRunner(scope, id);
    if (r.fixedBusy || this.currentJob(r.id) !== undefined) {
      throw new SimError(
        'SIM_RUNNER_BUSY',
        `Bad request - Runner "${r.name}" is still running a job"`,
        {
          documentationUrl: `${RUNNER_DOCS}#delete-a-self-hosted-runner-from-a-repository`,
        },
      );
    }
    this.state.deleteRunner(r.id);
  }

  /** Issues a registration or remove token for `scope`, valid for `tokenTtlMs`. */
  issueScopeToken(
    scope: Scope,
    kind: 'registration' | 'remove',
  ): { token: string; expiresAt: number } {
    const token = randomToken(kind === 'registration' ? 'A' : 'R');
    const expiresAt = this.now() + this.config.tokenTtlMs;
    this.state.issueToken(token, { kind, subject: scopeKey(scope), expiresAt });
    return { token, expiresAt };
  }

  /**
   * `POST …/generate-jitconfig`: the runner exists at once (offline, with its labels) and the
   * returned config lets exactly one runner process start a session as it.
   */
  generateJitConfig(
    scope: Scope,
    origin: string,
    body: unknown,
  ): { runner: RunnerRecord; encoded: string } {
    const input = parseJitBody(body);
    const group = this.runnerGroups(scope).find((g) => g.id === input.runnerGroupId);
    if (group === undefined) {
      throw new SimError('SIM_NOT_FOUND', `Runner group ${input.runnerGroupId} not found`, {
        documentationUrl: `${RUNNER_DOCS}#create-configuration-for-a-just-in-time-runner-for-a-repository`,
      });
    }
    this.assertNameFree(scope, input.name);
    const secret = randomBytes(32).toString('base64url');
    const runner = this.state.addRunner({
      name: input.name,
      scope: scopeKey(scope),
      runnerGroupId: group.id,
      os: 'Linux',
      labels: initialLabels(input.labels, false),
      ephemeral: true,
      origin: 'jit',
      version: null,
      secretHash: hashSecret(secret),
      jitUsed: false,
      session: null,
      fixedStatus: null,
      fixedBusy: false,
      createdAt: this.now(),
    });
    const files = runnerFiles({ origin, scope, runner, workFolder: input.workFolder, secret });
    return { runner, encoded: encodeJitConfig(files) };
  }

  /** Label operations of `…/runners/{id}/labels`. */
  addLabels(scope: Scope, id: number, body: unknown, minItems: number): RunnerRecord {
    const r = this.getRunner(scope, id);
    const names = parseLabelBody(body, minItems);
    this.state.updateRunner(r.id, (x) => {
      x.labels = minItems === 0 ? setCustom(x.labels, names) : addCustom(x.labels, names);
    });
    return r;
  }

  removeAllCustomLabels(scope: Scope, id: number): RunnerRecord {
    const r = this.getRunner(scope, id);
    this.state.updateRunner(r.id, (x) => {
      x.labels = setCustom(x.labels, []);
    });
    return r;
  }

  removeLabel(scope: Scope, id: number, name: string): RunnerRecord {
    const r = this.getRunner(scope, id);
    const res = removeCustom(r.labels, name);
    if (!res.ok) {
      if (res.reason === 'absent') {
        throw new SimError('SIM_NOT_FOUND', `Label "${name}" not found on runner`, {
          documentationUrl: RUNNER_DOCS,
        });
      }
      throw new SimError('SIM_INVALID', `Cannot remove read-only label "${name}"`, {
        documentationUrl: RUNNER_DOCS,
      });
    }
    this.state.updateRunner(r.id, (x) => {
      x.labels = res.labels;
    });
    return r;
  }

  /**
   * The runner groups a scope can register into: an organization's default group and the groups
   * it created; a repository has only the default group (groups belong to organizations).
   */
  runnerGroups(scope: Scope): RunnerGroup[] {
    const deflt: RunnerGroup = {
      ...DEFAULT_RUNNER_GROUP,
      default: true,
      visibility: 'all',
      org: scope.kind === 'org' ? scope.org.toLowerCase() : undefined,
    };
    if (scope.kind !== 'org') return [deflt];
    const org = scope.org.toLowerCase();
    const own = this.state.groups
      .filter((g) => g.org === org)
      .map((g) => ({ id: g.id, name: g.name, default: false, visibility: g.visibility, org }));
    return [deflt, ...own];
  }

  /** One runner group of an organization, or a 404. */
  runnerGroup(scope: Scope, id: number): RunnerGroup {
    const g = this.runnerGroups(scope).find((x) => x.id === id);
    if (g === undefined) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', {
        documentationUrl: 'https://docs.github.com/rest/actions/self-hosted-runner-groups',
      });
    }
    return g;
  }

  /** Creates a runner group in an organization (control API); names are unique per org. */
  createRunnerGroup(input: {
    org: string;
    name: string;
    visibility: RunnerGroupRecord['visibility'];
  }): RunnerGroup {
    const scope: Scope = { kind: 'org', org: input.org };
    if (this.runnerGroups(scope).some((g) => g.name.toLowerCase() === input.name.toLowerCase())) {
      throw new SimError(
        'SIM_CONFLICT',
        `A runner group named "${input.name}" already exists in "${input.org}"`,
      );
    }
    const rec = this.state.addGroup({
      org: input.org.toLowerCase(),
      name: input.name,
      visibility: input.visibility,
      createdAt: this.now(),
    });
    return this.runnerGroup(scope, rec.id);
  }

  /**
   * The group `config.sh --runnergroup NAME` registers into: matched without regard to case, as
   * actions/runner does; no name means the default group.
   */
  #registrationGroup(scope: Scope, name: string | undefined): RunnerGroup {
    const groups = this.runnerGroups(scope);
    if (name === undefined) return groups.find((g) => g.default) ?? (groups[0] as RunnerGroup);
    const g = groups.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (g === undefined) {
      throw new SimError(
        'SIM_NOT_FOUND',
        `Could not find any self-hosted runner group named "${name}".`,
      );
    }
    return g;
  }

  // ---- runner side -----------------------------------------------------------------------

  /**
   * `config.sh`: registers a runner with a registration token. With `replace`, an existing
   * runner of the same name keeps its id and takes the new labels and credentials.
   */
  register(input: RegisterInput): { runner: RunnerRecord; secret: string } {
    const tok = this.state.token(input.token, this.now());
    if (tok?.kind !== 'registration' || tok.subject !== scopeKey(input.scope)) {
      throw new SimError(
        'SIM_UNAUTHENTICATED',
        'Invalid or expired registration token for this URL',
      );
    }
    for (const l of input.labels) {
      const problem = labelProblem(l);
      if (problem !== null) throw new SimError('SIM_INVALID', problem);
    }
    if (input.name.trim() === '' || input.name.length > 64) {
      throw new SimError('SIM_INVALID', 'Runner names must be 1 to 64 characters');
    }
    const group = this.#registrationGroup(input.scope, input.runnerGroup);
    const secret = randomBytes(32).toString('base64url');
    const existing = this.state.runners.find(
      (r) => r.scope === scopeKey(input.scope) && r.name === input.name,
    );
    if (existing !== undefined) {
      if (!input.replace) {
        throw new SimError('SIM_CONFLICT', `A runner exists with the same name "${input.name}"`);
      }
      this.state.updateRunner(existing.id, (r) => {
        r.labels = initialLabels(input.labels, input.noDefaultLabels);
        r.ephemeral = input.ephemeral;
        r.secretHash = hashSecret(secret);
        r.session = null;
        r.origin = 'registered';
        r.runnerGroupId = group.id;
      });
      return { runner: existing, secret };
    }
    const runner = this.state.addRunner({
      name: input.name,
      scope: scopeKey(input.scope),
      runnerGroupId: group.id,
      os: 'Linux',
      labels: initialLabels(input.labels, input.noDefaultLabels),
      ephemeral: input.ephemeral,
      origin: 'registered',
      version: null,
      secretHash: hashSecret(secret),
      jitUsed: false,
      session: null,
      fixedStatus: null,
      fixedBusy: false,
      createdAt: this.now(),
    });
    return { runner, secret };
  }

  /** `config.sh remove`: deregisters with a remove token; refused while the runner runs a job. */
  deregister(token: string, runnerId: number): void {
    const tok = this.state.token(token, this.now());
    const r = this.state.runner(runnerId);
    if (tok?.kind !== 'remove' || r === undefined || tok.subject !== r.scope) {
      throw new SimError('SIM_UNAUTHENTICATED', 'Invalid or expired remove token for this runner');
    }
    this.deleteRunner(parseScopeKey(r.scope), r.id);
  }

  /** The runner a credential secret belongs to; a deleted registration is `RunnerNotFound` (404). */
  authenticateRunner(secret: string): RunnerRecord {
    const h = hashSecret(secret);
    const r = this.state.runners.find((x) => x.secretHash === h);
    if (r === undefined) {
      throw new RunnerServiceError(
        'RunnerNotFound',
        'Runner registration was deleted from the server',
      );
    }
    return r;
  }

  /**
   * `run.sh`: opens the runner's session. A second live session for the same runner is a
   * `SessionConflict` (409): a runner killed without closing its session meets it until the
   * session times out (`offlineAfterMs`).
   */
  openSession(r: RunnerRecord, version: string, opts: { disableUpdate?: boolean } = {}): string {
    this.sweep();
    if (r.session !== null) {
      throw new RunnerServiceError(
        'SessionConflict',
        `A session for runner "${r.name}" already exists`,
      );
    }
    if (r.origin === 'jit' && r.jitUsed)
      throw new RunnerServiceError('Unauthorized', 'This JIT configuration was already used');
    const id = randomUUID();
    this.state.updateRunner(r.id, (x) => {
      x.session = {
        id,
        lastHeartbeatAt: this.now(),
        ...(opts.disableUpdate === true ? { disableUpdate: true } : {}),
      };
      x.version = version;
      x.firstSessionAt ??= this.now();
      if (x.origin === 'jit') x.jitUsed = true;
    });
    return id;
  }

  /** Records a heartbeat; answers whether the runner's current job was cancelled. */
  heartbeat(r: RunnerRecord, sessionId: string): { cancelJob: number | null } {
    this.sweep();
    if (this.state.runner(r.id) !== r) {
      throw new RunnerServiceError(
        'RunnerNotFound',
        'Runner registration was deleted from the server',
      );
    }
    if (r.session?.id !== sessionId)
      throw new RunnerServiceError('SessionInvalid', 'Session not found');
    // Heartbeats are frequent and only matter while the sim runs: no state-file write for them.
    r.session.lastHeartbeatAt = this.now();
    const job = this.currentJob(r.id);
    return { cancelJob: job?.cancelRequested === true ? job.id : null };
  }

  /**
   * Waits up to `pollWaitMs` for a message: a self-update queued for this runner, else a job it
   * may take (scope served, every job label on the runner, runner idle), the oldest first. A
   * runner older than `runnerFaults.minRunnerVersion` is refused (`RunnerVersionTooOld`, 403).
   */
  async poll(r: RunnerRecord, sessionId: string): Promise<RunnerMessage | null> {
    const deadline = this.now() + this.config.pollWaitMs;
    for (;;) {
      this.heartbeat(r, sessionId);
      const min = this.runnerFaults.minRunnerVersion;
      if (min !== null && versionBelow(r.version ?? '0', min)) {
        throw new RunnerServiceError(
          'RunnerVersionTooOld',
          `Runner version v${r.version ?? '?'} is deprecated and cannot receive messages; the minimum is v${min}`,
        );
      }
      const targetVersion = this.#pendingUpdates.get(r.id);
      if (targetVersion !== undefined) {
        this.#pendingUpdates.delete(r.id);
        if (r.session?.disableUpdate !== true) return { update: { targetVersion } };
      }
      const job = this.#tryAssign(r);
      if (job !== null) return { job };
      const now = this.now();
      const left = deadline - now;
      if (left <= 0) return null;
      // A job this runner could take once its pick-up delay has passed wakes the poll then.
      const next = this.#nextOfferAt(r);
      const wait = Math.min(left, 250, next === null ? Infinity : Math.max(1, next - now));
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.#waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, wait);
        this.#waiters.add(done);
      });
    }
  }

  /** When a queued job is first offered to runners: `pickupDelayMs` after it was queued. */
  offerAt(j: JobRecord): number {
    return (j.queuedSince ?? j.queuedAt) + this.config.pickupDelayMs;
  }

  /**
   * Whether runner `r` may take job `j`, as GitHub matches them: every label of the job on the
   * runner (without regard to case), the job's repository served by the runner's scope (the
   * repository itself, or its organization), and the runner in the job's runner group if it
   * names one. Says nothing of the runner being idle or of the pick-up delay.
   */
  matches(r: RunnerRecord, j: JobRecord): boolean {
    if (!scopeServes(parseScopeKey(r.scope), parseScopeKey(j.scope))) return false;
    if (!satisfies(r.labels, j.labels)) return false;
    if (j.runnerGroup === undefined) return true;
    return this.runnerGroupName(r.runnerGroupId).toLowerCase() === j.runnerGroup.toLowerCase();
  }

  /** The earliest time a queued job `r` matches is offered to runners, if one is still held back. */
  #nextOfferAt(r: RunnerRecord): number | null {
    const now = this.now();
    let next: number | null = null;
    for (const j of this.state.jobs) {
      if (j.status !== 'queued' || !this.matches(r, j)) continue;
      const at = this.offerAt(j);
      if (at > now && (next === null || at < next)) next = at;
    }
    return next;
  }

  /**
   * Gives an idle runner (one that polls has a session, so it is online) the oldest queued job it
   * matches whose pick-up delay has passed. The job records the runner and its group, and an
   * `in_progress` event follows.
   */
  #tryAssign(r: RunnerRecord): AssignedJob | null {
    if (this.currentJob(r.id) !== undefined) return null;
    const now = this.now();
    const job = this.state.jobs.find(
      (j) => j.status === 'queued' && this.offerAt(j) <= now && this.matches(r, j),
    );
    if (job === undefined) return null;
    this.state.updateJob(job.id, (j) => {
      j.status = 'in_progress';
      j.runnerId = r.id;
      j.runnerName = r.name;
      j.runnerGroupId = r.runnerGroupId;
      j.startedAt = now;
    });
    this.#emit('in_progress', job.id);
    return {
      id: job.id,
      runId: job.runId,
      repository: job.repository,
      labels: job.labels,
      durationMs: job.durationMs,
      failSetup: job.failSetup === true,
    };
  }

  /** Forgets runner faults and queued self-updates (`POST /_sim/reset`). */
  resetRunnerService(): void {
    this.runnerFaults = NO_RUNNER_FAULTS;
    this.#pendingUpdates.clear();
  }

  /**
   * Queues a self-update for a runner's next poll, as GitHub sends a runner a refresh message.
   * Refused for a runner whose session said `--disableupdate`, as GitHub does not send those.
   */
  requestUpdate(runnerId: number, targetVersion: string): RunnerRecord {
    const r = this.state.runner(runnerId);
    if (r === undefined || r.origin === 'unmanaged')
      throw new SimError('SIM_NOT_FOUND', `Runner ${runnerId} not found (or unmanaged)`);
    if (r.session?.disableUpdate === true) {
      throw new SimError(
        'SIM_CONFLICT',
        `Runner "${r.name}" was configured with --disableupdate and gets no updates`,
      );
    }
    this.#pendingUpdates.set(r.id, targetVersion);
    this.#wakePollers();
    return r;
  }

  /** The runner reports its job finished. An ephemeral runner is deleted afterwards, as on GitHub. */
  completeJob(r: RunnerRecord, jobId: number, result: 'succeeded' | 'failed' | 'cancelled'): void {
    const job = this.state.job(jobId);
    if (job?.runnerId !== r.id)
      throw new SimError('SIM_NOT_FOUND', `Job ${jobId} is not assigned to this runner`);
    if (job.status === 'in_progress') {
      this.state.updateJob(jobId, (j) => {
        j.status = result === 'cancelled' ? 'cancelled' : 'completed';
        j.conclusion =
          result === 'cancelled'
            ? 'cancelled'
            : result === 'failed' || j.failSteps === true
              ? 'failure'
              : 'success';
        j.completedAt = this.now();
      });
      this.#emit('completed', jobId);
    }
    if (r.ephemeral) this.state.deleteRunner(r.id);
  }

  /** The runner process stops: its session ends and it reads offline at once. */
  closeSession(r: RunnerRecord, sessionId: string): void {
    if (r.session?.id !== sessionId) return;
    this.state.updateRunner(r.id, (x) => {
      x.session = null;
    });
  }

  // ---- workflows and runs ----------------------------------------------------------------

  /** Declares a workflow of a repository (control API); a path is declared once per repository. */
  declareWorkflow(input: WorkflowInput): WorkflowRecord {
    const repository = input.repository.toLowerCase();
    if (!/^\.github\/workflows\/[^/]+\.ya?ml$/.test(input.path)) {
      throw new SimError('SIM_INVALID', '"path" must be ".github/workflows/<file>.yml" (or .yaml)');
    }
    if (this.state.workflows.some((w) => w.repository === repository && w.path === input.path)) {
      throw new SimError('SIM_CONFLICT', `Repository "${repository}" already has "${input.path}"`);
    }
    if ((input.runsOnInput === undefined) === (input.labels === undefined)) {
      throw new SimError('SIM_INVALID', 'Give exactly one of "runsOnInput" or "labels"');
    }
    for (const l of input.labels ?? []) {
      const problem = labelProblem(l);
      if (problem !== null) throw new SimError('SIM_INVALID', problem);
    }
    const file = input.path.slice(input.path.lastIndexOf('/') + 1);
    return this.state.addWorkflow({
      repository,
      path: input.path,
      name: input.name ?? file.replace(/\.ya?ml$/, ''),
      runsOnInput: input.runsOnInput ?? null,
      labels: input.labels ?? [],
      inputs: input.inputs ?? [],
      jobName: input.jobName ?? 'run',
      durationMs: input.durationMs ?? 0,
      conclusion: input.conclusion ?? 'success',
      dispatchable: true,
      runCount: 0,
      createdAt: this.now(),
    });
  }

  /** A repository's workflows, oldest first. */
  workflowsOf(repository: string): WorkflowRecord[] {
    const repo = repository.toLowerCase();
    return this.state.workflows.filter((w) => w.repository === repo);
  }

  /** A repository's workflow by id or by file name (`ci.yml`), as GitHub accepts either; or 404. */
  workflow(repository: string, idOrFile: string): WorkflowRecord {
    const found = this.workflowsOf(repository).find((w) =>
      /^\d+$/.test(idOrFile)
        ? w.id === Number(idOrFile)
        : w.path.slice(w.path.lastIndexOf('/') + 1) === idOrFile,
    );
    if (found === undefined) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', { documentationUrl: WORKFLOW_DOCS });
    }
    return found;
  }

  /**
   * `POST …/workflows/{id}/dispatches`: a new run (event `workflow_dispatch`, on `ref`) with the
   * workflow's one job, queued for the `runs-on` label its input names (or its fixed labels).
   * Refused like GitHub: no `workflow_dispatch` trigger, an input the workflow does not declare,
   * or its `runs-on` input missing (422).
   */
  dispatch(repository: string, idOrFile: string, body: unknown): RunRecord {
    const wf = this.workflow(repository, idOrFile);
    const req = parseDispatchBody(body);
    const fail = (message: string): SimError =>
      new SimError('SIM_INVALID', message, {
        documentationUrl: `${WORKFLOW_DOCS}#create-a-workflow-dispatch-event`,
      });
    if (!wf.dispatchable) throw fail("Workflow does not have 'workflow_dispatch' trigger");
    const declared = new Set([...wf.inputs, ...(wf.runsOnInput === null ? [] : [wf.runsOnInput])]);
    const unexpected = Object.keys(req.inputs).filter((k) => !declared.has(k));
    if (unexpected.length > 0) {
      throw fail(`Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
    }
    let labels = wf.labels;
    if (wf.runsOnInput !== null) {
      const label = req.inputs[wf.runsOnInput] ?? '';
      if (label.trim() === '') throw fail(`Required input '${wf.runsOnInput}' not provided`);
      labels = [label];
    }
    const branch = req.ref.replace(/^refs\/(heads|tags)\//, '');
    const run = this.state.addRun({
      repository: wf.repository,
      workflowId: wf.id,
      event: 'workflow_dispatch',
      headBranch: branch,
      headSha: headShaOf(wf.repository, branch),
      displayTitle: wf.name,
      createdAt: this.now(),
    });
    const [owner = '', repo = ''] = wf.repository.split('/');
    this.#addJob(run, {
      scope: { kind: 'repo', owner, repo },
      repository: wf.repository,
      labels,
      durationMs: wf.durationMs,
      failSetup: wf.conclusion === 'failure',
      name: wf.jobName,
    });
    return run;
  }

  /** Runs of a repository, newest first, as the run lists filter them. */
  listRuns(repository: string, filter: RunFilter): RunRecord[] {
    this.sweep();
    const repo = repository.toLowerCase();
    return this.state.runs
      .filter((r) => {
        if (r.repository !== repo) return false;
        if (filter.workflowId !== undefined && r.workflowId !== filter.workflowId) return false;
        if (filter.event !== undefined && r.event !== filter.event) return false;
        if (filter.branch !== undefined && r.headBranch !== filter.branch) return false;
        if (filter.headSha !== undefined && r.headSha !== filter.headSha) return false;
        if (filter.created !== undefined && !inCreatedRange(filter.created, r.createdAt))
          return false;
        if (filter.status !== undefined) {
          const st = this.runState(r);
          return RUN_STATUSES.has(filter.status)
            ? st.status === filter.status
            : st.conclusion === filter.status;
        }
        return true;
      })
      .reverse();
  }

  /** A run of a repository, or a 404. */
  getRun(repository: string, id: number): RunRecord {
    this.sweep();
    const r = this.state.run(id);
    if (r === undefined || r.repository !== repository.toLowerCase()) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', { documentationUrl: RUN_DOCS });
    }
    return r;
  }

  /** The jobs of a run, in the order they were queued. */
  jobsOf(run: RunRecord): JobRecord[] {
    return this.state.jobs.filter((j) => j.runId === run.id);
  }

  /** A job of a repository's runs, or a 404. */
  getJob(repository: string, id: number): JobRecord {
    this.sweep();
    const j = this.state.job(id);
    const run = j === undefined ? undefined : this.state.run(j.runId);
    if (j === undefined || run?.repository !== repository.toLowerCase()) {
      throw new SimError('SIM_NOT_FOUND', 'Not Found', { documentationUrl: JOB_DOCS });
    }
    return j;
  }

  /**
   * A run's status and conclusion from its jobs: queued while every job waits, completed when
   * every job ended (failure over cancelled over success), in progress otherwise.
   */
  runState(run: RunRecord): RunState {
    const jobs = this.jobsOf(run);
    const ended = (j: JobRecord): boolean => j.status === 'completed' || j.status === 'cancelled';
    const updatedAt = Math.max(
      run.createdAt,
      ...jobs.flatMap((j) => [j.startedAt ?? 0, j.completedAt ?? 0]),
    );
    if (jobs.length > 0 && jobs.every(ended)) {
      const conclusion = jobs.some((j) => j.conclusion === 'failure')
        ? 'failure'
        : jobs.some((j) => j.conclusion === 'cancelled')
          ? 'cancelled'
          : 'success';
      return { status: 'completed', conclusion, updatedAt };
    }
    const status = jobs.every((j) => j.status === 'queued')
      ? 'queued'
      : jobs.some((j) => j.status === 'waiting') && !jobs.some((j) => j.status === 'in_progress')
        ? 'waiting'
        : 'in_progress';
    return { status, conclusion: null, updatedAt };
  }

  /** The name of a runner group by id, as a job shows it (`Default` for the default group). */
  runnerGroupName(id: number): string {
    if (id === DEFAULT_RUNNER_GROUP.id) return DEFAULT_RUNNER_GROUP.name;
    return this.state.groups.find((g) => g.id === id)?.name ?? DEFAULT_RUNNER_GROUP.name;
  }

  // ---- control side ----------------------------------------------------------------------

  /**
   * Queues a job for a label set, as the one job of a new run of its repository's implicit
   * workflow (event `push`, branch `main`); a runner that polls picks it up.
   */
  enqueueJob(input: JobInput): JobRecord {
    const repository = input.repository.toLowerCase();
    const wf =
      this.state.workflows.find((w) => w.repository === repository && !w.dispatchable) ??
      this.state.addWorkflow(implicitWorkflow(repository, this.now()));
    const run = this.state.addRun({
      repository,
      workflowId: wf.id,
      event: 'push',
      headBranch: 'main',
      headSha: headShaOf(repository, 'main'),
      displayTitle: wf.name,
      createdAt: this.now(),
    });
    return this.#addJob(run, input);
  }

  #addJob(run: RunRecord, input: JobInput & { name?: string }): JobRecord {
    const job = this.state.addJob({
      runId: run.id,
      ...(input.name === undefined ? {} : { name: input.name }),
      repository: input.repository,
      scope: scopeKey(input.scope),
      labels: input.labels,
      durationMs: input.durationMs,
      ...(input.failSetup === true ? { failSetup: true } : {}),
      ...(input.failSteps === true ? { failSteps: true } : {}),
      ...(input.runnerGroup === undefined ? {} : { runnerGroup: input.runnerGroup }),
      status: input.waiting === true ? 'waiting' : 'queued',
      conclusion: null,
      runnerId: null,
      runnerName: null,
      queuedAt: this.now(),
      startedAt: null,
      completedAt: null,
      cancelRequested: false,
    });
    this.#emit(job.status === 'waiting' ? 'waiting' : 'queued', job.id);
    this.#wakePollers();
    return job;
  }

  /** Approves a job that waits (as a reviewer approves a deployment): it is queued from now on. */
  approveJob(id: number): JobRecord {
    const job = this.state.job(id);
    if (job === undefined) throw new SimError('SIM_NOT_FOUND', `Job ${id} not found`);
    if (job.status !== 'waiting') {
      throw new SimError('SIM_CONFLICT', `Job ${id} is "${job.status}", not waiting for approval`);
    }
    this.state.updateJob(id, (j) => {
      j.status = 'queued';
      j.queuedSince = this.now();
    });
    this.#emit('queued', id);
    this.#wakePollers();
    return job;
  }

  /** Cancels a queued job at once; a running job is cancelled by its runner at its next heartbeat. */
  cancelJob(id: number): JobRecord {
    const job = this.state.job(id);
    if (job === undefined) throw new SimError('SIM_NOT_FOUND', `Job ${id} not found`);
    const before = job.status;
    this.state.updateJob(id, (j) => {
      if (j.status === 'queued' || j.status === 'waiting') {
        j.status = 'cancelled';
        j.conclusion = 'cancelled';
        j.completedAt = this.now();
      } else if (j.status === 'in_progress') {
        j.cancelRequested = true;
      }
    });
    if (before === 'queued' || before === 'waiting') this.#emit('completed', id);
    return job;
  }

  /** Adds a runner as a person registering one by hand would: no process behind it. */
  addUnmanagedRunner(input: {
    scope: Scope;
    name: string;
    labels: string[];
    status: 'online' | 'offline';
    busy: boolean;
    noDefaultLabels: boolean;
  }): RunnerRecord {
    this.assertNameFree(input.scope, input.name);
    return this.state.addRunner({
      name: input.name,
      scope: scopeKey(input.scope),
      runnerGroupId: 1,
      os: 'Linux',
      labels: initialLabels(input.labels, input.noDefaultLabels),
      ephemeral: false,
      origin: 'unmanaged',
      version: STUB_RUNNER_VERSION,
      secretHash: null,
      jitUsed: false,
      session: null,
      fixedStatus: input.status,
      fixedBusy: input.busy,
      createdAt: this.now(),
    });
  }

  /**
   * Applies time: whatever is due by the clock happens (a trace's arrivals), runners whose
   * heartbeats stopped go offline and lose the job they held (it fails, as a job on a lost runner
   * does on GitHub), expired tokens are dropped.
   */
  sweep(): void {
    for (const tick of [...this.#tickers]) tick();
    const now = this.now();
    for (const r of this.state.runners) {
      if (r.session === null || now - r.session.lastHeartbeatAt <= this.config.offlineAfterMs)
        continue;
      this.state.updateRunner(r.id, (x) => {
        x.session = null;
      });
      const job = this.currentJob(r.id);
      if (job !== undefined) {
        this.state.updateJob(job.id, (j) => {
          j.status = 'completed';
          j.conclusion = 'failure';
          j.completedAt = now;
        });
        this.#emit('completed', job.id);
      }
    }
    this.state.pruneTokens(now);
  }

  /** Refuses with 409 when `scope` already has a runner called `name`. */
  assertNameFree(scope: Scope, name: string): void {
    if (this.state.runners.some((r) => r.scope === scopeKey(scope) && r.name === name)) {
      throw new SimError(
        'SIM_CONFLICT',
        `Already exists - A runner with the name "${name}" already exists`,
        {
          documentationUrl: RUNNER_DOCS,
        },
      );
    }
  }
}

/** What `config.sh` sends to register. */
export interface RegisterInput {
  token: string;
  scope: Scope;
  name: string;
  labels: string[];
  noDefaultLabels: boolean;
  ephemeral: boolean;
  replace: boolean;
  /** `--disableupdate`: kept in `.runner`; the runner reports it with each session. */
  disableUpdate?: boolean;
  /** `--runnergroup NAME`; the default group when absent. */
  runnerGroup?: string;
}

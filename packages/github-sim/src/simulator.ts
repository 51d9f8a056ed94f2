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
import { parseJitBody, parseLabelBody } from './request-bodies.js';
import { RunnerServiceError } from './runner-errors.js';
import { type RunnerFaults, NO_RUNNER_FAULTS, versionBelow } from './runner-faults.js';
import { encodeJitConfig, runnerFiles } from './runner-files.js';
import { type Scope, parseScopeKey, scopeKey, scopeServes } from './scope.js';
import {
  type JobRecord,
  type RunnerRecord,
  SimState,
  hashSecret,
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
}

export const DEFAULT_CONFIG: SimConfig = {
  busyLag: DEFAULT_BUSY_LAG,
  offlineAfterMs: 5000,
  pollWaitMs: 1000,
  rateLimit: 5000,
  tokenTtlMs: 3_600_000,
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
  status: 'online' | 'offline';
  busy: boolean;
  ephemeral: boolean;
  labels: ApiLabel[];
  version: string | null;
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

  constructor(opts: GitHubSimulatorOptions = {}) {
    this.state = new SimState(opts.stateFile);
    this.config = { ...DEFAULT_CONFIG, ...opts.config };
    this.#now = opts.now ?? Date.now;
  }

  now(): number {
    return this.#now();
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
      status: this.status(r),
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
    if (input.runnerGroupId !== 1) {
      throw new SimError('SIM_NOT_FOUND', `Runner group ${input.runnerGroupId} not found`, {
        documentationUrl: `${RUNNER_DOCS}#create-configuration-for-a-just-in-time-runner-for-a-repository`,
      });
    }
    this.assertNameFree(scope, input.name);
    const secret = randomBytes(32).toString('base64url');
    const runner = this.state.addRunner({
      name: input.name,
      scope: scopeKey(scope),
      runnerGroupId: 1,
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
      });
      return { runner: existing, secret };
    }
    const runner = this.state.addRunner({
      name: input.name,
      scope: scopeKey(input.scope),
      runnerGroupId: 1,
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
      const left = deadline - this.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.#waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 250));
        this.#waiters.add(done);
      });
    }
  }

  #tryAssign(r: RunnerRecord): AssignedJob | null {
    if (this.currentJob(r.id) !== undefined) return null;
    const runnerScope = parseScopeKey(r.scope);
    const job = this.state.jobs.find(
      (j) =>
        j.status === 'queued' &&
        scopeServes(runnerScope, parseScopeKey(j.scope)) &&
        satisfies(r.labels, j.labels),
    );
    if (job === undefined) return null;
    this.state.updateJob(job.id, (j) => {
      j.status = 'in_progress';
      j.runnerId = r.id;
      j.runnerName = r.name;
      j.startedAt = this.now();
    });
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
    for (const w of [...this.#waiters]) w();
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
          result === 'succeeded' ? 'success' : result === 'failed' ? 'failure' : 'cancelled';
        j.completedAt = this.now();
      });
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

  // ---- control side ----------------------------------------------------------------------

  /** Queues a job for a label set; a runner that polls picks it up. */
  enqueueJob(input: {
    scope: Scope;
    repository: string;
    labels: string[];
    durationMs: number;
    failSetup?: boolean;
  }): JobRecord {
    const job = this.state.addJob({
      repository: input.repository,
      scope: scopeKey(input.scope),
      labels: input.labels,
      durationMs: input.durationMs,
      ...(input.failSetup === true ? { failSetup: true } : {}),
      status: 'queued',
      conclusion: null,
      runnerId: null,
      runnerName: null,
      queuedAt: this.now(),
      startedAt: null,
      completedAt: null,
      cancelRequested: false,
    });
    for (const w of [...this.#waiters]) w();
    return job;
  }

  /** Cancels a queued job at once; a running job is cancelled by its runner at its next heartbeat. */
  cancelJob(id: number): JobRecord {
    const job = this.state.job(id);
    if (job === undefined) throw new SimError('SIM_NOT_FOUND', `Job ${id} not found`);
    this.state.updateJob(id, (j) => {
      if (j.status === 'queued') {
        j.status = 'cancelled';
        j.conclusion = 'cancelled';
        j.completedAt = this.now();
      } else if (j.status === 'in_progress') {
        j.cancelRequested = true;
      }
    });
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
   * Applies time: runners whose heartbeats stopped go offline and lose the job they held (it
   * fails, as a job on a lost runner does on GitHub); expired tokens are dropped.
   */
  sweep(): void {
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
  /** `--runnergroup NAME`, passed through as given (runner groups other than Default are not simulated yet). */
  runnerGroup?: string;
}

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { RunnerLabel } from './domain/labels.js';

/**
 * Lifecycle of a simulated workflow job. `waiting` is a job held for an approval (an environment
 * protection rule) before it is queued.
 */
export type JobStatus = 'waiting' | 'queued' | 'in_progress' | 'completed' | 'cancelled';

/** A job enqueued through the control API. */
export interface JobRecord {
  id: number;
  runId: number;
  /** `owner/repo` the job belongs to (organization jobs get a placeholder repository). */
  repository: string;
  /** Scope key the job belongs to (see `scopeKey`). */
  scope: string;
  labels: string[];
  durationMs: number;
  status: JobStatus;
  conclusion: 'success' | 'failure' | 'cancelled' | null;
  runnerId: number | null;
  runnerName: string | null;
  queuedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  /** Set when a cancel was requested while the job ran; the runner learns it at its next heartbeat. */
  cancelRequested: boolean;
  /** The job fails in "Set up job", before any job hook runs (`POST /_sim/jobs {failSetup}`). */
  failSetup?: boolean;
  /** The job's name in its workflow; `job-<id>` when absent (jobs of `POST /_sim/jobs`). */
  name?: string;
  /** The group of the runner that took the job, kept once assigned (the runner may go). */
  runnerGroupId?: number | null;
  /** `runs-on: {group: NAME}`: only runners of the runner group of that name may take the job. */
  runnerGroup?: string;
  /**
   * The job's steps fail: it runs its whole duration on the runner, which reports success, and
   * the sim records `failure` (the stub's steps are a wait; a trace's `conclusion: failure`).
   */
  failSteps?: boolean;
  /** When a job that waited for approval was queued; absent for a job queued at creation. */
  queuedSince?: number;
}

/**
 * A workflow a repository has, declared through the control API (the sim reads no YAML): what its
 * one job runs on — the value of a `workflow_dispatch` input (`runs-on: ${{ inputs.x }}`) or
 * fixed labels — how long it takes and how it ends.
 */
export interface WorkflowRecord {
  id: number;
  /** `owner/repo`, lowercase. */
  repository: string;
  /** `.github/workflows/<file>`. */
  path: string;
  name: string;
  /** The input whose value is the job's one `runs-on` label; null for fixed `labels`. */
  runsOnInput: string | null;
  labels: string[];
  /** Inputs the workflow declares besides `runsOnInput`; anything else is refused. */
  inputs: string[];
  jobName: string;
  durationMs: number;
  /** `failure`: the job fails in "Set up job" on the runner that took it. */
  conclusion: 'success' | 'failure';
  /** False for the implicit workflow of `POST /_sim/jobs` (it has no `workflow_dispatch`). */
  dispatchable: boolean;
  /** Runs made so far (GitHub numbers runs per workflow). */
  runCount: number;
  createdAt: number;
}

/** One workflow run; its status and conclusion follow from its jobs. */
export interface RunRecord {
  id: number;
  /** `owner/repo`, lowercase. */
  repository: string;
  workflowId: number;
  event: string;
  headBranch: string;
  headSha: string;
  displayTitle: string;
  runNumber: number;
  createdAt: number;
}

/** How a runner came to exist. */
export type RunnerOrigin = 'registered' | 'jit' | 'unmanaged';

/** A runner as the sim stores it. */
export interface RunnerRecord {
  id: number;
  name: string;
  scope: string;
  runnerGroupId: number;
  os: string;
  labels: RunnerLabel[];
  ephemeral: boolean;
  origin: RunnerOrigin;
  /** Set once a runner process connected. */
  version: string | null;
  /** SHA-256 of the runner's credential secret; `null` for unmanaged runners. */
  secretHash: string | null;
  /** A JIT config can start one session, ever. */
  jitUsed: boolean;
  /** `disableUpdate`: the runner was configured with `--disableupdate` (it said so at session start). */
  session: { id: string; lastHeartbeatAt: number; disableUpdate?: boolean } | null;
  /** Unmanaged runners have a fixed status and busy flag set through the control API. */
  fixedStatus: 'online' | 'offline' | null;
  fixedBusy: boolean;
  /**
   * When set (control API), the REST API reports this exact `status` string instead of the
   * runner's real one — GitHub's API description allows any string. Absent in older state files.
   */
  reportedStatus?: string | null;
  createdAt: number;
  /** When a runner process first started a session (ms); absent until then, and in older state files. */
  firstSessionAt?: number;
}

/** The default runner group every organization and repository has (GitHub's id 1). */
export const DEFAULT_RUNNER_GROUP = { id: 1, name: 'Default' } as const;

/** A runner group an organization created (the default group is implicit, never stored). */
export interface RunnerGroupRecord {
  id: number;
  /** Lowercase organization login. */
  org: string;
  name: string;
  visibility: 'all' | 'selected' | 'private';
  createdAt: number;
}

/** A registration, remove or installation token. */
export interface IssuedToken {
  kind: 'registration' | 'remove' | 'installation';
  /** Scope key for registration/remove tokens; installation id for installation tokens. */
  subject: string;
  expiresAt: number;
}

interface Persisted {
  version: 1;
  nextRunnerId: number;
  nextJobId: number;
  nextLabelId: number;
  labelIds: Record<string, number>;
  runners: RunnerRecord[];
  jobs: JobRecord[];
  /** Absent in state files written before runner groups existed. */
  nextGroupId?: number;
  groups?: RunnerGroupRecord[];
  /** Keyed by SHA-256 of the token, so a state file never holds a usable token in clear. */
  tokens: Record<string, IssuedToken>;
  /** Absent in state files written before workflow runs existed. */
  nextWorkflowId?: number;
  nextRunId?: number;
  workflows?: WorkflowRecord[];
  runs?: RunRecord[];
}

/** SHA-256 hex of a secret; the sim stores and compares secrets only in this form. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** A random token body (upper-case base32-ish, like GitHub's registration tokens). */
export function randomToken(prefix: string, length = 29): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(length);
  let s = prefix;
  for (let i = s.length; i < length; i++) s += alphabet[(bytes[i] ?? 0) % alphabet.length];
  return s;
}

function empty(): Persisted {
  return {
    version: 1,
    nextRunnerId: 1,
    nextJobId: 1,
    nextLabelId: 1,
    labelIds: {},
    runners: [],
    jobs: [],
    nextGroupId: 2,
    groups: [],
    tokens: {},
    nextWorkflowId: 1,
    nextRunId: 1001,
    workflows: [],
    runs: [],
  };
}

/**
 * Runners, jobs and tokens of the simulated GitHub, optionally persisted as JSON so that a
 * restarted sim keeps its runners. Every mutation goes through a method that saves afterwards.
 */
export class SimState {
  #data: Persisted;
  readonly #file: string | undefined;

  constructor(file?: string) {
    this.#file = file;
    this.#data = file === undefined ? empty() : load(file);
  }

  get runners(): readonly RunnerRecord[] {
    return this.#data.runners;
  }

  get jobs(): readonly JobRecord[] {
    return this.#data.jobs;
  }

  runner(id: number): RunnerRecord | undefined {
    return this.#data.runners.find((r) => r.id === id);
  }

  /** Runner groups organizations created, oldest first. */
  get groups(): readonly RunnerGroupRecord[] {
    return this.#data.groups ?? [];
  }

  addGroup(g: Omit<RunnerGroupRecord, 'id'>): RunnerGroupRecord {
    const rec: RunnerGroupRecord = { ...g, id: this.#data.nextGroupId ?? 2 };
    this.#data.nextGroupId = rec.id + 1;
    this.#data.groups = [...this.groups, rec];
    this.save();
    return rec;
  }

  job(id: number): JobRecord | undefined {
    return this.#data.jobs.find((j) => j.id === id);
  }

  /** The stable id GitHub would give a label name (ids are per name, case-insensitively). */
  labelId(name: string): number {
    const key = name.toLowerCase();
    let id = this.#data.labelIds[key];
    if (id === undefined) {
      id = this.#data.nextLabelId++;
      this.#data.labelIds[key] = id;
      this.save();
    }
    return id;
  }

  addRunner(r: Omit<RunnerRecord, 'id'>): RunnerRecord {
    const rec: RunnerRecord = { ...r, id: this.#data.nextRunnerId++ };
    this.#data.runners.push(rec);
    this.save();
    return rec;
  }

  /** Applies `change` to the runner and saves. */
  updateRunner(id: number, change: (r: RunnerRecord) => void): void {
    const r = this.runner(id);
    if (r === undefined) return;
    change(r);
    this.save();
  }

  deleteRunner(id: number): void {
    this.#data.runners = this.#data.runners.filter((r) => r.id !== id);
    this.save();
  }

  /** Adds a job to run `runId` (a run made with {@link addRun}). */
  addJob(j: Omit<JobRecord, 'id'>): JobRecord {
    const rec: JobRecord = { ...j, id: this.#data.nextJobId++ };
    this.#data.jobs.push(rec);
    this.save();
    return rec;
  }

  /** Workflows declared so far, oldest first. */
  get workflows(): readonly WorkflowRecord[] {
    return this.#data.workflows ?? [];
  }

  addWorkflow(w: Omit<WorkflowRecord, 'id'>): WorkflowRecord {
    const rec: WorkflowRecord = { ...w, id: this.#data.nextWorkflowId ?? 1 };
    this.#data.nextWorkflowId = rec.id + 1;
    this.#data.workflows = [...this.workflows, rec];
    this.save();
    return rec;
  }

  /** Workflow runs, oldest first. */
  get runs(): readonly RunRecord[] {
    return this.#data.runs ?? [];
  }

  run(id: number): RunRecord | undefined {
    return this.runs.find((r) => r.id === id);
  }

  /** Adds a run of `workflowId`, numbered after the workflow's earlier runs. */
  addRun(r: Omit<RunRecord, 'id' | 'runNumber'>): RunRecord {
    const wf = this.workflows.find((w) => w.id === r.workflowId);
    if (wf === undefined) throw new Error(`no workflow ${r.workflowId}`);
    wf.runCount += 1;
    const rec: RunRecord = { ...r, id: this.#data.nextRunId ?? 1001, runNumber: wf.runCount };
    this.#data.nextRunId = rec.id + 1;
    this.#data.runs = [...this.runs, rec];
    this.save();
    return rec;
  }

  updateJob(id: number, change: (j: JobRecord) => void): void {
    const j = this.job(id);
    if (j === undefined) return;
    change(j);
    this.save();
  }

  issueToken(token: string, t: IssuedToken): void {
    this.#data.tokens[hashSecret(token)] = t;
    this.save();
  }

  /** The token's record if it exists and has not expired at `now`. */
  token(token: string, now: number): IssuedToken | undefined {
    const t = this.#data.tokens[hashSecret(token)];
    return t !== undefined && t.expiresAt > now ? t : undefined;
  }

  /** Drops expired tokens. */
  pruneTokens(now: number): void {
    let changed = false;
    for (const [k, t] of Object.entries(this.#data.tokens)) {
      if (t.expiresAt <= now) {
        delete this.#data.tokens[k];
        changed = true;
      }
    }
    if (changed) this.save();
  }

  /** Forgets runners, jobs, workflows and runs (tokens survive, so configured runners' tokens stay valid). */
  reset(): void {
    const tokens = this.#data.tokens;
    this.#data = { ...empty(), tokens };
    this.save();
  }

  save(): void {
    if (this.#file === undefined) return;
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#data), { mode: 0o600 });
    renameSync(tmp, this.#file);
  }
}

function load(file: string): Persisted {
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return empty();
    throw err;
  }
  const parsed = JSON.parse(raw) as Persisted;
  if (parsed.version !== 1) throw new Error(`Cannot load sim state "${file}": unknown version`);
  return withRuns(parsed);
}

/**
 * A state file from before workflow runs: each job had run `1000 + id` and no run record. They get
 * one run each, of their repository's implicit workflow, so the REST API lists them like the rest.
 */
function withRuns(data: Persisted): Persisted {
  if (data.runs !== undefined) return data;
  const out: Persisted = { ...data, workflows: [], runs: [], nextWorkflowId: 1 };
  for (const j of data.jobs) {
    let wf = out.workflows?.find((w) => w.repository === j.repository.toLowerCase());
    if (wf === undefined) {
      wf = { ...implicitWorkflow(j.repository, j.queuedAt), id: out.nextWorkflowId ?? 1 };
      out.nextWorkflowId = wf.id + 1;
      out.workflows?.push(wf);
    }
    wf.runCount += 1;
    out.runs?.push({
      id: j.runId,
      repository: j.repository.toLowerCase(),
      workflowId: wf.id,
      event: 'push',
      headBranch: 'main',
      headSha: headShaOf(j.repository, 'main'),
      displayTitle: wf.name,
      runNumber: wf.runCount,
      createdAt: j.queuedAt,
    });
  }
  out.nextRunId = Math.max(1000, ...data.jobs.map((j) => j.runId)) + 1;
  return out;
}

/** The workflow the jobs of `POST /_sim/jobs` belong to: one per repository, not dispatchable. */
export function implicitWorkflow(repository: string, now: number): Omit<WorkflowRecord, 'id'> {
  return {
    repository: repository.toLowerCase(),
    path: '.github/workflows/launchplane-sim-jobs.yml',
    name: 'Simulated jobs',
    runsOnInput: null,
    labels: [],
    inputs: [],
    jobName: 'job',
    durationMs: 0,
    conclusion: 'success',
    dispatchable: false,
    runCount: 0,
    createdAt: now,
  };
}

/** A stable commit SHA for a repository's ref (the sim has no git). */
export function headShaOf(repository: string, ref: string): string {
  return createHash('sha1').update(`${repository.toLowerCase()}\u0000${ref}`).digest('hex');
}

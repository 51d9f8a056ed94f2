import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { RunnerLabel } from './domain/labels.js';

/** Lifecycle of a simulated workflow job. */
export type JobStatus = 'queued' | 'in_progress' | 'completed' | 'cancelled';

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
  /** Keyed by SHA-256 of the token, so a state file never holds a usable token in clear. */
  tokens: Record<string, IssuedToken>;
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
    tokens: {},
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

  addJob(j: Omit<JobRecord, 'id' | 'runId'>): JobRecord {
    const id = this.#data.nextJobId++;
    const rec: JobRecord = { ...j, id, runId: 1000 + id };
    this.#data.jobs.push(rec);
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

  /** Forgets runners and jobs (tokens survive, so configured runners' tokens stay valid). */
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
  return parsed;
}

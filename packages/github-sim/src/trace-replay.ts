import { jobInput } from './control-bodies.js';
import { SimError } from './errors.js';
import { field } from './http-io.js';
import type { GitHubSimulator, JobInput } from './simulator.js';

/** Most jobs one trace may hold. */
export const MAX_TRACE_JOBS = 20_000;

/** Fastest replay: a trace's times are divided by `speed`. */
export const MAX_TRACE_SPEED = 10_000;

interface Scheduled {
  /** Place in the trace as posted. */
  index: number;
  atMs: number;
  /** When it arrives, by the sim's clock (`startedAt + atMs / speed`). */
  dueAt: number;
  input: JobInput;
  jobId: number | null;
}

interface Trace {
  speed: number;
  startedAt: number;
  /** In order of arrival. */
  jobs: Scheduled[];
  /** How many of `jobs` have arrived. */
  released: number;
  cancelled: boolean;
}

/** `GET /_sim/trace`: how far the replay is, and what became of the jobs that arrived. */
export interface TraceProgress {
  state: 'idle' | 'running' | 'done' | 'cancelled';
  speed: number | null;
  startedAt: number | null;
  total: number;
  /** Jobs that arrived (were queued). */
  released: number;
  /** Jobs still to arrive. */
  pending: number;
  /** When the next one arrives, by the sim's clock. */
  nextDueAt: number | null;
  /** Of the released jobs: how many are queued (or waiting), running, ended. */
  queued: number;
  inProgress: number;
  completed: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** With `?jobs=1`: each job of the trace, in order of arrival. */
  jobs?: {
    index: number;
    atMs: number;
    dueAt: number;
    jobId: number | null;
    status: string;
  }[];
}

/** The body of `POST /_sim/trace`, checked whole before anything is scheduled. */
function parseTrace(body: unknown): { speed: number; jobs: { atMs: number; input: JobInput }[] } {
  const speed = field(body, 'speed') ?? 1;
  if (typeof speed !== 'number' || !(speed > 0 && speed <= MAX_TRACE_SPEED)) {
    throw new SimError(
      'SIM_INVALID',
      `"speed" must be a number above 0, at most ${MAX_TRACE_SPEED}`,
    );
  }
  const jobs = field(body, 'jobs');
  if (!Array.isArray(jobs) || jobs.length === 0 || jobs.length > MAX_TRACE_JOBS) {
    throw new SimError('SIM_INVALID', `"jobs" must be an array of 1 to ${MAX_TRACE_JOBS} jobs`);
  }
  return {
    speed,
    jobs: jobs.map((j: unknown, i) => {
      try {
        const atMs = field(j, 'atMs');
        if (typeof atMs !== 'number' || !Number.isFinite(atMs) || atMs < 0) {
          throw new SimError('SIM_INVALID', '"atMs" must be a number >= 0');
        }
        if (field(j, 'durationMs') === undefined) {
          throw new SimError('SIM_INVALID', '"durationMs" must be a non-negative integer');
        }
        return { atMs, input: jobInput(j) };
      } catch (err) {
        if (!(err instanceof SimError)) throw err;
        throw new SimError('SIM_INVALID', `jobs[${i}]: ${err.message}`);
      }
    }),
  };
}

/**
 * Replays a trace of job arrivals by the sim's clock: each job is queued (as the one job of a new
 * run, which the REST lists and the `workflow_job` webhooks both show) when its `atMs / speed`
 * has passed since the start; its duration is divided by `speed` too. Arrivals happen in
 * {@link GitHubSimulator.sweep}, which every request runs, and a timer runs it at the next
 * arrival's time.
 */
export class TraceReplay {
  readonly #sim: GitHubSimulator;
  #trace: Trace | null = null;
  #timer: NodeJS.Timeout | undefined;
  readonly #removeTicker: () => void;

  constructor(sim: GitHubSimulator) {
    this.#sim = sim;
    this.#removeTicker = sim.addTicker(() => this.#tick());
  }

  /** Starts a replay; refused (409) while another one still has jobs to release. */
  start(body: unknown): TraceProgress {
    const running = this.#trace;
    if (running !== null && !running.cancelled && running.released < running.jobs.length) {
      throw new SimError(
        'SIM_CONFLICT',
        `A trace is running ("${running.released}" of "${running.jobs.length}" jobs released); stop it with DELETE /_sim/trace first`,
      );
    }
    const parsed = parseTrace(body);
    const startedAt = this.#sim.now();
    const jobs = parsed.jobs
      .map((j, index) => ({
        index,
        atMs: j.atMs,
        dueAt: startedAt + j.atMs / parsed.speed,
        input: { ...j.input, durationMs: Math.round(j.input.durationMs / parsed.speed) },
        jobId: null,
      }))
      .sort((a, b) => a.dueAt - b.dueAt || a.index - b.index);
    this.#trace = { speed: parsed.speed, startedAt, jobs, released: 0, cancelled: false };
    this.#tick();
    return this.progress(false);
  }

  /** Stops releasing jobs; those already queued stay. */
  cancel(): TraceProgress {
    if (this.#trace !== null && this.#trace.released < this.#trace.jobs.length) {
      this.#trace.cancelled = true;
    }
    clearTimeout(this.#timer);
    return this.progress(false);
  }

  progress(withJobs: boolean): TraceProgress {
    const t = this.#trace;
    const counts = {
      queued: 0,
      inProgress: 0,
      completed: 0,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    };
    if (t === null) {
      return {
        state: 'idle',
        speed: null,
        startedAt: null,
        total: 0,
        released: 0,
        pending: 0,
        nextDueAt: null,
        ...counts,
        ...(withJobs ? { jobs: [] } : {}),
      };
    }
    const statusOf = (s: Scheduled): string =>
      s.jobId === null ? 'pending' : (this.#sim.state.job(s.jobId)?.status ?? 'gone');
    for (const s of t.jobs.slice(0, t.released)) {
      const job = s.jobId === null ? undefined : this.#sim.state.job(s.jobId);
      if (job === undefined) continue;
      if (job.status === 'queued' || job.status === 'waiting') counts.queued++;
      else if (job.status === 'in_progress') counts.inProgress++;
      else {
        counts.completed++;
        if (job.conclusion === 'success') counts.succeeded++;
        else if (job.conclusion === 'failure') counts.failed++;
        else counts.cancelled++;
      }
    }
    const next = t.cancelled ? undefined : t.jobs[t.released];
    return {
      state: t.cancelled ? 'cancelled' : next === undefined ? 'done' : 'running',
      speed: t.speed,
      startedAt: t.startedAt,
      total: t.jobs.length,
      released: t.released,
      pending: t.jobs.length - t.released,
      nextDueAt: next === undefined ? null : Math.ceil(next.dueAt),
      ...counts,
      ...(withJobs
        ? {
            jobs: t.jobs.map((s) => ({
              index: s.index,
              atMs: s.atMs,
              dueAt: Math.ceil(s.dueAt),
              jobId: s.jobId,
              status: statusOf(s),
            })),
          }
        : {}),
    };
  }

  /** Forgets the trace (`POST /_sim/reset`). */
  reset(): void {
    clearTimeout(this.#timer);
    this.#trace = null;
  }

  close(): void {
    this.reset();
    this.#removeTicker();
  }

  /** Queues every job whose time has come, then sets the timer for the next one. */
  #tick(): void {
    const t = this.#trace;
    if (t === null || t.cancelled) return;
    const now = this.#sim.now();
    for (let next = t.jobs[t.released]; next !== undefined && next.dueAt <= now;) {
      t.released++;
      next.jobId = this.#sim.enqueueJob(next.input).id;
      next = t.jobs[t.released];
    }
    clearTimeout(this.#timer);
    const next = t.jobs[t.released];
    if (next === undefined) return;
    this.#timer = setTimeout(() => this.#sim.sweep(), Math.max(1, Math.ceil(next.dueAt - now)));
    this.#timer.unref();
  }
}

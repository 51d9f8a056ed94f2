/**
 * The job store's rules, pure: how GitHub's job statuses read, how a new word about a job merges
 * with what is stored (a status only moves forward), and queue-wait figures. No I/O, no clock.
 */
import type { JobRecord } from '../ports/store.js';
import type { DemandJob } from './demand.js';

export type JobStatus = DemandJob['status'];

const RANK: Record<JobStatus, number> = { queued: 0, in_progress: 1, completed: 2 };

/**
 * GitHub's job status (REST `status`, or a `workflow_job` webhook's) as the store keeps it:
 * `requested`, `pending` and `waiting` are jobs that wait, like `queued`. Undefined for a status
 * GitHub may add later, which the store does not guess at.
 */
export function jobStatusOf(github: string): JobStatus | undefined {
  switch (github) {
    case 'queued':
    case 'requested':
    case 'pending':
    case 'waiting':
      return 'queued';
    case 'in_progress':
      return 'in_progress';
    case 'completed':
      return 'completed';
    default:
      return undefined;
  }
}

/**
 * What a merge did: `new` (first word of the job), `advanced` (its status moved forward),
 * `updated` (same status, some field changed), `unchanged`, or `stale` (a word older than what is
 * stored, such as a `queued` delivery that arrives after `in_progress`: its status is not taken).
 */
export type MergeOutcome = 'new' | 'advanced' | 'updated' | 'unchanged' | 'stale';

/** Fields that say nothing about the job itself, only about how the coordinator heard of it. */
const BOOKKEEPING = new Set<keyof JobRecord>(['seenAt', 'source']);

/**
 * Merges a new word about a job into what is stored. A job's status only moves forward (queued →
 * in progress → completed): an older status is never taken, whatever order deliveries and polls
 * arrive in. A field the new word leaves out (a runner GitHub no longer names) keeps its stored
 * value; the time it was first queued never moves.
 */
export function mergeJob(
  stored: JobRecord | undefined,
  incoming: JobRecord,
): { job: JobRecord; outcome: MergeOutcome } {
  if (stored === undefined) return { job: withQueueWait(incoming), outcome: 'new' };
  const seenAt = Math.max(stored.seenAt, incoming.seenAt);
  if (RANK[incoming.status] < RANK[stored.status]) {
    return { job: { ...stored, seenAt }, outcome: 'stale' };
  }
  const defined = Object.fromEntries(
    Object.entries(incoming).filter(([, v]) => v !== undefined),
  ) as Partial<JobRecord>;
  const job = withQueueWait({
    ...stored,
    ...defined,
    queuedAt: Math.min(stored.queuedAt, incoming.queuedAt),
    seenAt,
  });
  if (RANK[incoming.status] > RANK[stored.status]) return { job, outcome: 'advanced' };
  return { job, outcome: sameJob(stored, job) ? 'unchanged' : 'updated' };
}

function sameJob(a: JobRecord, b: JobRecord): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof JobRecord)[]);
  for (const k of keys) {
    if (BOOKKEEPING.has(k)) continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) return false;
  }
  return true;
}

/**
 * The job with its queue wait (queued → in progress) filled in once a runner took it. A job
 * cancelled while it waited never had a runner and has no wait; GitHub shows its queue time as
 * `started_at` until a runner starts it, which is not a start either.
 */
export function withQueueWait(job: JobRecord): JobRecord {
  const { waitSec: _old, ...rest } = job;
  const ran =
    job.status === 'in_progress' || job.runnerId !== undefined || job.runnerName !== undefined;
  if (job.status === 'queued' || !ran || job.startedAt === undefined) return rest;
  return { ...rest, waitSec: Math.max(0, job.startedAt - job.queuedAt) };
}

/**
 * The p-th percentile (0–100) of `values` by the nearest-rank method: the smallest value such
 * that at least p percent of the values are at or below it. Undefined for no values.
 */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

/** How long a job has waited (queued) or did wait (once taken), in seconds, at `now`. */
export function waitOf(job: JobRecord, now: number): number {
  if (job.status === 'queued') return Math.max(0, now - job.queuedAt);
  return job.waitSec ?? 0;
}

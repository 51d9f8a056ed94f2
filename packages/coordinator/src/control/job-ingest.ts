/**
 * Everything GitHub tells the coordinator about jobs goes into the job store through here: a
 * verified `workflow_job` delivery (taken once per delivery id) and the jobs a poll listed.
 * Each word merges with what is stored under one transaction, so a status only moves forward
 * whatever order deliveries and polls arrive in (domain/jobs.ts).
 */
import { callEach } from '@launchplane/shared';
import { parseWorkflowJobEvent } from '../adapters/github/webhook-payload.js';
import { jobStatusOf, mergeJob, type MergeOutcome } from '../domain/jobs.js';
import type { WorkflowJob } from '../ports/github-workflows.js';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore, JobRecord, StoreTx } from '../ports/store.js';
import type {
  WebhookDelivery,
  WebhookOutcome,
  WebhookReceiver,
} from '../ports/webhook-receiver.js';

/** The one event the job store takes. */
export const WORKFLOW_JOB_EVENT = 'workflow_job';

/** What the webhook side has received since the coordinator started. */
export interface WebhookStats {
  /** Deliveries whose signature verified. */
  deliveries: number;
  /** Unix seconds of the last one. */
  lastDeliveryAt?: number;
  /** Per outcome (see {@link WebhookOutcome}). */
  outcomes: Partial<Record<WebhookOutcome, number>>;
  /** Deliveries of other events, per event name (ignored). */
  ignoredEvents: Record<string, number>;
}

/** A job of GitHub's (REST or webhook) as the store keeps it; undefined for an unknown status. */
export function jobRecordOf(
  repository: string,
  job: WorkflowJob,
  seen: { source: JobRecord['source']; at: number },
): JobRecord | undefined {
  const status = jobStatusOf(job.status);
  if (status === undefined) return undefined;
  const opt = <K extends string, V>(key: K, v: V | null | undefined) =>
    (v === null || v === undefined ? {} : { [key]: v }) as Partial<Record<K, V>>;
  return {
    id: job.id,
    runId: job.runId,
    repository: repository.toLowerCase(),
    labels: [...job.labels],
    status,
    queuedAt: job.createdAt,
    // GitHub shows a waiting job's queue time as started_at: only a taken job has started.
    ...(status === 'queued' ? {} : opt('startedAt', job.startedAt)),
    ...opt('completedAt', job.completedAt),
    ...opt('runnerId', job.runnerId),
    ...opt('runnerName', job.runnerName === '' ? null : job.runnerName),
    ...opt('runnerGroupId', job.runnerGroupId),
    ...opt('runnerGroupName', job.runnerGroupName),
    ...opt('name', job.name),
    ...opt('workflowName', job.workflowName),
    ...opt('htmlUrl', job.htmlUrl),
    ...opt('conclusion', job.conclusion),
    seenAt: seen.at,
    source: seen.source,
  };
}

/** The job store's way in. */
export class JobIngest implements WebhookReceiver {
  readonly #store: CoordinatorStore;
  readonly #logger: Logger;
  readonly #webhook: Omit<WebhookStats, 'ignoredEvents'> = { deliveries: 0, outcomes: {} };
  /** Event name → deliveries ignored (a Map: an event name is never an object key here). */
  readonly #ignored = new Map<string, number>();
  readonly #changeListeners: (() => void)[] = [];

  constructor(deps: { store: CoordinatorStore; logger: Logger }) {
    this.#store = deps.store;
    this.#logger = deps.logger;
  }

  /** A delivery whose signature verified. */
  async receive(d: WebhookDelivery): Promise<{ outcome: WebhookOutcome; jobId?: number }> {
    this.#webhook.deliveries++;
    this.#webhook.lastDeliveryAt = d.receivedAt;
    const answer = await this.#receive(d);
    this.#webhook.outcomes[answer.outcome] = (this.#webhook.outcomes[answer.outcome] ?? 0) + 1;
    if (changesDemand(answer.outcome)) this.#changed();
    return answer;
  }

  /**
   * Calls `listener` after a job was first heard of or moved on (new, advanced): demand changed,
   * so a plan made now differs. The reconciler plans at once instead of at its next interval.
   */
  onDemandChange(listener: () => void): void {
    this.#changeListeners.push(listener);
  }

  #changed(): void {
    callEach(this.#changeListeners, (err) => {
      this.#logger.error({ err: String(err) }, 'demand change listener failed');
    });
  }

  async #receive(d: WebhookDelivery): Promise<{ outcome: WebhookOutcome; jobId?: number }> {
    if (d.event === 'ping') return { outcome: 'ping' };
    if (d.event !== WORKFLOW_JOB_EVENT) {
      // The event name is GitHub's (the delivery is signed), but the map of them stays small.
      const key = this.#ignored.has(d.event) || this.#ignored.size < 100 ? d.event : '*';
      this.#ignored.set(key, (this.#ignored.get(key) ?? 0) + 1);
      return { outcome: 'ignored' };
    }
    // Parsed before anything is recorded: a delivery refused here is not taken, so GitHub's
    // redelivery of it (once fixed) still counts.
    const event = parseWorkflowJobEvent(d.body);
    const record = jobRecordOf(event.repository, event.job, {
      source: 'webhook',
      at: d.receivedAt,
    });
    return this.#store.transaction(async (tx) => {
      if (!(await tx.recordDelivery(d.deliveryId, d.receivedAt))) {
        return { outcome: 'duplicate' as const, jobId: event.job.id };
      }
      if (record === undefined) {
        this.#logger.warn(
          { jobId: event.job.id, status: event.job.status.slice(0, 64) },
          'workflow_job delivery with a job status Launchplane does not know; not taken',
        );
        return { outcome: 'unknown-status' as const, jobId: event.job.id };
      }
      return { outcome: await merge(tx, record), jobId: record.id };
    });
  }

  /**
   * Jobs of `repository` as a poll listed them at `at`. Returns how many of each outcome;
   * jobs with a status Launchplane does not know are counted as `unknown-status`, not taken.
   */
  async observe(
    repository: string,
    jobs: readonly WorkflowJob[],
    at: number,
  ): Promise<Partial<Record<MergeOutcome | 'unknown-status', number>>> {
    const records = jobs.map((j) => jobRecordOf(repository, j, { source: 'poll', at }));
    // Counted inside: a store that retries a transaction runs this function again from the start.
    const counts = await this.#store.transaction(async (tx) => {
      const counted: Partial<Record<MergeOutcome | 'unknown-status', number>> = {};
      for (const r of records) {
        const outcome = r === undefined ? 'unknown-status' : await merge(tx, r);
        counted[outcome] = (counted[outcome] ?? 0) + 1;
      }
      return counted;
    });
    if ((counts.new ?? 0) + (counts.advanced ?? 0) > 0) this.#changed();
    return counts;
  }

  /** What the webhook side received since start. */
  webhookStats(): WebhookStats {
    return {
      ...structuredClone(this.#webhook),
      ignoredEvents: Object.fromEntries(this.#ignored),
    };
  }
}

/** A job first heard of, or moved on: the demand changed. */
function changesDemand(outcome: WebhookOutcome): boolean {
  return outcome === 'new' || outcome === 'advanced';
}

async function merge(tx: StoreTx, incoming: JobRecord): Promise<MergeOutcome> {
  const { job, outcome } = mergeJob(await tx.getJob(incoming.id), incoming);
  await tx.putJob(job);
  return outcome;
}

/**
 * Audit records for repeated refusals that nobody is authenticated for: one record per action,
 * source address and minute, whose count is updated, instead of one record per request. A flood
 * of bad tokens, forged hellos (or, later, forged webhooks) thus costs the audit trail a few rows
 * a minute, and an operator still sees who knocked, how often and with what.
 *
 * Signed webhook deliveries that are not taken (a replayed delivery id, an event other than
 * `workflow_job`) are counted the same way, under their own actions (see {@link TALLY_ACTIONS}).
 *
 * The first refusal of a minute is written at once; later ones are counted in memory and written
 * into that same record every `flushMs`, when the minute ends and on close. Distinct sources per
 * minute are capped: past the cap, refusals are counted under the source `*`.
 */
import type { AuditOutcome, ErrorCode } from '@launchplane/shared';
import type { Logger } from '../ports/logger.js';
import type { CoordinatorStore } from '../ports/store.js';
import { auditRecordOf, type AuditEntry } from '../audit/audit-writer.js';

/** One refused event. */
export interface TallyEvent {
  /** The audit action of the aggregate record, e.g. `auth.refused`. */
  action: string;
  /** The source address (or address block) it came from. */
  source: string;
  /** The refusal's code; none for an event that is ignored rather than refused. */
  code?: ErrorCode;
  /** What was refused, e.g. `api`, `enroll`, `agent-hello`: counted per kind. */
  kind: string;
}

/** Options of {@link AuditTally}. */
export interface AuditTallyOptions {
  store: CoordinatorStore;
  logger: Logger;
  /** Unix seconds. */
  now: () => number;
  /** How often counts are written into their records, in ms. Default 2 000. */
  flushMs?: number;
  /** Distinct (action, source) records per minute before `*` takes the rest. Default 10 000. */
  maxSourcesPerMinute?: number;
}

/** How an aggregate record of an action reads: its outcome, and what it counts. */
interface TallyAction {
  outcome: AuditOutcome;
  verb: string;
  one: string;
  many: string;
}

/**
 * The actions counted per source and minute. Any other action reads as refused unauthenticated
 * requests, as `auth.refused` does.
 */
export const TALLY_ACTIONS: Readonly<Record<string, TallyAction>> = {
  'auth.refused': {
    outcome: 'refused',
    verb: 'Refused',
    one: 'unauthenticated request',
    many: 'unauthenticated requests',
  },
  'github.webhook.replayed': {
    outcome: 'refused',
    verb: 'Ignored',
    one: 'webhook delivery whose delivery id was taken before',
    many: 'webhook deliveries whose delivery ids were taken before',
  },
  'github.webhook.ignored': {
    outcome: 'ok',
    verb: 'Ignored',
    one: 'signed webhook delivery of an event other than workflow_job',
    many: 'signed webhook deliveries of events other than workflow_job',
  },
};

function tallyActionOf(action: string): TallyAction {
  return (
    (Object.hasOwn(TALLY_ACTIONS, action) ? TALLY_ACTIONS[action] : undefined) ??
    (TALLY_ACTIONS['auth.refused'] as TallyAction)
  );
}

/** The source under which refusals beyond the per-minute cap are counted. */
export const OVERFLOW_SOURCE = '*';

interface Bucket {
  action: string;
  source: string;
  minute: number;
  count: number;
  codes: Record<string, number>;
  kinds: Record<string, number>;
  firstCode: ErrorCode | undefined;
  seq: number | undefined;
  /** Counted since the record was last written. */
  dirty: boolean;
  /** The write in flight (append, then updates), one at a time per record. */
  chain: Promise<void>;
}

/** Counts refusals into one audit record per action, source and minute. */
export class AuditTally {
  readonly #opts: Required<Omit<AuditTallyOptions, 'store' | 'logger' | 'now'>> &
    Pick<AuditTallyOptions, 'store' | 'logger' | 'now'>;
  readonly #buckets = new Map<string, Bucket>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: AuditTallyOptions) {
    this.#opts = { flushMs: 2_000, maxSourcesPerMinute: 10_000, ...opts };
  }

  /** Counts one refusal. Never throws and never waits: storage errors are logged. */
  record(event: TallyEvent): void {
    const minute = Math.floor(this.#opts.now() / 60) * 60;
    let source = event.source;
    let key = `${minute} ${event.action} ${source}`;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined && this.#sourcesIn(minute) >= this.#opts.maxSourcesPerMinute) {
      source = OVERFLOW_SOURCE;
      key = `${minute} ${event.action} ${source}`;
      bucket = this.#buckets.get(key);
    }
    if (bucket === undefined) {
      bucket = {
        action: event.action,
        source,
        minute,
        count: 0,
        codes: {},
        kinds: {},
        firstCode: event.code,
        seq: undefined,
        dirty: false,
        chain: Promise.resolve(),
      };
      this.#buckets.set(key, bucket);
      const how = tallyActionOf(event.action);
      this.#opts.logger.warn(
        { source, action: event.action, code: event.code, kind: event.kind },
        `${how.verb.toLowerCase()} ${how.many}; counted per source and minute in the audit trail`,
      );
    }
    bucket.count++;
    if (event.code !== undefined) bucket.codes[event.code] = (bucket.codes[event.code] ?? 0) + 1;
    bucket.firstCode ??= event.code;
    bucket.kinds[event.kind] = (bucket.kinds[event.kind] ?? 0) + 1;
    bucket.dirty = true;
    if (bucket.seq === undefined && bucket.count === 1) this.#write(bucket);
    else this.#schedule();
  }

  /** Writes every pending count and forgets the minutes that are over. */
  async flush(): Promise<void> {
    const minute = Math.floor(this.#opts.now() / 60) * 60;
    const writes: Promise<void>[] = [];
    for (const [key, bucket] of this.#buckets) {
      if (bucket.dirty) this.#write(bucket);
      writes.push(bucket.chain);
      if (bucket.minute < minute) this.#buckets.delete(key);
    }
    await Promise.all(writes);
  }

  /** Stops the timer and writes what is pending. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  #sourcesIn(minute: number): number {
    let n = 0;
    for (const b of this.#buckets.values()) if (b.minute === minute) n++;
    return n;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#opts.flushMs);
    this.#timer.unref();
  }

  #write(bucket: Bucket): void {
    bucket.chain = bucket.chain.then(async () => {
      if (!bucket.dirty) return;
      bucket.dirty = false;
      const record = auditRecordOf(bucket.minute, this.#entryOf(bucket));
      try {
        if (bucket.seq === undefined) {
          bucket.seq = (await this.#opts.store.appendAudit(record)).seq;
        } else {
          await this.#opts.store.updateAudit(bucket.seq, record);
        }
      } catch (err) {
        bucket.dirty = true;
        this.#opts.logger.error(
          { err: String(err), source: bucket.source, action: bucket.action },
          'cannot write the refusal count to the audit trail',
        );
      }
    });
  }

  #entryOf(b: Bucket): AuditEntry {
    const how = tallyActionOf(b.action);
    return {
      actor: 'anonymous',
      action: b.action,
      outcome: how.outcome,
      code: b.firstCode,
      message: `${how.verb} ${b.count} ${b.count === 1 ? how.one : how.many} from "${b.source}" in the minute from ${new Date(b.minute * 1000).toISOString()}`,
      params: {
        source: b.source,
        minute: b.minute,
        count: b.count,
        codes: { ...b.codes },
        kinds: { ...b.kinds },
      },
    };
  }
}

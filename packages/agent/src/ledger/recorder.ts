/**
 * Writes what the coordinator must hear about into the ledger: audit records (hash-chained) and lane
 * events, each as a signed event in the durable outbox. Call inside a ledger transaction together
 * with the change it reports. The one writer of the agent's audit log: every record is redacted
 * here (shared's `redactAuditEntry`), before it is hashed into the chain.
 */
import type { KeyObject } from 'node:crypto';
import { redactAuditEntry, signEvent } from '@launchplane/shared';
import type { AuditRecord, EventPayload, LocalBusy } from '@launchplane/shared';
import type { AuditEntry } from './audit-log.js';
import type { Ledger } from './ledger.js';
import { laneReport, type LaneRecord } from './lane-record.js';

/** Options of {@link Recorder}. */
export interface RecorderOptions {
  ledger: Ledger;
  hostId: string;
  hostKey: KeyObject;
  /** Unix seconds now. */
  now: () => number;
  /** Called after something was appended to the outbox: `lane` when a lane changed. */
  onAppend: (kind: 'audit' | 'lane') => void;
}

/** Appends audit records and lane events to the ledger's outbox. */
export class Recorder {
  readonly #o: RecorderOptions;

  constructor(options: RecorderOptions) {
    this.#o = options;
  }

  /**
   * Appends an audit record (and its outbox event); returns it. Parameters, message and recovery
   * are redacted first, so a caller may pass a command as it came; `secrets` names exact values to
   * remove as well.
   */
  audit(entry: Omit<AuditEntry, 'at' | 'hostId'>, secrets: readonly string[] = []): AuditRecord {
    const { ledger } = this.#o;
    const clean = redactAuditEntry(entry, { secrets });
    const record = ledger.transaction(() => {
      const r = ledger.audit.append({ ...clean, at: this.#o.now(), hostId: this.#o.hostId });
      this.#event({ kind: 'audit', record: r });
      return r;
    });
    this.#o.onAppend('audit');
    return record;
  }

  /** Appends a `lane` event with the lane's report (and `lane-removed` once it is removed). */
  lane(lane: LaneRecord, local?: LocalBusy): void {
    const { ledger } = this.#o;
    ledger.transaction(() => {
      this.#event({ kind: 'lane', lane: laneReport(lane, local) });
      if (lane.state === 'removed') this.#event({ kind: 'lane-removed', laneId: lane.laneId });
    });
    this.#o.onAppend('lane');
  }

  #event(event: EventPayload['event']): void {
    const at = this.#o.now();
    this.#o.ledger.outbox.append(at, (seq) =>
      signEvent({ iss: this.#o.hostId, seq, at, event }, { privateKey: this.#o.hostKey }),
    );
  }
}

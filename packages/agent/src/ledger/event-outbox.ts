/**
 * The durable event outbox: signed events in `seq` order, deleted only when the coordinator
 * acknowledges them, so nothing is lost across disconnects or restarts.
 */
import type { Db } from './ledger-db.js';

const NEXT_SEQ_KEY = 'outbox_last_seq';

/** One pending event. */
export interface OutboxEvent {
  seq: number;
  jws: string;
}

/** Outbox rows of the ledger. */
export class EventOutbox {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /**
   * Appends an event: `sign(seq)` builds the signed JWS for the next sequence number. Sequence
   * numbers never repeat, even after acknowledged events were deleted.
   */
  append(at: number, sign: (seq: number) => string): number {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(NEXT_SEQ_KEY) as
      { value: string } | undefined;
    const seq = (row === undefined ? 0 : Number(row.value)) + 1;
    const jws = sign(seq);
    this.#db.prepare('INSERT INTO outbox (seq, at, jws) VALUES (?, ?, ?)').run(seq, at, jws);
    this.#db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(NEXT_SEQ_KEY, String(seq));
    return seq;
  }

  /** Pending events, oldest first. */
  pending(limit = 1000): OutboxEvent[] {
    return this.#db
      .prepare('SELECT seq, jws FROM outbox ORDER BY seq LIMIT ?')
      .all(Math.max(0, Math.floor(limit))) as OutboxEvent[];
  }

  /** Deletes every event up to and including `seq`; returns how many. */
  ack(uptoSeq: number): number {
    return this.#db.prepare('DELETE FROM outbox WHERE seq <= ?').run(uptoSeq).changes;
  }

  /** Pending event count. */
  size(): number {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
  }
}

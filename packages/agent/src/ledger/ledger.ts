/**
 * The agent's SQLite ledger (`dataDir/ledger.db`): owned lanes, their journal, replay state, the
 * event outbox, the audit chain and meta, behind one handle with one transaction helper.
 */
import { AuditLog } from './audit-log.js';
import { EventOutbox } from './event-outbox.js';
import { LaneJournal } from './lane-journal.js';
import { LaneStore } from './lane-store.js';
import { openLedgerDb, schemaVersion, type Db, type OpenLedgerOptions } from './ledger-db.js';
import { SqliteReplayStore } from './sqlite-replay-store.js';

/** The ledger. */
export class Ledger {
  readonly #db: Db;
  readonly lanes: LaneStore;
  readonly journal: LaneJournal;
  readonly replay: SqliteReplayStore;
  readonly outbox: EventOutbox;
  readonly audit: AuditLog;

  private constructor(db: Db) {
    this.#db = db;
    this.lanes = new LaneStore(db);
    this.journal = new LaneJournal(db);
    this.replay = new SqliteReplayStore(db);
    this.outbox = new EventOutbox(db);
    this.audit = new AuditLog(db);
  }

  /** Opens and migrates the ledger at `path` (`:memory:` for tests). */
  static open(path: string, options: OpenLedgerOptions = {}): Ledger {
    return new Ledger(openLedgerDb(path, options));
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction: everything it writes commits together (with
   * `synchronous=FULL`, durably) or not at all. Nested calls join the outer transaction.
   */
  transaction<T>(fn: () => T): T {
    if (this.#db.inTransaction) return fn();
    return this.#db.transaction(fn).immediate();
  }

  /** A value from `meta`. */
  getMeta(key: string): string | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  }

  /** Sets a value in `meta`. */
  setMeta(key: string, value: string): void {
    this.#db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  /** The applied schema version. */
  schemaVersion(): number {
    return schemaVersion(this.#db);
  }

  /** The raw handle, for tests that must tamper with rows. */
  get db(): Db {
    return this.#db;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

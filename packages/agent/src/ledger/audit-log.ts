/**
 * The agent's audit log as a SHA-256 hash chain (shared `audit-chain.ts`), append only.
 */
import { auditRecordSchema, chainRecord, verifyChain } from '@launchplane/shared';
import type { AuditRecord } from '@launchplane/shared';
import type { Db } from './ledger-db.js';

/** An audit record before the log numbers and chains it. */
export type AuditEntry = Omit<AuditRecord, 'seq' | 'prevHash' | 'hash'>;

/** Outcome of {@link AuditLog.verify}. */
export type AuditVerdict = { ok: true } | { ok: false; index: number; reason: string };

/** Audit rows of the ledger. */
export class AuditLog {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Numbers, chains and stores a record; returns the stored record. */
  append(entry: AuditEntry): AuditRecord {
    const last = this.#db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1').get() as
      { seq: number; hash: string } | undefined;
    const unchained = { ...entry, seq: (last?.seq ?? 0) + 1 };
    const record = auditRecordSchema.parse(
      chainRecord(last === undefined ? undefined : { hash: last.hash }, unchained),
    );
    this.#db
      .prepare('INSERT INTO audit (seq, record, hash) VALUES (?, ?, ?)')
      .run(record.seq, JSON.stringify(record), record.hash ?? '');
    return record;
  }

  /** Every record, in order (as stored: an edited row reads back edited). */
  all(): AuditRecord[] {
    const rows = this.#db.prepare('SELECT record FROM audit ORDER BY seq').all() as {
      record: string;
    }[];
    return rows.map((r) => JSON.parse(r.record) as AuditRecord);
  }

  /** Checks the whole chain; reports the first broken record. */
  verify(): AuditVerdict {
    const rows = this.#db.prepare('SELECT seq, record, hash FROM audit ORDER BY seq').all() as {
      seq: number;
      record: string;
      hash: string;
    }[];
    const records: object[] = [];
    for (const [index, row] of rows.entries()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(row.record);
      } catch {
        return { ok: false, index, reason: 'unreadable-record' };
      }
      if (typeof parsed !== 'object' || parsed === null) {
        return { ok: false, index, reason: 'unreadable-record' };
      }
      const rec = parsed as { seq?: unknown; hash?: unknown };
      if (rec.seq !== row.seq || rec.seq !== index + 1)
        return { ok: false, index, reason: 'seq-mismatch' };
      if (rec.hash !== row.hash) return { ok: false, index, reason: 'hash-column-mismatch' };
      records.push(parsed);
    }
    const verdict = verifyChain(records);
    return verdict.ok ? { ok: true } : { ok: false, index: verdict.index, reason: verdict.reason };
  }
}

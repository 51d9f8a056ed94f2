/**
 * shared's {@link ReplayStore} over SQLite: accepted `jti`s with their signed result, and the
 * `seq` high-water mark in `meta`, so `jti`, `seq` and the lane change commit together.
 */
import { LaunchplaneError } from '@launchplane/shared';
import type { ReplayRecord, ReplayStore } from '@launchplane/shared';
import type { Db } from './ledger-db.js';

const LAST_SEQ_KEY = 'command_last_seq';

/** Replay state in the ledger; results are signed result JWS strings. */
export class SqliteReplayStore implements ReplayStore<string> {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  get(jti: string): ReplayRecord<string> | undefined {
    const row = this.#db
      .prepare('SELECT jti, seq, forget_after, result FROM replay WHERE jti = ?')
      .get(jti) as
      { jti: string; seq: number; forget_after: number; result: string | null } | undefined;
    if (row === undefined) return undefined;
    return {
      jti: row.jti,
      seq: row.seq,
      forgetAfter: row.forget_after,
      result: row.result ?? undefined,
    };
  }

  lastSeq(): number | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(LAST_SEQ_KEY) as
      { value: string } | undefined;
    return row === undefined ? undefined : Number(row.value);
  }

  remember(record: ReplayRecord<string>): void {
    if (this.get(record.jti) !== undefined) {
      throw new LaunchplaneError('LP_REPLAYED', `Command "${record.jti}" was already accepted`, {
        details: { jti: record.jti },
      });
    }
    const last = this.lastSeq();
    if (last !== undefined && record.seq <= last) {
      throw new LaunchplaneError(
        'LP_SEQ_REGRESSION',
        `Command seq ${record.seq} is not above the last accepted seq ${last}`,
        { details: { seq: record.seq, lastSeq: last } },
      );
    }
    this.#db
      .prepare('INSERT INTO replay (jti, seq, forget_after, result) VALUES (?, ?, ?, ?)')
      .run(record.jti, record.seq, record.forgetAfter, record.result ?? null);
    this.#db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(LAST_SEQ_KEY, String(record.seq));
  }

  setResult(jti: string, result: string): void {
    this.#db.prepare('UPDATE replay SET result = ? WHERE jti = ?').run(result, jti);
  }

  prune(now: number): number {
    return this.#db.prepare('DELETE FROM replay WHERE forget_after <= ?').run(now).changes;
  }
}

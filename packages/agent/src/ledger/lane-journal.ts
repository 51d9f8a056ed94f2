/**
 * The lane journal: every step of a lane operation is recorded here BEFORE its side effect, so
 * crash recovery knows what may have happened. An operation is open from its `begin` row until
 * its `end` row.
 */
import type { LaneOp } from '../domain/recovery-decision.js';
import type { Db } from './ledger-db.js';

/** One journal row. */
export interface JournalEntry {
  id: number;
  laneId: string;
  op: LaneOp;
  step: string;
  /** Unix seconds. */
  at: number;
  detail: Record<string, unknown> | undefined;
}

interface JournalRow {
  id: number;
  lane_id: string;
  op: string;
  step: string;
  at: number;
  detail: string | null;
}

/** The open operation of a lane and its last recorded step. */
export interface OpenOperation {
  op: LaneOp;
  lastStep: string;
  steps: string[];
}

/** Journal rows of the ledger. */
export class LaneJournal {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Records a step (`begin`, an intent such as `start-unit`, or `end`). */
  record(
    laneId: string,
    op: LaneOp,
    step: string,
    at: number,
    detail?: Record<string, unknown>,
  ): void {
    this.#db
      .prepare('INSERT INTO lane_journal (lane_id, op, step, at, detail) VALUES (?, ?, ?, ?, ?)')
      .run(laneId, op, step, at, detail === undefined ? null : JSON.stringify(detail));
  }

  /** Every row of a lane, oldest first. */
  entries(laneId: string): JournalEntry[] {
    const rows = this.#db
      .prepare('SELECT * FROM lane_journal WHERE lane_id = ? ORDER BY id')
      .all(laneId) as JournalRow[];
    return rows.map((r) => ({
      id: r.id,
      laneId: r.lane_id,
      op: r.op as LaneOp,
      step: r.step,
      at: r.at,
      detail: r.detail === null ? undefined : (JSON.parse(r.detail) as Record<string, unknown>),
    }));
  }

  /** The lane's last operation if it has no `end` row. */
  openOperation(laneId: string): OpenOperation | undefined {
    const entries = this.entries(laneId);
    let start = -1;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (e === undefined) continue;
      if (e.step === 'end') return undefined;
      if (e.step === 'begin') {
        start = i;
        break;
      }
    }
    if (start < 0) return undefined;
    const open = entries.slice(start);
    const first = open[0];
    const last = open[open.length - 1];
    if (first === undefined || last === undefined) return undefined;
    return { op: first.op, lastStep: last.step, steps: open.map((e) => e.step) };
  }

  /** Lanes with an open operation. */
  lanesWithOpenOperation(): string[] {
    const rows = this.#db
      .prepare('SELECT DISTINCT lane_id FROM lane_journal ORDER BY lane_id')
      .all() as { lane_id: string }[];
    return rows.map((r) => r.lane_id).filter((id) => this.openOperation(id) !== undefined);
  }
}

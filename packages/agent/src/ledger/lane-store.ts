/**
 * The `lanes` table: owned lanes, written before any side effect touches systemd or Docker.
 */
import type { Backend, LaneState, Scope } from '@launchplane/shared';
import type { Db } from './ledger-db.js';
import type { LaneDockerSpec, LaneRecord } from './lane-record.js';

interface LaneRow {
  lane_id: string;
  name: string;
  pool: string;
  scope: string;
  backend: string;
  ephemeral: number;
  state: string;
  runner_id: number | null;
  labels: string;
  backend_state: string | null;
  restarts: number;
  last_health_at: number | null;
  recovery: string | null;
  created_at: number;
  updated_at: number;
  lane_dir: string;
  object_name: string;
  docker: string | null;
  failures: string;
  next_restart_at_ms: number | null;
}

function fromRow(r: LaneRow): LaneRecord {
  return {
    laneId: r.lane_id,
    name: r.name,
    pool: r.pool,
    scope: JSON.parse(r.scope) as Scope,
    backend: r.backend as Backend,
    ephemeral: r.ephemeral === 1,
    state: r.state as LaneState,
    runnerId: r.runner_id ?? undefined,
    labels: JSON.parse(r.labels) as string[],
    backendState: r.backend_state ?? undefined,
    restarts: r.restarts,
    lastHealthAt: r.last_health_at ?? undefined,
    recovery: r.recovery ?? undefined,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    laneDir: r.lane_dir,
    objectName: r.object_name,
    docker: r.docker === null ? undefined : (JSON.parse(r.docker) as LaneDockerSpec),
    failures: JSON.parse(r.failures) as number[],
    nextRestartAtMs: r.next_restart_at_ms ?? undefined,
  };
}

function toParams(l: LaneRecord): Record<string, unknown> {
  return {
    lane_id: l.laneId,
    name: l.name,
    pool: l.pool,
    scope: JSON.stringify(l.scope),
    backend: l.backend,
    ephemeral: l.ephemeral ? 1 : 0,
    state: l.state,
    runner_id: l.runnerId ?? null,
    labels: JSON.stringify(l.labels),
    backend_state: l.backendState ?? null,
    restarts: l.restarts,
    last_health_at: l.lastHealthAt ?? null,
    recovery: l.recovery ?? null,
    created_at: l.createdAt,
    updated_at: l.updatedAt,
    lane_dir: l.laneDir,
    object_name: l.objectName,
    docker: l.docker === undefined ? null : JSON.stringify(l.docker),
    failures: JSON.stringify(l.failures),
    next_restart_at_ms: l.nextRestartAtMs ?? null,
  };
}

const COLUMNS = [
  'lane_id',
  'name',
  'pool',
  'scope',
  'backend',
  'ephemeral',
  'state',
  'runner_id',
  'labels',
  'backend_state',
  'restarts',
  'last_health_at',
  'recovery',
  'created_at',
  'updated_at',
  'lane_dir',
  'object_name',
  'docker',
  'failures',
  'next_restart_at_ms',
];

/** Lane rows of the ledger. */
export class LaneStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  /** Inserts a new lane; a lane id already in the ledger (even removed) is a constraint error. */
  insert(lane: LaneRecord): void {
    this.#db
      .prepare(
        `INSERT INTO lanes (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})`,
      )
      .run(toParams(lane));
  }

  /** Replaces every field of an existing lane. */
  update(lane: LaneRecord): void {
    const info = this.#db
      .prepare(
        `UPDATE lanes SET ${COLUMNS.filter((c) => c !== 'lane_id')
          .map((c) => `${c} = @${c}`)
          .join(', ')} WHERE lane_id = @lane_id`,
      )
      .run(toParams(lane));
    if (info.changes !== 1) throw new Error(`Lane "${lane.laneId}" is not in the ledger`);
  }

  /** The lane, removed ones included. */
  get(laneId: string): LaneRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM lanes WHERE lane_id = ?').get(laneId) as
      LaneRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  /** Every lane not `removed`, oldest first. */
  active(): LaneRecord[] {
    const rows = this.#db
      .prepare("SELECT * FROM lanes WHERE state <> 'removed' ORDER BY created_at, lane_id")
      .all() as LaneRow[];
    return rows.map(fromRow);
  }

  /** Every lane, removed ones included, oldest first. */
  all(): LaneRecord[] {
    const rows = this.#db
      .prepare('SELECT * FROM lanes ORDER BY created_at, lane_id')
      .all() as LaneRow[];
    return rows.map(fromRow);
  }

  /** Lanes that are not removed. */
  countActive(): number {
    const row = this.#db
      .prepare("SELECT COUNT(*) AS n FROM lanes WHERE state <> 'removed'")
      .get() as { n: number };
    return row.n;
  }
}

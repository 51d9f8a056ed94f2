/**
 * The coordinator's SQLite schema, as numbered migrations. `PRAGMA user_version` holds the number
 * of migrations applied; a migration is never edited once released, only followed by another.
 */
import type { Database } from 'better-sqlite3';
import { LaunchplaneError } from '@launchplane/shared';

/** Each entry is one migration; its index + 1 is the schema version it produces. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
  CREATE TABLE hosts (
    host_id TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    enrolled_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_seen_at INTEGER,
    agent_version TEXT,
    opt_in TEXT,
    capabilities TEXT NOT NULL
  ) STRICT;
  CREATE TABLE operator_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  ) STRICT;
  CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    created_by TEXT NOT NULL
  ) STRICT;
  CREATE TABLE policy_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    actor TEXT NOT NULL
  ) STRICT;
  CREATE TABLE lanes (
    lane_id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    pool TEXT NOT NULL,
    state TEXT NOT NULL,
    record TEXT NOT NULL
  ) STRICT;
  CREATE INDEX lanes_host ON lanes (host_id);
  CREATE TABLE command_seq (host_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL) STRICT;
  CREATE TABLE commands (
    jti TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL
  ) STRICT;
  CREATE UNIQUE INDEX commands_host_seq ON commands (host_id, seq);
  CREATE TABLE agent_events (
    host_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (host_id, seq)
  ) STRICT;
  CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    host_id TEXT,
    lane_id TEXT,
    record TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_host ON audit (host_id, seq);
  CREATE INDEX audit_lane ON audit (lane_id, seq);
  CREATE INDEX audit_at ON audit (at);
  `,
  // 2: why a lane exists. `pool` lanes carry out the policy; `smoke` lanes are the disposable
  // lanes of `launchplane smoke`, which the planner and the reconciler leave alone.
  `
  ALTER TABLE lanes ADD COLUMN purpose TEXT NOT NULL DEFAULT 'pool'
    CHECK (purpose IN ('pool', 'smoke'));
  UPDATE lanes SET record = json_set(record, '$.purpose', 'pool')
    WHERE json_extract(record, '$.purpose') IS NULL;
  `,
  // 3: the job store. GitHub Actions jobs (from workflow_job webhooks and polling) and the
  // webhook delivery ids already taken, each pruned by retention.
  `
  CREATE TABLE jobs (
    job_id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'in_progress', 'completed')),
    queued_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    seen_at INTEGER NOT NULL,
    record TEXT NOT NULL
  ) STRICT;
  CREATE INDEX jobs_status ON jobs (status, repository);
  CREATE INDEX jobs_owner ON jobs (owner, status);
  CREATE INDEX jobs_completed ON jobs (completed_at);
  CREATE INDEX jobs_started ON jobs (started_at);
  CREATE INDEX jobs_seen ON jobs (seen_at);
  CREATE TABLE webhook_deliveries (
    delivery_id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX webhook_deliveries_at ON webhook_deliveries (received_at);
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `db` to {@link SCHEMA_VERSION}, each migration in its own transaction. Refuses a
 * database written by a newer coordinator (LP_CONFIG_INVALID) rather than guessing.
 */
export function migrate(db: Database): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Database schema version ${from} is newer than this coordinator's ${SCHEMA_VERSION}`,
      { recovery: 'Run a coordinator release at least as new as the one that wrote the database' },
    );
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v] ?? '';
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return { from, to: SCHEMA_VERSION };
}

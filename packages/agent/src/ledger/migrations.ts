/**
 * The ledger's schema as an ordered list of migrations. Append only: a released migration is
 * never edited, a change is a new entry.
 */

/** One schema step. `version` is its position, from 1. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE lanes (
        lane_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        pool TEXT NOT NULL,
        scope TEXT NOT NULL,
        backend TEXT NOT NULL CHECK (backend IN ('systemd', 'docker')),
        ephemeral INTEGER NOT NULL,
        state TEXT NOT NULL,
        runner_id INTEGER,
        labels TEXT NOT NULL,
        backend_state TEXT,
        restarts INTEGER NOT NULL DEFAULT 0,
        last_health_at INTEGER,
        recovery TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        lane_dir TEXT NOT NULL,
        object_name TEXT NOT NULL,
        docker TEXT,
        failures TEXT NOT NULL DEFAULT '[]',
        next_restart_at_ms INTEGER
      ) STRICT;

      CREATE TABLE lane_journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        lane_id TEXT NOT NULL,
        op TEXT NOT NULL,
        step TEXT NOT NULL,
        at INTEGER NOT NULL,
        detail TEXT
      ) STRICT;
      CREATE INDEX lane_journal_lane ON lane_journal (lane_id, id);

      CREATE TABLE replay (
        jti TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        forget_after INTEGER NOT NULL,
        result TEXT
      ) STRICT;
      CREATE INDEX replay_forget ON replay (forget_after);

      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        jws TEXT NOT NULL
      ) STRICT;

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        record TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
    `,
  },
];

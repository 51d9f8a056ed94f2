/**
 * Opens the agent's SQLite ledger: WAL, `synchronous=FULL`, foreign keys on, and every pending
 * migration applied in its own transaction.
 */
import { nowSec } from '@launchplane/shared';
import { systemClock } from '../ports/clock.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { LaunchplaneError } from '@launchplane/shared';
import { MIGRATIONS, type Migration } from './migrations.js';

/** A better-sqlite3 handle. */
export type Db = Database.Database;

/** Options of {@link openLedgerDb}. */
export interface OpenLedgerOptions {
  /** The migration list; default {@link MIGRATIONS}. Tests pass longer lists. */
  migrations?: readonly Migration[];
}

/** Opens (creating if needed) the ledger at `path` (`:memory:` for tests) and migrates it. */
export function openLedgerDb(path: string, options: OpenLedgerOptions = {}): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, options.migrations ?? MIGRATIONS);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** The schema version of an open ledger (0 for an empty database). */
export function schemaVersion(db: Db): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as
    { v: number | null } | undefined;
  return row?.v ?? 0;
}

/** Applies every migration above the current version, each in its own transaction. */
export function migrate(db: Db, migrations: readonly Migration[]): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
  );
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`Migration "${m.name}" must have version ${i + 1}`);
  });
  const current = schemaVersion(db);
  if (current > migrations.length) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Ledger schema version ${current} is newer than this agent knows (${migrations.length})`,
      { recovery: 'Run the agent version that wrote this ledger, or restore a backup' },
    );
  }
  for (const m of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        nowSec(systemClock),
      );
    })();
  }
  return schemaVersion(db);
}

/**
 * `<dataDir>/private/agent.pid`: one daemon per data directory. Two daemons on one ledger would
 * run recovery and health passes against each other's lanes; `lane remove --local` takes the same
 * lock so it never races a running daemon. A daemon from before the `private/` layout holds
 * `<dataDir>/agent.pid`: that counts as held too.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { LaunchplaneError } from '@launchplane/shared';
import { dataPaths, ensureDataDir, legacyPath, migrateDataDir } from './data-dir.js';
import type { MigrationResult } from './data-dir.js';
import { processAlive } from './status-file.js';

/** A held lock; `release()` is idempotent. */
export interface PidLock {
  path: string;
  release(): Promise<void>;
}

async function livePid(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid holding the lock (in either layout), when a live process does. */
export async function lockHolder(dataDir: string): Promise<number | undefined> {
  return (await livePid(dataPaths(dataDir).pid)) ?? (await livePid(legacyPath(dataDir, 'pid')));
}

/**
 * Takes the lock for this process, replacing a stale one (its process is gone). Refuses with
 * `LP_CONFLICT` when a live process holds it. Makes the data directory's layout if missing.
 */
export async function acquirePidLock(dataDir: string, what: string): Promise<PidLock> {
  const { pid: path } = await ensureDataDir(dataDir);
  const conflict = (holder: number): LaunchplaneError =>
    new LaunchplaneError(
      'LP_CONFLICT',
      `Cannot ${what}: the agent daemon (pid ${holder}) is running on "${dataDir}"`,
      {
        recovery: `Stop it first (\`systemctl stop launchplane-agent\`); if no agent runs, remove "${path}"`,
      },
    );
  const legacy = await livePid(legacyPath(dataDir, 'pid'));
  if (legacy !== undefined && legacy !== process.pid) throw conflict(legacy);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      let released = false;
      return {
        path,
        release: async () => {
          if (released) return;
          released = true;
          await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await livePid(path);
      if (holder !== undefined) throw conflict(holder);
      // Stale: the process that wrote it is gone.
      await rm(path, { force: true });
    }
  }
  throw new LaunchplaneError('LP_CONFLICT', `Cannot ${what}: lock "${path}" keeps reappearing`);
}

/**
 * Migrates a legacy data directory (see `data-dir.ts`) when no daemon runs on it, under the lock;
 * with a daemon running it only makes the missing directories and leaves the files where the
 * daemon uses them (that daemon, or the next one, migrates at its start). Used by `enroll`.
 */
export async function migrateIfNoDaemon(dataDir: string): Promise<MigrationResult | undefined> {
  let lock: PidLock;
  try {
    lock = await acquirePidLock(dataDir, 'migrate the data directory');
  } catch (error) {
    if (error instanceof LaunchplaneError && error.code === 'LP_CONFLICT') return undefined;
    throw error;
  }
  try {
    return await migrateDataDir(dataDir);
  } finally {
    await lock.release();
  }
}

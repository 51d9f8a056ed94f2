/**
 * `<dataDir>/agent.pid`: one daemon per data directory. Two daemons on one ledger would run
 * recovery and health passes against each other's lanes; `lane remove --local` takes the same lock
 * so it never races a running daemon.
 */
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LaunchplaneError } from '@launchplane/shared';
import { processAlive } from './status-file.js';

export const PID_FILE = 'agent.pid';

/** A held lock; `release()` is idempotent. */
export interface PidLock {
  path: string;
  release(): Promise<void>;
}

/** The pid holding the lock, when a live process does. */
export async function lockHolder(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(join(dataDir, PID_FILE), 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock for this process, replacing a stale one (its process is gone). Refuses with
 * `LP_CONFLICT` when a live process holds it.
 */
export async function acquirePidLock(dataDir: string, what: string): Promise<PidLock> {
  const path = join(dataDir, PID_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
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
      const holder = await lockHolder(dataDir);
      if (holder !== undefined) {
        throw new LaunchplaneError(
          'LP_CONFLICT',
          `Cannot ${what}: the agent daemon (pid ${holder}) is running on "${dataDir}"`,
          {
            recovery: `Stop it first (\`systemctl stop launchplane-agent\`); if no agent runs, remove "${path}"`,
          },
        );
      }
      // Stale: the process that wrote it is gone.
      await rm(path, { force: true });
    }
  }
  throw new LaunchplaneError('LP_CONFLICT', `Cannot ${what}: lock "${path}" keeps reappearing`);
}

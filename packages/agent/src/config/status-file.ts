/**
 * `<dataDir>/private/status.json`: what the running daemon last knew about its session, backends and
 * health loop, for `launchplane-agent status`. Written atomically by the daemon only; the CLI
 * reads it and checks the pid, so a stale file from a dead daemon never reads as "connected".
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { LaunchplaneError } from '@launchplane/shared';
import { writeFileAtomic } from './config-file.js';
import { dataPaths, locateDataFile } from './data-dir.js';

const backendStatusSchema = z.object({
  optedIn: z.boolean(),
  available: z.boolean(),
  error: z.string().optional(),
});

/** The status file's content. Times are Unix ms. */
export const daemonStatusSchema = z.object({
  pid: z.number().int().positive(),
  agentVersion: z.string(),
  startedAt: z.number(),
  updatedAt: z.number(),
  /** True once the daemon stopped cleanly. */
  stopped: z.boolean(),
  session: z.object({
    state: z.string(),
    url: z.string(),
    coordinatorId: z.string(),
    connectedSince: z.number().optional(),
    lastConnectedAt: z.number().optional(),
    lastDisconnectedAt: z.number().optional(),
    lastCloseCode: z.number().optional(),
    lastError: z.string().optional(),
    attempt: z.number(),
    nextRetryAt: z.number().optional(),
  }),
  backends: z.object({ systemd: backendStatusSchema, docker: backendStatusSchema }),
  lanes: z.number().int().nonnegative(),
  /** Unix ms of the last health pass. */
  lastHealthAt: z.number().optional(),
  /** Unix ms since when the health pass in progress runs. */
  healthPassStartedAt: z.number().optional(),
  /** The lane hardening the host supports (systemd lanes; `lanes/hardening-probe.ts`). */
  hardening: z
    .object({
      applied: z.array(z.string()),
      omitted: z.array(z.object({ setting: z.string(), reason: z.string() })),
      probedAs: z.string().optional(),
    })
    .optional(),
});
export type DaemonStatus = z.infer<typeof daemonStatusSchema>;
export type BackendStatus = z.infer<typeof backendStatusSchema>;

/** The path of the status file in `dataDir` (where an unmigrated host keeps it, if it does). */
export function statusFilePath(dataDir: string): string {
  return locateDataFile(dataDir, 'status');
}

/** Writes the status file atomically (mode 0600, in `private/`: only the agent's users read it). */
export async function writeStatusFile(dataDir: string, status: DaemonStatus): Promise<void> {
  await writeFileAtomic(dataPaths(dataDir).status, `${JSON.stringify(status)}\n`, 0o600);
}

/**
 * Reads the status file; undefined when there is none or it is garbled. A file this user may not
 * read is an error, not "no daemon": the answer would be wrong.
 */
export async function readStatusFile(dataDir: string): Promise<DaemonStatus | undefined> {
  let text: string;
  try {
    text = await readFile(statusFilePath(dataDir), 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new LaunchplaneError('LP_FORBIDDEN', `Cannot read "${statusFilePath(dataDir)}"`, {
        cause,
        recovery: 'Run the command as the user the agent runs as (usually root)',
      });
    }
    return undefined;
  }
  try {
    const parsed = daemonStatusSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid exists (signal 0 probes without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

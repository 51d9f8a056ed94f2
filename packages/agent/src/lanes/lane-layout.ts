/**
 * The runner directory of a lane (`dataDir/lanes/<laneId>/`): a copy of the runner template plus
 * Launchplane's own files in `_launchplane/` — the job hooks that feed the local busy signal, the
 * launch script the unit or container runs, and (ephemeral lanes) the JIT config in a 0600 file so
 * the secret is never in a unit file, a container config, the agent's argv, a log or the audit.
 * The JIT config is deleted once the runner has turned it into `.runner` and `.credentials`
 * ({@link discardJitConfig}); a later start runs from those files. (Runner.Listener writes every
 * file of a `--jitconfig` into its root before it loads its settings: actions/runner
 * src/Runner.Listener/Runner.cs, `ExecuteCommand`.)
 *
 * The whole directory belongs to the user the lane runs as, with modes set explicitly (the agent
 * runs with `UMask=0077`): the lane dir 0700, Launchplane's directories 0755 and scripts 0755
 * inside it, the JIT config 0600.
 *
 * Every script uses shell builtins only: it must run under a bare busybox `sh` in a container too.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, lchown, lstat, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalBusy } from '@launchplane/shared';
import { LaunchplaneError } from '@launchplane/shared';
import { LANE_DIR_MODE, laneDirOf } from '../config/data-dir.js';
import { laneFileMtime, readLaneFile } from './lane-file-reader.js';
import { EXIT_LAUNCH_FAILED } from '../domain/runner-exit.js';

export { laneDirOf };

/** Launchplane's directory inside a lane dir. */
export const LP_DIR = '_launchplane';
/** Where the lane dir is mounted in a docker lane. */
export const CONTAINER_LANE_DIR = '/actions-runner';

/** Paths of a lane's own files, relative to the lane dir. */
export const LANE_FILES = {
  launch: `${LP_DIR}/launch.sh`,
  jobStartedHook: `${LP_DIR}/hooks/job-started.sh`,
  jobCompletedHook: `${LP_DIR}/hooks/job-completed.sh`,
  jit: `${LP_DIR}/jit`,
  jobsLog: `${LP_DIR}/state/jobs`,
  jobStarted: `${LP_DIR}/state/job-started`,
  jobCompleted: `${LP_DIR}/state/job-completed`,
} as const;

/** The runner's own config files: written by `config.sh` or from the JIT config at start. */
export const RUNNER_FILES = { settings: '.runner', credentials: '.credentials' } as const;

const HOOK_STARTED = `#!/bin/sh
# Written by launchplane-agent: records a job start for the lane's local busy signal.
d="\${0%/*}/../state"
echo started >> "$d/jobs"
: > "$d/job-started"
`;

const HOOK_COMPLETED = `#!/bin/sh
# Written by launchplane-agent: records a job end for the lane's local busy signal.
d="\${0%/*}/../state"
echo completed >> "$d/jobs"
: > "$d/job-completed"
`;

function launchScript(ephemeral: boolean): string {
  const run = ephemeral
    ? `# Configured already (the runner wrote .runner from the JIT config at its first start): the JIT
# config is spent and deleted, and the runner starts from its own files.
if [ -e ${RUNNER_FILES.settings} ]; then exec ./run.sh; fi
IFS= read -r jit < ${LANE_FILES.jit} || [ -n "$jit" ] || { echo "launch.sh: no JIT config and no .runner" >&2; exit ${EXIT_LAUNCH_FAILED}; }
# The runner reads --jitconfig from this variable (and clears it), so the secret never shows in
# the world-readable command line of a process.
ACTIONS_RUNNER_INPUT_JITCONFIG=$jit
export ACTIONS_RUNNER_INPUT_JITCONFIG
exec ./run.sh`
    : 'exec ./run.sh';
  return `#!/bin/sh
# Written by launchplane-agent: the entry point of this lane's unit or container.
cd "\${0%/*}/.." || exit ${EXIT_LAUNCH_FAILED}
${run}
`;
}

/** Options of {@link layoutLaneDir}. */
export interface LayoutOptions {
  /** The runner template (an extracted actions/runner release, or the stub runner). */
  template: string;
  laneDir: string;
  ephemeral: boolean;
  /** The JIT config of an ephemeral lane; written 0600 and nowhere else. */
  jitConfig?: string;
  /** When set, the whole lane dir is handed to this user (the user the lane runs as). */
  owner?: { uid: number; gid: number } | undefined;
}

const HOOKS_DIR = join(LP_DIR, 'hooks');
const STATE_DIR = join(LP_DIR, 'state');

/**
 * Lays out a lane dir from the template. The dir must not exist yet: a leftover from another lane
 * is never reused (LP_CONFLICT).
 */
export async function layoutLaneDir(options: LayoutOptions): Promise<void> {
  const { laneDir, template } = options;
  if (await exists(laneDir)) {
    throw new LaunchplaneError('LP_CONFLICT', `Lane directory "${laneDir}" already exists`, {
      recovery: 'Inspect the directory; remove it if no lane uses it',
    });
  }
  try {
    await stat(template);
  } catch (error) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Runner template "${template}" cannot be read`,
      {
        recovery: 'Set runner.template in the agent config to an extracted actions/runner release',
        cause: error,
      },
    );
  }
  await mkdir(join(laneDir, '..'), { recursive: true, mode: 0o755 });
  await cp(template, laneDir, {
    recursive: true,
    preserveTimestamps: true,
    errorOnExist: true,
    force: false,
  });
  // Modes are set, not left to the umask: the lane's user owns and alone may enter the lane dir.
  await chmod(laneDir, LANE_DIR_MODE);
  for (const d of [LP_DIR, HOOKS_DIR, STATE_DIR]) {
    await mkdir(join(laneDir, d), { recursive: true, mode: 0o755 });
    await chmod(join(laneDir, d), 0o755);
  }
  for (const [file, text] of [
    [LANE_FILES.jobStartedHook, HOOK_STARTED],
    [LANE_FILES.jobCompletedHook, HOOK_COMPLETED],
    [LANE_FILES.launch, launchScript(options.ephemeral)],
  ] as const) {
    await writeFile(join(laneDir, file), text, { mode: 0o755, flag: 'wx' });
    await chmod(join(laneDir, file), 0o755);
  }
  if (options.ephemeral) {
    if (options.jitConfig === undefined) {
      throw new LaunchplaneError('LP_INVALID_MESSAGE', 'An ephemeral lane needs a JIT config');
    }
    await writeFile(join(laneDir, LANE_FILES.jit), `${options.jitConfig}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    await chmod(join(laneDir, LANE_FILES.jit), 0o600);
  }
  if (options.owner !== undefined) await chownLaneDir(laneDir, options.owner);
}

/**
 * Hands a lane dir the agent just laid out to a user, never following symlinks (`lchown`, and
 * `readdir` does not descend into a linked directory). Not for a directory a lane has used: its
 * user could swap a path for a link meanwhile.
 */
export async function chownLaneDir(
  dir: string,
  owner: { uid: number; gid: number },
): Promise<void> {
  await lchown(dir, owner.uid, owner.gid);
  const entries = await readdir(dir, { recursive: true });
  for (const entry of entries) await lchown(join(dir, entry), owner.uid, owner.gid);
}

/** Whether the runner is configured: its `.runner` file is there (a regular file, not a link). */
export async function runnerConfigured(laneDir: string): Promise<boolean> {
  try {
    return (await lstat(join(laneDir, RUNNER_FILES.settings))).isFile();
  } catch {
    return false;
  }
}

/**
 * Deletes an ephemeral lane's JIT config once it is spent: the runner has written `.runner` from
 * it (it does so at its start), or the lane is over (`force`). Resolves with whether it was there
 * to delete.
 *
 * The lane's user owns `_launchplane/` and could swap it for a link elsewhere, so the file is
 * unlinked by a child running as the lane dir's owner, never by root: at worst it deletes what
 * that user could delete anyway.
 */
export async function discardJitConfig(laneDir: string, force = false): Promise<boolean> {
  const jit = join(laneDir, LANE_FILES.jit);
  if (!(await exists(jit))) return false;
  if (!force && !(await runnerConfigured(laneDir))) return false;
  const owner = await lstat(laneDir);
  await new Promise<void>((resolve, reject) => {
    execFile(
      '/bin/rm',
      ['-f', '--', jit],
      { uid: owner.uid, gid: owner.gid, env: {}, timeout: 30_000 },
      (error) => {
        if (error === null) resolve();
        else
          reject(
            new LaunchplaneError(
              'LP_BACKEND_FAILED',
              `Cannot delete the spent JIT config of "${laneDir}"`,
              {
                cause: error,
              },
            ),
          );
      },
    );
  });
  return true;
}

/** Whether a path exists (without following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Most bytes of `.runner` the agent reads (the runner writes a few hundred). */
export const MAX_RUNNER_FILE_BYTES = 64 * 1024;
/** Most bytes of the hooks' job log the agent reads: 18 bytes a job, some 58,000 jobs. */
export const MAX_JOBS_LOG_BYTES = 1024 * 1024;

/**
 * The runner id a configured (persistent) runner wrote to its `.runner` file (`agentId`), or
 * undefined when there is none or it cannot be read safely (see `lane-file-reader.ts`).
 */
export async function readRunnerId(laneDir: string): Promise<number | undefined> {
  const read = await readLaneFile(laneDir, RUNNER_FILES.settings, {
    maxBytes: MAX_RUNNER_FILE_BYTES,
  });
  if (read.kind !== 'text') return undefined;
  try {
    // actions/runner writes it with a UTF-8 BOM.
    const parsed = JSON.parse(read.text.replace(/^\uFEFF/, '')) as { agentId?: unknown };
    const id = Number(parsed.agentId);
    return Number.isSafeInteger(id) && id > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/** What the job hooks recorded. */
export interface HookSignal {
  jobRunning: boolean;
  jobsCompleted: number;
  lastJobStartedAt?: number;
  lastJobCompletedAt?: number;
  /**
   * Why the hooks' record could not be read (a FIFO, a link, too large, …): then `jobRunning`
   * and `jobsCompleted` say nothing, and a running lane counts as busy.
   */
  unreadable?: string;
}

/**
 * Reads the hooks' files of a lane: a job runs when the last hook line is `started`. Every read
 * is bounded and refuses anything but a small regular file of the lane's user
 * (`lane-file-reader.ts`).
 */
export async function readHookSignal(laneDir: string): Promise<HookSignal> {
  const read = await readLaneFile(laneDir, LANE_FILES.jobsLog, { maxBytes: MAX_JOBS_LOG_BYTES });
  const lines =
    read.kind === 'text'
      ? read.text
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l !== '')
      : [];
  const started = await laneFileMtime(laneDir, LANE_FILES.jobStarted);
  const completed = await laneFileMtime(laneDir, LANE_FILES.jobCompleted);
  return {
    jobRunning: lines.at(-1) === 'started',
    jobsCompleted: lines.filter((l) => l === 'completed').length,
    ...(started === undefined ? {} : { lastJobStartedAt: started }),
    ...(completed === undefined ? {} : { lastJobCompletedAt: completed }),
    ...(read.kind === 'unreadable' ? { unreadable: read.reason } : {}),
  };
}

/**
 * The local busy signal: hooks or a live `Runner.Worker` say a job runs. A record that cannot be
 * read is never taken for "idle": the lane counts as busy, and the reason is reported.
 */
export function localBusy(hooks: HookSignal, workerProcess: boolean): LocalBusy {
  return {
    busy: hooks.jobRunning || workerProcess || hooks.unreadable !== undefined,
    jobRunning: hooks.jobRunning,
    workerProcess,
    ...(hooks.lastJobStartedAt === undefined ? {} : { lastJobStartedAt: hooks.lastJobStartedAt }),
    ...(hooks.lastJobCompletedAt === undefined
      ? {}
      : { lastJobCompletedAt: hooks.lastJobCompletedAt }),
    jobsCompleted: hooks.jobsCompleted,
    ...(hooks.unreadable === undefined ? {} : { unreadable: hooks.unreadable.slice(0, 500) }),
  };
}

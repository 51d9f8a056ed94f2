/**
 * The runner directory of a lane (`dataDir/lanes/<laneId>/`): a copy of the runner template plus
 * Launchplane's own files in `_launchplane/` — the job hooks that feed the local busy signal, the
 * launch script the unit or container runs, and (ephemeral lanes) the JIT config in a 0600 file so
 * the secret is never in a unit file, a container config, the agent's argv, a log or the audit.
 *
 * Every script uses shell builtins only: it must run under a bare busybox `sh` in a container too.
 */
import {
  chmod,
  cp,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalBusy } from '@launchplane/shared';
import { LaunchplaneError, isLaneId } from '@launchplane/shared';

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

/** The directory of a lane under `dataDir`. */
export function laneDirOf(dataDir: string, laneId: string): string {
  if (!isLaneId(laneId)) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid lane id ${JSON.stringify(laneId.slice(0, 64))}`,
    );
  }
  return join(dataDir, 'lanes', laneId);
}

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
    ? `IFS= read -r jit < ${LANE_FILES.jit} || [ -n "$jit" ] || { echo "launch.sh: no JIT config" >&2; exit 1; }
# The runner reads --jitconfig from this variable (and clears it), so the secret never shows in
# the world-readable command line of a process.
ACTIONS_RUNNER_INPUT_JITCONFIG=$jit
export ACTIONS_RUNNER_INPUT_JITCONFIG
exec ./run.sh`
    : 'exec ./run.sh';
  return `#!/bin/sh
# Written by launchplane-agent: the entry point of this lane's unit or container.
cd "\${0%/*}/.." || exit 1
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
  /** When set, the whole lane dir is handed to this user (the unit's `User=`). */
  owner?: { uid: number; gid: number } | undefined;
}

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
  await mkdir(join(laneDir, LP_DIR, 'hooks'), { recursive: true, mode: 0o755 });
  await mkdir(join(laneDir, LP_DIR, 'state'), { recursive: true, mode: 0o755 });
  await writeFile(join(laneDir, LANE_FILES.jobStartedHook), HOOK_STARTED, { mode: 0o755 });
  await writeFile(join(laneDir, LANE_FILES.jobCompletedHook), HOOK_COMPLETED, { mode: 0o755 });
  await writeFile(join(laneDir, LANE_FILES.launch), launchScript(options.ephemeral), {
    mode: 0o755,
  });
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
  if (options.owner !== undefined) await chownTree(laneDir, options.owner);
}

/** Hands a directory tree to a user, never following symlinks. */
async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await lchown(dir, owner.uid, owner.gid);
  const entries = await readdir(dir, { recursive: true });
  for (const entry of entries) await lchown(join(dir, entry), owner.uid, owner.gid);
}

/** Deletes a lane dir (missing is fine). */
export async function removeLaneDir(laneDir: string): Promise<void> {
  await rm(laneDir, { recursive: true, force: true, maxRetries: 3 });
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

/**
 * The runner id a configured (persistent) runner wrote to its `.runner` file (`agentId`), or
 * undefined when there is none.
 */
export async function readRunnerId(laneDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(laneDir, '.runner'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    // actions/runner writes it with a UTF-8 BOM.
    const parsed = JSON.parse(text.replace(/^\uFEFF/, '')) as { agentId?: unknown };
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
}

/** Reads the hooks' files of a lane: a job runs when the last hook line is `started`. */
export async function readHookSignal(laneDir: string): Promise<HookSignal> {
  let lines: string[] = [];
  try {
    lines = (await readFile(join(laneDir, LANE_FILES.jobsLog), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  } catch {
    // no job yet
  }
  const mtime = async (p: string): Promise<number | undefined> => {
    try {
      return Math.floor((await stat(join(laneDir, p))).mtimeMs / 1000);
    } catch {
      return undefined;
    }
  };
  const started = await mtime(LANE_FILES.jobStarted);
  const completed = await mtime(LANE_FILES.jobCompleted);
  return {
    jobRunning: lines.at(-1) === 'started',
    jobsCompleted: lines.filter((l) => l === 'completed').length,
    ...(started === undefined ? {} : { lastJobStartedAt: started }),
    ...(completed === undefined ? {} : { lastJobCompletedAt: completed }),
  };
}

/** The local busy signal: hooks or a live `Runner.Worker` say a job runs. */
export function localBusy(hooks: HookSignal, workerProcess: boolean): LocalBusy {
  return {
    busy: hooks.jobRunning || workerProcess,
    jobRunning: hooks.jobRunning,
    workerProcess,
    ...(hooks.lastJobStartedAt === undefined ? {} : { lastJobStartedAt: hooks.lastJobStartedAt }),
    ...(hooks.lastJobCompletedAt === undefined
      ? {}
      : { lastJobCompletedAt: hooks.lastJobCompletedAt }),
    jobsCompleted: hooks.jobsCompleted,
  };
}

import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** Name of the actions/runner process that runs a job; its presence means the lane is busy. */
export const RUNNER_WORKER = 'Runner.Worker';

/** A process as /proc shows it. */
export interface ProcInfo {
  pid: number;
  /** `/proc/<pid>/comm`: the executable's name, cut to 15 bytes by the kernel. */
  comm: string;
  /** `/proc/<pid>/cmdline` split on NUL. */
  argv: string[];
}

/** Options of the /proc readers. */
export interface ProcOptions {
  /** Mount point of procfs. Default `/proc`. */
  procRoot?: string;
}

/** Reads one process, or undefined when it is gone (processes exit while we look). */
export async function readProc(
  pid: number,
  options: ProcOptions = {},
): Promise<ProcInfo | undefined> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const dir = join(options.procRoot ?? '/proc', String(pid));
  try {
    const [comm, cmdline] = await Promise.all([
      readFile(join(dir, 'comm'), 'utf8'),
      readFile(join(dir, 'cmdline')),
    ]);
    const argv = cmdline.toString('utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    return { pid, comm: comm.replace(/\n$/, ''), argv };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw error;
  }
}

/**
 * Whether a process is a runner worker: the `Runner.Worker` apphost (by `comm` or argv[0]), or
 * `dotnet … Runner.Worker.dll`.
 */
export function isRunnerWorker(proc: Pick<ProcInfo, 'comm' | 'argv'>): boolean {
  if (proc.comm === RUNNER_WORKER) return true;
  const [argv0, ...rest] = proc.argv;
  if (argv0 !== undefined && basename(argv0) === RUNNER_WORKER) return true;
  return rest.some((arg) => basename(arg) === `${RUNNER_WORKER}.dll`);
}

/**
 * The runner workers among `pids` (e.g. a unit's cgroup). An empty result means no job runs
 * there right now, as far as processes tell.
 */
export async function findRunnerWorkers(
  pids: readonly number[],
  options: ProcOptions = {},
): Promise<ProcInfo[]> {
  const procs = await Promise.all(pids.map((pid) => readProc(pid, options)));
  return procs.filter((p): p is ProcInfo => p !== undefined && isRunnerWorker(p));
}

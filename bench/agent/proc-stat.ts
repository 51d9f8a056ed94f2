/**
 * CPU time and resident memory of processes, read from /proc. CPU counts the process's own time
 * plus that of children it has reaped (`cutime`/`cstime`), so a daemon that spawns helpers (dockerd
 * running `ps` for a container's processes) is charged for them too.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`, 100 nearly everywhere). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    } catch {
      ticksPerSecond = 100;
    }
    if (!Number.isFinite(ticksPerSecond) || ticksPerSecond <= 0) ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

/** CPU time of one process, in ms. */
export interface CpuTimes {
  /** utime + stime: the process itself. */
  selfMs: number;
  /** cutime + cstime: children it has waited for. */
  childrenMs: number;
}

/** CPU times of `pid` (`self` for this process); undefined once the process is gone. */
export function cpuTimes(pid: number | 'self'): CpuTimes | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: the fields after it start at the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime..cstime are fields 14..17.
  const tick = 1000 / clockTicks();
  const at = (field: number): number => Number(fields[field - 3] ?? 0) * tick;
  return { selfMs: at(14) + at(15), childrenMs: at(16) + at(17) };
}

/** VmRSS of `pid` in KiB; undefined once the process is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** A named set of processes whose CPU use is compared between two points in time. */
export class CpuMeter {
  readonly #pids: ReadonlyMap<string, number | 'self'>;

  constructor(pids: ReadonlyMap<string, number | 'self'>) {
    this.#pids = pids;
  }

  /** A snapshot: per name, self + reaped children CPU in ms. */
  snapshot(): Map<string, CpuTimes> {
    const snap = new Map<string, CpuTimes>();
    for (const [name, pid] of this.#pids) {
      const t = cpuTimes(pid);
      if (t !== undefined) snap.set(name, t);
    }
    return snap;
  }

  /** CPU ms used per name between two snapshots (self and children together). */
  static diff(before: Map<string, CpuTimes>, after: Map<string, CpuTimes>): Map<string, CpuTimes> {
    const out = new Map<string, CpuTimes>();
    for (const [name, a] of after) {
      const b = before.get(name);
      if (b === undefined) continue;
      out.set(name, { selfMs: a.selfMs - b.selfMs, childrenMs: a.childrenMs - b.childrenMs });
    }
    return out;
  }
}

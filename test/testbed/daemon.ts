/**
 * A long-running child process of the testbed (dbus-daemon, systemd, dockerd) that is always
 * reaped: stop() signals it and waits, and an `exit` hook SIGTERMs whatever is still alive if the
 * test process dies first.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';

/** A spawned daemon. */
export interface Daemon {
  readonly pid: number;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** True until the process exits. */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (default 15 000); resolves when it is gone. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

const live = new Set<number>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // SIGTERM, not SIGKILL: it is all an exit hook can send, and it lets systemd stop its units and
  // dockerd its containers and containerd on the way out.
  process.once('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

/** Spawns `argv` with stdout/stderr appended to `logFile`. */
export function spawnDaemon(
  argv: readonly string[],
  options: {
    env: NodeJS.ProcessEnv;
    logFile: string;
    cwd?: string;
    /** Where to record the PID, so a later run can stop the daemon if this one dies (cleanup.ts). */
    pidFile?: string;
  },
): Daemon {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('spawnDaemon: empty argv');
  const fd = openSync(options.logFile, 'a');
  const child = spawn(cmd, args, {
    env: options.env,
    cwd: options.cwd,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let running = true;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      if (child.pid !== undefined) live.delete(child.pid);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', () => {
      running = false;
      resolve('spawn-error');
    });
  });
  if (child.pid === undefined) {
    throw new Error(`Cannot start ${cmd}: spawn failed`);
  }
  live.add(child.pid);
  hookExit();
  if (options.pidFile !== undefined) writeFileSync(options.pidFile, String(child.pid));
  const pid = child.pid;
  return {
    pid,
    exited,
    alive: () => running,
    async stop({ graceMs = 15_000 } = {}) {
      if (!running) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

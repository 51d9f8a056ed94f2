// Runs one job at a time in a Runner.Worker process, as the real listener's JobDispatcher does:
// the job goes to the worker over a channel (never on its command line), a cancel request or the
// runner's shutdown is sent the same way, and a worker that has not finished KILL_GRACE_MS later
// is killed. The worker's exit code is 100 + the job's TaskResult.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './local-config.mjs';
import { log } from './log.mjs';

const KILL_GRACE_MS = Number(process.env.LAUNCHPLANE_STUB_KILL_GRACE_MS ?? '2000');

/** TaskResult of actions/runner, as the worker's exit code minus 100. */
const RESULT_BY_EXIT = { 100: 'succeeded', 101: 'succeeded', 102: 'failed', 103: 'cancelled' };

let tempBin;

/** A path named Runner.Worker that is node: a symlink in bin/, else in a private temp dir. */
function workerExecutable() {
  const candidates = [join(ROOT, 'bin')];
  try {
    tempBin ??= mkdtempSync(join(tmpdir(), 'launchplane-stub-worker-'));
    candidates.push(tempBin);
    process.once('exit', () => rmSync(tempBin, { recursive: true, force: true }));
  } catch {
    // no writable temp dir either
  }
  for (const dir of candidates) {
    const link = join(dir, 'Runner.Worker');
    try {
      mkdirSync(dir, { recursive: true });
      try {
        unlinkSync(link);
      } catch {
        // absent: fine
      }
      symlinkSync(process.execPath, link);
      return { file: link };
    } catch {
      // read-only: try the next place
    }
  }
  // Last resort: the name shows in /proc/<pid>/cmdline only.
  return { file: process.execPath, argv0: 'Runner.Worker' };
}

export class JobDispatcher {
  #current = null; // { job, child, cancelled, killTimer }
  #worker;

  constructor(runnerSettings) {
    this.runnerSettings = runnerSettings;
  }

  /** The job running now, or null. */
  get busyWith() {
    return this.#current?.job ?? null;
  }

  /** Runs `job` in a worker; resolves 'succeeded', 'failed' or 'cancelled'. */
  run(job) {
    this.#worker ??= workerExecutable();
    const worker = this.#worker;
    return new Promise((resolve) => {
      const child = spawn(worker.file, [join(ROOT, 'lib', 'worker.mjs'), 'spawnclient'], {
        cwd: ROOT,
        env: process.env,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        ...(worker.argv0 === undefined ? {} : { argv0: worker.argv0 }),
      });
      const current = { job, child, cancelled: false, killTimer: null };
      this.#current = current;
      child.on('error', () => undefined);
      child.on('exit', (code, signal) => {
        clearTimeout(current.killTimer);
        this.#current = null;
        if (RESULT_BY_EXIT[code] === undefined) {
          log(`Runner.Worker exited unexpectedly (${signal === null ? `code ${code}` : signal})`);
        }
        const result = current.cancelled ? 'cancelled' : (RESULT_BY_EXIT[code] ?? 'failed');
        resolve(result);
      });
      child.send({ type: 'job', job, runner: this.runnerSettings }, () => undefined);
    });
  }

  /**
   * Cancels the running job: the worker is told why (`CancelRequest` from the server, or
   * `RunnerShutdown`) and killed if it has not exited KILL_GRACE_MS later.
   */
  cancel(reason) {
    const current = this.#current;
    if (current === null || current.cancelled) return;
    current.cancelled = true;
    log(`Cancelling job ${current.job.id}: ${reason}`);
    if (current.child.connected) current.child.send({ type: 'cancel', reason }, () => undefined);
    current.killTimer = setTimeout(() => {
      if (current.child.exitCode === null && current.child.signalCode === null) {
        log(`Runner.Worker did not stop within ${KILL_GRACE_MS} ms; killing it`);
        current.child.kill('SIGKILL');
      }
    }, KILL_GRACE_MS);
  }
}

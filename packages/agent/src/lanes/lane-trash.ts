/**
 * Deleting lane directories. A lane dir belongs to the lane's user: a job may have filled it with
 * millions of files, or swapped any directory in it for a link to the host's own files. So a lane
 * dir is never walked by the agent itself:
 *
 * 1. it leaves `lanes/` in one `rename` into `<dataDir>/trash/` (0700 root), which no lane's user
 *    can enter; the lane's objects are stopped by then;
 * 2. the tree is deleted by coreutils `rm -rf --one-file-system`, which walks with `openat` and
 *    never follows a symlink (a link is removed, not its target), in the background: the
 *    agent-wide queue waits for the rename only.
 *
 * What is left in the trash when the agent stops (or crashes) is deleted at its next start.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, lstat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';
import type { Logger } from '../ports/logger.js';

/** Longest one deletion may take before it is left for the next start, in ms. */
const DELETE_TIMEOUT_MS = 10 * 60_000;

/** Deletes a tree without following symlinks and without leaving its file system. */
export function deleteTree(path: string, timeoutMs = DELETE_TIMEOUT_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/rm',
      ['-rf', '--one-file-system', '--', path],
      { env: {}, timeout: timeoutMs },
      (error, _stdout, stderr) => {
        if (error === null) resolve();
        else
          reject(
            new Error(`rm of "${path}" failed: ${stderr.trim().slice(0, 300) || error.message}`),
          );
      },
    );
  });
}

/** The agent's trash of lane directories (see the module comment). */
export class LaneTrash {
  readonly #dir: string;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();

  constructor(trashDir: string, logger: Logger) {
    this.#dir = trashDir;
    this.#logger = logger;
  }

  /**
   * Moves a lane dir into the trash and starts deleting it; resolves once it has left `lanes/`
   * (missing is fine). Where the trash is on another file system, the dir is deleted in place,
   * and this waits for it.
   */
  async retire(laneDir: string): Promise<void> {
    try {
      await lstat(laneDir);
    } catch {
      return;
    }
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const target = join(this.#dir, `${basename(laneDir)}.${randomBytes(4).toString('hex')}`);
    try {
      await rename(laneDir, target);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ENOENT') return;
      if ((error as { code?: unknown }).code !== 'EXDEV') throw error;
      await deleteTree(laneDir);
      return;
    }
    this.#delete(target);
  }

  /** Starts deleting whatever an earlier run left in the trash. */
  async sweep(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch {
      return;
    }
    for (const name of names) this.#delete(join(this.#dir, name));
  }

  /** Waits for deletions in progress, at most `timeoutMs`; what is left goes at the next start. */
  async drain(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pending]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  #delete(path: string): void {
    const job = deleteTree(path)
      .catch((error: unknown) => {
        this.#logger.warn(
          { path, err: error instanceof Error ? error.message : String(error) },
          'Cannot delete a retired lane directory; the next start tries again',
        );
      })
      .finally(() => this.#pending.delete(job));
    this.#pending.add(job);
  }
}

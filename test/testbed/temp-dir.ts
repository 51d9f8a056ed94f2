import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory; `cleanup()` removes it with everything in it. */
export interface TempDir {
  readonly path: string;
  cleanup(): Promise<void>;
}

/**
 * Creates a temporary directory under `base` (default: the OS temp dir), mode 0700, or 0755 with
 * `laneUsers: true` (an agent data dir in it must be reachable by the users lanes run as). Call
 * `cleanup()` in `afterAll`/`finally`.
 */
export async function tempDir(
  options: { prefix?: string; base?: string; laneUsers?: boolean } = {},
): Promise<TempDir> {
  const path = await mkdtemp(join(options.base ?? tmpdir(), options.prefix ?? 'lp-test-'));
  if (options.laneUsers === true) await chmod(path, 0o755);
  const cleanup = (): Promise<void> => rm(path, { recursive: true, force: true, maxRetries: 3 });
  return { path, cleanup };
}

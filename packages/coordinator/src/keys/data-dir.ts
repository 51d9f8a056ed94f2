/**
 * The coordinator's data directory and its secret files: created owner-only (0700 / 0600), and
 * refused when an existing secret file is readable by anyone else.
 */
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { LaunchplaneError } from '@launchplane/shared';

/** Creates `dir` (and parents) with mode 0700; tightens an existing one to 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) {
    throw new LaunchplaneError('LP_CONFIG_INVALID', `Data dir "${dir}" is not a directory`);
  }
  if ((st.mode & 0o077) !== 0) await chmod(dir, 0o700);
}

/**
 * Writes a new secret file with mode 0600; fails with LP_CONFLICT if it already exists, so a
 * secret is never silently replaced.
 */
export async function writeSecretFile(path: string, content: string): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new LaunchplaneError('LP_CONFLICT', `Secret file "${path}" already exists`, { cause });
    }
    throw cause;
  }
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a secret file, or undefined when it does not exist. Refuses (LP_CONFIG_INVALID) a file
 * that group or others may read or write.
 */
export async function readSecretFile(path: string): Promise<string | undefined> {
  let st;
  try {
    st = await stat(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cause;
  }
  if ((st.mode & 0o077) !== 0) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Secret file "${path}" has mode ${(st.mode & 0o777).toString(8)}; it must be 600`,
      { recovery: `Run: chmod 600 ${path}` },
    );
  }
  return readFile(path, 'utf8');
}

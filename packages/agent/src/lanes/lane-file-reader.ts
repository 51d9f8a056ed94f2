/**
 * Reading files in a lane directory, which belongs to the lane's user and so to whatever job runs
 * there: every file in it is hostile. A job can put a FIFO where the agent expects its hook log
 * (a plain `readFile` would block a thread of the agent for ever), a link to `/dev/zero` (memory
 * exhaustion) or to the host key, a 1 GiB sparse file, or a directory. So every read here:
 *
 * - opens with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`: a final symlink fails (`ELOOP`), a FIFO opens
 *   without waiting for a writer, and nothing can become the agent's terminal;
 * - checks that no directory on the way is a symlink, and, after opening, that the descriptor
 *   really points inside the lane dir (`/proc/self/fd/<n>`), so a swapped directory cannot lead the
 *   read elsewhere;
 * - requires a regular file with one link, owned by the lane dir's owner (the lane's user; root
 *   for a lane that runs as root or as the agent's own user), no larger than the caller's cap;
 * - is bounded in time: past the deadline the answer is "unreadable" whatever the file does.
 *
 * A file that fails any of these is reported as unreadable, with the reason, never trusted.
 */
import { msToSec } from '@launchplane/shared';
import { constants } from 'node:fs';
import { lstat, open, readlink, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';

/** Default deadline of one read, in ms. */
export const LANE_READ_TIMEOUT_MS = 2_000;

const OPEN_FLAGS =
  constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The outcome of reading one lane file. */
export type LaneFileRead =
  { kind: 'text'; text: string } | { kind: 'missing' } | { kind: 'unreadable'; reason: string };

/** Options of {@link readLaneFile}. */
export interface LaneReadOptions {
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Deadline in ms. Default {@link LANE_READ_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/** What a file's type is called in a reason. */
function typeOf(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSymbolicLink(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A path inside the lane dir, refused when it could leave it. */
function relativeParts(rel: string): string[] {
  const parts = normalize(rel).split(sep);
  if (rel.startsWith('/') || parts.some((p) => p === '..' || p === '' || p === '.')) {
    throw new Error(`not a path inside a lane dir: ${JSON.stringify(rel)}`);
  }
  return parts;
}

/**
 * Reads `rel` inside `laneDir` under the rules of the module comment. Never throws for anything
 * the file does; throws only for a caller's mistake (a path that leaves the lane dir).
 */
export async function readLaneFile(
  laneDir: string,
  rel: string,
  options: LaneReadOptions,
): Promise<LaneFileRead> {
  const parts = relativeParts(rel);
  const timeoutMs = options.timeoutMs ?? LANE_READ_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<LaneFileRead>((resolve) => {
    timer = setTimeout(
      () => resolve({ kind: 'unreadable', reason: `${rel} did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([readWithin(laneDir, parts, rel, options.maxBytes), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readWithin(
  laneDir: string,
  parts: readonly string[],
  rel: string,
  maxBytes: number,
): Promise<LaneFileRead> {
  const unreadable = (reason: string): LaneFileRead => ({ kind: 'unreadable', reason });
  let root: string;
  let owner: number;
  try {
    root = await realpath(laneDir);
    owner = (await lstat(root)).uid;
  } catch (error) {
    return errnoOf(error) === 'ENOENT'
      ? { kind: 'missing' }
      : unreadable(`the lane directory cannot be read (${errnoOf(error) ?? 'error'})`);
  }
  // Every directory on the way must be a real directory, not a link to elsewhere.
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory()) return unreadable(`${rel}: ${part} is ${typeOf(st)}`);
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return { kind: 'missing' };
      return unreadable(`${rel}: ${part} cannot be read (${errnoOf(error) ?? 'error'})`);
    }
  }
  let handle: FileHandle;
  try {
    handle = await open(join(root, ...parts), OPEN_FLAGS);
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') return { kind: 'missing' };
    if (code === 'ELOOP') return unreadable(`${rel} is a symbolic link`);
    return unreadable(`${rel} cannot be opened (${code ?? 'error'})`);
  }
  try {
    // Where the descriptor really points: a directory swapped for a link after the checks above
    // shows here.
    const target = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (target !== undefined && !target.startsWith(`${root}/`)) {
      return unreadable(`${rel} resolves outside the lane directory`);
    }
    const st = await handle.stat();
    if (!st.isFile()) return unreadable(`${rel} is ${typeOf(st)}`);
    if (st.nlink !== 1) return unreadable(`${rel} has ${st.nlink} hard links`);
    if (st.uid !== owner) {
      return unreadable(`${rel} is owned by uid ${st.uid}, not by the lane's user (uid ${owner})`);
    }
    if (st.size > maxBytes) {
      return unreadable(`${rel} is ${st.size} bytes, more than the ${maxBytes}-byte limit`);
    }
    // Read at most one byte past the cap: a file that grows meanwhile is caught too.
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 1)));
    let filled = 0;
    for (;;) {
      if (filled === buffer.length) break;
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled > maxBytes) {
      return unreadable(`${rel} grew past the ${maxBytes}-byte limit while being read`);
    }
    return { kind: 'text', text: buffer.subarray(0, filled).toString('utf8') };
  } catch (error) {
    return unreadable(`${rel} cannot be read (${errnoOf(error) ?? 'error'})`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * The modification time (Unix seconds) of a regular file in the lane dir, without following a
 * link; undefined when it is missing or not a regular file. `lstat` never blocks on what the file
 * is.
 */
export async function laneFileMtime(laneDir: string, rel: string): Promise<number | undefined> {
  relativeParts(rel);
  try {
    const st = await lstat(join(laneDir, rel));
    return st.isFile() ? msToSec(st.mtimeMs) : undefined;
  } catch {
    return undefined;
  }
}

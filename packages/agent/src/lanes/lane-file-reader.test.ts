/**
 * What a job can plant in its lane dir where the agent reads, and that the agent neither blocks,
 * nor reads past its caps, nor follows a link out of the lane dir.
 */
import { execFile } from 'node:child_process';
import {
  chmod,
  lchown,
  link,
  mkdir,
  mkdtemp,
  open,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLaneFile } from './lane-file-reader.js';
import { LANE_FILES, readHookSignal, readRunnerId } from './lane-layout.js';

const run = promisify(execFile);
let root: string;
let lane: string;
const JOBS = LANE_FILES.jobsLog;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lp-lanefile-'));
  lane = join(root, 'lane');
  await mkdir(join(lane, '_launchplane', 'state'), { recursive: true });
  // The agent's own secret, somewhere a link could point.
  await writeFile(join(root, 'host.key'), 'started\nPRIVATE KEY\n', { mode: 0o600 });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const read = (rel: string, maxBytes = 1024) => readLaneFile(lane, rel, { maxBytes });

describe('readLaneFile()', () => {
  it('reads a small regular file of the lane dir owner, and says when there is none', async () => {
    await writeFile(join(lane, JOBS), 'started\n');
    expect(await read(JOBS)).toEqual({ kind: 'text', text: 'started\n' });
    expect(await read('_launchplane/state/nothing')).toEqual({ kind: 'missing' });
  });

  it('a FIFO where the hooks log should be answers at once as unreadable, never blocks', async () => {
    await run('mkfifo', [join(lane, JOBS)]);
    expect(await read(JOBS)).toEqual({ kind: 'unreadable', reason: `${JOBS} is a FIFO` });
    // And the hook signal built from it is not trusted.
    const signal = await readHookSignal(lane);
    expect(signal.unreadable).toBe(`${JOBS} is a FIFO`);
    expect(signal.jobsCompleted).toBe(0);
  });

  it('a link to /dev/zero, or to the host key, is never followed', async () => {
    await symlink('/dev/zero', join(lane, JOBS));
    expect(await read(JOBS)).toEqual({ kind: 'unreadable', reason: `${JOBS} is a symbolic link` });
    await rm(join(lane, JOBS));
    await symlink(join(root, 'host.key'), join(lane, JOBS));
    const r = await read(JOBS);
    expect(r.kind).toBe('unreadable');
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY');
  });

  it('a 1 GiB sparse file is refused by its size, without reading it', async () => {
    const handle = await open(join(lane, JOBS), 'w');
    await handle.truncate(1024 ** 3);
    await handle.close();
    expect(await readHookSignal(lane)).toMatchObject({
      jobRunning: false,
      unreadable: `${JOBS} is 1073741824 bytes, more than the 1048576-byte limit`,
    });
  });

  it('a directory where a file is expected is unreadable', async () => {
    await mkdir(join(lane, JOBS));
    expect(await read(JOBS)).toEqual({ kind: 'unreadable', reason: `${JOBS} is a directory` });
  });

  it('a directory on the way swapped for a link out of the lane dir is not followed', async () => {
    await rm(join(lane, '_launchplane', 'state'), { recursive: true });
    await mkdir(join(root, 'elsewhere'));
    await writeFile(join(root, 'elsewhere', 'jobs'), 'started\n');
    await symlink(join(root, 'elsewhere'), join(lane, '_launchplane', 'state'));
    expect(await read(JOBS)).toEqual({
      kind: 'unreadable',
      reason: `${JOBS}: state is a symbolic link`,
    });
  });

  it('a hard link to a file of another owner, or a file the lane user does not own, is refused', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to give files other owners');
    await chmod(lane, 0o700);
    await lchown(lane, 65534, 65534);
    await writeFile(join(lane, JOBS), 'started\n');
    expect(await read(JOBS)).toEqual({
      kind: 'unreadable',
      reason: `${JOBS} is owned by uid 0, not by the lane's user (uid 65534)`,
    });
    await rm(join(lane, JOBS));
    await link(join(root, 'host.key'), join(lane, JOBS));
    expect((await read(JOBS)).kind).toBe('unreadable');
    await rm(join(lane, JOBS));
    await writeFile(join(lane, JOBS), 'started\ncompleted\n');
    await lchown(join(lane, JOBS), 65534, 65534);
    expect(await read(JOBS)).toEqual({ kind: 'text', text: 'started\ncompleted\n' });
  });

  it('refuses a path that would leave the lane dir (a caller bug, not input)', async () => {
    await expect(read('../host.key')).rejects.toThrow(/not a path inside a lane dir/);
    await expect(read('/etc/passwd')).rejects.toThrow(/not a path inside a lane dir/);
  });

  it('.runner is read under the same rules', async () => {
    await symlink(join(root, 'host.key'), join(lane, '.runner'));
    expect(await readRunnerId(lane)).toBeUndefined();
    await rm(join(lane, '.runner'));
    await writeFile(join(lane, '.runner'), '\uFEFF{"agentId": 9}');
    expect(await readRunnerId(lane)).toBe(9);
  });
});

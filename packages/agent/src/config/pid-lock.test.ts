import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LaunchplaneError } from '@launchplane/shared';
import { ensureDataDir } from './data-dir.js';
import { acquirePidLock, lockHolder } from './pid-lock.js';

describe('acquirePidLock()', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lp-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is exclusive while its holder lives, and free again after release', async () => {
    const lock = await acquirePidLock(dir, 'start the agent');
    expect(await lockHolder(dir)).toBe(process.pid);
    const err = await acquirePidLock(dir, 'remove a lane locally').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchplaneError);
    expect((err as LaunchplaneError).code).toBe('LP_CONFLICT');
    expect((err as LaunchplaneError).message).toBe(
      `Cannot remove a lane locally: the agent daemon (pid ${process.pid}) is running on "${dir}"`,
    );
    await lock.release();
    await lock.release();
    await expect(stat(join(dir, 'private', 'agent.pid'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    const again = await acquirePidLock(dir, 'start the agent');
    await again.release();
  });

  it('replaces a lock whose process is gone', async () => {
    await ensureDataDir(dir);
    await writeFile(join(dir, 'private', 'agent.pid'), `${2 ** 22 + 4321}\n`);
    expect(await lockHolder(dir)).toBeUndefined();
    const lock = await acquirePidLock(dir, 'start the agent');
    expect((await readFile(join(dir, 'private', 'agent.pid'), 'utf8')).trim()).toBe(
      String(process.pid),
    );
    await lock.release();
  });

  it('counts a live daemon of the old layout (<dataDir>/agent.pid) as holding the lock', async () => {
    const old = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(join(dir, 'agent.pid'), `${old.pid}\n`);
      expect(await lockHolder(dir)).toBe(old.pid);
      await expect(acquirePidLock(dir, 'start the agent')).rejects.toMatchObject({
        code: 'LP_CONFLICT',
      });
    } finally {
      old.kill('SIGKILL');
    }
  });

  it('treats a garbled pid file as stale', async () => {
    await ensureDataDir(dir);
    await writeFile(join(dir, 'private', 'agent.pid'), 'not a pid\n');
    const lock = await acquirePidLock(dir, 'start the agent');
    await lock.release();
  });
});

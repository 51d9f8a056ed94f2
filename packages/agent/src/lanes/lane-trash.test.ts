import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../ports/logger.js';
import { LaneTrash } from './lane-trash.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lp-trash-'));
  await mkdir(join(root, 'lanes'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('LaneTrash', () => {
  it('moves a lane dir out at once and deletes it without following its links', async () => {
    // What a job may leave: links to the host's own files and directories.
    const victim = join(root, 'precious');
    await mkdir(join(victim, 'sub'), { recursive: true });
    await writeFile(join(victim, 'sub', 'file'), 'keep me');
    const lane = join(root, 'lanes', 'l1');
    await mkdir(join(lane, 'work'), { recursive: true });
    await symlink(victim, join(lane, 'dir-link'));
    await symlink(join(victim, 'sub', 'file'), join(lane, 'work', 'file-link'));
    for (let i = 0; i < 50; i++) await writeFile(join(lane, 'work', `f${i}`), 'x');
    const trash = new LaneTrash(join(root, 'trash'), silentLogger);
    await trash.retire(lane);
    expect(existsSync(lane)).toBe(false);
    await trash.drain(30_000);
    expect(await readdir(join(root, 'trash'))).toEqual([]);
    expect(await readFile(join(victim, 'sub', 'file'), 'utf8')).toBe('keep me');
  });

  it('retiring a missing dir is fine, and a sweep deletes what an earlier run left', async () => {
    const trash = new LaneTrash(join(root, 'trash'), silentLogger);
    await trash.retire(join(root, 'lanes', 'gone'));
    await mkdir(join(root, 'trash', 'left.abcd', 'deep'), { recursive: true });
    await writeFile(join(root, 'trash', 'left.abcd', 'deep', 'f'), 'x');
    await trash.sweep();
    await trash.drain(30_000);
    expect(await readdir(join(root, 'trash'))).toEqual([]);
  });
});

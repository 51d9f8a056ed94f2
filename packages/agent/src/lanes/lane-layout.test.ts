import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LaunchplaneError } from '@launchplane/shared';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTemplate } from '../testing/core-harness.js';
import { LANE_FILES, layoutLaneDir, readHookSignal, readRunnerId } from './lane-layout.js';
import { resolveUser } from './run-as-user.js';

const run = promisify(execFile);
let root: string;
let template: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lp-layout-'));
  template = await makeTemplate(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('layoutLaneDir()', () => {
  it('copies the template and adds hooks that record job start and end for the busy signal', async () => {
    const dir = join(root, 'lanes', 'a');
    await layoutLaneDir({ template, laneDir: dir, ephemeral: false });
    expect(await readHookSignal(dir)).toEqual({ jobRunning: false, jobsCompleted: 0 });
    // The runner runs hooks as `sh -e <hook>`.
    await run('/bin/sh', ['-e', join(dir, LANE_FILES.jobStartedHook)]);
    expect(await readHookSignal(dir)).toMatchObject({ jobRunning: true, jobsCompleted: 0 });
    await run('/bin/sh', ['-e', join(dir, LANE_FILES.jobCompletedHook)]);
    const s = await readHookSignal(dir);
    expect(s).toMatchObject({ jobRunning: false, jobsCompleted: 1 });
    expect(s.lastJobStartedAt).toBeTypeOf('number');
    expect(await readFile(join(dir, 'run.sh'), 'utf8')).toContain('exit 0');
  });

  it('refuses to reuse an existing directory', async () => {
    const dir = join(root, 'lanes', 'b');
    await mkdir(dir, { recursive: true });
    await expect(layoutLaneDir({ template, laneDir: dir, ephemeral: false })).rejects.toMatchObject(
      { code: 'LP_CONFLICT' },
    );
  });

  it('writes the JIT config to a 0600 file that launch.sh reads, never into the script', async () => {
    const dir = join(root, 'lanes', 'c');
    await layoutLaneDir({ template, laneDir: dir, ephemeral: true, jitConfig: 'JIT-xyz' });
    expect((await stat(join(dir, LANE_FILES.jit))).mode & 0o777).toBe(0o600);
    const launch = await readFile(join(dir, LANE_FILES.launch), 'utf8');
    expect(launch).not.toContain('JIT-xyz');
    await writeFile(
      join(dir, 'run.sh'),
      '#!/bin/sh\necho "args=$*" > args\necho "env=$ACTIONS_RUNNER_INPUT_JITCONFIG" >> args\n',
      { mode: 0o755 },
    );
    await run('/bin/sh', [join(dir, LANE_FILES.launch)]);
    // Handed over in the environment, never on the (world-readable) command line.
    expect(await readFile(join(dir, 'args'), 'utf8')).toBe('args=\nenv=JIT-xyz\n');
  });

  it('hands the lane dir to the lane user when one is configured', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('chown needs root');
    const dir = join(root, 'lanes', 'd');
    await layoutLaneDir({
      template,
      laneDir: dir,
      ephemeral: true,
      jitConfig: 'J',
      owner: { uid: 65534, gid: 65534 },
    });
    for (const p of [dir, join(dir, LANE_FILES.jit), join(dir, '_launchplane', 'state')]) {
      expect((await stat(p)).uid).toBe(65534);
    }
  });
});

describe('readRunnerId()', () => {
  it('reads agentId from .runner, with or without a BOM', async () => {
    await writeFile(join(root, '.runner'), '\uFEFF{"agentId": 77}');
    expect(await readRunnerId(root)).toBe(77);
    await writeFile(join(root, '.runner'), 'garbage');
    expect(await readRunnerId(root)).toBeUndefined();
    await rm(join(root, '.runner'));
    expect(await readRunnerId(root)).toBeUndefined();
  });
});

describe('resolveUser()', () => {
  it('finds a user in a passwd file and refuses an unknown one', async () => {
    const passwd = join(root, 'passwd');
    await writeFile(
      passwd,
      'root:x:0:0:root:/root:/bin/sh\nrunner:x:1001:1002::/home/runner:/bin/sh\n',
    );
    expect(await resolveUser('runner', passwd)).toEqual({ uid: 1001, gid: 1002 });
    const e = await resolveUser('nobody-here', passwd).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(LaunchplaneError);
    expect(e).toMatchObject({ code: 'LP_CONFIG_INVALID' });
  });
});

import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTemplate } from '../core-harness.test-helper.js';
import {
  LANE_FILES,
  discardJitConfig,
  exists,
  layoutLaneDir,
  readHookSignal,
  readRunnerId,
} from './lane-layout.js';

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

  it('sets every mode itself, whatever the umask (the agent runs with UMask=0077)', async () => {
    const old = process.umask(0o077);
    try {
      const dir = join(root, 'lanes', 'm');
      await layoutLaneDir({ template, laneDir: dir, ephemeral: true, jitConfig: 'J' });
      const mode = async (p: string): Promise<number> => (await stat(join(dir, p))).mode & 0o777;
      expect(await mode('.')).toBe(0o700);
      for (const d of ['_launchplane', '_launchplane/hooks', '_launchplane/state']) {
        expect(await mode(d)).toBe(0o755);
      }
      for (const f of [LANE_FILES.launch, LANE_FILES.jobStartedHook, LANE_FILES.jobCompletedHook]) {
        expect(await mode(f)).toBe(0o755);
      }
      expect(await mode(LANE_FILES.jit)).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('starts a configured ephemeral runner without its JIT config, and refuses to start with neither', async () => {
    const dir = join(root, 'lanes', 'e');
    await layoutLaneDir({ template, laneDir: dir, ephemeral: true, jitConfig: 'JIT-e' });
    await writeFile(
      join(dir, 'run.sh'),
      '#!/bin/sh\necho "env=$ACTIONS_RUNNER_INPUT_JITCONFIG" > args\n',
      { mode: 0o755 },
    );
    // The runner wrote .runner from the JIT config at its first start; the JIT config is deleted.
    await writeFile(join(dir, '.runner'), '{"agentId": 5}');
    await rm(join(dir, LANE_FILES.jit));
    await run('/bin/sh', [join(dir, LANE_FILES.launch)]);
    expect(await readFile(join(dir, 'args'), 'utf8')).toBe('env=\n');
    await rm(join(dir, '.runner'));
    const e = await run('/bin/sh', [join(dir, LANE_FILES.launch)]).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 78 });
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

describe('discardJitConfig()', () => {
  it('deletes the JIT config only once the runner wrote .runner, or when the lane is over', async () => {
    const dir = join(root, 'lanes', 'j');
    await layoutLaneDir({ template, laneDir: dir, ephemeral: true, jitConfig: 'JIT-j' });
    expect(await discardJitConfig(dir)).toBe(false);
    expect(await exists(join(dir, LANE_FILES.jit))).toBe(true);
    await writeFile(join(dir, '.runner'), '{}');
    expect(await discardJitConfig(dir)).toBe(true);
    expect(await exists(join(dir, LANE_FILES.jit))).toBe(false);
    const over = join(root, 'lanes', 'k');
    await layoutLaneDir({ template, laneDir: over, ephemeral: true, jitConfig: 'JIT-k' });
    expect(await discardJitConfig(over, true)).toBe(true);
    expect(await exists(join(over, LANE_FILES.jit))).toBe(false);
  });

  it('a lane user who points _launchplane at another directory cannot make root delete there', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to act as another user');
    // The attack: the lane's user (nobody here) swaps _launchplane for a link to a directory of
    // root's holding a file named "jit", and waits for the agent to discard the JIT config.
    await chmod(root, 0o755);
    const honest = join(root, 'lanes', 'h');
    await layoutLaneDir({
      template,
      laneDir: honest,
      ephemeral: true,
      jitConfig: 'JIT-h',
      owner: { uid: 65534, gid: 65534 },
    });
    expect(await discardJitConfig(honest, true)).toBe(true);
    expect(await exists(join(honest, LANE_FILES.jit))).toBe(false);
    const dir = join(root, 'lanes', 'x');
    await layoutLaneDir({
      template,
      laneDir: dir,
      ephemeral: true,
      jitConfig: 'JIT-x',
      owner: { uid: 65534, gid: 65534 },
    });
    const victim = join(root, 'roots');
    await mkdir(victim, { mode: 0o755 });
    await writeFile(join(victim, 'jit'), 'precious');
    await chmod(join(victim, 'jit'), 0o644);
    await rm(join(dir, '_launchplane'), { recursive: true });
    await symlink(victim, join(dir, '_launchplane'));
    await writeFile(join(dir, '.runner'), '{}');
    await discardJitConfig(dir, true).catch(() => undefined);
    expect(await readFile(join(victim, 'jit'), 'utf8')).toBe('precious');
  });
});

/**
 * Worlds that run side by side on the shared systemd user manager and dockerd tell their lanes
 * apart by lane dir (owned-lanes.ts). The attack: another world's lanes, a hand-made look-alike
 * and a lane whose dir only starts with the same characters sit beside this world's; none of them
 * may be counted (and so removed on close) as this world's.
 */
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import Docker from 'dockerode';
import { newLaneId } from '@launchplane/shared';
import { afterAll, expect, it } from 'vitest';

import { buildScratchImage, describeWithDocker, describeWithSystemd, tempDir } from './index.js';
import type { TempDir } from './index.js';
import { OwnedLanes, isUnder } from './owned-lanes.js';

const exec = promisify(execFile);
let seq = 0;
const laneName = (): string => {
  seq += 1;
  return `launchplane-lane-${newLaneId(Date.now() + seq)}`;
};

/** `<dir>-sibling`: a dir whose path starts with the world's, to be cleaned up. */
const siblingOf = (dir: TempDir): TempDir => {
  const path = `${dir.path}-sibling`;
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
};

it('isUnder takes a dir and what lies below it, not a sibling that shares its first characters', () => {
  expect(isUnder('/x/world', '/x/world')).toBe(true);
  expect(isUnder('/x/world/lanes/a', '/x/world')).toBe(true);
  expect(isUnder('/x/world/lanes/a', '/x/world/')).toBe(true);
  expect(isUnder('/x/world-2/lanes/a', '/x/world')).toBe(false);
  expect(isUnder('/x', '/x/world')).toBe(false);
});

describeWithSystemd('OwnedLanes on the shared systemd user manager', (systemd) => {
  const dirs: TempDir[] = [];
  const units: string[] = [];
  const userctl = (...args: string[]) =>
    exec('systemctl', ['--user', ...args], { env: { ...process.env, ...systemd().env } });

  afterAll(async () => {
    for (const u of units) {
      await userctl('stop', u).catch(() => undefined);
      await rm(join(systemd().unitDir, u), { force: true });
    }
    await userctl('daemon-reload').catch(() => undefined);
    for (const u of units) await userctl('reset-failed', u).catch(() => undefined);
    for (const d of dirs) await d.cleanup();
  });

  it("counts only units whose lane dir is under the world's dir, also after their file is gone", async () => {
    const mine = await tempDir({ base: systemd().laneRoot, prefix: 'owned-' });
    const theirs = await tempDir({ base: systemd().laneRoot, prefix: 'owned-' });
    dirs.push(mine, theirs);
    const unit = async (workingDirectory: string | undefined): Promise<string> => {
      const name = `${laneName()}.service`;
      units.push(name);
      await writeFile(
        join(systemd().unitDir, name),
        [
          '[Unit]',
          'Description=owned-lanes test unit',
          '[Service]',
          'ExecStart=/bin/sleep 100000',
          ...(workingDirectory === undefined ? [] : [`WorkingDirectory=${workingDirectory}`]),
          '',
        ].join('\n'),
      );
      if (workingDirectory !== undefined) await mkdir(workingDirectory, { recursive: true });
      return name;
    };
    const own = await unit(join(mine.path, 'lanes', 'a'));
    const ownRunning = await unit(join(mine.path, 'lanes', 'b'));
    const other = await unit(join(theirs.path, 'lanes', 'c'));
    const sibling = await unit(`${mine.path}-sibling/lanes/d`);
    dirs.push(siblingOf(mine));
    const lookAlike = await unit(undefined);
    await userctl('daemon-reload');
    await userctl('start', ownRunning, other, lookAlike);

    const owned = new OwnedLanes(mine.path, { kind: 'systemd', systemd: systemd() });
    expect(await owned.names()).toEqual([own, ownRunning].sort());
    const theirsOwned = new OwnedLanes(theirs.path, { kind: 'systemd', systemd: systemd() });
    expect(await theirsOwned.names()).toEqual([other]);

    // The file of a running unit goes: the unit stays loaded and is still this world's.
    await rm(join(systemd().unitDir, ownRunning));
    await userctl('daemon-reload');
    expect(await owned.names()).toContain(ownRunning);
    expect(await owned.names()).not.toContain(sibling);
    expect(await owned.names()).not.toContain(lookAlike);
  });
});

describeWithDocker('OwnedLanes on the shared dockerd', (dockerInfo) => {
  const tag = 'launchplane-test/owned-lanes:latest';
  const made: string[] = [];
  const dirs: TempDir[] = [];
  let docker: Docker | undefined;

  afterAll(async () => {
    for (const name of made) {
      await docker
        ?.getContainer(name)
        .remove({ force: true })
        .catch(() => undefined);
    }
    for (const d of dirs) await d.cleanup();
  });

  it("counts only containers with a bind mount from under the world's dir", async () => {
    docker = new Docker({ socketPath: dockerInfo().socketPath });
    await buildScratchImage(docker, { tag, files: [{ path: '/lane' }] });
    const mine = await tempDir({ prefix: 'owned-' });
    const theirs = await tempDir({ prefix: 'owned-' });
    dirs.push(mine, theirs);
    const container = async (source: string | undefined): Promise<string> => {
      const name = laneName();
      made.push(name);
      if (source !== undefined) await mkdir(source, { recursive: true });
      await docker!.createContainer({
        name,
        Image: tag,
        Cmd: ['/bin/sh'],
        HostConfig: {
          NetworkMode: 'none',
          Mounts: source === undefined ? [] : [{ Type: 'bind', Source: source, Target: '/lane' }],
        },
      });
      return name;
    };
    const own = await container(join(mine.path, 'lanes', 'a'));
    const other = await container(join(theirs.path, 'lanes', 'b'));
    const sibling = await container(`${mine.path}-sibling`);
    dirs.push(siblingOf(mine));
    const lookAlike = await container(undefined);

    const owned = new OwnedLanes(mine.path, { kind: 'docker', docker });
    const names = await owned.names();
    expect(names).toEqual([own]);
    expect(names).not.toContain(other);
    expect(names).not.toContain(sibling);
    expect(names).not.toContain(lookAlike);
    expect(await new OwnedLanes(theirs.path, { kind: 'docker', docker }).names()).toEqual([other]);
  });
});

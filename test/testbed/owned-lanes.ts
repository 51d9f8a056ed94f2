/**
 * Lane units and containers told apart by owner, for worlds that share the testbed's one systemd
 * user manager and one dockerd with other test files running at the same time.
 *
 * An agent builds a lane's unit and container names from the lane id alone
 * (`launchplane-lane-<laneId>`), so a name says nothing about who made it. What does is the lane
 * dir: every lane lives under its agent's data dir (`<dataDir>/lanes/<laneId>`), which is the
 * unit's `WorkingDirectory=` and the source of the container's bind mount. A world keeps its
 * agents' data dirs under a temp dir of its own, so "the lane dir is under my dir" is ownership,
 * whatever else runs beside it. A hand-made look-alike (no such dir) belongs to nobody here.
 *
 * A unit whose file was deleted while it stayed loaded (a failed unit not yet reset) may have
 * lost its properties; {@link OwnedLanes} remembers every name it once saw as owned, so such a
 * unit still counts as the world's.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { promisify } from 'node:util';

import type Docker from 'dockerode';

import type { SystemdTestbed } from './systemd-user-manager.js';

const exec = promisify(execFile);

/** The prefix of every lane unit and container name. */
export const LANE_NAME_PREFIX = 'launchplane-lane-';

/** Whether `path` is `root` or lies below it. */
export function isUnder(path: string, root: string): boolean {
  const r = root.endsWith(sep) ? root : `${root}${sep}`;
  return path === root || path.startsWith(r);
}

/** `WorkingDirectory=` of a unit file's text, or undefined. */
export function workingDirectoryOf(unitText: string): string | undefined {
  const m = /^WorkingDirectory=(.*)$/m.exec(unitText);
  return m?.[1]?.trim();
}

/** Names of `launchplane-lane-*` units in the manager: unit files and loaded units, sorted. */
export async function laneUnitNames(systemd: SystemdTestbed): Promise<string[]> {
  const files = (await readdir(systemd.unitDir).catch(() => [] as string[])).filter(
    (f) => f.startsWith(LANE_NAME_PREFIX) && f.endsWith('.service'),
  );
  const { stdout } = await exec(
    'systemctl',
    ['--user', 'list-units', '--all', '--plain', '--no-legend', `${LANE_NAME_PREFIX}*`],
    { env: { ...process.env, ...systemd.env } },
  );
  const loaded = stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((u) => u.startsWith(LANE_NAME_PREFIX));
  return [...new Set([...files, ...loaded])].sort();
}

/** The working directory of a lane unit: from its file, else from the loaded unit; or undefined. */
async function unitWorkingDirectory(
  systemd: SystemdTestbed,
  name: string,
): Promise<string | undefined> {
  const text = await readFile(join(systemd.unitDir, name), 'utf8').catch(() => undefined);
  if (text !== undefined) return workingDirectoryOf(text);
  const shown = await exec(
    'systemctl',
    ['--user', 'show', '--property=WorkingDirectory', '--value', name],
    { env: { ...process.env, ...systemd.env } },
  ).catch(() => ({ stdout: '' }));
  const dir = shown.stdout.trim();
  return dir === '' ? undefined : dir;
}

/** Names of lane containers (running or not) whose bind mounts come from under `root`, sorted. */
export async function laneContainersUnder(docker: Docker, root: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true });
  return list
    .filter((c) => (c.Mounts ?? []).some((m) => m.Source !== undefined && isUnder(m.Source, root)))
    .flatMap((c) => c.Names.map((n) => n.replace(/^\//, '')))
    .filter((n) => n.startsWith(LANE_NAME_PREFIX))
    .sort();
}

/**
 * The lane units (or containers) of one owner: those whose lane dir is under `root`. Remembers
 * what it has seen as owned (see the module comment).
 */
export class OwnedLanes {
  readonly #seen = new Set<string>();

  constructor(
    private readonly root: string,
    private readonly backend:
      { kind: 'systemd'; systemd: SystemdTestbed } | { kind: 'docker'; docker: Docker },
  ) {}

  /** Names of this owner's lane units or containers that exist now, sorted. */
  async names(): Promise<string[]> {
    if (this.backend.kind === 'docker') {
      const own = await laneContainersUnder(this.backend.docker, this.root);
      for (const n of own) this.#seen.add(n);
      // A container seen as ours before keeps counting (its mounts cannot change).
      const all = (await this.backend.docker.listContainers({ all: true })).flatMap((c) =>
        c.Names.map((n) => n.replace(/^\//, '')),
      );
      return [...new Set([...own, ...all.filter((n) => this.#seen.has(n))])].sort();
    }
    const systemd = this.backend.systemd;
    const out: string[] = [];
    for (const name of await laneUnitNames(systemd)) {
      if (this.#seen.has(name)) {
        out.push(name);
        continue;
      }
      const dir = await unitWorkingDirectory(systemd, name);
      if (dir !== undefined && isUnder(dir, this.root)) {
        this.#seen.add(name);
        out.push(name);
      }
    }
    return out;
  }
}

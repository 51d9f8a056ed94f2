/**
 * Removing testbed state dirs: dockerd leaves an nsfs mount under its exec root, and a run that
 * died leaves whole dirs behind. Each state dir records its owner's PID, so a later run can tell
 * abandoned dirs from live ones.
 */
import { execFile } from 'node:child_process';
import { readFile, readdir, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { deleteBridge } from './docker-bridge.js';

const run = promisify(execFile);
const OWNER_FILE = 'owner.pid';
/** File in a state dir holding the PID of its daemon (dockerd, or systemd --user). */
export const DAEMON_PID_FILE = 'daemon.pid';
/** File in a state dir listing cgroups made for it, one per line. */
export const CGROUPS_FILE = 'cgroups';
/** File in a state dir naming the network bridge made for its dockerd. */
export const BRIDGE_FILE = 'bridge';
/** File in a state dir naming the dir (outside it) that holds its manager's lane root. */
export const LANE_ROOT_FILE = 'lane-root';

/** Records the current process as the owner of a state dir. */
export async function claimStateDir(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), String(process.pid));
}

/** Mount points at or under `dir`, deepest first. */
async function mountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const points = mountinfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    // mountinfo escapes spaces etc. as \040; testbed paths have none.
    .sort((a, b) => b.length - a.length);
  return [...new Set(points)];
}

/** Unmounts whatever is mounted under `dir`, then removes it. */
export async function removeStateDir(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    await run('umount', ['--lazy', point]).catch(() => undefined);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Removes state dirs under `baseDir` whose owner process is gone. */
export async function sweepAbandoned(baseDir: string): Promise<void> {
  const entries = await readdir(baseDir).catch(() => []);
  for (const name of entries) {
    const dir = join(baseDir, name);
    const owner = Number(await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => '0'));
    if (owner > 0 && isAlive(owner)) continue;
    // No owner yet may mean another run is creating it right now.
    const age =
      Date.now() -
      (await stat(dir).then(
        (st) => st.mtimeMs,
        () => 0,
      ));
    if (owner === 0 && age < 60_000) continue;
    await stopOrphanDaemon(dir);
    const cgroups = await readFile(join(dir, CGROUPS_FILE), 'utf8').catch(() => '');
    for (const cg of cgroups.split('\n').filter(Boolean)) await removeCgroup(cg);
    const bridge = await readFile(join(dir, BRIDGE_FILE), 'utf8').catch(() => '');
    if (bridge !== '') await deleteBridge(bridge.trim());
    const laneRoot = (await readFile(join(dir, LANE_ROOT_FILE), 'utf8').catch(() => '')).trim();
    if (/^\/var\/lib\/launchplane-testbed\/sd-[A-Za-z0-9]+$/.test(laneRoot)) {
      await rm(laneRoot, { recursive: true, force: true });
    }
    await removeStateDir(dir);
  }
}

/**
 * Stops the daemon a dead run left behind, if that PID still belongs to it: its command line or
 * environment names the state dir (a reused PID would not).
 */
async function stopOrphanDaemon(dir: string): Promise<void> {
  const pid = Number(await readFile(join(dir, DAEMON_PID_FILE), 'utf8').catch(() => '0'));
  if (!(pid > 0) || !isAlive(pid)) return;
  const [cmdline, environ] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/environ`, 'utf8').catch(() => ''),
  ]);
  if (!cmdline.includes(dir) && !environ.includes(dir)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** Removes a cgroup and whatever sub-cgroups are left in it, deepest first. */
export async function removeCgroup(path: string): Promise<void> {
  const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await removeCgroup(join(path, entry.name));
  await rmdir(path).catch(() => undefined);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A private dockerd for tests
 * (docs/design/testbed.md "What it starts"): own socket, data root, exec root and
 * containerd namespace, no iptables, and a bridge of its own (`docker-bridge.ts`) for Docker's
 * default `bridge` network, on which a container reaches the host at the bridge's gateway address
 * only. Optionally with user-namespace remapping (`--userns-remap`) onto a testbed user's
 * subordinate ids.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Docker from 'dockerode';

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { spawnDaemon } from './daemon.js';
import {
  BRIDGE_FILE,
  DAEMON_PID_FILE,
  claimStateDir,
  removeStateDir,
  sweepAbandoned,
} from './cleanup.js';
import { createBridge, deleteBridge, type TestbedBridge } from './docker-bridge.js';
import { findBinary } from './find-binary.js';
import { TestbedUnavailableError } from './testbed-unavailable.js';
import { waitFor } from './wait-for.js';

/** Connection info of a running private dockerd; serialisable (vitest `provide`). */
export interface DockerTestbed {
  /** Unix socket of the daemon (dockerode `socketPath`). */
  socketPath: string;
  /** PID of dockerd. */
  pid: number;
  /** The bridge of Docker's default `bridge` network; undefined when the daemon has none. */
  bridge?: TestbedBridge;
  /** The remapped ids when the daemon runs with `--userns-remap`. */
  userns?: { uid: number; gid: number; size: number };
}

/** A running private dockerd. */
export interface PrivateDockerd extends DockerTestbed {
  /** Removes every container, stops the daemon and deletes its files (the cached data root is kept). */
  stop(): Promise<void>;
}

/** Options of {@link startDockerd}. */
export interface StartDockerdOptions {
  /** Parent of the daemon's socket/exec dir; keep it short (unix socket paths are ≤ 107 bytes). Default `/run/launchplane-testbed`. */
  baseDir?: string;
  /**
   * A data root kept across runs so built images stay cached. Locked while in use: when another
   * run holds it, a throw-away data root is used instead. Default: a fresh data root, removed on stop.
   */
  persistentDataRoot?: string;
  /** Deadline for `/_ping`. Default 60 000 ms. */
  startTimeoutMs?: number;
  /** A bridge for the default `bridge` network. Default true; false: `--bridge=none`. */
  bridge?: boolean;
  /**
   * Remap user namespaces (`--userns-remap`) onto {@link USERNS_REMAP_USER}'s subordinate ids
   * ({@link USERNS_REMAP_RANGE}), made when missing. Needs a data root of its own.
   */
  usernsRemap?: boolean;
}

/** The user whose subordinate ids a remapping testbed dockerd uses. */
export const USERNS_REMAP_USER = 'lp-testbed-remap';
/** Its subordinate uids and gids: clear of the lane uid ranges and of systemd's. */
export const USERNS_REMAP_RANGE = { first: 420000, size: 65536 };

const exec = promisify(execFile);

/** Makes the remapping user and its subordinate ranges, unless they are there. */
async function ensureRemapUser(): Promise<void> {
  const { first, size } = USERNS_REMAP_RANGE;
  const line = `${USERNS_REMAP_USER}:${first}:${size}`;
  const has = async (file: string): Promise<boolean> =>
    (await readFile(file, 'utf8').catch(() => '')).split('\n').includes(line);
  try {
    await exec('getent', ['passwd', USERNS_REMAP_USER]).catch(() =>
      exec('useradd', [
        '--system',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        '--comment',
        'Launchplane testbed, userns-remap of a private dockerd',
        USERNS_REMAP_USER,
      ]),
    );
    const range = `${first}-${first + size - 1}`;
    if (!(await has('/etc/subuid'))) {
      await exec('usermod', ['--add-subuids', range, USERNS_REMAP_USER]);
    }
    if (!(await has('/etc/subgid'))) {
      await exec('usermod', ['--add-subgids', range, USERNS_REMAP_USER]);
    }
  } catch (error) {
    throw new TestbedUnavailableError(
      `userns-remap needs a user with subordinate ids (useradd, usermod): ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** Starts a private dockerd. Throws {@link TestbedUnavailableError} when it cannot run here. */
export async function startDockerd(options: StartDockerdOptions = {}): Promise<PrivateDockerd> {
  if (process.platform !== 'linux') throw new TestbedUnavailableError('Docker testbed needs Linux');
  if (process.getuid?.() !== 0)
    throw new TestbedUnavailableError('Docker testbed needs root to run dockerd');
  const dockerd = await findBinary('dockerd');
  if (dockerd === undefined)
    throw new TestbedUnavailableError('Docker testbed needs dockerd (Debian package docker.io)');

  const baseDir = options.baseDir ?? '/run/launchplane-testbed';
  await mkdir(baseDir, { recursive: true, mode: 0o700 });
  await sweepAbandoned(baseDir);
  const dir = await mkdtemp(join(baseDir, 'd-'));
  await claimStateDir(dir);
  let dataRoot = join(dir, 'data');
  let releaseLock = async (): Promise<void> => {};
  if (options.usernsRemap === true) {
    await ensureRemapUser();
    // The remapped root must reach its data root (dockerd refuses to start otherwise): every
    // directory above it needs o+x. Traversal only; nothing in them becomes listable.
    for (const d of [baseDir, dir]) await chmod(d, ((await stat(d)).mode & 0o777) | 0o011);
  }
  let bridge: TestbedBridge | undefined;
  if (options.bridge !== false) {
    try {
      bridge = await createBridge();
    } catch (error) {
      await removeStateDir(dir);
      throw error;
    }
    await writeFile(join(dir, BRIDGE_FILE), bridge.name);
  }
  if (
    options.usernsRemap !== true &&
    options.persistentDataRoot !== undefined &&
    (await lockDataRoot(options.persistentDataRoot))
  ) {
    dataRoot = options.persistentDataRoot;
    const lock = `${dataRoot}.lock`;
    releaseLock = () => rm(lock, { force: true });
    // The networks of an earlier run name a bridge that is gone: the daemon makes them anew.
    await rm(join(dataRoot, 'network'), { recursive: true, force: true });
  }
  const socketPath = join(dir, 'docker.sock');
  const namespace = `lp-testbed-${randomBytes(4).toString('hex')}`;
  const daemon = spawnDaemon(
    [
      dockerd,
      '--host',
      `unix://${socketPath}`,
      '--data-root',
      dataRoot,
      '--exec-root',
      join(dir, 'exec'),
      '--pidfile',
      join(dir, 'docker.pid'),
      '--iptables=false',
      '--ip6tables=false',
      '--ip-forward=false',
      `--bridge=${bridge?.name ?? 'none'}`,
      ...(options.usernsRemap === true ? [`--userns-remap=${USERNS_REMAP_USER}`] : []),
      '--containerd-namespace',
      namespace,
      '--containerd-plugins-namespace',
      `${namespace}-plugins`,
    ],
    {
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      logFile: join(dir, 'dockerd.log'),
      pidFile: join(dir, DAEMON_PID_FILE),
    },
  );
  const docker = new Docker({ socketPath });
  const stop = async (): Promise<void> => {
    if (daemon.alive()) await removeAllContainers(docker).catch(() => undefined);
    await daemon.stop({ graceMs: 20_000 });
    await releaseLock();
    if (bridge !== undefined) await deleteBridge(bridge.name);
    await removeStateDir(dir);
  };
  try {
    await waitFor(
      async () => {
        if (!daemon.alive()) {
          const log = await readFile(join(dir, 'dockerd.log'), 'utf8').catch(() => '');
          throw new TestbedUnavailableError(`dockerd exited: ${log.trim().slice(-800)}`);
        }
        const pong: unknown = await docker.ping();
        return String(pong) === 'OK';
      },
      { timeoutMs: options.startTimeoutMs ?? 60_000, intervalMs: 50, what: 'dockerd /_ping' },
    );
    // A cached data root may hold containers of a run that crashed.
    await removeAllContainers(docker);
    return {
      socketPath,
      pid: daemon.pid,
      stop,
      ...(bridge === undefined ? {} : { bridge }),
      ...(options.usernsRemap === true
        ? {
            userns: {
              uid: USERNS_REMAP_RANGE.first,
              gid: USERNS_REMAP_RANGE.first,
              size: USERNS_REMAP_RANGE.size,
            },
          }
        : {}),
    };
  } catch (error) {
    await stop();
    if (error instanceof TestbedUnavailableError) throw error;
    const cause =
      error instanceof Error && error.cause instanceof TestbedUnavailableError
        ? error.cause
        : error;
    if (cause instanceof TestbedUnavailableError) throw cause;
    throw new TestbedUnavailableError(
      `dockerd did not start: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

async function removeAllContainers(docker: Docker): Promise<void> {
  const containers = await docker.listContainers({ all: true });
  await Promise.all(
    containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })),
  );
}

/** Takes `<dataRoot>.lock` unless a live process holds it. */
async function lockDataRoot(dataRoot: string): Promise<boolean> {
  const lock = `${dataRoot}.lock`;
  await mkdir(join(dataRoot, '..'), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(lock, 'utf8').catch(() => ''));
      if (Number.isSafeInteger(holder) && holder > 0 && isAlive(holder)) return false;
      await rm(lock, { force: true });
    }
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Default cache location for {@link StartDockerdOptions.persistentDataRoot}. */
export function defaultDockerCacheDir(): string {
  return join(tmpdir(), 'launchplane-testbed-cache', 'docker-data');
}

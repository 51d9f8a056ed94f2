/**
 * A private dockerd for tests
 * (docs/design/testbed.md "What it starts"): own socket, data root, exec root and
 * containerd namespace, no iptables and no bridge (containers use `--network host` or none).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Docker from 'dockerode';

import { spawnDaemon } from './daemon.js';
import { DAEMON_PID_FILE, claimStateDir, removeStateDir, sweepAbandoned } from './cleanup.js';
import { findBinary } from './find-binary.js';
import { TestbedUnavailableError } from './testbed-unavailable.js';
import { waitFor } from './wait-for.js';

/** Connection info of a running private dockerd; serialisable (vitest `provide`). */
export interface DockerTestbed {
  /** Unix socket of the daemon (dockerode `socketPath`). */
  socketPath: string;
  /** PID of dockerd. */
  pid: number;
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
  if (
    options.persistentDataRoot !== undefined &&
    (await lockDataRoot(options.persistentDataRoot))
  ) {
    dataRoot = options.persistentDataRoot;
    const lock = `${dataRoot}.lock`;
    releaseLock = () => rm(lock, { force: true });
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
      '--bridge=none',
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
    return { socketPath, pid: daemon.pid, stop };
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

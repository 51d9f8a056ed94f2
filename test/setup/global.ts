/**
 * Vitest globalSetup of the integration project: one private systemd user manager and one private
 * dockerd for the whole run, when this machine can run them. Test files reach them through
 * `requireSystemd()` / `requireDocker()` / `describeWith…()` from test/testbed. Everything is
 * stopped on teardown, and by an exit hook if the run dies.
 *
 * Both integration projects (`integration`, files side by side, and `integration-alone`, files
 * that need the machine to themselves; `vitest.config.ts`) list this file. Vitest runs a project's
 * global setup once per project, in its own process: the first call starts the testbed, later
 * ones share it, and the last teardown stops it.
 */
import type { TestProject } from 'vitest/node';

import { defaultDockerCacheDir, startDockerd } from '../testbed/dockerd.js';
import { sweepTestLaneUsers } from '../testbed/lane-users.js';
import type { PrivateDockerd } from '../testbed/dockerd.js';
import type { TestbedInfo } from '../testbed/require.js';
import { startSystemdUserManager } from '../testbed/systemd-user-manager.js';
import type { SystemdUserManager } from '../testbed/systemd-user-manager.js';

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `LP_TESTBED_DISABLE=systemd,docker` leaves parts out, e.g. to see how suites behave without them. */
function disabled(part: string): Promise<never> | undefined {
  const list = (process.env['LP_TESTBED_DISABLE'] ?? '').split(',').map((s) => s.trim());
  return list.includes(part)
    ? Promise.reject(new Error('disabled by LP_TESTBED_DISABLE'))
    : undefined;
}

/** The testbed shared by every project of this vitest process, and how many hold it. */
interface Shared {
  started: Promise<{ info: TestbedInfo; stop: () => Promise<void> }>;
  holders: number;
}
const SHARED = Symbol.for('launchplane.testbed.global');
type WithShared = typeof globalThis & { [SHARED]?: Shared };

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const g = globalThis as WithShared;
  const shared = (g[SHARED] ??= { started: startTestbed(), holders: 0 });
  shared.holders += 1;
  const { info, stop } = await shared.started;
  project.provide('launchplaneTestbed', info);
  return async () => {
    shared.holders -= 1;
    if (shared.holders > 0) return;
    delete g[SHARED];
    await stop();
  };
}

async function startTestbed(): Promise<{ info: TestbedInfo; stop: () => Promise<void> }> {
  // Lane users an earlier, interrupted run left behind (their lane dirs are gone).
  await sweepTestLaneUsers();
  const [systemd, docker] = await Promise.allSettled([
    disabled('systemd') ?? timed('systemd user manager', () => startSystemdUserManager()),
    disabled('docker') ??
      timed('dockerd', () => startDockerd({ persistentDataRoot: defaultDockerCacheDir() })),
  ]);
  const info: TestbedInfo = {
    systemd:
      systemd.status === 'fulfilled'
        ? {
            available: true,
            info: {
              env: systemd.value.env,
              unitDir: systemd.value.unitDir,
              laneRoot: systemd.value.laneRoot,
              pid: systemd.value.pid,
            },
          }
        : { available: false, reason: reasonOf(systemd.reason) },
    docker:
      docker.status === 'fulfilled'
        ? {
            available: true,
            info: {
              socketPath: docker.value.socketPath,
              pid: docker.value.pid,
              ...(docker.value.bridge === undefined ? {} : { bridge: docker.value.bridge }),
            },
          }
        : { available: false, reason: reasonOf(docker.reason) },
  };
  for (const [name, part] of Object.entries(info) as [string, TestbedInfo[keyof TestbedInfo]][]) {
    if (!part.available) process.stderr.write(`[testbed] ${name} unavailable: ${part.reason}\n`);
  }
  const running: (SystemdUserManager | PrivateDockerd)[] = [];
  if (systemd.status === 'fulfilled') running.push(systemd.value);
  if (docker.status === 'fulfilled') running.push(docker.value);
  const stop = async (): Promise<void> => {
    await Promise.allSettled(running.map((part) => part.stop()));
    // The lane dirs went with the testbed's state dirs: their users go too.
    const swept = await sweepTestLaneUsers();
    if (swept.length > 0 && process.env['LP_TESTBED_TIMINGS'] === '1') {
      process.stderr.write(`[testbed] deleted ${swept.length} lane users left behind\n`);
    }
  };
  return { info, stop };
}

async function timed<T>(what: string, start: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const value = await start();
  if (process.env['LP_TESTBED_TIMINGS'] === '1') {
    process.stderr.write(`[testbed] ${what} up in ${Math.round(performance.now() - t0)} ms\n`);
  }
  return value;
}

/**
 * A private systemd *user* manager for tests
 * (docs/design/testbed.md "What it starts"): `systemd --user` in a private
 * mount namespace with a tmpfs on /run/systemd, a temp XDG_RUNTIME_DIR and XDG_CONFIG_HOME, and its
 * own session bus (dbus-daemon) on `$XDG_RUNTIME_DIR/bus`, so it never meets the host's managers.
 *
 * Why the bus is socket-activated by the manager rather than started beside it (the usual recipe):
 * a user manager connects to the bus only while its `dbus.socket` unit is active, and Debian's
 * `dbus.socket` (dbus-user-session) binds `%t/bus` over a socket made by a separate dbus-daemon.
 * Masking dbus.socket leaves the manager off the bus for good. Our own dbus.socket/dbus.service in
 * the private unit dir fix both.
 *
 * Cgroups: run as root from the root cgroup, the manager takes the cgroup it was started in as its
 * root, so every unit gets its own cgroup, e.g. `/app.slice/launchplane-lane-<id>.service`
 * (`ControlGroup` of the unit; `/sys/fs/cgroup/unified/...` and `/sys/fs/cgroup/systemd/...` on a
 * hybrid hierarchy, `/sys/fs/cgroup/...` on a pure v2 one). That is what lets the agent find a
 * `Runner.Worker` in a lane's cgroup. Sandboxing settings (PrivateTmp, ProtectSystem, ...) work
 * because the manager runs as root. PrivateTmp hides the host's /tmp from units, so lane
 * directories must live outside /tmp: use `laneRoot`.
 */
import { access, chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import * as dbus from 'dbus-next';

import { spawnDaemon } from './daemon.js';
import type { Daemon } from './daemon.js';
import {
  CGROUPS_FILE,
  DAEMON_PID_FILE,
  claimStateDir,
  removeCgroup,
  removeStateDir,
  sweepAbandoned,
} from './cleanup.js';
import { findBinary } from './find-binary.js';
import { TestbedUnavailableError } from './testbed-unavailable.js';
import { waitFor } from './wait-for.js';

/** Environment that points clients (systemctl --user, dbus-next) at the private manager. */
export interface SystemdUserEnv {
  XDG_RUNTIME_DIR: string;
  DBUS_SESSION_BUS_ADDRESS: string;
  XDG_CONFIG_HOME: string;
}

/** Connection info of a running private user manager; serialisable (vitest `provide`). */
export interface SystemdTestbed {
  env: SystemdUserEnv;
  /** `$XDG_CONFIG_HOME/systemd/user`: where the manager looks for units. */
  unitDir: string;
  /** A directory outside /tmp (PrivateTmp hides /tmp from units) for lane directories. */
  laneRoot: string;
  /** PID of `systemd --user`. */
  pid: number;
}

/** A running private user manager. */
export interface SystemdUserManager extends SystemdTestbed {
  /** Stops the manager (which stops its units) and the bus, then removes every file. */
  stop(): Promise<void>;
}

/** Options of {@link startSystemdUserManager}. */
export interface StartSystemdOptions {
  /** Parent of the manager's state dir; must not be under /tmp. Default `/run/launchplane-testbed`. */
  baseDir?: string;
  /** Deadline for the manager to come up. Default 30 000 ms. */
  startTimeoutMs?: number;
}

/** Starts a private systemd user manager. Throws {@link TestbedUnavailableError} when it cannot run here. */
export async function startSystemdUserManager(
  options: StartSystemdOptions = {},
): Promise<SystemdUserManager> {
  if (process.platform !== 'linux')
    throw new TestbedUnavailableError('systemd testbed needs Linux');
  if (process.getuid?.() !== 0)
    throw new TestbedUnavailableError('systemd testbed needs root (private mount namespace)');
  const systemd = await findBinary('/usr/lib/systemd/systemd', '/lib/systemd/systemd', 'systemd');
  const dbusDaemon = await findBinary('dbus-daemon');
  const unshare = await findBinary('unshare');
  const missing = [
    systemd === undefined ? 'systemd' : undefined,
    dbusDaemon === undefined ? 'dbus-daemon (Debian package dbus)' : undefined,
    unshare === undefined ? 'unshare (util-linux)' : undefined,
  ].filter((m) => m !== undefined);
  if (systemd === undefined || dbusDaemon === undefined || unshare === undefined) {
    throw new TestbedUnavailableError(`systemd testbed needs ${missing.join(', ')}`);
  }

  const baseDir = options.baseDir ?? '/run/launchplane-testbed';
  await mkdir(baseDir, { recursive: true, mode: 0o700 });
  await sweepAbandoned(baseDir);
  const dir = await mkdtemp(join(baseDir, 'sd-'));
  await claimStateDir(dir);
  const runtimeDir = join(dir, 'run');
  const configHome = join(dir, 'config');
  const unitDir = join(configHome, 'systemd', 'user');
  const laneRoot = join(dir, 'lanes');
  for (const d of [
    runtimeDir,
    unitDir,
    laneRoot,
    join(dir, 'data'),
    join(dir, 'state'),
    join(dir, 'cache'),
  ]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
  }
  // Lanes run as users of their own: they (and the runner, which lists every directory above its
  // own) must pass through to lane dirs under laneRoot. The rest of the state dir stays 0700.
  for (const d of [baseDir, dir, laneRoot]) await chmod(d, 0o755);
  // The manager connects to the user bus only while its dbus.socket unit is active, and the
  // distribution's dbus.socket (package dbus-user-session, if present) would bind %t/bus over a bus
  // started beside it. So the bus is the manager's own, from these two units, which take precedence
  // over the distribution's.
  await writeFile(
    join(unitDir, 'dbus.socket'),
    '[Unit]\nDescription=Testbed user bus socket\n\n[Socket]\nListenStream=%t/bus\n',
  );
  await writeFile(
    join(unitDir, 'dbus.service'),
    '[Unit]\nDescription=Testbed user bus\nRequires=dbus.socket\n\n[Service]\nType=notify\nNotifyAccess=main\n' +
      `ExecStart=${dbusDaemon} --session --address=systemd: --nofork --nopidfile --systemd-activation\n`,
  );
  const env: SystemdUserEnv = {
    XDG_RUNTIME_DIR: runtimeDir,
    DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(runtimeDir, 'bus')}`,
    XDG_CONFIG_HOME: configHome,
  };
  const childEnv: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: dir,
    ...env,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_STATE_HOME: join(dir, 'state'),
    XDG_CACHE_HOME: join(dir, 'cache'),
  };

  const daemons: Daemon[] = [];
  // The manager treats the cgroup it starts in as its root (init.scope, app.slice, … go below it).
  // Two managers in one cgroup would share those, so each gets a fresh cgroup of its own.
  const cgroups = await createCgroups(`launchplane-testbed-${basename(dir)}`);
  await writeFile(join(dir, CGROUPS_FILE), cgroups.join('\n'));
  const stop = async (): Promise<void> => {
    // On SIGTERM the manager stops its units (the bus among them) before it exits.
    for (const daemon of daemons) await daemon.stop();
    for (const cg of cgroups) await removeCgroup(cg);
    await removeStateDir(dir);
  };
  try {
    const manager = spawnDaemon(
      [
        unshare,
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        'for cg in "$@"; do echo $$ > "$cg/cgroup.procs" || exit 1; done; ' +
          'mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec "$0" --user',
        systemd,
        ...cgroups,
      ],
      {
        env: childEnv,
        logFile: join(dir, 'systemd.log'),
        cwd: dir,
        pidFile: join(dir, DAEMON_PID_FILE),
      },
    );
    daemons.push(manager);
    await waitForManager(
      env.DBUS_SESSION_BUS_ADDRESS,
      manager,
      options.startTimeoutMs ?? 30_000,
      join(dir, 'systemd.log'),
    );
    return { env, unitDir, laneRoot, pid: manager.pid, stop };
  } catch (error) {
    if (process.env['LP_TESTBED_KEEP'] !== '1') await stop();
    if (error instanceof TestbedUnavailableError) throw error;
    throw new TestbedUnavailableError(
      `systemd user manager did not start: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Creates `name` below this process's cgroup in every hierarchy systemd uses: the unified one
 * (`/sys/fs/cgroup` on a pure v2 host, `/sys/fs/cgroup/unified` on a hybrid one) and, on hybrid
 * hosts, the `name=systemd` v1 hierarchy, which is the one systemd tracks processes in there.
 */
async function createCgroups(name: string): Promise<string[]> {
  const unified = (await exists('/sys/fs/cgroup/cgroup.controllers'))
    ? '/sys/fs/cgroup'
    : (await exists('/sys/fs/cgroup/unified/cgroup.controllers'))
      ? '/sys/fs/cgroup/unified'
      : undefined;
  const lines = (await readFile('/proc/self/cgroup', 'utf8')).split('\n');
  const targets: string[] = [];
  for (const line of lines) {
    const [id, controllers, path] = line.split(':', 3);
    if (path === undefined) continue;
    if (id === '0' && controllers === '' && unified !== undefined)
      targets.push(join(unified, path, name));
    if (controllers === 'name=systemd' && (await exists('/sys/fs/cgroup/systemd/cgroup.procs'))) {
      targets.push(join('/sys/fs/cgroup/systemd', path, name));
    }
  }
  if (targets.length === 0)
    throw new TestbedUnavailableError('systemd testbed found no cgroup hierarchy to use');
  for (const target of targets) await mkdir(target);
  return targets;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function waitForManager(
  address: string,
  manager: Daemon,
  timeoutMs: number,
  logFile: string,
): Promise<void> {
  const exitedEarly = async (): Promise<TestbedUnavailableError> => {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    return new TestbedUnavailableError(`systemd --user exited: ${log.trim().slice(-500)}`);
  };
  try {
    await waitFor(
      async () => {
        if (!manager.alive()) throw await exitedEarly();
        // A fresh connection each time: the bus socket appears only once the manager is up.
        const state = await systemState(address);
        return state === 'running' || state === 'degraded';
      },
      { timeoutMs, intervalMs: 50, what: 'systemd --user to report running' },
    );
  } catch (error) {
    if (!manager.alive()) throw await exitedEarly();
    throw error;
  }
}

async function systemState(address: string): Promise<unknown> {
  const bus = dbus.sessionBus({ busAddress: address });
  try {
    await new Promise<void>((resolve, reject) => {
      bus.once('connect', () => resolve());
      bus.on('error', (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
    });
    const reply = await bus.call(
      new dbus.Message({
        destination: 'org.freedesktop.systemd1',
        path: '/org/freedesktop/systemd1',
        interface: 'org.freedesktop.DBus.Properties',
        member: 'Get',
        signature: 'ss',
        body: ['org.freedesktop.systemd1.Manager', 'SystemState'],
        // No D-Bus activation: the manager must register itself, not be spawned by the bus.
        flags: dbus.MessageFlag.NO_AUTO_START,
      }),
    );
    return (reply?.body[0] as dbus.Variant | undefined)?.value;
  } finally {
    bus.disconnect();
  }
}

/**
 * One face over systemd units and Docker containers for the lane service: what the object of a
 * lane looks like (exists, carries our marker or labels, runs, runs a `Runner.Worker`), and the
 * raw operations. Ownership decisions stay in the lane service; this only observes and acts.
 */
import type { Backend } from '@launchplane/shared';
import {
  DEFAULT_DOCKER_NETWORK,
  DOCKER_LABEL_HOST,
  DOCKER_LABEL_LANE,
  LaunchplaneError,
  containerName,
  unitName,
} from '@launchplane/shared';
import { findRunnerWorkers, isRunnerWorker } from '../adapters/proc/runner-worker.js';
import { parseGroup, parsePasswd, resolveImageUser } from '../domain/passwd.js';
import type { RunnerExit } from '../domain/runner-exit.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { UnitManager } from '../ports/unit-manager.js';
import type { LaneRecord } from '../ledger/lane-record.js';
import { CONTAINER_LANE_DIR, LANE_FILES } from './lane-layout.js';
import type { UserIds } from './lane-users.js';

/** What systemd or Docker shows for a lane's object. */
export interface ObjectObservation {
  exists: boolean;
  /** The marker (`X-Launchplane-Lane=`) or labels (`dev.launchplane.lane`/`.host`) name this lane. */
  owned: boolean;
  running: boolean;
  /** In the backend's words: `active/running`, `exited`. */
  backendState: string | undefined;
  /** How the runner's last run ended, when the object is not running and ran before. */
  exit?: RunnerExit;
}

/** The settings a lane's object is made with. */
export interface InstallOptions {
  /** Environment of the runner (PATH etc.); never holds a secret. */
  env: Readonly<Record<string, string>>;
  /** systemd: `User=` of the unit. */
  runAsUser?: string;
  /** Seconds a stopping runner gets before SIGKILL. */
  stopTimeoutSec: number;
  /**
   * Docker: `no-new-privileges` (default true). Off, the image's setuid `sudo` works, and the
   * capabilities it needs are added back ({@link SUDO_CAPABILITIES}).
   */
  noNewPrivileges?: boolean;
}

/**
 * What a Docker lane gets back of Docker's default capabilities when its host turns
 * `no-new-privileges` off (`docker.noNewPrivileges: false`) so that the image's `sudo` works:
 * switching users (SETUID, SETGID, AUDIT_WRITE for sudo's log) and acting on files as root
 * (CHOWN, DAC_OVERRIDE, FOWNER, FSETID, e.g. a package manager), and KILL. Never MKNOD, NET_RAW,
 * SETFCAP, SETPCAP, NET_BIND_SERVICE or SYS_CHROOT. With `no-new-privileges` on (the default), a
 * lane gets no capability at all: the runner, which runs as the image's non-root user, needs none.
 */
export const SUDO_CAPABILITIES: readonly string[] = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'AUDIT_WRITE',
];

/** What installing found out. */
export interface InstallResult {
  /** Docker: the user the container runs as, from the image, resolved in the image's own files. */
  runsAs?: UserIds;
  /**
   * Docker: who that user is on the host, which owns the lane dir: the same ids, or, when the
   * daemon remaps user namespaces (`--userns-remap`), the remapped ones.
   */
  hostOwner?: UserIds;
}

/** Most bytes read of an image's `/etc/passwd` or `/etc/group`. */
const MAX_ACCOUNT_FILE_BYTES = 1024 * 1024;

/** Lane operations on one backend. */
export interface LaneBackend {
  readonly kind: Backend;
  /** The object name of a lane. */
  objectName(laneId: string): string;
  observe(lane: LaneRecord): Promise<ObjectObservation>;
  /** Whether a `Runner.Worker` process lives in the lane's cgroup or container. */
  workerRunning(lane: LaneRecord): Promise<boolean>;
  install(lane: LaneRecord, options: InstallOptions): Promise<InstallResult>;
  start(lane: LaneRecord): Promise<void>;
  stop(lane: LaneRecord): Promise<void>;
  restart(lane: LaneRecord): Promise<void>;
  /** Deletes the object (stopping it first). */
  uninstall(lane: LaneRecord): Promise<void>;
  /** Resolves when the backend answers. */
  ping(): Promise<void>;
}

function hookEnv(dir: string): Record<string, string> {
  return {
    ACTIONS_RUNNER_HOOK_JOB_STARTED: `${dir}/${LANE_FILES.jobStartedHook}`,
    ACTIONS_RUNNER_HOOK_JOB_COMPLETED: `${dir}/${LANE_FILES.jobCompletedHook}`,
  };
}

/**
 * The runner settings every lane gets, whatever its image or template, after anything else in its
 * environment (so nothing overrides them):
 * - `RUNNER_MANUALLY_TRAP_SIG=1`: run.sh traps SIGINT and SIGTERM and passes them on as SIGINT to
 *   the process group of run-helper.sh and Runner.Listener, then waits for it; without it bash
 *   dies at once and the listener never hears of the stop (actions/runner run.sh,
 *   `runWithManualTrap`);
 * - `ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1`: a runner too old for GitHub exits 7
 *   instead of 1, and run.sh passes the 7 on (run.sh, run-helper.sh.template,
 *   src/Runner.Listener/Program.cs `GetRunnerVersionDeprecatedExitCode`);
 * - `RUNNER_ALLOW_RUNASROOT=1` only on a host that allows root lanes: without it config.sh and
 *   run-helper.sh refuse uid 0 (config.sh, run-helper.sh.template).
 */
export function runnerControlEnv(allowRoot: boolean): Record<string, string> {
  return {
    RUNNER_MANUALLY_TRAP_SIG: '1',
    ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE: '1',
    ...(allowRoot ? { RUNNER_ALLOW_RUNASROOT: '1' } : {}),
  };
}

const RUNNING_UNIT_STATES = new Set(['active', 'activating', 'reloading']);

/** {@link LaneBackend} over the systemd port. */
export class SystemdLaneBackend implements LaneBackend {
  readonly kind = 'systemd' as const;
  readonly #units: UnitManager;
  readonly #procRoot: string | undefined;
  readonly #hardening: readonly string[];

  /**
   * `hardening`: the settings of `LANE_HARDENING` this host supports (its probe), given to every
   * unit written from now on.
   */
  constructor(
    units: UnitManager,
    options: { procRoot?: string; hardening?: readonly string[] } = {},
  ) {
    this.#units = units;
    this.#procRoot = options.procRoot;
    this.#hardening = options.hardening ?? [];
  }

  objectName(laneId: string): string {
    return unitName(laneId);
  }

  async observe(lane: LaneRecord): Promise<ObjectObservation> {
    const s = await this.#units.status(lane.objectName);
    if (s === undefined || (s.loadState === 'not-found' && s.fragmentPath === '')) {
      return { exists: false, owned: false, running: false, backendState: undefined };
    }
    const running = RUNNING_UNIT_STATES.has(s.activeState);
    // ExecMainCode (a siginfo si_code): 1 exited, 2 killed, 3 dumped; 0 when nothing ran yet.
    const exit: RunnerExit | undefined =
      running || s.execMainCode === 0
        ? undefined
        : s.execMainCode === 1
          ? { status: s.execMainStatus }
          : { signal: s.execMainStatus };
    return {
      exists: true,
      owned: s.marker === lane.laneId,
      running,
      backendState: `${s.activeState}/${s.subState}`,
      ...(exit === undefined ? {} : { exit }),
    };
  }

  async workerRunning(lane: LaneRecord): Promise<boolean> {
    const pids = await this.#units.pids(lane.objectName);
    const workers = await findRunnerWorkers(
      pids,
      this.#procRoot === undefined ? {} : { procRoot: this.#procRoot },
    );
    return workers.length > 0;
  }

  async install(lane: LaneRecord, options: InstallOptions): Promise<InstallResult> {
    await this.#units.writeUnit({
      laneId: lane.laneId,
      description: `Launchplane lane ${lane.laneId} (${lane.name})`,
      execStart: ['/bin/sh', `${lane.laneDir}/${LANE_FILES.launch}`],
      workingDirectory: lane.laneDir,
      environment: { ...options.env, ...hookEnv(lane.laneDir) },
      timeoutStopSec: options.stopTimeoutSec,
      hardening: this.#hardening,
      ...(options.runAsUser === undefined ? {} : { user: options.runAsUser }),
    });
    return {};
  }

  /** The uid the systemd manager runs as (see {@link UnitManager.managerUid}). */
  managerUid(): Promise<number> {
    return this.#units.managerUid();
  }

  start(lane: LaneRecord): Promise<void> {
    return this.#units.start(lane.objectName);
  }

  stop(lane: LaneRecord): Promise<void> {
    return this.#units.stop(lane.objectName);
  }

  restart(lane: LaneRecord): Promise<void> {
    return this.#units.restart(lane.objectName);
  }

  uninstall(lane: LaneRecord): Promise<void> {
    return this.#units.removeUnit(lane.objectName);
  }

  ping(): Promise<void> {
    return this.#units.ping();
  }
}

/** {@link LaneBackend} over the Docker port. */
export class DockerLaneBackend implements LaneBackend {
  readonly kind = 'docker' as const;
  readonly #containers: ContainerRuntime;
  readonly #hostId: string;

  constructor(containers: ContainerRuntime, hostId: string) {
    this.#containers = containers;
    this.#hostId = hostId;
  }

  objectName(laneId: string): string {
    return containerName(laneId);
  }

  async observe(lane: LaneRecord): Promise<ObjectObservation> {
    const info = await this.#containers.inspect(lane.objectName);
    if (info === undefined)
      return { exists: false, owned: false, running: false, backendState: undefined };
    return {
      exists: true,
      owned:
        info.labels[DOCKER_LABEL_LANE] === lane.laneId &&
        info.labels[DOCKER_LABEL_HOST] === this.#hostId,
      running: info.state.running,
      backendState: info.state.status,
      // The init (docker-init) exits with its child's status, 128 + n when a signal killed it.
      ...(info.state.status === 'exited' ? { exit: { status: info.state.exitCode } } : {}),
    };
  }

  async workerRunning(lane: LaneRecord): Promise<boolean> {
    const procs = await this.#containers.processes(lane.objectName);
    return procs.some((p) => isRunnerWorker({ comm: p.comm, argv: p.args.split(/\s+/) }));
  }

  /**
   * Creates the container (not started) and finds out which user it runs as: the image's `User`,
   * a name resolved in the image's own `/etc/passwd` and `/etc/group` (read from the created
   * container), never the host's.
   */
  async install(lane: LaneRecord, options: InstallOptions): Promise<InstallResult> {
    const docker = lane.docker;
    if (docker === undefined) throw new Error(`Docker lane "${lane.laneId}" has no image`);
    await this.#containers.create({
      laneId: lane.laneId,
      hostId: this.#hostId,
      image: docker.image,
      entrypoint: ['/bin/sh'],
      cmd: [`${CONTAINER_LANE_DIR}/${LANE_FILES.launch}`],
      env: { ...options.env, ...hookEnv(CONTAINER_LANE_DIR) },
      mounts: [{ source: lane.laneDir, target: CONTAINER_LANE_DIR }],
      workingDir: CONTAINER_LANE_DIR,
      networkMode: docker.network ?? DEFAULT_DOCKER_NETWORK,
      stopTimeoutSec: options.stopTimeoutSec,
      noNewPrivileges: options.noNewPrivileges !== false,
      capAdd: options.noNewPrivileges === false ? SUDO_CAPABILITIES : [],
    });
    const info = await this.#containers.inspect(lane.objectName);
    const user = info?.user ?? '';
    const needsFiles =
      user.split(':').some((part) => part !== '' && !/^\d+$/.test(part)) || /^\d+$/.test(user);
    const [passwd, group] = needsFiles
      ? await Promise.all([
          this.#containers.readFile(lane.objectName, '/etc/passwd', MAX_ACCOUNT_FILE_BYTES),
          this.#containers.readFile(lane.objectName, '/etc/group', MAX_ACCOUNT_FILE_BYTES),
        ])
      : [undefined, undefined];
    const ids = resolveImageUser(user, parsePasswd(passwd ?? ''), parseGroup(group ?? ''));
    if ('error' in ids) {
      throw new LaunchplaneError(
        'LP_CONFIG_INVALID',
        `Cannot tell which user image "${docker.image}" runs as: ${ids.error}`,
        {
          recovery: `Give the image a USER that its /etc/passwd lists, or a numeric USER (uid:gid)`,
          details: { laneId: lane.laneId, image: docker.image },
        },
      );
    }
    return { runsAs: ids, hostOwner: await this.#hostIds(lane, ids) };
  }

  /** The host ids of a container's user (see {@link InstallResult.hostOwner}). */
  async #hostIds(lane: LaneRecord, ids: UserIds): Promise<UserIds> {
    const userns = await this.#containers.userNamespace();
    if (userns === undefined) return ids;
    if (ids.uid >= userns.size || ids.gid >= userns.size) {
      throw new LaunchplaneError(
        'LP_CONFIG_INVALID',
        `Cannot create lane "${lane.laneId}": image "${lane.docker?.image ?? ''}" runs as ${ids.uid}:${ids.gid}, outside the ${userns.size} ids the daemon remaps`,
        {
          recovery:
            'Use an image whose USER is within the remapped range, or widen it in /etc/subuid and /etc/subgid',
          details: { laneId: lane.laneId },
        },
      );
    }
    return { uid: userns.uid + ids.uid, gid: userns.gid + ids.gid };
  }

  /** The digests the local image is known by (undefined: no such image here). */
  imageDigests(image: string): Promise<string[] | undefined> {
    return this.#containers.imageDigests(image);
  }

  start(lane: LaneRecord): Promise<void> {
    return this.#containers.start(lane.objectName);
  }

  stop(lane: LaneRecord): Promise<void> {
    return this.#containers.stop(lane.objectName);
  }

  async restart(lane: LaneRecord): Promise<void> {
    await this.#containers.stop(lane.objectName);
    await this.#containers.start(lane.objectName);
  }

  async uninstall(lane: LaneRecord): Promise<void> {
    await this.#containers.stop(lane.objectName);
    await this.#containers.remove(lane.objectName, { force: true });
  }

  ping(): Promise<void> {
    return this.#containers.ping();
  }
}

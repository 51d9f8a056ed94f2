/**
 * One face over systemd units and Docker containers for the lane service: what the object of a
 * lane looks like (exists, carries our marker or labels, runs, runs a `Runner.Worker`), and the
 * raw operations. Ownership decisions stay in the lane service; this only observes and acts.
 */
import type { Backend } from '@launchplane/shared';
import { DOCKER_LABEL_HOST, DOCKER_LABEL_LANE, containerName, unitName } from '@launchplane/shared';
import { findRunnerWorkers, isRunnerWorker } from '../adapters/proc/runner-worker.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { UnitManager } from '../ports/unit-manager.js';
import type { LaneRecord } from '../ledger/lane-record.js';
import { CONTAINER_LANE_DIR, LANE_FILES } from './lane-layout.js';

/** What systemd or Docker shows for a lane's object. */
export interface ObjectObservation {
  exists: boolean;
  /** The marker (`X-Launchplane-Lane=`) or labels (`dev.launchplane.lane`/`.host`) name this lane. */
  owned: boolean;
  running: boolean;
  /** In the backend's words: `active/running`, `exited`. */
  backendState: string | undefined;
}

/** The settings a lane's object is made with. */
export interface InstallOptions {
  /** Environment of the runner (PATH etc.); never holds a secret. */
  env: Readonly<Record<string, string>>;
  /** systemd: `User=` of the unit. */
  runAsUser?: string;
}

/** Lane operations on one backend. */
export interface LaneBackend {
  readonly kind: Backend;
  /** The object name of a lane. */
  objectName(laneId: string): string;
  observe(lane: LaneRecord): Promise<ObjectObservation>;
  /** Whether a `Runner.Worker` process lives in the lane's cgroup or container. */
  workerRunning(lane: LaneRecord): Promise<boolean>;
  install(lane: LaneRecord, options: InstallOptions): Promise<void>;
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

const RUNNING_UNIT_STATES = new Set(['active', 'activating', 'reloading']);

/** {@link LaneBackend} over the systemd port. */
export class SystemdLaneBackend implements LaneBackend {
  readonly kind = 'systemd' as const;
  readonly #units: UnitManager;
  readonly #procRoot: string | undefined;

  constructor(units: UnitManager, options: { procRoot?: string } = {}) {
    this.#units = units;
    this.#procRoot = options.procRoot;
  }

  objectName(laneId: string): string {
    return unitName(laneId);
  }

  async observe(lane: LaneRecord): Promise<ObjectObservation> {
    const s = await this.#units.status(lane.objectName);
    if (s === undefined || (s.loadState === 'not-found' && s.fragmentPath === '')) {
      return { exists: false, owned: false, running: false, backendState: undefined };
    }
    return {
      exists: true,
      owned: s.marker === lane.laneId,
      running: RUNNING_UNIT_STATES.has(s.activeState),
      backendState: `${s.activeState}/${s.subState}`,
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

  async install(lane: LaneRecord, options: InstallOptions): Promise<void> {
    await this.#units.writeUnit({
      laneId: lane.laneId,
      description: `Launchplane lane ${lane.laneId} (${lane.name})`,
      execStart: ['/bin/sh', `${lane.laneDir}/${LANE_FILES.launch}`],
      workingDirectory: lane.laneDir,
      environment: { ...options.env, ...hookEnv(lane.laneDir) },
      ...(options.runAsUser === undefined ? {} : { user: options.runAsUser }),
    });
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
    };
  }

  async workerRunning(lane: LaneRecord): Promise<boolean> {
    const procs = await this.#containers.processes(lane.objectName);
    return procs.some((p) => isRunnerWorker({ comm: p.comm, argv: p.args.split(/\s+/) }));
  }

  async install(lane: LaneRecord, options: InstallOptions): Promise<void> {
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
      networkMode: docker.network ?? 'host',
    });
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

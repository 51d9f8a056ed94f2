/**
 * An in-memory {@link ContainerRuntime} for unit tests, with a call log and knobs like
 * {@link FakeUnitManager}.
 */
import {
  containerName,
  DOCKER_LABEL_HOST,
  DOCKER_LABEL_LANE,
  LaunchplaneError,
} from '@launchplane/shared';
import type {
  ContainerInfo,
  ContainerProcess,
  ContainerRuntime,
  ContainerSpec,
  ContainerSummary,
  UserNamespace,
} from './container-runtime.js';

/** One fake container. */
export interface FakeContainer {
  name: string;
  labels: Record<string, string>;
  spec: ContainerSpec | undefined;
  running: boolean;
  status: string;
  processes: ContainerProcess[];
  /** `Config.User`; undefined: the image's ({@link FakeContainerRuntime.imageUsers}). */
  user?: string;
  exitCode: number;
}

/** Fake Docker. */
export class FakeContainerRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly calls: string[] = [];
  startError: LaunchplaneError | undefined;
  /** `User` of an image by reference; an image not listed runs as {@link defaultImageUser}. */
  readonly imageUsers = new Map<string, string>();
  /** Files in an image (`/etc/passwd`, …) by reference and path. */
  readonly imageFiles = new Map<string, Record<string, string>>();
  /** The user of an image not in {@link imageUsers}: non-root, like the official runner image. */
  defaultImageUser = '1001';
  /** `RepoDigests` of local images by reference; an image not listed is local, built here. */
  readonly imageRepoDigests = new Map<string, string[]>();
  /** Images that are not there at all. */
  readonly missingImages = new Set<string>();
  /** The daemon's user-namespace remapping; undefined: none. */
  userns: UserNamespace | undefined;

  /** Plants a container the agent did not make (a look-alike), with any labels. */
  plant(name: string, labels: Record<string, string>, running = true): FakeContainer {
    const c: FakeContainer = {
      name,
      labels,
      spec: undefined,
      running,
      status: running ? 'running' : 'exited',
      processes: [],
      exitCode: 0,
    };
    this.containers.set(name, c);
    return c;
  }

  /** Makes a container's process die of SIGKILL (exit code 137). */
  kill(name: string): void {
    this.exit(name, 137);
  }

  /** Makes a container's process exit with `code`. */
  exit(name: string, code: number): void {
    const c = this.containers.get(name);
    if (c !== undefined) {
      c.running = false;
      c.status = 'exited';
      c.processes = [];
      c.exitCode = code;
    }
  }

  imageDigests(image: string): Promise<string[] | undefined> {
    if (this.missingImages.has(image)) return Promise.resolve(undefined);
    return Promise.resolve([...(this.imageRepoDigests.get(image) ?? [])]);
  }

  userNamespace(): Promise<UserNamespace | undefined> {
    return Promise.resolve(this.userns);
  }

  create(spec: ContainerSpec): Promise<string> {
    const name = containerName(spec.laneId);
    this.calls.push(`create ${name}`);
    if (this.containers.has(name))
      return Promise.reject(
        new LaunchplaneError('LP_BACKEND_FAILED', `Container "${name}" exists`),
      );
    this.containers.set(name, {
      name,
      labels: {
        ...(spec.labels ?? {}),
        [DOCKER_LABEL_LANE]: spec.laneId,
        [DOCKER_LABEL_HOST]: spec.hostId,
      },
      spec,
      running: false,
      status: 'created',
      processes: [],
      exitCode: 0,
    });
    return Promise.resolve(name);
  }

  start(name: string): Promise<void> {
    this.calls.push(`start ${name}`);
    const c = this.containers.get(name);
    if (c === undefined)
      return Promise.reject(new LaunchplaneError('LP_BACKEND_FAILED', `No container "${name}"`));
    if (this.startError !== undefined) return Promise.reject(this.startError);
    c.running = true;
    c.status = 'running';
    c.exitCode = 0;
    return Promise.resolve();
  }

  stop(name: string): Promise<void> {
    this.calls.push(`stop ${name}`);
    const c = this.containers.get(name);
    if (c !== undefined) {
      // run.sh under RUNNER_MANUALLY_TRAP_SIG ends a stop with 128 + SIGTERM.
      if (c.running) c.exitCode = 143;
      c.running = false;
      c.status = 'exited';
      c.processes = [];
    }
    return Promise.resolve();
  }

  remove(name: string, options: { force?: boolean } = {}): Promise<void> {
    this.calls.push(`remove ${name}`);
    const c = this.containers.get(name);
    if (c?.running === true && options.force !== true) {
      return Promise.reject(
        new LaunchplaneError('LP_BACKEND_FAILED', `Container "${name}" is running`),
      );
    }
    this.containers.delete(name);
    return Promise.resolve();
  }

  inspect(name: string): Promise<ContainerInfo | undefined> {
    const c = this.containers.get(name);
    if (c === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      id: `id-${name}`,
      name,
      labels: c.labels,
      image: c.spec?.image ?? 'hand-made',
      user: c.user ?? this.imageUsers.get(c.spec?.image ?? '') ?? this.defaultImageUser,
      state: {
        status: c.status,
        running: c.running,
        exitCode: c.exitCode,
        startedAt: '2026-01-01T00:00:00Z',
        finishedAt: '0001-01-01T00:00:00Z',
        oomKilled: false,
        restartCount: 0,
      },
    });
  }

  list(): Promise<ContainerSummary[]> {
    return Promise.resolve(
      [...this.containers.values()].map((c) => ({
        id: `id-${c.name}`,
        name: c.name,
        labels: c.labels,
        status: c.status,
        image: c.spec?.image ?? 'hand-made',
      })),
    );
  }

  processes(name: string): Promise<ContainerProcess[]> {
    return Promise.resolve([...(this.containers.get(name)?.processes ?? [])]);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  readFile(name: string, path: string, maxBytes: number): Promise<string | undefined> {
    const image = this.containers.get(name)?.spec?.image;
    const text = image === undefined ? undefined : this.imageFiles.get(image)?.[path];
    if (text !== undefined && Buffer.byteLength(text) > maxBytes) {
      return Promise.reject(new LaunchplaneError('LP_BACKEND_FAILED', `"${path}" is too large`));
    }
    return Promise.resolve(text);
  }
}

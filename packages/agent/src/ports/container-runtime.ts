/**
 * The Docker port: raw container I/O for lanes run as containers. Guardrails (ownership, the
 * ledger, dry-run) live in the agent core; an implementation only talks to the container engine and
 * reports failures as `LaunchplaneError` (`LP_BACKEND_UNAVAILABLE` when the daemon cannot be
 * reached, `LP_BACKEND_FAILED` when an operation failed).
 */

/** A bind mount from the host into the container. */
export interface BindMount {
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly?: boolean;
}

/** Optional resource limits. */
export interface ContainerResources {
  /** Memory limit in bytes. */
  memoryBytes?: number;
  /** CPU limit in units of 1e-9 CPUs (Docker's `NanoCpus`). */
  nanoCpus?: number;
  /** Maximum number of processes. */
  pidsLimit?: number;
}

/** What to run for one lane. */
export interface ContainerSpec {
  /** Canonical lowercase ULID; names the container `launchplane-lane-<laneId>`. */
  laneId: string;
  /** Host id written to the `dev.launchplane.host` label. */
  hostId: string;
  image: string;
  /** Replaces the image's CMD when given. */
  cmd?: readonly string[];
  /** Replaces the image's ENTRYPOINT when given. */
  entrypoint?: readonly string[];
  /** Environment. Values may hold secrets and never appear in errors or logs. */
  env?: Readonly<Record<string, string>>;
  /** Extra labels; the lane and host labels always win. */
  labels?: Readonly<Record<string, string>>;
  mounts?: readonly BindMount[];
  workingDir?: string;
  /** Docker network mode. Default `bridge`. */
  networkMode?: string;
  /**
   * Capabilities added back after every one is dropped (`CapDrop: ALL`, always). Default none:
   * the runner needs none.
   */
  capAdd?: readonly string[];
  /** `no-new-privileges`: a setuid binary (e.g. `sudo`) gains nothing. Default true. */
  noNewPrivileges?: boolean;
  /** Seconds Docker waits after the stop signal before SIGKILL. Default 300. */
  stopTimeoutSec?: number;
  /** Runs an init (tini) as PID 1 so signals reach the runner and zombies are reaped. Default true. */
  init?: boolean;
  /** `user[:group]` inside the container. */
  user?: string;
  resources?: ContainerResources;
}

/** A container's state as the engine shows it. */
export interface ContainerState {
  /** `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`. */
  status: string;
  running: boolean;
  exitCode: number;
  /** ISO time; Docker's zero time when never started. */
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
  restartCount: number;
}

/** A container's identity and state. */
export interface ContainerInfo {
  id: string;
  /** Name without Docker's leading `/`. */
  name: string;
  labels: Readonly<Record<string, string>>;
  state: ContainerState;
  /** Image reference the container was created from. */
  image: string;
  /** The user it runs as (`Config.User`: `name`, `uid`, `name:group`, `uid:gid`; `''` is root). */
  user: string;
}

/** One row of a container listing. */
export interface ContainerSummary {
  id: string;
  /** Name without Docker's leading `/`. */
  name: string;
  labels: Readonly<Record<string, string>>;
  /** `created`, `running`, `exited`, … */
  status: string;
  image: string;
}

/** A process running inside a container. */
export interface ContainerProcess {
  /** Host PID. */
  pid: number;
  /** Short command name (`comm`), e.g. `Runner.Worker`. */
  comm: string;
  /** Full command line. */
  args: string;
}

/** The daemon's user-namespace remapping (`dockerd --userns-remap`). */
export interface UserNamespace {
  /** Host uid and gid that uid and gid 0 in a container map to. */
  uid: number;
  gid: number;
  /** How many ids are mapped (container ids 0 to size - 1). */
  size: number;
}

/** Docker port used by the agent core. */
export interface ContainerRuntime {
  /** Creates (does not start) `launchplane-lane-<laneId>`; returns its name. Restart policy is always `no`. */
  create(spec: ContainerSpec): Promise<string>;
  /** Starts a container; starting a running one succeeds. */
  start(name: string): Promise<void>;
  /** Stops a container (stop signal, then SIGKILL after the timeout); stopping a stopped one succeeds. */
  stop(name: string, options?: { timeoutSec?: number }): Promise<void>;
  /**
   * Removes a container. Without `force` a running container is refused (`LP_BACKEND_FAILED`).
   * Removing a missing container succeeds.
   */
  remove(name: string, options?: { force?: boolean }): Promise<void>;
  /**
   * The container's state, or undefined when there is no such container. Accepts any container
   * name (a hand-made container may carry only our label); mutating calls take lane names only.
   */
  inspect(name: string): Promise<ContainerInfo | undefined>;
  /** Every container, running or not, named `launchplane-lane-*` or labelled `dev.launchplane.lane`. */
  list(): Promise<ContainerSummary[]>;
  /** Processes inside a running container; empty when it is not running. */
  processes(name: string): Promise<ContainerProcess[]>;
  /**
   * The text of a regular file in a lane container's filesystem (created or running), e.g. the
   * image's own `/etc/passwd`; undefined when the path is missing or is not a regular file (a
   * link is not followed). `LP_BACKEND_FAILED` when it is larger than `maxBytes`.
   */
  readFile(name: string, path: string, maxBytes: number): Promise<string | undefined>;
  /**
   * The digests a local image is known by (`RepoDigests`, `repo@sha256:…`; empty for an image
   * built locally), or undefined when there is no such image.
   */
  imageDigests(image: string): Promise<string[] | undefined>;
  /** The daemon's user-namespace remapping, or undefined when it runs without one. */
  userNamespace(): Promise<UserNamespace | undefined>;
  /** Resolves when the daemon answers; rejects with `LP_BACKEND_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
}

/**
 * The systemd port: raw unit I/O for lanes run as systemd services. Guardrails (ownership, the
 * ledger, dry-run) live in the agent core; an implementation only talks to systemd and the unit
 * directory, and reports failures as `LaunchplaneError` (`LP_BACKEND_UNAVAILABLE` when the bus or
 * manager cannot be reached, `LP_BACKEND_FAILED` when an operation was refused or failed).
 */

/** What to run for one lane. Rendered into `launchplane-lane-<laneId>.service`. */
export interface UnitSpec {
  /** Canonical lowercase ULID; anything else is refused so a name can never leave the unit dir. */
  laneId: string;
  /** `Description=` of the unit. */
  description: string;
  /** argv of the service; `execStart[0]` must be an absolute path. */
  execStart: readonly string[];
  /** Absolute lane directory: the working directory and the only writable path under `/`. */
  workingDirectory: string;
  /**
   * Environment of the service. Values may hold secrets: they are written to the unit file only
   * (mode 0600) and never appear in errors or logs.
   */
  environment: Readonly<Record<string, string>>;
  /** `User=` (a manager running as root only). Unset: the manager's own user. */
  user?: string;
  /** `Group=` (a manager running as root only). */
  group?: string;
  /** Seconds systemd waits after SIGTERM before SIGKILL; a runner needs time to finish. Default 300. */
  timeoutStopSec?: number;
  /** `StartLimitIntervalSec=` of the unit. Default 600. */
  startLimitIntervalSec?: number;
  /** `StartLimitBurst=` of the unit. Default 10. */
  startLimitBurst?: number;
  /**
   * `ReadWritePaths=` besides the working directory (`ProtectSystem=strict` makes everything else
   * read-only). Absolute paths.
   */
  readWritePaths?: readonly string[];
  /**
   * Hardening settings beyond the sandbox every lane gets, by name (`LANE_HARDENING` in
   * `adapters/systemd/unit-hardening.ts`): those the host's probe found to work.
   */
  hardening?: readonly string[];
}

/** A hardening probe: a short-lived unit with a lane's sandbox and the settings to try. */
export interface ProbeSpec {
  /** Setting names from `LANE_HARDENING`; empty probes the sandbox alone. */
  settings: readonly string[];
  /** `User=`: the user lanes run as (or one like it). Unset: the manager's own user. */
  user?: string;
  /** `ReadWritePaths=`, as a lane has (its lanes dir). */
  readWritePaths: readonly string[];
}

/** How a probe ended. */
export interface ProbeOutcome {
  ok: boolean;
  /** `ran`, or why not: `exit status 226/NAMESPACE`, `job failed`, … */
  detail: string;
}

/** A unit as systemd (and its file) show it. */
export interface UnitStatus {
  name: string;
  /** `loaded`, `not-found`, `bad-setting`, `error`, `masked`, … */
  loadState: string;
  /** `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`. */
  activeState: string;
  /** Service sub-state: `running`, `dead`, `failed`, `exited`, `auto-restart`, … */
  subState: string;
  /** Restarts systemd itself performed (always 0 with `Restart=no`, kept for health checks). */
  nRestarts: number;
  /** PID of the main process, 0 when none. */
  mainPid: number;
  /**
   * How the last main process ended (`ExecMainCode`, a `siginfo` `si_code`): 1 exited, 2 killed by
   * a signal, 3 dumped core; 0 when none ended yet.
   */
  execMainCode: number;
  /** Its exit status, or the signal number when it was killed (`ExecMainStatus`; 0 when none). */
  execMainStatus: number;
  /**
   * The service's `Result`: `success`, `exit-code`, `signal`, `core-dump`, `timeout`,
   * `start-limit-hit`, …; `''` when unknown.
   */
  result: string;
  /** The unit's cgroup path relative to the cgroup root (e.g. `/system.slice/x.service`), `''` when none. */
  controlGroup: string;
  /** `X-Launchplane-Lane=` parsed from the unit FILE; undefined when the file lacks it or is gone. */
  marker: string | undefined;
  /** Path of the unit file systemd loaded, `''` when none. */
  fragmentPath: string;
}

/** Systemd port used by the agent core. */
export interface UnitManager {
  /**
   * Writes (or replaces) `launchplane-lane-<laneId>.service` in the unit directory atomically,
   * then reloads the manager. Returns the unit name.
   */
  writeUnit(spec: UnitSpec): Promise<string>;
  /**
   * Starts a unit and waits for its job: resolves only when the job finished `done` and the unit is
   * `active`/`activating`; a refused start (start-limit hit, bad setting, failed exec) rejects
   * with `LP_BACKEND_FAILED`.
   */
  start(name: string): Promise<void>;
  /** Stops a unit and waits for the job (up to its `TimeoutStopSec`). Stopping an inactive unit succeeds. */
  stop(name: string): Promise<void>;
  /** Restarts a unit and waits for the job, with the same failure rules as {@link start}. */
  restart(name: string): Promise<void>;
  /**
   * Stops the unit if active, deletes its file, reloads and resets its failed state. Removing a unit
   * that does not exist succeeds.
   */
  removeUnit(name: string): Promise<void>;
  /** The unit's state, or undefined when systemd knows no such unit and no file exists. */
  status(name: string): Promise<UnitStatus | undefined>;
  /** Every unit named `launchplane-lane-*.service`, loaded or only present as a file. */
  list(): Promise<UnitStatus[]>;
  /** PIDs in the unit's cgroup (including sub-cgroups); empty when it runs nothing. */
  pids(name: string): Promise<number[]>;
  /** Resolves when the manager answers; rejects with `LP_BACKEND_UNAVAILABLE` otherwise. */
  ping(): Promise<void>;
  /**
   * The uid the manager runs as: 0 means it can run a unit as any user (`User=`), otherwise every
   * unit runs as this uid.
   */
  managerUid(): Promise<number>;
  /**
   * Runs hardening probes (`launchplane-probe-*.service`, one per spec, started through this
   * manager), waits for each to end, deletes them, and resolves with how each ended, in order.
   */
  probe(specs: readonly ProbeSpec[]): Promise<ProbeOutcome[]>;
  /** Releases the connection. */
  close(): Promise<void>;
}

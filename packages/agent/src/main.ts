/**
 * The daemon (`launchplane-agent run`): load the config and keys, connect the backends the host
 * opted in to, open the core, keep a session with the coordinator and write a status file. A
 * missing backend is reported, not fatal. Stopping never stops lanes: runners keep running and
 * the next start recovers them from the ledger.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { LaunchplaneError, toLaunchplaneError } from '@launchplane/shared';
import type { AgentConfig, Backend } from '@launchplane/shared';
import { AgentCore } from './agent-core.js';
import { loadAgentConfig } from './config/config-file.js';
import { migrateDataDir } from './config/data-dir.js';
import { acquirePidLock } from './config/pid-lock.js';
import type { PidLock } from './config/pid-lock.js';
import { writeStatusFile } from './config/status-file.js';
import type { BackendStatus, DaemonStatus } from './config/status-file.js';
import { loadCoordinatorKey } from './keys/coordinator-key.js';
import { loadHostKey } from './keys/host-key.js';
import { CRASH_POINTS } from './lanes/lane-service.js';
import type { CrashPoint, CrashPointName } from './lanes/lane-service.js';
import { systemClock } from './ports/clock.js';
import type { Clock } from './ports/clock.js';
import type { ContainerRuntime } from './ports/container-runtime.js';
import { createPinoLogger } from './adapters/log/pino-logger.js';
import type { Logger } from './ports/logger.js';
import type { UnitManager } from './ports/unit-manager.js';
import type { UserAccounts } from './ports/user-accounts.js';
import { AgentSession } from './session/agent-session.js';
import type { AgentSessionOptions } from './session/agent-session.js';
import { AGENT_VERSION } from './version.js';

/** How the daemon reaches systemd and Docker; tests pass fakes. */
export interface BackendFactories {
  systemd(config: AgentConfig): Promise<UnitManager>;
  docker(config: AgentConfig): Promise<ContainerRuntime>;
}

/** Default unit directory for the configured bus. */
export function defaultUnitDir(
  config: AgentConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (config.systemd.unitDir !== undefined) return config.systemd.unitDir;
  if (config.systemd.bus === 'system') return '/etc/systemd/system';
  const xdg = env['XDG_CONFIG_HOME'];
  return join(
    xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.config'),
    'systemd',
    'user',
  );
}

/**
 * The real backends: D-Bus to systemd, the Docker socket. Both fail with LP_BACKEND_UNAVAILABLE.
 * A stop waits up to `runner.stopTimeoutSec` (systemd's `TimeoutStopSec=`, Docker's stop
 * timeout) before SIGKILL; the agent waits a little longer for the job that stops the lane.
 */
export const realBackends: BackendFactories = {
  // Each adapter is loaded only for a backend the host opted into: dockerode and its
  // dependencies alone take about a quarter of a CPU-second to load, on every agent start.
  systemd: async (config) => {
    const { DbusUnitManager } = await import('./adapters/systemd/dbus-unit-manager.js');
    return DbusUnitManager.create({
      bus: config.systemd.bus,
      unitDir: defaultUnitDir(config),
      jobTimeoutMs: Math.max(900, config.runner.stopTimeoutSec + 120) * 1000,
    });
  },
  docker: async (config) => {
    const { DockerContainerRuntime } =
      await import('./adapters/docker/docker-container-runtime.js');
    const runtime = new DockerContainerRuntime({
      socketPath: config.docker.socketPath,
      stopTimeoutSec: config.runner.stopTimeoutSec,
    });
    await runtime.ping();
    return runtime;
  },
};

/** Config, keys and pinned coordinator identity of an enrolled host. */
export interface EnrolledHost {
  config: AgentConfig & { coordinator: NonNullable<AgentConfig['coordinator']> };
  coordinatorId: string;
  hostKey: KeyObject;
  coordinatorKey: KeyObject;
}

/** Loads everything the daemon needs from disk; refuses a host that is not (fully) enrolled. */
export async function loadEnrolledHost(configPath: string): Promise<EnrolledHost> {
  const config = await loadAgentConfig(configPath);
  const coordinator = config.coordinator;
  if (coordinator === undefined || coordinator.coordinatorId === undefined) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Config "${configPath}" has no complete coordinator section: the host is not enrolled`,
      {
        recovery:
          'Run `launchplane-agent enroll --coordinator URL --host-id H --coordinator-fingerprint FP` with the token in LAUNCHPLANE_ENROLL_TOKEN',
      },
    );
  }
  const hostKey = (await loadHostKey(config.dataDir)).privateKey;
  const coordinatorKey = await loadCoordinatorKey(config.dataDir, coordinator.fingerprint);
  return {
    config: { ...config, coordinator },
    coordinatorId: coordinator.coordinatorId,
    hostKey,
    coordinatorKey,
  };
}

/** Options of {@link startAgent}. */
export interface StartAgentOptions {
  backends?: BackendFactories;
  logger?: Logger;
  clock?: Clock;
  /** Session tuning (backoff, timeouts); the identity fields come from the config. */
  session?: Partial<
    Omit<AgentSessionOptions, 'url' | 'hostId' | 'coordinatorId' | 'hostKey' | 'core' | 'logger'>
  >;
  /** How often the status file is refreshed besides session changes, in ms. Default 5 000. */
  statusIntervalMs?: number;
  /** Called after each step of a lane operation (crash-recovery tests kill the process there). */
  crashPoint?: CrashPoint;
  /** The host's user database (lane users); default the real one. */
  accounts?: UserAccounts;
}

/** A running agent. */
export interface RunningAgent {
  core: AgentCore;
  session: AgentSession;
  backends: Record<Backend, BackendStatus>;
  /** Stops the session, the health loop and the ledger. Lanes keep running. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the agent for an enrolled host (see the module comment). */
export async function startAgent(
  host: EnrolledHost,
  options: StartAgentOptions = {},
): Promise<RunningAgent> {
  const { config } = host;
  const logger =
    options.logger ??
    createPinoLogger({ level: config.log.level, bindings: { hostId: config.hostId } });
  const clock = options.clock ?? systemClock;
  const factories = options.backends ?? realBackends;
  const lock: PidLock = await acquirePidLock(config.dataDir, 'start the agent');
  let units: UnitManager | undefined;
  try {
    const migrated = await migrateDataDir(config.dataDir);
    if (migrated.moved.length > 0 || migrated.dropped.length > 0) {
      logger.info(
        { moved: migrated.moved, dropped: migrated.dropped },
        'Data directory migrated: private files moved into private/',
      );
    }
    const backends: Record<Backend, BackendStatus> = {
      systemd: { optedIn: config.optIn.backends.includes('systemd'), available: false },
      docker: { optedIn: config.optIn.backends.includes('docker'), available: false },
    };
    let containers: ContainerRuntime | undefined;
    if (backends.systemd.optedIn) {
      try {
        units = await factories.systemd(config);
        backends.systemd.available = true;
      } catch (err) {
        const e = toLaunchplaneError(err, 'LP_BACKEND_UNAVAILABLE');
        backends.systemd.error = e.message;
        logger.error(
          { code: e.code, err: e.message, recovery: e.recovery },
          'systemd backend unavailable; systemd lanes cannot be managed',
        );
      }
    }
    if (backends.docker.optedIn) {
      try {
        containers = await factories.docker(config);
        backends.docker.available = true;
      } catch (err) {
        const e = toLaunchplaneError(err, 'LP_BACKEND_UNAVAILABLE');
        backends.docker.error = e.message;
        logger.error(
          { code: e.code, err: e.message, recovery: e.recovery },
          'Docker backend unavailable; Docker lanes cannot be managed',
        );
      }
    }

    const core = await AgentCore.create({
      config,
      hostKey: host.hostKey,
      coordinatorKey: host.coordinatorKey,
      coordinatorFingerprint: config.coordinator.fingerprint,
      units,
      containers,
      clock,
      logger,
      ...(options.crashPoint === undefined ? {} : { crashPoint: options.crashPoint }),
      ...(options.accounts === undefined ? {} : { accounts: options.accounts }),
    });
    core.startHealthLoop();
    const hardening = core.hardening();

    const startedAt = clock.nowMs();
    let writing = Promise.resolve();
    let stopped = false;
    const session = new AgentSession({
      agentVersion: AGENT_VERSION,
      ...options.session,
      url: config.coordinator.url,
      hostId: config.hostId,
      coordinatorId: host.coordinatorId,
      hostKey: host.hostKey,
      ...(config.coordinator.tlsPin === undefined ? {} : { tlsPin: config.coordinator.tlsPin }),
      core,
      logger,
      clock,
      onStatus: () => writeStatus(),
    });
    const writeStatus = (): void => {
      const s = session.status();
      const c = stopped ? undefined : core.status();
      const status: DaemonStatus = {
        pid: process.pid,
        agentVersion: AGENT_VERSION,
        startedAt,
        updatedAt: clock.nowMs(),
        stopped,
        session: s,
        backends,
        lanes: c?.lanes ?? 0,
        // The core reports Unix seconds; the status file keeps Unix ms like every other time in it.
        ...(c?.lastHealthAt === undefined ? {} : { lastHealthAt: c.lastHealthAt * 1000 }),
        ...(c?.healthPassStartedAt === undefined
          ? {}
          : { healthPassStartedAt: c.healthPassStartedAt * 1000 }),
        ...(hardening === undefined ? {} : { hardening }),
      };
      // Serialized so an older snapshot never overwrites a newer one.
      writing = writing
        .then(() => writeStatusFile(config.dataDir, status))
        .catch((err: unknown) => logger.warn({ err: String(err) }, 'Cannot write the status file'));
    };
    const statusTimer = setInterval(writeStatus, options.statusIntervalMs ?? 5_000);
    session.start();
    writeStatus();
    logger.info(
      {
        url: config.coordinator.url,
        backends: Object.keys(backends).filter((b) => backends[b as Backend].available),
      },
      'Agent started',
    );

    let stopping: Promise<void> | undefined;
    return {
      core,
      session,
      backends,
      stop: () =>
        (stopping ??= (async () => {
          clearInterval(statusTimer);
          await session.stop();
          await core.stop();
          stopped = true;
          writeStatus();
          await writing;
          await units?.close();
          await lock.release();
          logger.info({}, 'Agent stopped; lanes keep running');
        })()),
    };
  } catch (err) {
    await units?.close().catch(() => undefined);
    await lock.release();
    throw err;
  }
}

/** Options of {@link runDaemon}. */
export interface RunDaemonOptions extends StartAgentOptions {
  /** Signals that stop the daemon. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** Where `LAUNCHPLANE_AGENT_CRASH_AT` is read. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Ends the process when a stop overran `shutdownTimeoutSec` (something in it hangs, and would
   * keep the process alive). Default `process.exit`.
   */
  exit?: (code: number) => void;
}

/** The exit status of a daemon whose stop overran `shutdownTimeoutSec`. */
export const EXIT_STOP_TIMED_OUT = 1;

/** The environment variable that arms crash injection (see {@link crashInjection}). */
export const CRASH_AT_ENV = 'LAUNCHPLANE_AGENT_CRASH_AT';

/**
 * Crash injection, for testing crash recovery against a real systemd or Docker:
 * `LAUNCHPLANE_AGENT_CRASH_AT=create:configure` makes the daemon SIGKILL itself right after that
 * step (one of {@link CRASH_POINTS}; several separated by commas). Never set it in production.
 * An unknown step name is a config error, so a typo cannot silently test nothing.
 */
export function crashInjection(
  value: string | undefined,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): { points: CrashPointName[]; crashPoint: CrashPoint } | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const points = value.split(',').map((p) => p.trim());
  const known = new Set<string>(CRASH_POINTS);
  const unknown = points.filter((p) => !known.has(p));
  if (unknown.length > 0) {
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `${CRASH_AT_ENV} names unknown steps: ${unknown.join(', ')}`,
      { recovery: `Use steps from: ${CRASH_POINTS.join(', ')}; or unset ${CRASH_AT_ENV}` },
    );
  }
  const armed = new Set<string>(points);
  return {
    points: points as CrashPointName[],
    crashPoint: (step) => {
      if (armed.has(step)) kill();
    },
  };
}

/**
 * `launchplane-agent run`: starts the agent and resolves with exit status 0 after a stop signal.
 * Startup failures reject (the CLI prints them).
 */
export async function runDaemon(
  configPath: string,
  options: RunDaemonOptions = {},
): Promise<number> {
  const host = await loadEnrolledHost(configPath);
  const injection = crashInjection((options.env ?? process.env)[CRASH_AT_ENV]);
  if (injection !== undefined) {
    process.stderr.write(
      `launchplane-agent: ${CRASH_AT_ENV} is set: this process kills itself (SIGKILL) after ${injection.points.join(', ')} — for crash-recovery tests only\n`,
    );
  }
  const logger =
    options.logger ??
    createPinoLogger({ level: host.config.log.level, bindings: { hostId: host.config.hostId } });
  const agent = await startAgent(host, {
    ...options,
    logger,
    ...(injection === undefined ? {} : { crashPoint: injection.crashPoint }),
  });
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  await new Promise<void>((resolve) => {
    const onSignal = (): void => {
      for (const s of signals) process.off(s, onSignal);
      resolve();
    };
    for (const s of signals) process.on(s, onSignal);
  });
  const limitSec = host.config.shutdownTimeoutSec;
  let timer: NodeJS.Timeout | undefined;
  const stoppedInTime = await Promise.race([
    agent.stop().then(
      () => true,
      (error: unknown) => {
        logger.error({ err: String(error) }, 'Stopping the agent failed');
        return true;
      },
    ),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), limitSec * 1000);
    }),
  ]);
  clearTimeout(timer);
  if (stoppedInTime) return 0;
  // Something in the stop hangs (a backend call, a wedged health pass): whatever it holds would
  // keep the process alive. Lanes keep running, the ledger is crash-safe, and the next start
  // recovers from it.
  logger.error(
    { shutdownTimeoutSec: limitSec },
    'The agent did not stop within shutdownTimeoutSec; exiting anyway (lanes keep running)',
  );
  (options.exit ?? ((code: number) => process.exit(code)))(EXIT_STOP_TIMED_OUT);
  return EXIT_STOP_TIMED_OUT;
}

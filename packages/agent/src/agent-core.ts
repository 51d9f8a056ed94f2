/**
 * The agent's core: the ledger, the lanes, the command pipeline, the health loop and crash
 * recovery, behind the API the session and the CLI use (see
 * docs/design/architecture.md "Inside the agent").
 */
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import type {
  AgentConfig,
  AuditRecord,
  Backend,
  ErrorBody,
  InventoryMessage,
  LaneReport,
} from '@launchplane/shared';
import { CommandPipeline } from './commands/command-pipeline.js';
import {
  dataPaths,
  ensureDataDir,
  unreachableAncestor,
  unreachableError,
} from './config/data-dir.js';
import { SystemUserAccounts } from './adapters/users/system-user-accounts.js';
import { resolveSystemdRunAs, runsAsRoot, type SystemdRunAs } from './lanes/lane-users.js';
import type { UserAccounts } from './ports/user-accounts.js';
import { errorBodyOf } from './errors.js';
import { HealthMonitor } from './health/health-monitor.js';
import { laneReport } from './ledger/lane-record.js';
import { Ledger } from './ledger/ledger.js';
import { Recorder } from './ledger/recorder.js';
import { DockerLaneBackend, SystemdLaneBackend, type LaneBackend } from './lanes/lane-backend.js';
import { recoverLanes, type RecoveredLane } from './lanes/lane-recovery.js';
import { LaneService, type CrashPoint } from './lanes/lane-service.js';
import type { Clock } from './ports/clock.js';
import type { ContainerRuntime } from './ports/container-runtime.js';
import type { Logger } from './ports/logger.js';
import type { UnitManager } from './ports/unit-manager.js';

/** Dependencies of {@link AgentCore.create}. */
export interface AgentCoreDeps {
  /** The parsed agent config. */
  config: AgentConfig;
  /** Ed25519 private key of the host: signs results and events. */
  hostKey: KeyObject;
  /** The coordinator public key pinned at enrollment: verifies commands. */
  coordinatorKey: KeyObject;
  /** The pinned `kid` (fingerprint of `coordinatorKey`). */
  coordinatorFingerprint: string;
  /** undefined when systemd is not available or not opted in. */
  units: UnitManager | undefined;
  /** undefined when Docker is not available or not opted in. */
  containers: ContainerRuntime | undefined;
  clock: Clock;
  logger: Logger;
  /** Ledger path; default `<dataDir>/private/ledger.db` (`:memory:` in unit tests). */
  ledgerPath?: string;
  /** Extra environment for runner processes (never a secret). */
  runnerEnv?: Readonly<Record<string, string>>;
  /** procfs root for finding `Runner.Worker` in a unit's cgroup. Default `/proc`. */
  procRoot?: string;
  /** Backoff jitter source, [0, 1). Default Math.random. */
  random?: () => number;
  /** Test hook called after each step of create and remove (crash-sweep tests). */
  crashPoint?: CrashPoint;
  /** The host's user database (lane users). Default: the real one (getent, useradd, userdel). */
  accounts?: UserAccounts;
  /**
   * For tools that only remove lanes (`lane remove --local`): lane settings that would be refused
   * at start (root lanes without the opt-in, an unreachable lanes dir) do not stop them.
   */
  removeOnly?: boolean;
}

/** Outcome of {@link AgentCore.removeLaneLocally}. */
export interface LocalRemoveResult {
  ok: boolean;
  steps: string[];
  error?: ErrorBody;
}

/** The agent's core. */
export class AgentCore {
  readonly #d: AgentCoreDeps;
  readonly #ledger: Ledger;
  readonly #lanes: LaneService;
  readonly #pipeline: CommandPipeline;
  readonly #health: HealthMonitor;
  readonly #recorder: Recorder;
  readonly #backends: Partial<Record<Backend, LaneBackend>>;
  readonly #inventoryListeners = new Set<() => void>();
  readonly #eventListeners = new Set<() => void>();
  #queue: Promise<unknown> = Promise.resolve();
  #notifyScheduled = false;
  #inventoryChanged = false;
  #recovered: RecoveredLane[] = [];
  #stopped = false;

  private constructor(deps: AgentCoreDeps, systemdRunAs: SystemdRunAs | undefined) {
    this.#d = deps;
    const { config } = deps;
    const ledgerPath = deps.ledgerPath ?? dataPaths(config.dataDir).ledger;
    this.#ledger = Ledger.open(ledgerPath);
    if (ledgerPath !== ':memory:') restrictLedgerFiles(ledgerPath);
    this.#recorder = new Recorder({
      ledger: this.#ledger,
      hostId: config.hostId,
      hostKey: deps.hostKey,
      now: () => Math.floor(deps.clock.now() / 1000),
      onAppend: (kind) => this.#scheduleNotify(kind === 'lane'),
    });
    this.#backends = {
      ...(deps.units === undefined
        ? {}
        : {
            systemd: new SystemdLaneBackend(
              deps.units,
              deps.procRoot === undefined ? {} : { procRoot: deps.procRoot },
            ),
          }),
      ...(deps.containers === undefined
        ? {}
        : { docker: new DockerLaneBackend(deps.containers, config.hostId) }),
    };
    this.#lanes = new LaneService({
      config,
      ledger: this.#ledger,
      recorder: this.#recorder,
      backends: this.#backends,
      clock: deps.clock,
      logger: deps.logger,
      ...(deps.runnerEnv === undefined ? {} : { runnerEnv: deps.runnerEnv }),
      ...(deps.crashPoint === undefined ? {} : { crashPoint: deps.crashPoint }),
      accounts: deps.accounts ?? new SystemUserAccounts(),
      systemdRunAs,
    });
    this.#pipeline = new CommandPipeline({
      config,
      hostKey: deps.hostKey,
      coordinatorKey: deps.coordinatorKey,
      coordinatorFingerprint: deps.coordinatorFingerprint,
      ledger: this.#ledger,
      lanes: this.#lanes,
      recorder: this.#recorder,
      clock: deps.clock,
      logger: deps.logger,
      availableBackends: () => new Set(Object.keys(this.#backends) as Backend[]),
    });
    this.#health = new HealthMonitor({
      config,
      ledger: this.#ledger,
      lanes: this.#lanes,
      recorder: this.#recorder,
      clock: deps.clock,
      logger: deps.logger,
      exclusive: (fn) => this.#exclusive(fn),
      ...(deps.random === undefined ? {} : { random: deps.random }),
    });
  }

  /**
   * Makes the data directory's layout (see `config/data-dir.ts`), opens the ledger, migrates its
   * schema, and recovers interrupted lanes.
   */
  static async create(deps: AgentCoreDeps): Promise<AgentCore> {
    if (deps.ledgerPath !== ':memory:') await ensureDataDir(deps.config.dataDir);
    const systemdRunAs = await AgentCore.#systemdRunAs(deps);
    const core = new AgentCore(deps, systemdRunAs);
    try {
      core.#recovered = await core.#exclusive(() =>
        recoverLanes({
          ledger: core.#ledger,
          lanes: core.#lanes,
          recorder: core.#recorder,
          logger: deps.logger,
        }),
      );
    } catch (error) {
      core.#ledger.close();
      throw error;
    }
    return core;
  }

  /**
   * How systemd lanes run on this host: refuses (LP_CONFIG_INVALID) lanes that would run as root
   * without `runner.allowRoot`, a shared user that does not exist, and a lanes dir that non-root
   * lane users cannot reach.
   */
  static async #systemdRunAs(deps: AgentCoreDeps): Promise<SystemdRunAs | undefined> {
    if (deps.units === undefined || deps.removeOnly === true) return undefined;
    const runAs = await resolveSystemdRunAs(
      deps.config,
      await deps.units.managerUid(),
      deps.accounts ?? new SystemUserAccounts(),
    );
    if (!runsAsRoot(runAs) && deps.ledgerPath !== ':memory:') {
      const blocked = await unreachableAncestor(dataPaths(deps.config.dataDir).lanes);
      if (blocked !== undefined) throw unreachableError(blocked);
    }
    return runAs;
  }

  /** Lanes reconciled by crash recovery at start-up. */
  get recovered(): readonly RecoveredLane[] {
    return this.#recovered;
  }

  /** Handles a signed command; resolves with the signed result JWS (never rejects for bad input). */
  handleCommand(jws: string): Promise<string> {
    return this.#exclusive(() => this.#pipeline.handle(jws));
  }

  /** What the coordinator needs to know about this host. */
  inventory(): InventoryMessage {
    return {
      type: 'inventory',
      optIn: this.#d.config.optIn,
      lanes: this.listLanes(),
      capabilities: [...this.#d.config.capabilities],
    };
  }

  /** Subscribes to inventory changes; returns the unsubscribe function. */
  onInventoryChange(listener: () => void): () => void {
    this.#inventoryListeners.add(listener);
    return () => this.#inventoryListeners.delete(listener);
  }

  /** Unacknowledged events, oldest first. */
  pendingEvents(limit?: number): { seq: number; jws: string }[] {
    return this.#ledger.outbox.pending(limit);
  }

  /** Deletes every event up to `uptoSeq` (the coordinator stored them). */
  ackEvents(uptoSeq: number): void {
    this.#ledger.outbox.ack(uptoSeq);
  }

  /** Subscribes to new outbox events; returns the unsubscribe function. */
  onEvent(listener: () => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Starts the health loop on the clock. */
  startHealthLoop(): void {
    this.#health.start();
  }

  /** Stops the health loop and waits for a running pass (the ledger stays open). */
  stopHealthLoop(): Promise<void> {
    return this.#health.stop();
  }

  /** Runs one health pass now (tests, `doctor`). */
  healthPass(): Promise<void> {
    return this.#health.pass();
  }

  /** Stops the health loop, waits for running work, closes the ledger. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#health.stop();
    await this.#queue.catch(() => undefined);
    this.#ledger.close();
  }

  /** Owned lanes (not removed). */
  listLanes(): LaneReport[] {
    return this.#ledger.lanes.active().map((l) => laneReport(l));
  }

  /** The local audit log. */
  auditLog(): AuditRecord[] {
    return this.#ledger.audit.all();
  }

  /** Verifies the audit hash chain. */
  verifyAudit(): { ok: true } | { ok: false; index: number; reason: string } {
    return this.#ledger.audit.verify();
  }

  /** Removes an owned lane without a coordinator (manual recovery), audited as `actor`. */
  async removeLaneLocally(
    laneId: string,
    opts: { dryRun: boolean; force: boolean; actor: string },
  ): Promise<LocalRemoveResult> {
    return this.#exclusive(async () => {
      try {
        const r = await this.#lanes.remove(laneId, { dryRun: opts.dryRun, force: opts.force });
        this.#recorder.audit({
          actor: opts.actor,
          laneId,
          action: 'lane.remove',
          params: { force: opts.force, local: true },
          dryRun: opts.dryRun,
          outcome: opts.dryRun ? 'dry-run' : 'ok',
        });
        return { ok: true, steps: r.steps };
      } catch (error) {
        const body = errorBodyOf(error);
        this.#recorder.audit({
          actor: opts.actor,
          ...(/^[0-7][0-9a-hjkmnp-tv-z]{25}$/.test(laneId) ? { laneId } : {}),
          action: 'lane.remove',
          params: { force: opts.force, local: true },
          dryRun: opts.dryRun,
          outcome:
            body.code === 'LP_BACKEND_FAILED' || body.code === 'LP_INTERNAL' ? 'failed' : 'refused',
          code: body.code,
          message: body.message,
          ...(body.recovery === undefined ? {} : { recovery: body.recovery }),
        });
        return { ok: false, steps: [], error: body };
      }
    });
  }

  /** A summary for `launchplane-agent status`. */
  status(): {
    lanes: number;
    lastHealthAt?: number;
    backends: { systemd: boolean; docker: boolean };
  } {
    const last = this.#health.lastPassAt;
    return {
      lanes: this.#ledger.lanes.countActive(),
      ...(last === undefined ? {} : { lastHealthAt: last }),
      backends: {
        systemd: this.#backends.systemd !== undefined,
        docker: this.#backends.docker !== undefined,
      },
    };
  }

  /** The ledger, for tests and tools in this package. */
  get ledger(): Ledger {
    return this.#ledger;
  }

  /** Runs `fn` after everything queued before it: commands, health passes and recovery never interleave. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #scheduleNotify(inventoryChanged: boolean): void {
    this.#inventoryChanged ||= inventoryChanged;
    if (this.#notifyScheduled) return;
    this.#notifyScheduled = true;
    // After the current transaction commits: listeners read committed rows only.
    setImmediate(() => {
      this.#notifyScheduled = false;
      const inventory = this.#inventoryChanged;
      this.#inventoryChanged = false;
      for (const l of this.#eventListeners) safeCall(l, this.#d.logger);
      if (inventory) for (const l of this.#inventoryListeners) safeCall(l, this.#d.logger);
    });
  }
}

/** The ledger holds the audit and replay state: root only. */
function restrictLedgerFiles(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) chmodSync(p, 0o600);
}

function safeCall(fn: () => void, logger: Logger): void {
  try {
    fn();
  } catch (error) {
    logger.error({ err: String(error) }, 'Listener failed');
  }
}

/**
 * The agent's core: the ledger, the lanes, the command pipeline, the health loop and crash
 * recovery, behind the API the session and the CLI use (see
 * docs/design/architecture.md "Inside the agent").
 */
import { callEach, nowSec } from '@launchplane/shared';
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync } from 'node:fs';
import { toLaunchplaneError } from '@launchplane/shared';
import type {
  AgentConfig,
  AuditRecord,
  Backend,
  ErrorBody,
  HealthMessage,
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
import { probeLaneHardening, probeUser, type HardeningReport } from './lanes/hardening-probe.js';
import { LANE_HARDENING } from './adapters/systemd/unit-hardening.js';
import type { UserAccounts } from './ports/user-accounts.js';
import { errorBodyOf } from './errors.js';
import { HealthMonitor } from './health/health-monitor.js';
import { laneReport } from './ledger/lane-record.js';
import { Ledger } from './ledger/ledger.js';
import { Recorder } from './ledger/recorder.js';
import { DockerLaneBackend, SystemdLaneBackend, type LaneBackend } from './lanes/lane-backend.js';
import { recoverLanes, type RecoveredLane } from './lanes/lane-recovery.js';
import { LaneService, type CrashPoint } from './lanes/lane-service.js';
import { LaneTrash } from './lanes/lane-trash.js';
import { readHookSignal, type HookSignal } from './lanes/lane-layout.js';
import { peekCommand } from './commands/peek-command.js';
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
  readonly #trash: LaneTrash;
  readonly #inventoryListeners = new Set<() => void>();
  readonly #eventListeners = new Set<() => void>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Everything {@link #exclusive} started that has not ended (some may have yielded the queue). */
  readonly #running = new Set<Promise<void>>();
  /** Orders commands on their way into the queue (see {@link handleCommand}). */
  #intake: Promise<void> = Promise.resolve();
  #notifyScheduled = false;
  #inventoryChanged = false;
  #recovered: RecoveredLane[] = [];
  #stopped = false;
  /** Unix seconds the core was made. */
  readonly #startedAt: number;
  readonly #hardening: HardeningReport | undefined;

  private constructor(
    deps: AgentCoreDeps,
    systemdRunAs: SystemdRunAs | undefined,
    hardening: HardeningReport | undefined,
  ) {
    this.#d = deps;
    this.#hardening = hardening;
    this.#startedAt = nowSec(deps.clock);
    const { config } = deps;
    const ledgerPath = deps.ledgerPath ?? dataPaths(config.dataDir).ledger;
    this.#ledger = Ledger.open(ledgerPath);
    if (ledgerPath !== ':memory:') restrictLedgerFiles(ledgerPath);
    this.#recorder = new Recorder({
      ledger: this.#ledger,
      hostId: config.hostId,
      hostKey: deps.hostKey,
      now: () => nowSec(deps.clock),
      onAppend: (kind) => this.#scheduleNotify(kind === 'lane'),
    });
    this.#backends = {
      ...(deps.units === undefined
        ? {}
        : {
            systemd: new SystemdLaneBackend(deps.units, {
              ...(deps.procRoot === undefined ? {} : { procRoot: deps.procRoot }),
              hardening: hardening?.applied ?? [],
            }),
          }),
      ...(deps.containers === undefined
        ? {}
        : { docker: new DockerLaneBackend(deps.containers, config.hostId) }),
    };
    this.#trash = new LaneTrash(dataPaths(config.dataDir).trash, deps.logger);
    this.#lanes = new LaneService({
      trash: this.#trash,
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
    const hardening = await AgentCore.#probeHardening(deps, systemdRunAs);
    const core = new AgentCore(deps, systemdRunAs, hardening);
    // Lane dirs a crash left half-deleted.
    await core.#trash.sweep();
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

  /**
   * Which lane hardening settings this host supports (`lanes/hardening-probe.ts`). A probe that
   * cannot run leaves every setting out (lanes get the sandbox every host supports) and says so.
   */
  static async #probeHardening(
    deps: AgentCoreDeps,
    runAs: SystemdRunAs | undefined,
  ): Promise<HardeningReport | undefined> {
    if (deps.units === undefined || runAs === undefined || deps.removeOnly === true) {
      return undefined;
    }
    const { logger } = deps;
    let report: HardeningReport;
    try {
      report = await probeLaneHardening(deps.units, {
        user: await probeUser(runAs, deps.accounts ?? new SystemUserAccounts()),
        readWritePaths: [dataPaths(deps.config.dataDir).lanes],
      });
    } catch (error) {
      const e = toLaunchplaneError(error);
      report = {
        applied: [],
        omitted: LANE_HARDENING.map((s) => ({
          setting: s.name,
          reason: `the probe could not run (${e.code}: ${e.message})`,
        })),
      };
    }
    logger.info(
      { applied: report.applied, probedAs: report.probedAs ?? 'the manager' },
      'Lane units get the hardening settings this host supports',
    );
    if (report.omitted.length > 0) {
      logger.warn(
        { omitted: report.omitted },
        'Some lane hardening settings do not work on this host and are left out',
      );
    }
    return report;
  }

  /** What the hardening probe found at start (undefined without the systemd backend). */
  hardening(): HardeningReport | undefined {
    return this.#hardening;
  }

  /** Lanes reconciled by crash recovery at start-up. */
  get recovered(): readonly RecoveredLane[] {
    return this.#recovered;
  }

  /**
   * Handles a signed command; resolves with the signed result JWS (never rejects for bad input).
   * The hooks' record of the lane it names is read first, outside the agent-wide queue (bounded:
   * the lane dir is its job's), so no command holds the queue across I/O in a lane dir. The name
   * comes from the still unverified command: it only decides which owned lane's record is read,
   * and the record is used only if the verified command names that lane.
   */
  async handleCommand(jws: string): Promise<string> {
    const read = this.#prefetchHooks(jws);
    // Commands enter the queue in the order they arrived, whichever read finishes first.
    let entered: Promise<string> | undefined;
    const turn = this.#intake.then(async () => {
      const prefetched = await read;
      entered = this.#exclusive((yieldQueue) =>
        this.#lanes.withHookSignal(prefetched, () => this.#pipeline.handle(jws, yieldQueue)),
      );
    });
    this.#intake = turn.catch(() => undefined);
    await turn;
    return entered as Promise<string>;
  }

  async #prefetchHooks(jws: string): Promise<{ laneId: string; hooks: HookSignal } | undefined> {
    const peek = peekCommand(jws);
    if (peek.laneId === undefined || peek.type === 'lane.create' || this.#stopped) return undefined;
    const lane = this.#ledger.lanes.get(peek.laneId);
    if (lane === undefined || lane.state === 'removed') return undefined;
    return { laneId: lane.laneId, hooks: await readHookSignal(lane.laneDir) };
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

  /**
   * How the health loop is doing, for the coordinator: when the last pass finished and since when
   * the current one runs. A wedged loop shows as a `lastPassAt` that stops moving.
   */
  health(): HealthMessage {
    const last = this.#health.lastPassAt;
    const running = this.#health.passStartedAt;
    return {
      type: 'health',
      intervalSec: this.#d.config.health.intervalSec,
      at: nowSec(this.#d.clock),
      startedAt: this.#startedAt,
      ...(last === undefined ? {} : { lastPassAt: last }),
      ...(running === undefined ? {} : { passStartedAt: running }),
    };
  }

  /** Subscribes to finished health passes; returns the unsubscribe function. */
  onHealthPass(listener: () => void): () => void {
    return this.#health.onPass(listener);
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
    while (this.#running.size > 0) await Promise.all([...this.#running]);
    // Lane dirs still being deleted are finished at the next start.
    await this.#trash.drain(5_000);
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
    healthPassStartedAt?: number;
    backends: { systemd: boolean; docker: boolean };
  } {
    const last = this.#health.lastPassAt;
    const running = this.#health.passStartedAt;
    return {
      lanes: this.#ledger.lanes.countActive(),
      ...(last === undefined ? {} : { lastHealthAt: last }),
      ...(running === undefined ? {} : { healthPassStartedAt: running }),
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

  /**
   * Runs `fn` after everything queued before it: commands, health passes and recovery never
   * interleave, except that `fn` may call `yieldQueue` to let the queue go on while it finishes
   * work that touches nothing shared (a create's last steps). {@link stop} waits for those too.
   */
  #exclusive<T>(fn: (yieldQueue: () => void) => Promise<T>): Promise<T> {
    let yieldQueue!: () => void;
    const yielded = new Promise<void>((resolve) => (yieldQueue = resolve));
    const start = (): Promise<T> => fn(yieldQueue);
    const run = this.#queue.then(start, start);
    const ended = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queue = Promise.race([yielded, ended]);
    this.#running.add(ended);
    void ended.then(() => this.#running.delete(ended));
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
      const failed = (err: unknown): void => {
        this.#d.logger.error({ err: String(err) }, 'Listener failed');
      };
      callEach(this.#eventListeners, failed);
      if (inventory) callEach(this.#inventoryListeners, failed);
    });
  }
}

/** The ledger holds the audit and replay state: root only. */
function restrictLedgerFiles(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(p)) chmodSync(p, 0o600);
}

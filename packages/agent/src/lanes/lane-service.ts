/**
 * Lane operations (create, start, stop, restart, remove, inspect), journaled step by step in the
 * ledger before each side effect, with the ownership guardrails:
 *
 * - only lanes in the ledger are acted on;
 * - a unit or container is touched only when it ALSO carries this lane's marker or labels, so a
 *   look-alike (`launchplane-lane-<id>` made by hand, even with our labels) is never changed;
 * - a lane whose local busy signal says a job runs is not stopped, restarted or removed unless the
 *   operation is forced.
 *
 * Every operation takes `dryRun`: it walks the same path through every guardrail and describes the
 * steps it would take, without touching the ledger, files, systemd or Docker. The steps, with
 * their journal rows and crash points, are declared once in `lane-steps.ts`; this service checks
 * the guardrails, runs the steps and does their side effects.
 */
import { nowSec } from '@launchplane/shared';
import {
  canTransition,
  containerName,
  isAtRest,
  LaunchplaneError,
  runSteps,
  toLaunchplaneError,
  transition,
  unitName,
} from '@launchplane/shared';
import type {
  AgentConfig,
  LaneCreateCommand,
  LaneEvent,
  LocalBusy,
  StepsRun,
} from '@launchplane/shared';
import { dataPaths, unreachableAncestor, unreachableError } from '../config/data-dir.js';
import { backendError } from '../errors.js';
import type { LaneOp } from '../domain/recovery-decision.js';
import type { Ledger } from '../ledger/ledger.js';
import type { LaneRecord } from '../ledger/lane-record.js';
import type { Recorder } from '../ledger/recorder.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { UserAccounts } from '../ports/user-accounts.js';
import {
  DockerLaneBackend,
  runnerControlEnv,
  type LaneBackend,
  type ObjectObservation,
} from './lane-backend.js';
import { checkDockerOptIn } from '../domain/opt-in.js';
import {
  chownLaneDir,
  exists,
  laneDirOf,
  layoutLaneDir,
  localBusy,
  readHookSignal,
  readRunnerId,
  type HookSignal,
} from './lane-layout.js';
import type { LaneTrash } from './lane-trash.js';
import {
  LaneUsers,
  laneUserName,
  releaseLaneUser,
  type SystemdRunAs,
  type UserIds,
} from './lane-users.js';
import { runConfigSh } from './run-config.js';
import {
  createSteps,
  removeSteps,
  restartSteps,
  startSteps,
  stopSteps,
  type CrashPoint,
  type CrashPointName,
  type CreateCtx,
  type LaneActions,
  type LaneStep,
  type OpCtx,
} from './lane-steps.js';

export { CRASH_POINTS, type CrashPoint, type CrashPointName } from './lane-steps.js';

/** Dependencies of {@link LaneService}. */
export interface LaneServiceDeps {
  config: AgentConfig;
  ledger: Ledger;
  recorder: Recorder;
  backends: Partial<Record<'systemd' | 'docker', LaneBackend>>;
  clock: Clock;
  logger: Logger;
  /** Environment for runner processes (`config.sh`, the unit, the container). Default: PATH only. */
  runnerEnv?: Readonly<Record<string, string>>;
  crashPoint?: CrashPoint;
  /** The host's user database: lane users are made and deleted in it. */
  accounts: UserAccounts;
  /** How systemd lanes run (resolved at start); undefined without the systemd backend. */
  systemdRunAs?: SystemdRunAs | undefined;
  /** Where removed lane dirs go to be deleted. */
  trash: LaneTrash;
}

/** What an operation did, or (dry run) would do. */
export interface LaneOpResult {
  outcome: string;
  /** The steps in words, in order (the same lines for a dry run and a real one). */
  steps: string[];
  /** The names of the steps taken (a dry run: that would be taken), in order. */
  stepNames?: string[];
  lane: LaneRecord | undefined;
  local?: LocalBusy;
}

/** Options of every operation. */
export interface OpOptions {
  dryRun: boolean;
  /** Runs inside the transaction of the operation's first ledger change (e.g. record the `jti`). */
  onAccept?: () => void;
  /**
   * Lets the agent-wide queue go on while this operation continues (see {@link LaneService.create}).
   * Without it the operation holds the queue to its end.
   */
  yieldQueue?: () => void;
}

/** The outcome of each operation once done. */
const DONE: Record<LaneOp, string> = {
  create: 'created',
  start: 'started',
  stop: 'stopped',
  restart: 'restarted',
  remove: 'removed',
  'health-restart': 'restarted',
};

/** LP_NOT_FOUND: the lane's unit or container is gone, so `action` cannot act on it. */
function objectGone(lane: LaneRecord, action: string): LaunchplaneError {
  return new LaunchplaneError(
    'LP_NOT_FOUND',
    `Cannot ${action} lane "${lane.laneId}": its ${lane.backend === 'systemd' ? 'unit' : 'container'} "${lane.objectName}" is gone`,
    { recovery: 'Remove the lane and let the coordinator create a new one' },
  );
}

/** Ledger meta key: where the search for a free lane-user uid starts next. */
const LANE_UID_CURSOR = 'lane_uid_cursor';

/** The lane operations. */
export class LaneService {
  readonly #d: LaneServiceDeps;
  readonly #users: LaneUsers | undefined;
  #prefetched: { laneId: string; hooks: HookSignal } | undefined;
  /** Lanes whose create goes on outside the agent-wide queue. */
  readonly #creating = new Set<string>();

  constructor(deps: LaneServiceDeps) {
    this.#d = deps;
    const runAs = deps.systemdRunAs;
    this.#users =
      runAs?.kind === 'lane-users'
        ? new LaneUsers({
            accounts: deps.accounts,
            firstUid: runAs.firstUid,
            lastUid: runAs.lastUid,
            cursor: {
              get: () => {
                const v = Number(deps.ledger.getMeta(LANE_UID_CURSOR));
                return Number.isSafeInteger(v) && v > 0 ? v : undefined;
              },
              set: (uid) => deps.ledger.setMeta(LANE_UID_CURSOR, String(uid)),
            },
          })
        : undefined;
  }

  /** Unix seconds now. */
  #now(): number {
    return nowSec(this.#d.clock);
  }

  /** The backend of a lane, or LP_BACKEND_UNAVAILABLE. */
  backendOf(kind: 'systemd' | 'docker'): LaneBackend {
    const b = this.#d.backends[kind];
    if (b === undefined) {
      throw new LaunchplaneError(
        'LP_BACKEND_UNAVAILABLE',
        `Backend "${kind}" is not available on this host`,
        {
          recovery: 'Run `launchplane-agent doctor` to see why the backend cannot be reached',
        },
      );
    }
    return b;
  }

  /**
   * An owned lane (in the ledger, not removed), or LP_NOT_OWNED; a lane whose create goes on
   * outside the queue may only be inspected (LP_CONFLICT otherwise).
   */
  owned(laneId: string, action: string): LaneRecord {
    const lane = this.#d.ledger.lanes.get(laneId);
    if (lane === undefined || lane.state === 'removed') {
      throw new LaunchplaneError(
        'LP_NOT_OWNED',
        `Cannot ${action} lane "${laneId}": not owned by this host`,
        { details: { laneId } },
      );
    }
    if (action !== 'inspect' && this.#creating.has(laneId)) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot ${action} lane "${laneId}": it is still being created`,
        {
          details: { laneId },
          recovery: 'Wait for the create to end (its result says how), then try again',
        },
      );
    }
    return lane;
  }

  // ------------------------------------------------------------------ create

  /** Creates a lane: record → lay out → configure (persistent) → install → start. */
  async create(cmd: LaneCreateCommand, opts: OpOptions): Promise<LaneOpResult> {
    const backend = await this.#checkCreate(cmd);
    const lane = this.#newLane(cmd);
    await this.#refuseLookAlike(backend, lane);
    const ctx: CreateCtx = {
      lane,
      dry: opts.dryRun,
      cmd,
      backend,
      runAs: this.#systemdRunAs(lane),
      owner: undefined,
      runsAs: undefined,
      installed: false,
    };
    const [record, layout, ...rest] = createSteps(
      this.#actions(opts),
      ctx,
      this.#d.config.runner.template,
    );
    const done = await this.#runSteps('create', [record], ctx);
    try {
      await this.#runSteps('create', [layout], ctx, done);
      // The lane is recorded (the host's capacity counts it) and has its user and directory
      // (handing out uids is not safe side by side). What is left touches only this lane's
      // directory, unit or container: it goes on outside the agent-wide queue, so a burst of
      // creates on one host overlaps its config.sh runs and starts. Until it ends the lane
      // takes no other command but inspect, and the health loop leaves it alone.
      if (!ctx.dry && opts.yieldQueue !== undefined) {
        this.#creating.add(lane.laneId);
        opts.yieldQueue();
      }
      await this.#runSteps('create', rest, ctx, done);
      return this.#finish('create', ctx, done);
    } catch (error) {
      if (!ctx.dry) await this.#rollbackCreate(lane, backend, ctx.installed, error);
      throw error;
    } finally {
      this.#creating.delete(lane.laneId);
    }
  }

  /** Whether the lane's create goes on outside the agent-wide queue (see {@link create}). */
  creating(laneId: string): boolean {
    return this.#creating.has(laneId);
  }

  /** The refusals of a create, before anything is recorded; returns the lane's backend. */
  async #checkCreate(cmd: LaneCreateCommand): Promise<LaneBackend> {
    const existing = this.#d.ledger.lanes.get(cmd.laneId);
    if (existing !== undefined) {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot create lane "${cmd.laneId}": it is already in the ledger (state "${existing.state}")`,
        { details: { laneId: cmd.laneId } },
      );
    }
    if (cmd.backend === 'docker' && cmd.docker === undefined) {
      throw new LaunchplaneError(
        'LP_INVALID_MESSAGE',
        `Cannot create lane "${cmd.laneId}": a docker lane needs "docker.image"`,
      );
    }
    if (cmd.ephemeral !== 'jitConfig' in cmd.runner) {
      throw new LaunchplaneError(
        'LP_INVALID_MESSAGE',
        cmd.ephemeral
          ? `Cannot create lane "${cmd.laneId}": an ephemeral lane needs a JIT config`
          : `Cannot create lane "${cmd.laneId}": a persistent lane needs a registration token and url`,
      );
    }
    const backend = this.backendOf(cmd.backend);
    if (backend instanceof DockerLaneBackend) {
      // The host's own allowlists of images and networks (nothing is recorded before this).
      const refusal = checkDockerOptIn(
        cmd,
        this.#d.config.optIn,
        (await this.#backendCall(backend, 'inspect image', () =>
          backend.imageDigests(cmd.docker?.image ?? ''),
        )) ?? [],
      );
      if (refusal !== undefined) throw refusal;
    }
    if (backend.kind === 'systemd' && this.#d.systemdRunAs === undefined) {
      // Never fall back to running a lane as whoever the manager is.
      throw new LaunchplaneError(
        'LP_BACKEND_UNAVAILABLE',
        `Cannot create lane "${cmd.laneId}": this agent did not work out which user runs systemd lanes`,
        { recovery: 'Restart the agent (`launchplane-agent run`) and read its start-up errors' },
      );
    }
    return backend;
  }

  /** The ledger record of a lane about to be created (`pending`). */
  #newLane(cmd: LaneCreateCommand): LaneRecord {
    const now = this.#now();
    return {
      laneId: cmd.laneId,
      name: cmd.name,
      pool: cmd.pool,
      scope: cmd.scope,
      backend: cmd.backend,
      ephemeral: cmd.ephemeral,
      state: 'pending',
      runnerId: cmd.runnerId,
      labels: [...cmd.labels],
      backendState: undefined,
      restarts: 0,
      lastHealthAt: undefined,
      recovery: undefined,
      createdAt: now,
      updatedAt: now,
      laneDir: laneDirOf(this.#d.config.dataDir, cmd.laneId),
      objectName: cmd.backend === 'systemd' ? unitName(cmd.laneId) : containerName(cmd.laneId),
      docker: cmd.docker === undefined ? undefined : { ...cmd.docker },
      failures: [],
      nextRestartAtMs: undefined,
    };
  }

  /**
   * Guardrail: a unit, container or directory already carrying this lane's name is not ours (it
   * is not in the ledger): never overwrite it, whatever its labels say.
   */
  async #refuseLookAlike(backend: LaneBackend, lane: LaneRecord): Promise<void> {
    const obs = await this.#observe(backend, lane, 'inspect');
    const found = obs.exists
      ? `${backend.kind === 'systemd' ? 'unit' : 'container'} "${lane.objectName}" already exists and is not in this host's ledger`
      : (await exists(lane.laneDir))
        ? `directory "${lane.laneDir}" already exists`
        : undefined;
    if (found === undefined) return;
    throw new LaunchplaneError('LP_CONFLICT', `Cannot create lane "${lane.laneId}": ${found}`, {
      recovery: 'It is left alone; inspect it and remove it by hand if nothing uses it',
      details: { laneId: lane.laneId },
    });
  }

  /** What the steps of an operation do (`lane-steps.ts`); `opts.onAccept` joins a create's record. */
  #actions(opts: OpOptions): LaneActions {
    return {
      move: (lane, event, dry) => this.#move(lane, event, dry),
      save: (lane) => this.#save(lane),
      running: async ({ backend, lane }) => (await this.#observe(backend, lane, 'inspect')).running,
      call: async ({ backend }, what, fn) => {
        await this.#backendCall(backend, what, () => fn(backend));
      },
      record: (lane) => {
        const { ledger } = this.#d;
        ledger.transaction(() => {
          opts.onAccept?.();
          ledger.lanes.insert(lane);
          ledger.journal.record(lane.laneId, 'create', 'begin', lane.createdAt);
          this.#d.recorder.lane(lane);
        });
      },
      layout: (ctx) => this.#layout(ctx),
      configure: (ctx) => this.#configure(ctx),
      install: (ctx) => this.#install(ctx),
      discardLaneFiles: (lane) => this.discardLaneFiles(lane),
    };
  }

  /** Makes the lane's user (a lane-user host) and lays out its dir from the runner template. */
  async #layout(ctx: CreateCtx): Promise<void> {
    const { lane, cmd } = ctx;
    ctx.owner = await this.#systemdOwner(lane, ctx.runAs);
    await layoutLaneDir({
      owner: ctx.owner,
      template: this.#d.config.runner.template,
      laneDir: lane.laneDir,
      ephemeral: lane.ephemeral,
      ...('jitConfig' in cmd.runner ? { jitConfig: cmd.runner.jitConfig } : {}),
    });
  }

  /** Runs config.sh (a persistent lane) as the lane's user and records the runner id it got. */
  async #configure(ctx: CreateCtx): Promise<void> {
    const { lane, cmd, backend } = ctx;
    if (!('registrationToken' in cmd.runner)) return;
    const runsAs = backend.kind === 'systemd' ? ctx.owner : ctx.runsAs;
    if (backend.kind === 'docker' && runsAs !== undefined && runsAs.uid !== 0) {
      // config.sh runs on the host as the image's user: it must reach the lane dir.
      const blocked = await unreachableAncestor(dataPaths(this.#d.config.dataDir).lanes);
      if (blocked !== undefined) throw unreachableError(blocked);
    }
    await runConfigSh({
      laneDir: lane.laneDir,
      url: cmd.runner.url,
      token: cmd.runner.registrationToken,
      name: lane.name,
      labels: lane.labels,
      runnerGroup: cmd.runner.runnerGroup,
      env: this.#configEnv(lane),
      owner: runsAs,
    });
    const runnerId = await readRunnerId(lane.laneDir);
    if (runnerId !== undefined) {
      lane.runnerId = runnerId;
      this.#save(lane);
    }
  }

  /** Writes the unit or creates the container, and hands the lane dir to whoever it runs as. */
  async #install(ctx: CreateCtx): Promise<void> {
    const { lane, backend, owner } = ctx;
    const { config } = this.#d;
    ctx.installed = true;
    const result = await this.#backendCall(backend, 'install', () =>
      backend.install(lane, {
        env: this.#laneEnv(),
        stopTimeoutSec: config.runner.stopTimeoutSec,
        noNewPrivileges: config.docker.noNewPrivileges,
        ...(owner?.name === undefined ? {} : { runAsUser: owner.name }),
      }),
    );
    if (result.runsAs !== undefined) this.#refuseRootImage(lane, result.runsAs);
    // The lane dir and config.sh belong to the container's user as the host sees it.
    ctx.runsAs = result.hostOwner ?? result.runsAs;
    if (ctx.runsAs !== undefined) await chownLaneDir(lane.laneDir, ctx.runsAs);
  }

  async #rollbackCreate(
    lane: LaneRecord,
    backend: LaneBackend,
    installed: boolean,
    error: unknown,
  ): Promise<void> {
    const e = error instanceof LaunchplaneError ? error : undefined;
    this.#d.logger.warn({ laneId: lane.laneId, code: e?.code }, 'Lane create failed; rolling back');
    this.#journal(lane, 'create', 'rollback');
    try {
      if (installed) {
        const obs = await backend.observe(lane);
        if (obs.exists && obs.owned) await backend.uninstall(lane);
      }
      await this.discardLaneFiles(lane);
    } catch (cleanupError) {
      this.#d.logger.error(
        { laneId: lane.laneId, err: String(cleanupError) },
        'Rollback of lane create failed',
      );
    }
    const current = this.#d.ledger.lanes.get(lane.laneId);
    if (current !== undefined && current.state !== 'failed' && current.state !== 'removed') {
      current.recovery = `Creating the lane failed (${e?.code ?? 'LP_INTERNAL'}); its unit or container and directory were cleaned up. Remove the lane (and its runner on GitHub, if registered) and create it again`;
      this.#transitionSaved(current, 'fail');
    }
    this.#journal(lane, 'create', 'end');
  }

  // ------------------------------------------------------------------ start / stop / restart

  /** Starts an owned lane's object (a drained or failed lane goes `restarting`). */
  async start(laneId: string, opts: OpOptions): Promise<LaneOpResult> {
    const lane = this.owned(laneId, 'start');
    const backend = this.backendOf(lane.backend);
    const obs = await this.#ownedObject(backend, lane, 'start', false);
    if (lane.state === 'completed') {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot start lane "${laneId}": its ephemeral runner already ran its job`,
        { recovery: 'Remove the lane and create a new one' },
      );
    }
    if (
      lane.state === 'stopping' ||
      lane.state === 'pending' ||
      lane.state === 'provisioning' ||
      lane.state === 'draining'
    ) {
      throw new LaunchplaneError(
        'LP_ILLEGAL_TRANSITION',
        `Cannot start lane "${laneId}" in state "${lane.state}"`,
      );
    }
    if (!obs.exists) throw objectGone(lane, 'start');
    const ctx: OpCtx = { lane, backend, dry: opts.dryRun };
    const fromRest = lane.state === 'drained' || lane.state === 'failed';
    return this.#runOp('start', ctx, opts, startSteps(this.#actions(opts), ctx, obs, fromRest));
  }

  /** Stops an owned lane's object; a running lane goes `draining` → `drained`. */
  async stop(laneId: string, opts: OpOptions & { force?: boolean }): Promise<LaneOpResult> {
    const lane = this.owned(laneId, 'stop');
    const backend = this.backendOf(lane.backend);
    const obs = await this.#ownedObject(backend, lane, 'stop', false);
    if (!(canTransition(lane.state, 'drain') || isAtRest(lane.state))) {
      throw new LaunchplaneError(
        'LP_ILLEGAL_TRANSITION',
        `Cannot stop lane "${laneId}" in state "${lane.state}"`,
        { recovery: 'Wait until the lane is online, or remove it' },
      );
    }
    await this.#refuseBusy(backend, lane, 'stop', opts.force === true, obs);
    const ctx: OpCtx = { lane, backend, dry: opts.dryRun };
    return this.#runOp('stop', ctx, opts, stopSteps(this.#actions(opts), ctx, obs));
  }

  /** Restarts an owned lane (refused while a job runs). */
  async restart(laneId: string, opts: OpOptions): Promise<LaneOpResult> {
    const lane = this.owned(laneId, 'restart');
    const backend = this.backendOf(lane.backend);
    const obs = await this.#ownedObject(backend, lane, 'restart', false);
    if (lane.state === 'completed') {
      throw new LaunchplaneError(
        'LP_CONFLICT',
        `Cannot restart lane "${laneId}": its ephemeral runner already ran its job`,
        { recovery: 'Remove the lane and create a new one' },
      );
    }
    if (!(canTransition(lane.state, 'restart') || lane.state === 'busy')) {
      throw new LaunchplaneError(
        'LP_ILLEGAL_TRANSITION',
        `Cannot restart lane "${laneId}" in state "${lane.state}"`,
      );
    }
    if (!obs.exists) throw objectGone(lane, 'restart');
    await this.#refuseBusy(backend, lane, 'restart', false, obs);
    if (lane.state === 'busy') {
      throw new LaunchplaneError(
        'LP_LANE_BUSY',
        `Cannot restart lane "${laneId}": it is running a job`,
        { recovery: 'Drain the lane first' },
      );
    }
    const ctx: OpCtx = { lane, backend, dry: opts.dryRun };
    return this.#runOp('restart', ctx, opts, restartSteps(this.#actions(opts), ctx, obs));
  }

  // ------------------------------------------------------------------ remove

  /**
   * Removes an owned lane: stop → delete unit/container → delete dir → `removed`. Refused while a
   * job runs unless `force`. An object that no longer carries the lane's marker is never touched:
   * without `force` the remove is refused, with it only the ledger record is retired.
   */
  async remove(laneId: string, opts: OpOptions & { force: boolean }): Promise<LaneOpResult> {
    const lane = this.owned(laneId, 'remove');
    const backend = this.backendOf(lane.backend);
    const obs = await this.#ownedObject(backend, lane, 'remove', opts.force);
    await this.#refuseBusy(backend, lane, 'remove', opts.force, obs);
    const ctx: OpCtx = { lane, backend, dry: opts.dryRun };
    return this.#runOp('remove', ctx, opts, removeSteps(this.#actions(opts), ctx, obs, opts.force));
  }

  // ------------------------------------------------------------------ running steps

  /**
   * Runs an operation on an owned lane: its `begin` journal entry (with `onAccept`) in one
   * transaction, its steps, its `end` entry; a dry run only describes the steps.
   */
  async #runOp(
    op: LaneOp,
    ctx: OpCtx,
    opts: OpOptions,
    steps: readonly LaneStep[],
  ): Promise<LaneOpResult> {
    this.#begin(ctx.lane, op, ctx.dry, opts.onAccept);
    return this.#finish(op, ctx, await this.#runSteps(op, steps, ctx));
  }

  /** Runs steps of `op`: their journal entries and crash points, or (dry run) their description. */
  #runSteps<C extends OpCtx>(
    op: LaneOp,
    steps: readonly LaneStep<C>[],
    ctx: C,
    done?: StepsRun,
  ): Promise<StepsRun> {
    return runSteps(
      steps,
      ctx,
      {
        dryRun: ctx.dry,
        journal: (entry) => this.#journal(ctx.lane, op, entry),
        crash: (point) => this.#crash(point),
      },
      done,
    );
  }

  /** Closes an operation (journal `end`) and says what it did, or (dry run) would do. */
  #finish(op: LaneOp, ctx: OpCtx, done: StepsRun): LaneOpResult {
    if (!ctx.dry) this.#journal(ctx.lane, op, 'end');
    return {
      outcome: ctx.dry ? `would-${op}` : DONE[op],
      steps: done.lines,
      stepNames: done.names,
      lane: this.#result(ctx.lane, ctx.dry),
    };
  }

  // ------------------------------------------------------------------ inspect

  /** The lane with what its backend shows and its local busy signal. Read only. */
  async inspect(laneId: string): Promise<LaneOpResult> {
    const lane = this.owned(laneId, 'inspect');
    const backend = this.backendOf(lane.backend);
    const obs = await this.#observe(backend, lane, 'inspect');
    const local = await this.localBusy(backend, lane, obs);
    const report: LaneRecord = {
      ...lane,
      backendState: obs.exists ? (obs.backendState ?? 'unknown') : 'missing',
    };
    if (obs.exists && !obs.owned)
      report.backendState = `${report.backendState ?? ''} (not carrying this lane's marker)`;
    return {
      outcome: 'inspected',
      steps: [`inspect "${lane.objectName}"`, 'read job hooks and look for Runner.Worker'],
      lane: report,
      local,
    };
  }

  /**
   * The local busy signal of a lane: job hooks plus a live `Runner.Worker`. The hooks' record is
   * `hooks` when the caller read it already (outside the agent-wide queue), else the one read
   * for this command before it took the queue ({@link withHookSignal}), else read now (bounded).
   */
  async localBusy(
    backend: LaneBackend,
    lane: LaneRecord,
    obs?: ObjectObservation,
    hooks?: HookSignal,
  ): Promise<LocalBusy> {
    const o = obs ?? (await this.#observe(backend, lane, 'inspect'));
    const h =
      hooks ??
      (this.#prefetched?.laneId === lane.laneId ? this.#prefetched.hooks : undefined) ??
      (await readHookSignal(lane.laneDir));
    let worker = false;
    if (o.exists && o.owned && o.running) {
      worker = await backend.workerRunning(lane).catch((error: unknown) => {
        throw backendError(
          backend.kind,
          `Looking for Runner.Worker of "${lane.objectName}"`,
          error,
        );
      });
    }
    // A dead object runs no job, whatever the last hook line says (a runner killed mid-job), and
    // an unreadable record of a dead object keeps nothing busy.
    const { unreadable, ...read } = h;
    return localBusy(
      {
        ...read,
        jobRunning: h.jobRunning && o.running,
        ...(o.running && unreadable !== undefined ? { unreadable } : {}),
      },
      worker,
    );
  }

  /**
   * Runs `fn` (a command) with the hooks' record of `laneId` read beforehand, so the command
   * does no file I/O in the lane's directory while it holds the agent-wide queue. The record is
   * used only for that lane; the live `Runner.Worker` check still runs inside.
   */
  async withHookSignal<T>(
    prefetched: { laneId: string; hooks: HookSignal } | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    this.#prefetched = prefetched;
    try {
      return await fn();
    } finally {
      this.#prefetched = undefined;
    }
  }

  // ------------------------------------------------------------------ helpers shared with health and recovery

  /** Applies a transition to a stored lane and saves it (with its event) in one transaction. */
  transitionSaved(lane: LaneRecord, event: LaneEvent): void {
    this.#transitionSaved(lane, event);
  }

  /** Saves a lane and emits its event. */
  save(lane: LaneRecord): void {
    this.#save(lane);
  }

  /** Records a journal step. */
  journal(lane: LaneRecord, op: LaneOp, step: string): void {
    this.#journal(lane, op, step);
  }

  async #observe(backend: LaneBackend, lane: LaneRecord, step: string): Promise<ObjectObservation> {
    try {
      return await backend.observe(lane);
    } catch (error) {
      throw backendError(
        backend.kind,
        `${step === 'inspect' ? 'Inspecting' : step} "${lane.objectName}"`,
        error,
      );
    }
  }

  /** Observes the lane's object; refuses (LP_NOT_OWNED) one that exists without our marker, unless `force`. */
  async #ownedObject(
    backend: LaneBackend,
    lane: LaneRecord,
    action: string,
    force: boolean,
  ): Promise<ObjectObservation> {
    const obs = await this.#observe(backend, lane, 'inspect');
    if (obs.exists && !obs.owned && !force) {
      throw new LaunchplaneError(
        'LP_NOT_OWNED',
        `Cannot ${action} lane "${lane.laneId}": ${backend.kind === 'systemd' ? 'unit' : 'container'} "${lane.objectName}" does not carry this lane's ${backend.kind === 'systemd' ? 'marker' : 'labels'}`,
        {
          recovery:
            'It was changed outside Launchplane and is left alone; inspect it, or remove the lane with force to retire the record only',
          details: { laneId: lane.laneId },
        },
      );
    }
    return obs;
  }

  async #refuseBusy(
    backend: LaneBackend,
    lane: LaneRecord,
    action: string,
    force: boolean,
    obs: ObjectObservation,
  ): Promise<void> {
    if (force || !obs.exists || !obs.owned) return;
    const local = await this.localBusy(backend, lane, obs);
    if (local.busy) {
      throw new LaunchplaneError(
        'LP_LANE_BUSY',
        `Cannot ${action} lane "${lane.laneId}": a job is running on it`,
        {
          recovery:
            'Drain the lane and wait for the job to finish, or pass --force (cancels the job)',
          details: {
            laneId: lane.laneId,
            jobRunning: local.jobRunning,
            workerProcess: local.workerProcess,
          },
        },
      );
    }
  }

  #begin(lane: LaneRecord, op: LaneOp, dry: boolean, onAccept: (() => void) | undefined): void {
    if (dry) return;
    this.#d.ledger.transaction(() => {
      onAccept?.();
      this.#d.ledger.journal.record(lane.laneId, op, 'begin', this.#now());
    });
  }

  /**
   * Applies a transition (throwing LP_ILLEGAL_TRANSITION when it is not allowed). Unless `dry`, it
   * is saved; a dry run only moves the caller's in-memory copy, so later steps validate as well.
   */
  #move(lane: LaneRecord, event: LaneEvent, dry: boolean): void {
    lane.state = transition(lane.state, event);
    if (!dry) this.#save(lane);
  }

  /** The lane to report: for a dry run, the stored one (the copy walked the would-be states). */
  #result(lane: LaneRecord, dry: boolean): LaneRecord | undefined {
    return dry ? this.#d.ledger.lanes.get(lane.laneId) : lane;
  }

  #transitionSaved(lane: LaneRecord, event: LaneEvent): void {
    this.#move(lane, event, false);
  }

  #save(lane: LaneRecord): void {
    lane.updatedAt = this.#now();
    this.#d.ledger.transaction(() => {
      this.#d.ledger.lanes.update(lane);
      this.#d.recorder.lane(lane);
    });
  }

  #journal(lane: LaneRecord, op: LaneOp, step: string): void {
    this.#d.ledger.journal.record(lane.laneId, op, step, this.#now());
  }

  #crash(step: CrashPointName): void {
    this.#d.crashPoint?.(step);
  }

  async #backendCall<T>(backend: LaneBackend, step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw backendError(
        backend.kind,
        `${step[0]?.toUpperCase() ?? ''}${step.slice(1)} of lane object`,
        error,
      );
    }
  }

  /**
   * Deletes what a lane left on the host: its directory, then the user the agent made for it (a
   * user of that name without the lane's mark is left alone). The directory goes first, into the
   * agent's root-only trash (deleted there in the background, `lane-trash.ts`): whatever the uid
   * still owns is out of every lane's reach, so the uid can go to another lane later.
   */
  async discardLaneFiles(lane: LaneRecord): Promise<void> {
    await this.#d.trash.retire(lane.laneDir);
    if (lane.backend !== 'systemd') return;
    const user = laneUserName(lane.laneId);
    try {
      const outcome = await releaseLaneUser(this.#d.accounts, lane.laneId);
      if (outcome === 'not-ours') {
        this.#d.logger.warn(
          { laneId: lane.laneId, user },
          "A user named like this lane's user is not marked as made for it; left alone",
        );
      }
    } catch (error) {
      // The lane is gone either way; a user left behind (e.g. a process of it still runs outside
      // the unit) is listed by `doctor`, and its uid is not handed out again soon.
      const e = toLaunchplaneError(error);
      this.#d.logger.warn(
        { laneId: lane.laneId, user, code: e.code, err: e.message, recovery: e.recovery },
        "Cannot delete the lane's user; left behind",
      );
    }
  }

  #systemdRunAs(lane: LaneRecord): SystemdRunAs | undefined {
    return lane.backend === 'systemd' ? this.#d.systemdRunAs : undefined;
  }

  /** The user a systemd lane runs as (made now for a lane-user host), with its `User=` name. */
  async #systemdOwner(
    lane: LaneRecord,
    runAs: SystemdRunAs | undefined,
  ): Promise<(UserIds & { name?: string }) | undefined> {
    if (runAs === undefined) return undefined;
    switch (runAs.kind) {
      case 'lane-users': {
        if (this.#users === undefined) return undefined;
        const account = await this.#users.ensure(lane.laneId, lane.laneDir);
        return { uid: account.uid, gid: account.gid, name: account.name };
      }
      case 'shared':
        return { uid: runAs.account.uid, gid: runAs.account.gid, name: runAs.account.name };
      case 'manager':
        // The manager runs every unit as itself; the agent hands it the dir (a no-op when the
        // agent runs as that user too).
        return process.getuid?.() === runAs.uid ? undefined : { uid: runAs.uid, gid: runAs.gid };
    }
  }

  /** Refuses a container that would run as root on a host that does not allow root lanes. */
  #refuseRootImage(lane: LaneRecord, runsAs: UserIds): void {
    if (runsAs.uid !== 0 || this.#d.config.runner.allowRoot) return;
    throw new LaunchplaneError(
      'LP_NOT_OPTED_IN',
      `Cannot create lane "${lane.laneId}": image "${lane.docker?.image ?? ''}" runs as root, and this host does not allow root lanes`,
      {
        recovery:
          'Use an image with a non-root USER (the official runner image runs as "runner"), or set runner.allowRoot: true in the agent config',
        details: { laneId: lane.laneId },
      },
    );
  }

  #baseEnv(): Record<string, string> {
    return {
      PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...(this.#d.runnerEnv ?? {}),
    };
  }

  /** The environment of a lane's unit or container (no secret in it). */
  #laneEnv(): Record<string, string> {
    return { ...this.#baseEnv(), ...runnerControlEnv(this.#d.config.runner.allowRoot) };
  }

  /** The environment of `config.sh`: the lane's, with the lane dir as its home. */
  #configEnv(lane: LaneRecord): Record<string, string> {
    return { ...this.#laneEnv(), HOME: lane.laneDir };
  }
}

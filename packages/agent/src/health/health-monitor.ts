/**
 * The health loop (docs/design/lane-lifecycle.md "Health"):
 * every `health.intervalSec`, each watched lane is observed
 * and moved by {@link decideHealth}: online/busy from the real state, a dead persistent lane
 * restarted with capped full-jitter backoff, `failed` after `maxFailures` in `failureWindowSec`, an
 * ephemeral lane that ran its job `completed`. Time comes from the Clock port only.
 *
 * A lane's directory belongs to its job, so everything a pass does there — reading the hooks'
 * record and `.runner`, deleting a spent JIT config — happens outside the agent-wide queue, and
 * every read is bounded (`lanes/lane-file-reader.ts`). Only the decision and its action take the
 * queue, one lane at a time, and only when the lane's record did not change since it was observed
 * (a command acted on it meanwhile: the next pass looks again). So a hostile lane dir can neither
 * wedge the pass nor hold up commands. The monitor reports when its last pass ended and since
 * when the current one runs; the coordinator shows a host whose passes stopped as degraded.
 */
import { msToSec, nowSec } from '@launchplane/shared';
import { transition } from '@launchplane/shared';
import type { AgentConfig, LaneEvent } from '@launchplane/shared';
import {
  decideHealth,
  failureStep,
  WATCHED_STATES,
  type DecisionOptions,
  type HealthAction,
  type LaneObservation,
} from '../domain/health-decision.js';
import { errorBodyOf } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import type { LaneRecord } from '../ledger/lane-record.js';
import type { Recorder } from '../ledger/recorder.js';
import type { LaneService } from '../lanes/lane-service.js';
import type { LaneBackend, ObjectObservation } from '../lanes/lane-backend.js';
import {
  discardJitConfig,
  readHookSignal,
  runnerConfigured,
  type HookSignal,
} from '../lanes/lane-layout.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';

/** Dependencies of {@link HealthMonitor}. */
export interface HealthMonitorDeps {
  config: AgentConfig;
  ledger: Ledger;
  lanes: LaneService;
  recorder: Recorder;
  clock: Clock;
  logger: Logger;
  /** Serializes a pass with commands. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  /** A number in [0, 1) for the backoff jitter. Default Math.random. */
  random?: () => number;
}

/** What a pass saw of one lane, outside the queue. */
interface Seen {
  obs: ObjectObservation;
  observation: LaneObservation;
}

/** Runs health passes. */
export class HealthMonitor {
  readonly #d: HealthMonitorDeps;
  #timer: TimerHandle | undefined;
  #running = false;
  #current: Promise<void> | undefined;
  #lastPassAt: number | undefined;
  #passStartedAt: number | undefined;
  #passes: Promise<void> = Promise.resolve();
  /** The last unreadable-record reason logged per lane, so it is logged once, not every pass. */
  readonly #unreadable = new Map<string, string>();
  readonly #passListeners = new Set<() => void>();

  constructor(deps: HealthMonitorDeps) {
    this.#d = deps;
  }

  /** Unix seconds of the last finished pass. */
  get lastPassAt(): number | undefined {
    return this.#lastPassAt;
  }

  /** Unix seconds since when the pass in progress runs; undefined between passes. */
  get passStartedAt(): number | undefined {
    return this.#passStartedAt;
  }

  /** Called after every finished pass; returns the unsubscribe function. */
  onPass(listener: () => void): () => void {
    this.#passListeners.add(listener);
    return () => this.#passListeners.delete(listener);
  }

  /** Starts passes every `health.intervalSec` on the clock. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  /** Stops scheduling and waits for a running pass. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#current;
  }

  /**
   * The next pass comes after `intervalSec`, or earlier when a restart falls due before that, so a
   * short backoff is not stretched to the interval.
   */
  #nextDelayMs(): number {
    const interval = this.#d.config.health.intervalSec * 1000;
    const now = this.#d.clock.nowMs();
    let delay = interval;
    try {
      for (const lane of this.#d.ledger.lanes.active()) {
        if (lane.nextRestartAtMs !== undefined) {
          delay = Math.min(delay, Math.max(0, lane.nextRestartAtMs - now));
        }
      }
    } catch {
      // The ledger is closing: the interval will do.
    }
    return delay;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = this.#d.clock.setTimer(this.#nextDelayMs(), () => {
      this.#current = this.pass()
        .catch((error: unknown) =>
          this.#d.logger.error({ err: String(error) }, 'Health pass failed'),
        )
        .finally(() => {
          this.#current = undefined;
          this.#schedule();
        });
    });
  }

  /** One pass over every watched lane (a pass asked for while one runs follows it). */
  pass(): Promise<void> {
    const run = this.#passes.then(() => this.#pass());
    this.#passes = run.catch(() => undefined);
    return run;
  }

  async #pass(): Promise<void> {
    this.#passStartedAt = this.#nowSec();
    try {
      for (const lane of this.#d.ledger.lanes.active()) {
        if (!WATCHED_STATES.includes(lane.state)) continue;
        try {
          await this.#check(lane);
        } catch (error) {
          this.#d.logger.warn(
            { laneId: lane.laneId, error: errorBodyOf(error) },
            'Health check of lane failed',
          );
        }
      }
      this.#lastPassAt = this.#nowSec();
    } finally {
      this.#passStartedAt = undefined;
    }
    for (const l of this.#passListeners) {
      try {
        l();
      } catch (error) {
        this.#d.logger.error({ err: String(error) }, 'Health pass listener failed');
      }
    }
  }

  #nowSec(): number {
    return nowSec(this.#d.clock);
  }

  /**
   * Observes the lane outside the queue, then decides and acts inside it, unless a command
   * changed the lane meanwhile.
   */
  async #check(seenLane: LaneRecord): Promise<void> {
    // A create that goes on outside the queue owns its lane until it ends.
    if (this.#d.lanes.creating(seenLane.laneId)) return;
    const before = JSON.stringify(seenLane);
    const backend = this.#d.lanes.backendOf(seenLane.backend);
    const seen = await this.#observe(seenLane, backend);
    const decided = await this.#d.exclusive(async () => {
      const lane = this.#d.ledger.lanes.get(seenLane.laneId);
      if (lane === undefined || JSON.stringify(lane) !== before) return undefined;
      if (this.#d.lanes.creating(lane.laneId)) return undefined;
      await this.#decide(lane, seen, backend);
      return lane;
    });
    // An ephemeral lane that is over never starts again: its JIT config is spent whatever happened.
    if (decided?.ephemeral && (decided.state === 'completed' || decided.state === 'failed')) {
      await this.#discardJit(decided, true);
    }
  }

  async #observe(lane: LaneRecord, backend: LaneBackend): Promise<Seen> {
    const obs = await backend.observe(lane);
    if (!obs.exists) return { obs, observation: { kind: 'missing' } };
    if (!obs.owned) return { obs, observation: { kind: 'foreign' } };
    if (obs.running) {
      const hooks = await readHookSignal(lane.laneDir);
      this.#noteUnreadable(lane, hooks);
      const local = await this.#d.lanes.localBusy(backend, lane, obs, hooks);
      // The runner wrote .runner and .credentials from the JIT config at its start: the secret
      // has done its job and goes (a restart starts from those files).
      if (lane.ephemeral) await this.#discardJit(lane, false);
      return { obs, observation: { kind: 'running', busy: local.busy } };
    }
    const hooks = await readHookSignal(lane.laneDir);
    this.#noteUnreadable(lane, hooks);
    return {
      obs,
      observation: {
        kind: 'dead',
        // An unreadable record counts no job: the exit status decides alone.
        jobsCompleted: hooks.unreadable === undefined ? hooks.jobsCompleted : 0,
        exit: obs.exit,
        runnerConfigured: await runnerConfigured(lane.laneDir),
      },
    };
  }

  /** Logs once per lane (and per reason) that its job record cannot be trusted. */
  #noteUnreadable(lane: LaneRecord, hooks: HookSignal): void {
    if (hooks.unreadable === undefined) {
      this.#unreadable.delete(lane.laneId);
      return;
    }
    if (this.#unreadable.get(lane.laneId) === hooks.unreadable) return;
    this.#unreadable.set(lane.laneId, hooks.unreadable);
    this.#d.logger.warn(
      { laneId: lane.laneId, reason: hooks.unreadable },
      "The lane's job record is unreadable; it is not trusted, and the lane counts as busy while it runs",
    );
  }

  async #decide(lane: LaneRecord, seen: Seen, backend: LaneBackend): Promise<void> {
    const { obs, observation } = seen;
    const nowMs = this.#d.clock.nowMs();
    const h = this.#d.config.health;
    const options = {
      nowMs,
      maxFailures: h.maxFailures,
      failureWindowSec: h.failureWindowSec,
      backoffBaseSec: h.backoffBaseSec,
      backoffCapSec: h.backoffCapSec,
      random: (this.#d.random ?? Math.random)(),
    };
    lane.lastHealthAt = msToSec(nowMs);
    lane.backendState = obs.exists ? obs.backendState : 'missing';
    const action = decideHealth(lane, observation, options);
    await this.#apply(lane, action, backend, options);
  }

  async #discardJit(lane: LaneRecord, over: boolean): Promise<void> {
    try {
      if (await discardJitConfig(lane.laneDir, over)) {
        this.#d.logger.info({ laneId: lane.laneId }, 'Spent JIT config deleted');
      }
    } catch (error) {
      this.#d.logger.warn(
        { laneId: lane.laneId, error: errorBodyOf(error) },
        'Cannot delete the spent JIT config',
      );
    }
  }

  async #apply(
    lane: LaneRecord,
    action: HealthAction,
    backend: LaneBackend,
    options: DecisionOptions,
  ): Promise<void> {
    const { ledger, lanes, recorder } = this.#d;
    switch (action.kind) {
      case 'none':
        ledger.lanes.update(lane);
        return;
      case 'transition':
        if (action.events.length === 0) {
          ledger.lanes.update(lane);
          return;
        }
        this.#events(lane, action.events);
        lanes.save(lane);
        return;
      case 'wait': {
        const newFailure =
          action.failures.length !== lane.failures.length ||
          action.nextRestartAtMs !== lane.nextRestartAtMs;
        this.#events(lane, action.events);
        lane.failures = action.failures;
        lane.nextRestartAtMs = action.nextRestartAtMs;
        if (action.events.length > 0) lanes.save(lane);
        else ledger.lanes.update(lane);
        if (newFailure) {
          recorder.audit({
            actor: 'agent',
            laneId: lane.laneId,
            action: 'health.failure',
            params: {
              failures: lane.failures.length,
              restartInMs: action.nextRestartAtMs - this.#d.clock.nowMs(),
            },
            dryRun: false,
            outcome: 'failed',
            code: 'LP_BACKEND_FAILED',
            message: `Lane "${lane.laneId}" is not running (${lane.backendState ?? 'unknown'}); restart scheduled`,
          });
        }
        return;
      }
      case 'restart':
        await this.#restart(lane, action, backend, options);
        return;
      case 'fail':
        this.#fail(lane, action);
        return;
    }
  }

  async #restart(
    lane: LaneRecord,
    action: Extract<HealthAction, { kind: 'restart' }>,
    backend: LaneBackend,
    options: DecisionOptions,
  ): Promise<void> {
    const { lanes, recorder } = this.#d;
    this.#events(lane, action.events);
    lane.failures = action.failures;
    lane.nextRestartAtMs = undefined;
    lanes.journal(lane, 'health-restart', 'begin');
    lanes.save(lane);
    lanes.journal(lane, 'health-restart', 'start');
    try {
      await backend.start(lane);
      lane.restarts += 1;
      lanes.save(lane);
      lanes.journal(lane, 'health-restart', 'end');
      recorder.audit({
        actor: 'agent',
        laneId: lane.laneId,
        action: 'health.restart',
        params: { restarts: lane.restarts, failures: lane.failures.length },
        dryRun: false,
        outcome: 'ok',
      });
    } catch (error) {
      lanes.journal(lane, 'health-restart', 'end');
      const body = errorBodyOf(error);
      // A start systemd or Docker refused (e.g. the start rate limit) is a failure, never a success.
      const next = failureStep(lane, {
        ...options,
        nowMs: this.#d.clock.nowMs(),
        events: ['became-unhealthy'],
      });
      recorder.audit({
        actor: 'agent',
        laneId: lane.laneId,
        action: 'health.restart',
        params: {
          restarts: lane.restarts,
          failures:
            next.kind === 'fail' || next.kind === 'wait' || next.kind === 'restart'
              ? next.failures.length
              : 0,
        },
        dryRun: false,
        outcome: 'failed',
        code: body.code,
        message: body.message,
        ...(body.recovery === undefined ? {} : { recovery: body.recovery }),
      });
      if (next.kind === 'fail') this.#fail(lane, next);
      else if (next.kind === 'wait' || next.kind === 'restart') {
        this.#events(lane, ['became-unhealthy']);
        lane.failures = next.failures;
        // A refused start is retried on a later pass, never in a tight loop.
        lane.nextRestartAtMs = next.kind === 'wait' ? next.nextRestartAtMs : this.#d.clock.nowMs();
        lanes.save(lane);
      }
    }
  }

  #fail(lane: LaneRecord, action: Extract<HealthAction, { kind: 'fail' }>): void {
    lane.state = transition(lane.state, 'fail');
    lane.failures = action.failures;
    lane.nextRestartAtMs = undefined;
    lane.recovery = action.recovery;
    this.#d.lanes.save(lane);
    this.#d.recorder.audit({
      actor: 'agent',
      laneId: lane.laneId,
      action: 'health.fail',
      params: { failures: action.failures.length },
      dryRun: false,
      outcome: 'failed',
      code: action.code,
      message: `Lane "${lane.laneId}" is failed: ${action.reason}`,
      recovery: action.recovery,
    });
    this.#d.logger.warn({ laneId: lane.laneId, reason: action.reason }, 'Lane failed');
  }

  #events(lane: LaneRecord, events: readonly LaneEvent[]): void {
    for (const e of events) {
      if (e === 'became-unhealthy' && lane.state === 'unhealthy') continue;
      lane.state = transition(lane.state, e);
    }
  }
}

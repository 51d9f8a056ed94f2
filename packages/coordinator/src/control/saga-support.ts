/**
 * Small pieces every saga shares: the host as guardrails see it, lane record updates, audited
 * outcomes, agent commands whose refusals become errors, and deadline-bound waiting.
 */
import {
  LaunchplaneError,
  backoffDelayMs,
  coordinatorTransition,
  retryUntil,
  runSteps,
  toLaunchplaneError,
  type AuditOutcome,
  type Command,
  type CoordinatorEvent,
  type ErrorBody,
  type ResultPayload,
  type Step,
  type StepsRun,
} from '@launchplane/shared';
import type { HostView } from '../domain/guardrails.js';
import { staleHealth } from '../domain/host-health.js';
import type { LaneRecord } from '../ports/store.js';
import { writeAudit } from '../audit/audit-writer.js';
import type { ActionReport } from './action-report.js';
import { nowSec } from '@launchplane/shared';
import type { ControlDeps } from './control-deps.js';

/** The host as the guardrails see it: its record, and its live session's inventory if any. */
export async function hostViewOf(deps: ControlDeps, hostId: string): Promise<HostView> {
  const record = await deps.store.getHost(hostId);
  const session = deps.hub.session(hostId);
  const inventory = session?.inventory;
  return {
    hostId,
    enrolled: record !== undefined,
    revoked: record?.revokedAt !== undefined,
    connected: session !== undefined && record !== undefined && record.revokedAt === undefined,
    optIn: inventory?.optIn ?? record?.optIn,
    capabilities: inventory?.capabilities ?? record?.capabilities ?? [],
    degraded: staleHealth(hostId, session?.health, nowSec(deps.clock))?.message,
  };
}

/** What a saga may change of a lane record besides its state. */
export type LaneChange = Partial<
  Pick<LaneRecord, 'runnerId' | 'recovery' | 'lastError' | 'labels'>
>;

/** Stores a changed lane record (its state unchanged) and returns it. */
export async function updateLane(
  deps: ControlDeps,
  lane: LaneRecord,
  change: LaneChange,
): Promise<LaneRecord> {
  return putLaneRecord(deps, { ...lane, ...change });
}

/**
 * Takes a step of the lane state machine (the coordinator's rules, `coordinatorTransition`) and
 * stores the record with `change`. An illegal step throws `LP_ILLEGAL_TRANSITION` and stores
 * nothing.
 */
export async function moveLane(
  deps: ControlDeps,
  lane: LaneRecord,
  event: CoordinatorEvent,
  change: LaneChange = {},
): Promise<LaneRecord> {
  const state = coordinatorTransition(lane.state, event);
  return putLaneRecord(deps, { ...lane, ...change, state });
}

async function putLaneRecord(deps: ControlDeps, lane: LaneRecord): Promise<LaneRecord> {
  const next: LaneRecord = { ...lane, updatedAt: nowSec(deps.clock) };
  await deps.store.putLane(next);
  return next;
}

/**
 * Sends a command and returns the agent's result; a refusal (`ok: false`) becomes a thrown
 * `LaunchplaneError` with the agent's code, message and recovery.
 */
export async function sendOk(
  deps: ControlDeps,
  hostId: string,
  cmd: Command,
  actor: string,
): Promise<ResultPayload> {
  const result = await deps.hub.send(hostId, cmd, {
    actor,
    timeoutMs: deps.options.commandTimeoutMs,
  });
  if (!result.ok) {
    const e = result.error;
    throw new LaunchplaneError(
      e?.code ?? 'LP_BACKEND_FAILED',
      e?.message ?? `Host "${hostId}" refused "${cmd.type}" (outcome "${result.outcome}")`,
      e?.recovery === undefined ? {} : { recovery: e.recovery },
    );
  }
  return result;
}

/** The wire form of any error, with its recovery hint. */
export function errorBody(err: unknown): ErrorBody {
  return toLaunchplaneError(err).toJSON();
}

/** Writes the audit record of a finished action, from its report. */
export async function auditReport(
  deps: ControlDeps,
  report: ActionReport,
  opts: { actor: string; params?: Record<string, unknown> },
): Promise<void> {
  const outcome: AuditOutcome = report.dryRun
    ? 'dry-run'
    : report.ok
      ? 'ok'
      : report.outcome === 'refused'
        ? 'refused'
        : 'failed';
  await writeAudit(deps.store, nowSec(deps.clock), {
    actor: opts.actor,
    action: `lane.${report.kind}`,
    outcome,
    // An unknown lane has no host; its refusal is audited all the same.
    hostId: report.hostId === '' ? undefined : report.hostId,
    laneId: report.laneId,
    dryRun: report.dryRun,
    params: {
      ...(report.actionId === undefined ? {} : { actionId: report.actionId }),
      ...(report.pool === undefined ? {} : { pool: report.pool }),
      forced: report.forced,
      steps: report.steps,
      ...opts.params,
    },
    code: report.error?.code,
    message: report.error?.message,
    recovery: report.error?.recovery,
  });
}

/** A deadline on the saga's clock. */
export class Deadline {
  readonly #deps: ControlDeps;
  readonly at: number;
  /** The length it was made with, in milliseconds. */
  readonly totalMs: number;

  constructor(deps: ControlDeps, ms: number) {
    this.#deps = deps;
    this.totalMs = ms;
    this.at = deps.clock.nowMs() + ms;
  }

  /** Milliseconds left, never negative. */
  remainingMs(): number {
    return Math.max(0, this.at - this.#deps.clock.nowMs());
  }

  passed(): boolean {
    return this.#deps.clock.nowMs() >= this.at;
  }

  /** Sleeps `ms`, or less when the deadline comes first. */
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    await this.#deps.clock.sleep(Math.max(1, Math.min(ms, this.remainingMs())), signal);
  }
}

/** True for errors that only say GitHub is slow or rate limited right now: worth polling on. */
export function isTransientGitHubError(err: unknown): boolean {
  const code = toLaunchplaneError(err).code;
  return code === 'LP_GITHUB_UNAVAILABLE' || code === 'LP_GITHUB_RATE_LIMITED';
}

/** True when the agent says it has no such lane (nothing left on the host to stop). */
export function isGoneOnHost(err: unknown): boolean {
  const code = toLaunchplaneError(err).code;
  return code === 'LP_NOT_OWNED' || code === 'LP_NOT_FOUND';
}

/**
 * A step of a saga. `describe` is what a dry run reports; `run` does the step and reports what it
 * did (with what it learnt: ids, outcomes). `sends` is the agent command the step sends, listed in
 * the report before it runs (a dry run lists it all the same), secrets redacted.
 */
export interface SagaStep<C> extends Step<C> {
  readonly sends?: (ctx: C) => Command;
}

/** How {@link runSaga} runs: dry or not, into which report. */
export interface SagaRun {
  dryRun: boolean;
  report: ActionReport;
  /** Called with each step's name as it begins (a dry run: as it is described). */
  onStep?: (name: string) => void;
}

/**
 * Runs a saga's steps in order (shared `runSteps`). A dry run adds each step's description and
 * command to the report and runs nothing, so it lists exactly the steps a real run takes.
 */
export async function runSaga<C>(
  steps: readonly SagaStep<C>[],
  ctx: C,
  run: SagaRun,
  done?: StepsRun,
): Promise<StepsRun> {
  const { report } = run;
  const listed = steps.map((s): Step<C> => ({
    ...s,
    enter: (c) => {
      if (s.sends !== undefined) report.commands.push(s.sends(c));
      s.enter?.(c);
    },
  }));
  const before = done?.lines.length ?? 0;
  const result = await runSteps(
    listed,
    ctx,
    { dryRun: run.dryRun, ...(run.onStep === undefined ? {} : { onStep: run.onStep }) },
    done,
  );
  if (run.dryRun) report.steps.push(...result.lines.slice(before));
  return result;
}

/** The wait after a failed attempt at polling GitHub or the host: capped exponential backoff. */
export function pollDelayMs(deps: ControlDeps): (attempt: number) => number {
  return (attempt) =>
    backoffDelayMs(attempt, { baseMs: deps.options.pollBaseMs, capMs: deps.options.pollCapMs });
}

/** Thrown by a {@link pollUntil} attempt whose answer is not there yet. */
class NotYet extends Error {}

/**
 * Asks `probe` until it returns a value, with capped exponential backoff on the saga's clock
 * (shared `retryUntil`), until `deadline`. GitHub's transient errors count as "not yet"; any other
 * error is thrown at once. Undefined when the deadline passed first: the caller says what timed
 * out.
 */
export async function pollUntil<T>(
  deps: ControlDeps,
  deadline: Deadline,
  probe: () => Promise<T | undefined>,
  signal?: AbortSignal,
): Promise<T | undefined> {
  try {
    return await retryUntil(
      deps.clock,
      deadline.at,
      async () => {
        const value = await probe();
        if (value === undefined) throw new NotYet();
        return value;
      },
      {
        retryIf: (err) => err instanceof NotYet || isTransientGitHubError(err),
        delayMs: pollDelayMs(deps),
        ...(signal === undefined ? {} : { signal }),
      },
    );
  } catch (err) {
    if (err instanceof NotYet || isTransientGitHubError(err)) return undefined;
    throw err;
  }
}

/**
 * Retries `attempt` with the poll backoff on the saga's clock (shared `retryUntil`) while
 * `retryIf` says so and `deadline` allows. Once it gives up, `giveUp` gets the last attempt's
 * error (and throws what the saga reports); an aborted wait is thrown as it is.
 */
export async function retrySaga<T>(
  deps: ControlDeps,
  deadline: Deadline,
  attempt: () => Promise<T>,
  options: {
    retryIf: (err: unknown) => boolean;
    giveUp: (err: unknown) => Promise<never>;
    signal?: AbortSignal | undefined;
  },
): Promise<T> {
  let failed: { err: unknown } | undefined;
  try {
    return await retryUntil(
      deps.clock,
      deadline.at,
      async () => {
        try {
          return await attempt();
        } catch (err) {
          failed = { err };
          throw err;
        }
      },
      {
        retryIf: options.retryIf,
        delayMs: pollDelayMs(deps),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
    );
  } catch (err) {
    if (failed?.err !== err) throw err;
    return options.giveUp(err);
  }
}

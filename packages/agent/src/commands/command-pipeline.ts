/**
 * The command pipeline (docs/design/protocol.md "Commands"),
 * in the protocol's order: header → signature →
 * strict schema → `aud` → time → `jti` (a seen one returns its stored result and is never executed
 * again) → `seq` → the host's own opt-in and ledger. The `jti` and `seq` are recorded in the same
 * SQLite transaction as the command's first lane change; its signed result is stored with them.
 *
 * Every refusal and every mutation is audited with secrets redacted, and answered with a signed
 * result. Bad input never throws out of {@link CommandPipeline.handle}.
 */
import { nowSec } from '@launchplane/shared';
import type { KeyObject } from 'node:crypto';
import { LaunchplaneError, secretValuesIn, signResult, verifyCommand } from '@launchplane/shared';
import type {
  AgentConfig,
  AuditOutcome,
  Backend,
  Command,
  CommandPayload,
  ErrorBody,
  ErrorCode,
  ResultPayload,
} from '@launchplane/shared';
import { checkCreateOptIn } from '../domain/opt-in.js';
import { errorBodyOf } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { laneReport, type LaneRecord } from '../ledger/lane-record.js';
import type { Recorder } from '../ledger/recorder.js';
import type { LaneOpResult, LaneService } from '../lanes/lane-service.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { peekCommand } from './peek-command.js';

/** Dependencies of {@link CommandPipeline}. */
export interface CommandPipelineDeps {
  config: AgentConfig;
  hostKey: KeyObject;
  coordinatorKey: KeyObject;
  coordinatorFingerprint: string;
  ledger: Ledger;
  lanes: LaneService;
  recorder: Recorder;
  clock: Clock;
  logger: Logger;
  /** Backends this agent can drive now. */
  availableBackends: () => ReadonlySet<Backend>;
}

/** `jti` of a result for a command whose own `jti` cannot be read. */
export const NIL_JTI = '00000000-0000-0000-0000-000000000000';

/** Codes that mean a guardrail said no (audit outcome `refused`); the others mean `failed`. */
const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'LP_SIGNATURE_INVALID',
  'LP_BAD_HEADER',
  'LP_WRONG_AUDIENCE',
  'LP_EXPIRED',
  'LP_NOT_YET_VALID',
  'LP_LIFETIME_TOO_LONG',
  'LP_REPLAYED',
  'LP_SEQ_REGRESSION',
  'LP_INVALID_MESSAGE',
  'LP_UNKNOWN_COMMAND',
  'LP_NOT_OPTED_IN',
  'LP_NOT_OWNED',
  'LP_CAPACITY',
  'LP_LANE_BUSY',
  'LP_CONFLICT',
  'LP_ILLEGAL_TRANSITION',
  'LP_NOT_FOUND',
  'LP_BACKEND_UNAVAILABLE',
]);

/** Whether an error code is a refusal (nothing was attempted) rather than a failure. */
export function isRefusal(code: ErrorCode): boolean {
  return REFUSAL_CODES.has(code);
}

/** Verifies, authorizes and executes signed commands. */
export class CommandPipeline {
  readonly #d: CommandPipelineDeps;
  /** Commands being executed now, by `jti` (a create may go on outside the agent-wide queue). */
  readonly #running = new Set<string>();

  constructor(deps: CommandPipelineDeps) {
    this.#d = deps;
  }

  #now(): number {
    return nowSec(this.#d.clock);
  }

  /**
   * Handles one command JWS; resolves with the signed result JWS. Never rejects for bad input.
   * `yieldQueue`, when given, lets the agent-wide queue go on once the command no longer needs it
   * (a create's last steps; see `LaneService.create`).
   */
  async handle(jws: unknown, yieldQueue?: () => void): Promise<string> {
    try {
      return await this.#handle(jws, yieldQueue);
    } catch (error) {
      // Only a bug or a broken ledger gets here; still answer with a signed refusal.
      this.#d.logger.error({ error: errorBodyOf(error) }, 'Command pipeline failed');
      const peek = peekCommand(jws);
      return this.#sign({
        jti: peek.jti ?? NIL_JTI,
        ok: false,
        dryRun: peek.dryRun,
        outcome: 'failed',
        error: internalErrorBody(error),
      });
    }
  }

  async #handle(jws: unknown, yieldQueue?: () => void): Promise<string> {
    const { ledger } = this.#d;
    const now = this.#now();
    ledger.replay.prune(now);
    let payload: CommandPayload;
    let replayRecord: { jti: string; seq: number; forgetAfter: number };
    try {
      const verified = verifyCommand<string>(jws, {
        publicKey: this.#d.coordinatorKey,
        pinnedKid: this.#d.coordinatorFingerprint,
        hostId: this.#d.config.hostId,
        now,
        replay: ledger.replay,
      });
      payload = verified.payload;
      replayRecord = verified.replayRecord;
    } catch (error) {
      return this.#refuseUnverified(jws, error);
    }

    const { cmd, jti } = payload;
    const secrets = secretValuesIn(cmd);
    const remember = (): void => {
      if (ledger.replay.get(jti) === undefined)
        ledger.replay.remember({ ...replayRecord, result: undefined });
    };
    let result: LaneOpResult | undefined;
    let error: ErrorBody | undefined;
    this.#running.add(jti);
    try {
      result = await this.#execute(cmd, remember, yieldQueue);
    } catch (e) {
      error = errorBodyOf(e, secrets);
    } finally {
      this.#running.delete(jti);
    }
    const lane = result?.lane;
    const resultPayload: ResultPayload = {
      iss: this.#d.config.hostId,
      jti,
      ok: error === undefined,
      dryRun: cmd.dryRun,
      outcome:
        error === undefined
          ? (result?.outcome ?? 'ok')
          : isRefusal(error.code)
            ? 'refused'
            : 'failed',
      ...(error === undefined ? {} : { error }),
      ...(lane === undefined ? {} : { lane: laneReport(lane, result?.local) }),
      ...(result === undefined
        ? {}
        : { steps: result.steps.slice(0, 100).map((s) => s.slice(0, 4096)) }),
    };
    const signed = this.#signPayload(resultPayload);
    ledger.transaction(() => {
      remember();
      ledger.replay.setResult(jti, signed);
      if (cmd.type !== 'lane.inspect' || error !== undefined) {
        this.#audit(cmd, error, result, lane);
      }
    });
    return signed;
  }

  async #execute(
    cmd: Command,
    onAccept: () => void,
    yieldQueue?: () => void,
  ): Promise<LaneOpResult> {
    const { lanes, ledger } = this.#d;
    const opts = { dryRun: cmd.dryRun, onAccept };
    switch (cmd.type) {
      case 'lane.create': {
        const refusal = checkCreateOptIn(cmd, {
          optIn: this.#d.config.optIn,
          availableBackends: this.#d.availableBackends(),
          activeLanes: ledger.lanes.countActive(),
        });
        if (refusal !== undefined) throw refusal;
        return lanes.create(cmd, yieldQueue === undefined ? opts : { ...opts, yieldQueue });
      }
      case 'lane.start':
        return lanes.start(cmd.laneId, opts);
      case 'lane.stop':
        return lanes.stop(cmd.laneId, opts);
      case 'lane.restart':
        return lanes.restart(cmd.laneId, opts);
      case 'lane.remove':
        return lanes.remove(cmd.laneId, { ...opts, force: cmd.force });
      case 'lane.inspect':
        return lanes.inspect(cmd.laneId);
    }
  }

  #audit(
    cmd: Command,
    error: ErrorBody | undefined,
    result: LaneOpResult | undefined,
    lane: LaneRecord | undefined,
  ): void {
    const outcome: AuditOutcome =
      error !== undefined
        ? isRefusal(error.code)
          ? 'refused'
          : 'failed'
        : cmd.dryRun
          ? 'dry-run'
          : 'ok';
    const { type: _t, laneId: _l, dryRun: _d, ...params } = cmd;
    this.#d.recorder.audit({
      actor: 'coordinator',
      laneId: cmd.laneId,
      action: cmd.type,
      params: {
        ...params,
        ...(result === undefined ? {} : { outcome: result.outcome }),
        ...(lane === undefined ? {} : { state: lane.state }),
      },
      dryRun: cmd.dryRun,
      outcome,
      ...(error === undefined
        ? {}
        : {
            code: error.code,
            message: error.message,
            ...(error.recovery === undefined ? {} : { recovery: error.recovery }),
          }),
    });
  }

  /** Answers a command that failed verification; a replayed `jti` gets its stored result. */
  #refuseUnverified(jws: unknown, error: unknown): string {
    const e =
      error instanceof LaunchplaneError
        ? error
        : new LaunchplaneError('LP_INVALID_MESSAGE', 'Command cannot be read');
    const peek = peekCommand(jws);
    const stored = e.code === 'LP_REPLAYED' ? e.details['result'] : undefined;
    const body = errorBodyOf(e);
    if (e.code === 'LP_REPLAYED' && stored === undefined) {
      body.message =
        peek.jti !== undefined && this.#running.has(peek.jti)
          ? `Command "${peek.jti}" was already accepted and is still running; its result answers the first delivery`
          : `Command "${peek.jti ?? ''}" was already accepted; its result was lost (agent restart during the command)`;
      body.recovery = 'Inspect the lane to learn its state';
    }
    this.#d.recorder.audit({
      actor: 'coordinator',
      ...(peek.laneId === undefined ? {} : { laneId: peek.laneId }),
      action: peek.type ?? 'command',
      params: peek.jti === undefined ? {} : { jti: peek.jti },
      dryRun: peek.dryRun,
      outcome: 'refused',
      code: body.code,
      message: body.message,
      ...(body.recovery === undefined ? {} : { recovery: body.recovery }),
    });
    if (typeof stored === 'string') return stored;
    return this.#sign({
      jti: peek.jti ?? NIL_JTI,
      ok: false,
      dryRun: peek.dryRun,
      outcome: 'refused',
      error: body,
    });
  }

  #sign(p: Omit<ResultPayload, 'iss'>): string {
    return this.#signPayload({ iss: this.#d.config.hostId, ...p });
  }

  #signPayload(p: ResultPayload): string {
    return signResult(p, { privateKey: this.#d.hostKey });
  }
}

/** SQLite's result codes for a disk that cannot take another write. */
const DISK_FULL_CODES = new Set(['SQLITE_FULL', 'SQLITE_IOERR_WRITE', 'ENOSPC']);

/**
 * The error an unexpected failure is answered with. A full disk under the ledger is named as such
 * (nothing was changed: the transaction did not commit), so an operator knows what to free.
 */
export function internalErrorBody(error: unknown): {
  code: 'LP_INTERNAL';
  message: string;
  recovery?: string;
} {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && DISK_FULL_CODES.has(code)) {
    return {
      code: 'LP_INTERNAL',
      message: "The agent's data dir is full; the command was not carried out",
      recovery: "Free space on the filesystem of the agent's dataDir, then send the command again",
    };
  }
  return { code: 'LP_INTERNAL', message: 'The agent could not handle the command' };
}

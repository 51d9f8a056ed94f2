/**
 * Signed commands, coordinator → agent (docs/design/protocol.md "Commands"): `signCommand` on the
 * coordinator, `verifyCommand` on the agent, which runs every check in the protocol's order.
 */
import type { KeyObject } from 'node:crypto';
import { LaunchplaneError } from './errors.js';
import { payloadSchemaError, signJws, verifyJwsCompact, type JwsHeader } from './jws.js';
import {
  CLOCK_SKEW_SEC,
  COMMAND_TYPES,
  CommandPayloadSchema,
  MAX_COMMAND_LIFETIME_SEC,
  type CommandPayload,
} from './protocol.js';
import {
  checkReplay,
  readReplayState,
  replayError,
  type ReplayRecord,
  type ReplayStore,
} from './replay-guard.js';

/** JWS `typ` of a command. */
export const COMMAND_TYP = 'launchplane-command';

/** Options of {@link signCommand}. */
export interface SignCommandOptions {
  /** The coordinator's private key. */
  privateKey: KeyObject;
  /** Defaults to the fingerprint of the coordinator's public key. */
  kid?: string;
}

/**
 * Signs a command after checking it against the schema and the lifetime rule, so the
 * coordinator never emits something an agent must refuse. The payload is serialized as given.
 */
export function signCommand(payload: CommandPayload, options: SignCommandOptions): string {
  const checked = parseCommandPayload(payload);
  checkLifetime(checked, MAX_COMMAND_LIFETIME_SEC);
  return signJws(payload, { typ: COMMAND_TYP, ...options });
}

/** Options of {@link verifyCommand}. */
export interface VerifyCommandOptions<R = unknown> {
  /** The coordinator key pinned at enrollment. */
  publicKey: KeyObject;
  /** The pinned `kid`; defaults to the fingerprint of `publicKey`. */
  pinnedKid?: string;
  /** This host's id: the only accepted `aud`. */
  hostId: string;
  /** Current time, Unix seconds. */
  now: number;
  /** Clock skew allowed on `iat` and `exp`, in seconds. Default 30. */
  skewSec?: number;
  /** Longest allowed `exp - iat`, in seconds; at most (and by default) 300. */
  maxLifetimeSec?: number;
  /** Read side of the replay store: verification never records. */
  replay: Pick<ReplayStore<R>, 'get' | 'lastSeq'>;
  /** Longest accepted compact JWS, in characters. Default 128 KiB. */
  maxLength?: number;
}

/** A command that passed every check; the caller records `replayRecord` when it acts. */
export interface VerifiedCommand {
  header: JwsHeader;
  payload: CommandPayload;
  /** What to pass to {@link ReplayStore.remember} (with the result) in the same transaction. */
  replayRecord: Omit<ReplayRecord, 'result'>;
}

/**
 * Verifies a command in exactly the order of
 * docs/design/protocol.md "Verification order", throwing a LaunchplaneError at the first
 * failure: structure (LP_INVALID_MESSAGE) → header: alg, typ, pinned kid, no other parameters
 * (LP_BAD_HEADER) → signature (LP_SIGNATURE_INVALID) → strict payload schema
 * (LP_INVALID_MESSAGE, or LP_UNKNOWN_COMMAND for an unknown `cmd.type`) → `aud`
 * (LP_WRONG_AUDIENCE) → `iat` (LP_NOT_YET_VALID) → `exp` (LP_EXPIRED) → lifetime
 * (LP_LIFETIME_TOO_LONG) → seen `jti` (LP_REPLAYED, `details.result` = the stored result) →
 * `seq` (LP_SEQ_REGRESSION). It does not record anything: see {@link VerifiedCommand}.
 */
export function verifyCommand<R = unknown>(
  jws: unknown,
  options: VerifyCommandOptions<R>,
): VerifiedCommand {
  const { hostId, now } = options;
  const skewSec = options.skewSec ?? CLOCK_SKEW_SEC;
  const maxLifetimeSec = options.maxLifetimeSec ?? MAX_COMMAND_LIFETIME_SEC;
  if (!(Number.isInteger(maxLifetimeSec) && maxLifetimeSec > 0)) {
    throw new RangeError('maxLifetimeSec must be a positive integer');
  }
  if (maxLifetimeSec > MAX_COMMAND_LIFETIME_SEC) {
    throw new RangeError(`maxLifetimeSec must not exceed ${MAX_COMMAND_LIFETIME_SEC}`);
  }
  if (!(Number.isInteger(skewSec) && skewSec >= 0)) {
    throw new RangeError('skewSec must be a non-negative integer');
  }

  const verified = verifyJwsCompact(jws, {
    publicKey: options.publicKey,
    typ: COMMAND_TYP,
    ...(options.pinnedKid === undefined ? {} : { kid: options.pinnedKid }),
    ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
  });
  const payload = parseCommandPayload(verified.payload);
  const { jti, seq, iat, exp } = payload;

  if (payload.aud !== hostId) {
    throw new LaunchplaneError(
      'LP_WRONG_AUDIENCE',
      `Command "${jti}" is addressed to host "${payload.aud}", not to "${hostId}"`,
      { details: { jti, aud: payload.aud, hostId } },
    );
  }
  if (iat > now + skewSec) {
    throw new LaunchplaneError(
      'LP_NOT_YET_VALID',
      `Command "${jti}" was issued ${iat - now}s in the future, beyond the ${skewSec}s skew`,
      { details: { jti, iat, now }, recovery: 'Synchronize the clocks of coordinator and host' },
    );
  }
  if (now >= exp + skewSec) {
    throw new LaunchplaneError(
      'LP_EXPIRED',
      `Command "${jti}" expired ${now - exp}s ago, beyond the ${skewSec}s skew`,
      { details: { jti, exp, now }, recovery: 'Send the command again' },
    );
  }
  checkLifetime(payload, maxLifetimeSec);

  const decision = checkReplay<R>(readReplayState(options.replay, jti), payload, {
    skewSec,
  });
  if (decision.kind !== 'fresh') throw replayError(decision);
  return {
    header: verified.header,
    payload,
    replayRecord: { jti, seq, forgetAfter: decision.record.forgetAfter },
  };
}

const commandTypes: ReadonlySet<string> = new Set(COMMAND_TYPES);

function parseCommandPayload(value: unknown): CommandPayload {
  const parsed = CommandPayloadSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const type = commandTypeOf(value);
  if (typeof type === 'string' && !commandTypes.has(type)) {
    throw new LaunchplaneError(
      'LP_UNKNOWN_COMMAND',
      `Command type ${JSON.stringify(type.slice(0, 64))} is not one this protocol knows`,
      {
        details: { type: type.slice(0, 64) },
        recovery: 'Upgrade the agent to match the coordinator',
      },
    );
  }
  throw payloadSchemaError(parsed.error, 'Command');
}

function commandTypeOf(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return undefined;
  const cmd = (value as { cmd?: unknown }).cmd;
  if (typeof cmd !== 'object' || cmd === null) return undefined;
  return (cmd as { type?: unknown }).type;
}

function checkLifetime(payload: CommandPayload, maxLifetimeSec: number): void {
  const { jti, iat, exp } = payload;
  if (exp <= iat || exp - iat > maxLifetimeSec) {
    throw new LaunchplaneError(
      'LP_LIFETIME_TOO_LONG',
      `Command "${jti}" lives ${exp - iat}s; it must expire after it is issued and within ${maxLifetimeSec}s`,
      { details: { jti, iat, exp } },
    );
  }
}

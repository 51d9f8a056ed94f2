/**
 * Signed results and events, agent → coordinator (docs/design/protocol.md "Results"). Same JWS
 * machinery as commands, signed with the agent's key; the coordinator checks that the signed
 * `iss` is the host of the session that carried the message.
 */
import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { LaunchplaneError } from './errors.js';
import { parsePayload, signJws, verifyJwsCompact } from './jws.js';
import {
  EventPayloadSchema,
  ResultPayloadSchema,
  type EventPayload,
  type ResultPayload,
} from './protocol.js';

/** JWS `typ` of a command result. */
export const RESULT_TYP = 'launchplane-result';
/** JWS `typ` of an outbox event. */
export const EVENT_TYP = 'launchplane-event';

/** Options of {@link signResult} and {@link signEvent}. */
export interface SignReportOptions {
  /** The agent's private key. */
  privateKey: KeyObject;
  /** Defaults to the fingerprint of the agent's public key. */
  kid?: string;
}

/** Options of {@link verifyResult} and {@link verifyEvent}. */
export interface VerifyReportOptions {
  /** The agent key recorded at enrollment. */
  publicKey: KeyObject;
  /** Defaults to the fingerprint of `publicKey`. */
  pinnedKid?: string;
  /** The session's host id; the payload's `iss` must equal it. */
  hostId: string;
  /** Longest accepted compact JWS, in characters. Default 128 KiB. */
  maxLength?: number;
}

/** Signs a command result (checked against its schema first). */
export function signResult(payload: ResultPayload, options: SignReportOptions): string {
  parsePayload(ResultPayloadSchema, payload, 'Result');
  return signJws(payload, { typ: RESULT_TYP, ...options });
}

/**
 * Verifies a result: structure, header, signature, strict schema (as for commands), then
 * `iss` = the session's host (LP_INVALID_MESSAGE otherwise).
 */
export function verifyResult(jws: unknown, options: VerifyReportOptions): ResultPayload {
  return verifyReport(jws, RESULT_TYP, ResultPayloadSchema, options);
}

/** Signs an outbox event (checked against its schema first). */
export function signEvent(payload: EventPayload, options: SignReportOptions): string {
  parsePayload(EventPayloadSchema, payload, 'Event');
  return signJws(payload, { typ: EVENT_TYP, ...options });
}

/** Options of {@link verifyEvent}. */
export interface VerifyEventOptions extends VerifyReportOptions {
  /** The `seq` of the event frame; when given, the signed `seq` must equal it. */
  seq?: number;
}

/**
 * Verifies an event like {@link verifyResult}; also checks the signed `seq` against the frame's
 * when `seq` is given, so an unsigned frame field cannot re-address a signed event.
 */
export function verifyEvent(jws: unknown, options: VerifyEventOptions): EventPayload {
  const payload = verifyReport(jws, EVENT_TYP, EventPayloadSchema, options);
  if (options.seq !== undefined && payload.seq !== options.seq) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Event frame seq ${options.seq} does not match the signed seq ${payload.seq}`,
      { details: { hostId: options.hostId, seq: options.seq, signedSeq: payload.seq } },
    );
  }
  return payload;
}

function verifyReport<S extends z.ZodType<{ iss: string }>>(
  jws: unknown,
  typ: string,
  schema: S,
  options: VerifyReportOptions,
): z.output<S> {
  const { payload } = verifyJwsCompact(jws, {
    publicKey: options.publicKey,
    typ,
    ...(options.pinnedKid === undefined ? {} : { kid: options.pinnedKid }),
    ...(options.maxLength === undefined ? {} : { maxLength: options.maxLength }),
  });
  const what = typ === RESULT_TYP ? 'Result' : 'Event';
  const parsed = parsePayload(schema, payload, what);
  if (parsed.iss !== options.hostId) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `${what} issuer "${parsed.iss}" is not the session's host "${options.hostId}"`,
      { details: { hostId: options.hostId, iss: parsed.iss } },
    );
  }
  return parsed;
}

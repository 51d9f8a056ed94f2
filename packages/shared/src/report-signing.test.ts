import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { compactVerify } from 'jose';
import { describe, expect, test } from 'vitest';
import { chainRecord } from './audit-chain.js';
import { LaunchplaneError, type ErrorCode } from './errors.js';
import { privateKeyFromSeed, publicKeyOf } from './keys.js';
import type { EventPayload, ResultPayload } from './protocol.js';
import {
  EVENT_TYP,
  RESULT_TYP,
  signEvent,
  signResult,
  verifyEvent,
  verifyResult,
} from './report-signing.js';

const vectors = JSON.parse(
  readFileSync(new URL('./protocol-vectors.json', import.meta.url), 'utf8'),
) as {
  agent: { seedHex: string; fingerprint: string };
  coordinator: { seedHex: string };
  command: { jws: string };
};

const agentKey = privateKeyFromSeed(vectors.agent.seedHex);
const agentPublic = publicKeyOf(agentKey);
const coordinatorKey = privateKeyFromSeed(vectors.coordinator.seedHex);
const verifyOptions = { publicKey: agentPublic, hostId: 'host-a' };

const result: ResultPayload = {
  iss: 'host-a',
  jti: '6f1c2f9e-2d3b-4c55-9a0e-7b1d2c3e4f50',
  ok: false,
  dryRun: false,
  outcome: 'refused',
  error: {
    code: 'LP_NOT_OWNED',
    message: 'Cannot remove lane "01jd3xk5m8q2w7r9t4v6y0z1ab": not owned by this host',
  },
};

const event: EventPayload = {
  iss: 'host-a',
  seq: 7,
  at: 1764370000,
  event: {
    kind: 'audit',
    record: chainRecord(undefined, {
      seq: 1,
      at: 1764370000,
      actor: 'agent',
      hostId: 'host-a',
      action: 'lane.remove',
      params: {},
      dryRun: false,
      outcome: 'refused' as const,
      code: 'LP_NOT_OWNED' as const,
    }),
  },
};

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return (error as LaunchplaneError).code;
  }
  throw new Error('expected a LaunchplaneError, nothing was thrown');
}

describe('results', () => {
  test('round-trip, with the agent kid and the result typ', async () => {
    const jws = signResult(result, { privateKey: agentKey });
    expect(verifyResult(jws, verifyOptions)).toEqual(result);
    const { protectedHeader } = await compactVerify(jws, agentPublic, { algorithms: ['EdDSA'] });
    expect(protectedHeader).toEqual({
      alg: 'EdDSA',
      typ: RESULT_TYP,
      kid: vectors.agent.fingerprint,
    });
  });

  test('a result claiming another host is LP_INVALID_MESSAGE', () => {
    const jws = signResult({ ...result, iss: 'host-b' }, { privateKey: agentKey });
    expect(codeOf(() => verifyResult(jws, verifyOptions))).toBe('LP_INVALID_MESSAGE');
  });

  test('a result signed by another key is refused at the header (kid)', () => {
    const jws = signResult(result, { privateKey: coordinatorKey });
    expect(codeOf(() => verifyResult(jws, verifyOptions))).toBe('LP_BAD_HEADER');
  });

  test('a command or an event is not a result (typ)', () => {
    expect(codeOf(() => verifyResult(vectors.command.jws, verifyOptions))).toBe('LP_BAD_HEADER');
    const asEvent = signEvent(event, { privateKey: agentKey });
    expect(codeOf(() => verifyResult(asEvent, verifyOptions))).toBe('LP_BAD_HEADER');
  });

  test('an invalid result is not signed', () => {
    const bad = { ...result, extra: true } as ResultPayload;
    expect(codeOf(() => signResult(bad, { privateKey: agentKey }))).toBe('LP_INVALID_MESSAGE');
  });

  test('a change to any byte is rejected', () => {
    const jws = signResult(result, { privateKey: agentKey });
    fc.assert(
      fc.property(fc.nat({ max: jws.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, mask) => {
        const bytes = Buffer.from(jws, 'latin1');
        bytes[i]! ^= mask;
        expect(['LP_INVALID_MESSAGE', 'LP_BAD_HEADER', 'LP_SIGNATURE_INVALID']).toContain(
          codeOf(() => verifyResult(bytes.toString('latin1'), verifyOptions)),
        );
      }),
    );
  });
});

describe('events', () => {
  test('round-trip with the event typ, and the frame seq checked when given', () => {
    const jws = signEvent(event, { privateKey: agentKey });
    expect(verifyEvent(jws, verifyOptions)).toEqual(event);
    expect(verifyEvent(jws, { ...verifyOptions, seq: 7 })).toEqual(event);
    expect(codeOf(() => verifyEvent(jws, { ...verifyOptions, seq: 8 }))).toBe('LP_INVALID_MESSAGE');
    expect(Buffer.from(jws.split('.')[0]!, 'base64url').toString()).toContain(
      `"typ":"${EVENT_TYP}"`,
    );
  });

  test('an event claiming another host is LP_INVALID_MESSAGE', () => {
    const jws = signEvent({ ...event, iss: 'host-b' }, { privateKey: agentKey });
    expect(codeOf(() => verifyEvent(jws, verifyOptions))).toBe('LP_INVALID_MESSAGE');
  });

  test('a result is not an event', () => {
    const jws = signResult(result, { privateKey: agentKey });
    expect(codeOf(() => verifyEvent(jws, verifyOptions))).toBe('LP_BAD_HEADER');
  });
});

import { describe, expect, it } from 'vitest';
import {
  CLOSE_CODES,
  ERROR_CODES,
  LaunchplaneError,
  closeCodeFor,
  exitCodeFor,
  httpStatusFor,
  isErrorCode,
  toLaunchplaneError,
} from './errors.js';

const PROTOCOL_CODES = [
  'LP_SIGNATURE_INVALID',
  'LP_BAD_HEADER',
  'LP_WRONG_AUDIENCE',
  'LP_EXPIRED',
  'LP_REPLAYED',
  'LP_SEQ_REGRESSION',
  'LP_INVALID_MESSAGE',
  'LP_UNKNOWN_COMMAND',
  'LP_NOT_OPTED_IN',
  'LP_NOT_OWNED',
  'LP_CAPACITY',
  'LP_LANE_BUSY',
  'LP_BACKEND_UNAVAILABLE',
  'LP_BACKEND_FAILED',
  'LP_TOKEN_INVALID',
  'LP_FORBIDDEN',
  'LP_HOST_REVOKED',
];

describe('error codes', () => {
  it('include every code the protocol lists, each once', () => {
    for (const code of PROTOCOL_CODES) expect(ERROR_CODES).toContain(code);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
  });

  it('map every code to an HTTP status and an exit status', () => {
    for (const code of ERROR_CODES) {
      expect(httpStatusFor(code)).toBeGreaterThanOrEqual(400);
      expect([1, 2]).toContain(exitCodeFor(code));
    }
    expect(exitCodeFor('LP_USAGE')).toBe(2);
    expect(httpStatusFor('LP_FORBIDDEN')).toBe(403);
    expect(httpStatusFor('LP_UNAUTHENTICATED')).toBe(401);
    expect(httpStatusFor('LP_LANE_BUSY')).toBe(409);
  });

  it('close a session with the close codes of the protocol', () => {
    expect(closeCodeFor('LP_INVALID_MESSAGE')).toBe(CLOSE_CODES.invalidMessage);
    expect(closeCodeFor('LP_SIGNATURE_INVALID')).toBe(CLOSE_CODES.authenticationFailed);
    expect(closeCodeFor('LP_HOST_REVOKED')).toBe(CLOSE_CODES.revoked);
    expect(closeCodeFor('LP_TIMEOUT')).toBe(CLOSE_CODES.handshakeTimeout);
    // A refused command is an answer, not the end of the session.
    expect(closeCodeFor('LP_NOT_OWNED')).toBeUndefined();
    expect(closeCodeFor('LP_REPLAYED')).toBeUndefined();
  });

  it('LaunchplaneError carries code, recovery and cause, and serializes without details', () => {
    const cause = new Error('socket hang up');
    const e = new LaunchplaneError(
      'LP_NOT_OWNED',
      'Cannot remove lane "x": not owned by this host',
      {
        recovery: 'List owned lanes with `launchplane-agent lanes`',
        details: { laneId: 'x' },
        cause,
      },
    );
    expect(e).toBeInstanceOf(Error);
    expect(e.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: 'LP_NOT_OWNED',
      message: 'Cannot remove lane "x": not owned by this host',
      recovery: 'List owned lanes with `launchplane-agent lanes`',
    });
  });

  it('toLaunchplaneError() keeps stable codes and wraps the rest', () => {
    const e = new LaunchplaneError('LP_CAPACITY', 'full');
    expect(toLaunchplaneError(e)).toBe(e);
    const wrapped = toLaunchplaneError(new Error('boom'));
    expect(wrapped.code).toBe('LP_INTERNAL');
    expect(toLaunchplaneError('x', 'LP_BACKEND_FAILED').code).toBe('LP_BACKEND_FAILED');
    expect(isErrorCode('LP_NOT_OWNED')).toBe(true);
    expect(isErrorCode('LP_NOPE')).toBe(false);
  });
});

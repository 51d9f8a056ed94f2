/**
 * Errors with stable codes (docs/design/protocol.md "Error codes"),
 * and the one mapping from a code to an
 * HTTP status, a WebSocket close code and a CLI exit status.
 */
import { redactText } from './redact.js';

/** Every stable error code. Codes are part of the contract: never rename one. */
export const ERROR_CODES = [
  // docs/design/protocol.md "Error codes"
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
  // Signature checks that the protocol orders separately and that need their own code.
  'LP_NOT_YET_VALID',
  'LP_LIFETIME_TOO_LONG',
  // Contract-level codes beyond the wire list.
  'LP_POLICY_INVALID',
  'LP_CONFIG_INVALID',
  'LP_ILLEGAL_TRANSITION',
  'LP_NOT_FOUND',
  'LP_CONFLICT',
  'LP_UNAUTHENTICATED',
  'LP_TIMEOUT',
  'LP_GITHUB_UNAVAILABLE',
  'LP_GITHUB_RATE_LIMITED',
  'LP_HOST_OFFLINE',
  'LP_USAGE',
  'LP_INTERNAL',
  // Pre-authentication limits and TLS pinning.
  'LP_RATE_LIMITED',
  'LP_TLS_PIN_MISMATCH',
  // What a lane's runner reported when it exited (the agent's health loop).
  /** A persistent runner's registration was deleted on GitHub; the runner removed its config. */
  'LP_RUNNER_DELETED',
  /** The runner is too old for GitHub (exit 7 with ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE). */
  'LP_RUNNER_OUTDATED',
  /** The runner refused to run as root (`config.sh` / `run-helper.sh` without RUNNER_ALLOW_RUNASROOT). */
  'LP_RUNNER_ROOT_REFUSED',
  // `launchplane smoke`: a check of the disposable lane or of the world around it failed.
  'LP_SMOKE_FAILED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** Options of {@link LaunchplaneError}. */
export interface LaunchplaneErrorOptions {
  /** What an operator should do next, when one must act. */
  recovery?: string;
  /** Structured, secret-free fields for logs and audit (hostId, laneId, path, …). */
  details?: Readonly<Record<string, unknown>>;
  cause?: unknown;
}

/**
 * The one error class of the project. Messages follow
 * docs/design/style.md "Errors and messages": sentence case, values quoted,
 * no trailing period, never a secret. As a last line, message and recovery pass through
 * {@link redactText} when the error is made, so neither they, the stack nor {@link toJSON} can
 * carry a secret of a known shape (a caller that knows the exact value also removes it itself).
 */
export class LaunchplaneError extends Error {
  readonly code: ErrorCode;
  readonly recovery: string | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: LaunchplaneErrorOptions = {}) {
    super(redactText(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LaunchplaneError';
    this.code = code;
    this.recovery = options.recovery === undefined ? undefined : redactText(options.recovery);
    this.details = options.details ?? {};
  }

  /** The wire form used in results, HTTP error bodies and audit records. */
  toJSON(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      ...(this.recovery === undefined ? {} : { recovery: this.recovery }),
    };
  }
}

/** The wire form of an error. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  recovery?: string;
}

export function isLaunchplaneError(value: unknown): value is LaunchplaneError {
  return value instanceof LaunchplaneError;
}

/** Wraps anything thrown into a LaunchplaneError, keeping codes that are already stable. */
export function toLaunchplaneError(
  value: unknown,
  fallback: ErrorCode = 'LP_INTERNAL',
): LaunchplaneError {
  if (value instanceof LaunchplaneError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new LaunchplaneError(fallback, message, { cause: value });
}

interface CodeMapping {
  http: number;
  /** WebSocket close code when the error ends a session; undefined when it does not. */
  close: number | undefined;
  exit: number;
}

const MAPPING: Record<ErrorCode, CodeMapping> = {
  LP_SIGNATURE_INVALID: { http: 401, close: 4401, exit: 1 },
  LP_BAD_HEADER: { http: 401, close: 4401, exit: 1 },
  LP_WRONG_AUDIENCE: { http: 401, close: 4401, exit: 1 },
  LP_EXPIRED: { http: 401, close: undefined, exit: 1 },
  LP_NOT_YET_VALID: { http: 401, close: undefined, exit: 1 },
  LP_LIFETIME_TOO_LONG: { http: 401, close: undefined, exit: 1 },
  LP_REPLAYED: { http: 409, close: undefined, exit: 1 },
  LP_SEQ_REGRESSION: { http: 409, close: undefined, exit: 1 },
  LP_INVALID_MESSAGE: { http: 400, close: 4400, exit: 1 },
  LP_UNKNOWN_COMMAND: { http: 400, close: 4400, exit: 1 },
  LP_NOT_OPTED_IN: { http: 403, close: undefined, exit: 1 },
  LP_NOT_OWNED: { http: 403, close: undefined, exit: 1 },
  LP_CAPACITY: { http: 409, close: undefined, exit: 1 },
  LP_LANE_BUSY: { http: 409, close: undefined, exit: 1 },
  LP_BACKEND_UNAVAILABLE: { http: 503, close: undefined, exit: 1 },
  LP_BACKEND_FAILED: { http: 502, close: undefined, exit: 1 },
  LP_TOKEN_INVALID: { http: 401, close: 4401, exit: 1 },
  LP_FORBIDDEN: { http: 403, close: 4403, exit: 1 },
  LP_HOST_REVOKED: { http: 403, close: 4403, exit: 1 },
  LP_POLICY_INVALID: { http: 422, close: undefined, exit: 1 },
  LP_CONFIG_INVALID: { http: 422, close: undefined, exit: 1 },
  LP_ILLEGAL_TRANSITION: { http: 409, close: undefined, exit: 1 },
  LP_NOT_FOUND: { http: 404, close: undefined, exit: 1 },
  LP_CONFLICT: { http: 409, close: undefined, exit: 1 },
  LP_UNAUTHENTICATED: { http: 401, close: 4401, exit: 1 },
  LP_TIMEOUT: { http: 504, close: 4408, exit: 1 },
  LP_GITHUB_UNAVAILABLE: { http: 502, close: undefined, exit: 1 },
  LP_GITHUB_RATE_LIMITED: { http: 503, close: undefined, exit: 1 },
  LP_HOST_OFFLINE: { http: 409, close: undefined, exit: 1 },
  LP_USAGE: { http: 400, close: undefined, exit: 2 },
  LP_INTERNAL: { http: 500, close: 1011, exit: 1 },
  LP_RATE_LIMITED: { http: 429, close: 1013, exit: 1 },
  LP_TLS_PIN_MISMATCH: { http: 401, close: undefined, exit: 1 },
  LP_RUNNER_DELETED: { http: 410, close: undefined, exit: 1 },
  LP_RUNNER_OUTDATED: { http: 409, close: undefined, exit: 1 },
  LP_RUNNER_ROOT_REFUSED: { http: 409, close: undefined, exit: 1 },
  LP_SMOKE_FAILED: { http: 409, close: undefined, exit: 1 },
};

/** HTTP status for an error code. */
export function httpStatusFor(code: ErrorCode): number {
  return MAPPING[code].http;
}

/** WebSocket close code when this error ends a session (undefined: the session goes on). */
export function closeCodeFor(code: ErrorCode): number | undefined {
  return MAPPING[code].close;
}

/** CLI exit status: 2 for bad usage, 1 for a refusal or failure (docs/cli.md). */
export function exitCodeFor(code: ErrorCode): number {
  return MAPPING[code].exit;
}

/** WebSocket close codes (docs/design/protocol.md "Close codes"). */
export const CLOSE_CODES = {
  invalidMessage: 4400,
  authenticationFailed: 4401,
  revoked: 4403,
  handshakeTimeout: 4408,
} as const;

/**
 * The agent's errors: shared's {@link LaunchplaneError} with stable codes, plus the helpers that
 * turn backend failures into LP_BACKEND_* errors with a recovery hint and keep secrets out of
 * messages (shared's `redactText`; the error itself also scrubs known secret shapes).
 */
import { LaunchplaneError, redactText, toLaunchplaneError } from '@launchplane/shared';
import type { Backend, ErrorBody, ErrorCode } from '@launchplane/shared';

export { LaunchplaneError, isLaunchplaneError } from '@launchplane/shared';
export type { ErrorBody, ErrorCode } from '@launchplane/shared';

const BACKEND_RECOVERY: Record<Backend, string> = {
  systemd: 'Check that systemd is running (`launchplane-agent doctor`), then retry',
  docker:
    'Check that dockerd is running and its socket is reachable (`launchplane-agent doctor`), then retry',
};

/**
 * Wraps a backend failure: a LaunchplaneError with a code keeps it (a recovery hint is added when
 * missing); anything else becomes LP_BACKEND_FAILED. The message names the step, never a secret.
 */
export function backendError(backend: Backend, step: string, error: unknown): LaunchplaneError {
  const base = toLaunchplaneError(error, 'LP_BACKEND_FAILED');
  // Unreachable stays unreachable; what the host's config makes impossible (e.g. an image whose
  // user cannot be told) stays a config error; anything else is a failure of the backend.
  const code: ErrorCode =
    base.code === 'LP_BACKEND_UNAVAILABLE' || base.code === 'LP_CONFIG_INVALID'
      ? base.code
      : 'LP_BACKEND_FAILED';
  return new LaunchplaneError(code, `${step} failed: ${base.message}`, {
    recovery: base.recovery ?? BACKEND_RECOVERY[backend],
    details: { backend, step },
    cause: error,
  });
}

/** The wire body of any thrown value, secrets scrubbed from the message. */
export function errorBodyOf(error: unknown, secrets: readonly string[] = []): ErrorBody {
  const e = toLaunchplaneError(error);
  const body = e.toJSON();
  return {
    ...body,
    message: redactText(body.message, secrets).slice(0, 4000),
    ...(body.recovery === undefined
      ? {}
      : { recovery: redactText(body.recovery, secrets).slice(0, 4000) }),
  };
}

import { type SimErrorCode, SimError } from './errors.js';

/**
 * What went wrong, as the runner-facing service tells the stub runner. The names follow the
 * broker's error kinds and the exceptions the real listener tells apart (docs/runner-contract.md).
 */
export type RunnerErrorKind =
  'RunnerNotFound' | 'SessionConflict' | 'SessionInvalid' | 'RunnerVersionTooOld' | 'Unauthorized';

const CODE: Record<RunnerErrorKind, SimErrorCode> = {
  RunnerNotFound: 'SIM_NOT_FOUND',
  SessionConflict: 'SIM_CONFLICT',
  SessionInvalid: 'SIM_NOT_FOUND',
  RunnerVersionTooOld: 'SIM_FORBIDDEN',
  Unauthorized: 'SIM_UNAUTHENTICATED',
};

/** A refusal of the runner-facing service; its body carries `errorKind` beside message and code. */
export class RunnerServiceError extends SimError {
  readonly errorKind: RunnerErrorKind;

  constructor(errorKind: RunnerErrorKind, message: string) {
    super(CODE[errorKind], message);
    this.name = 'RunnerServiceError';
    this.errorKind = errorKind;
  }
}

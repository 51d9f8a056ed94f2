/**
 * A pino-backed {@link Logger} for the coordinator daemon. Every line goes through shared's
 * `redactingLog` (fields through `redactDeep`, the message through `redactText`) before pino sees
 * it, and pino censors `PINO_REDACT_PATHS` as a second line: no request, command, credential,
 * error or message carries a secret into the log.
 */
import { pino } from 'pino';
import { PINO_REDACT_PATHS, REDACTED, redactingLog } from '@launchplane/shared';
import type { Logger } from '../ports/logger.js';

/** Options of {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Where lines go; default stderr (stdout belongs to `--json` output). */
  destination?: NodeJS.WritableStream;
}

/** Creates the daemon's logger. */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const base = pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...PINO_REDACT_PATHS], censor: REDACTED },
    },
    options.destination ?? process.stderr,
  );
  return redactingLog(base);
}

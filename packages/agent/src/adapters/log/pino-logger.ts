/**
 * The agent's {@link Logger} on pino. Every line's fields go through shared's `redactRecord` and
 * its message through `redactText` before pino sees them, and pino censors
 * {@link PINO_REDACT_PATHS} as a second line: no command, runner config, environment, error or
 * message can carry a secret into the log.
 */
import { pino } from 'pino';
import { PINO_REDACT_PATHS, REDACTED, redactRecord, redactText } from '@launchplane/shared';
import type { Logger } from '../../ports/logger.js';

/** Options of {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
  /** Fields on every line, e.g. `{hostId}`. */
  bindings?: Record<string, unknown>;
}

/** A pino-backed {@link Logger} whose fields and messages are redacted. */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const base = pino(
    {
      level: options.level ?? 'info',
      redact: { paths: [...PINO_REDACT_PATHS], censor: REDACTED },
      base: redactRecord(options.bindings ?? {}),
    },
    options.destination ?? process.stdout,
  );
  return {
    debug: (f, m) => base.debug(redactRecord(f), redactText(m)),
    info: (f, m) => base.info(redactRecord(f), redactText(m)),
    warn: (f, m) => base.warn(redactRecord(f), redactText(m)),
    error: (f, m) => base.error(redactRecord(f), redactText(m)),
  };
}

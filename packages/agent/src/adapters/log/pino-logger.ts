/**
 * The agent's {@link Logger} on pino. Every line goes through shared's `redactingLog` (fields
 * through `redactDeep`, the message through `redactText`) before pino sees it, and pino censors
 * `PINO_REDACT_PATHS` as a second line: no command, runner config, environment, error or message
 * carries a secret into the log.
 */
import { pino } from 'pino';
import { PINO_REDACT_PATHS, REDACTED, redactRecord, redactingLog } from '@launchplane/shared';
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
  return redactingLog(base);
}

/**
 * A pino-backed {@link Logger} for the coordinator daemon, with secret paths censored.
 */
import { pino } from 'pino';
import type { Logger } from '../ports/logger.js';

/** Field paths whose values are secrets, censored as `[redacted]`. */
export const REDACT_PATHS = [
  'token',
  'authorization',
  'jitConfig',
  'registrationToken',
  'encodedJitConfig',
  'proof',
  '*.proof',
  '*.token',
  '*.authorization',
  '*.jitConfig',
  '*.registrationToken',
  '*.encodedJitConfig',
  'cmd.runner',
  '*.cmd.runner',
  'headers.authorization',
  'req.headers.authorization',
];

/** Options of {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Where lines go; default stderr (stdout belongs to `--json` output). */
  destination?: NodeJS.WritableStream;
}

/** Creates the daemon's logger. */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const base = pino(
    { level: options.level ?? 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    options.destination ?? process.stderr,
  );
  return {
    debug: (f, m) => base.debug(f, m),
    info: (f, m) => base.info(f, m),
    warn: (f, m) => base.warn(f, m),
    error: (f, m) => base.error(f, m),
  };
}

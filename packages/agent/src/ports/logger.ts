/**
 * The Logger port: structured logs with secrets redacted by path. The agent core only sees this
 * interface; {@link createPinoLogger} backs it with pino in the daemon.
 */
import { pino } from 'pino';

/** Structured logger (pino's call shape: fields first, then the message). */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Field paths whose values are secrets. pino censors them wherever a command, a runner config or
 * an environment passes through a log call.
 */
export const REDACT_PATHS = [
  'jitConfig',
  'registrationToken',
  'token',
  'proof',
  '*.jitConfig',
  '*.registrationToken',
  '*.token',
  '*.proof',
  '*.*.jitConfig',
  '*.*.registrationToken',
  '*.*.token',
  'cmd.runner',
  'command.runner',
  'env',
  '*.env',
  'environment',
  '*.environment',
  // The runner's secret inputs, by the names they travel under in an environment.
  'ACTIONS_RUNNER_INPUT_TOKEN',
  'ACTIONS_RUNNER_INPUT_JITCONFIG',
  '*.ACTIONS_RUNNER_INPUT_TOKEN',
  '*.ACTIONS_RUNNER_INPUT_JITCONFIG',
];

/** Options of {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  level?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream;
  /** Fields on every line, e.g. `{hostId}`. */
  bindings?: Record<string, unknown>;
}

/** A pino-backed {@link Logger} with {@link REDACT_PATHS} censored as `[redacted]`. */
export function createPinoLogger(options: PinoLoggerOptions = {}): Logger {
  const base = pino(
    {
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: options.bindings ?? {},
    },
    options.destination ?? process.stdout,
  );
  return {
    debug: (f, m) => base.debug(f, m),
    info: (f, m) => base.info(f, m),
    warn: (f, m) => base.warn(f, m),
    error: (f, m) => base.error(f, m),
  };
}

/** A logger that drops everything (tests, tools). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * The Logger port: structured logs. The agent core only sees this interface; the daemon backs it
 * with pino (`adapters/log/pino-logger.ts`), which redacts every line with shared's redaction.
 */

/** Structured logger (pino's call shape: fields first, then the message). */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything (tests, tools). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

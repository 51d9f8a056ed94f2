/**
 * How the Launchplane CLIs talk to people and scripts
 * (docs/cli.md): `--json` prints one JSON document
 * on stdout and nothing else; errors go to stderr as `error LP_CODE: message` plus a hint line;
 * exit status 1 for a refusal or failure, 2 for bad usage. Output goes through an injected
 * {@link CliIo}, so this module does no I/O of its own.
 */
import { exitCodeFor, toLaunchplaneError } from './errors.js';

/** Where a CLI writes. Tests pass their own. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Writes one JSON document to stdout. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** Renders rows as a left-aligned table with a header row. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/**
 * Prints an error the docs/cli.md way (`error LP_CODE: message`, then `hint: …` when there is
 * one) and
 * returns the exit status to use. `message` replaces the error's own message when given.
 */
export function printError(io: CliIo, err: unknown, message?: string): number {
  const e = toLaunchplaneError(err);
  io.stderr(`error ${e.code}: ${message ?? e.message}\n`);
  if (e.recovery !== undefined) io.stderr(`hint: ${e.recovery}\n`);
  return exitCodeFor(e.code);
}

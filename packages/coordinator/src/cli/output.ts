/**
 * The `launchplane` CLI's output: the shared CLI.md printer, bound to this process's streams.
 */
import type { CliIo } from '@launchplane/shared';

export { printError, printJson, renderTable } from '@launchplane/shared';
export type { CliIo } from '@launchplane/shared';

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

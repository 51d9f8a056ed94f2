/**
 * How `launchplane-agent` talks to people and scripts
 * (docs/cli.md): `--json` prints one JSON document
 * on stdout and nothing else; errors go to stderr as `error LP_CODE: message` plus a hint line;
 * exit status 1 for a refusal or failure, 2 for bad usage.
 */
import { formatIssue, printError as printErrorLine, toLaunchplaneError } from '@launchplane/shared';
import type { CliIo } from '@launchplane/shared';
import { ConfigInvalidError } from '../config/config-file.js';

export { printJson, renderTable } from '@launchplane/shared';
export type { CliIo } from '@launchplane/shared';

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/**
 * Prints an error the docs/cli.md way and returns the exit status to use. A bad config prints each
 * problem on its own line (`path: message (file:line)`) before the error line.
 */
export function printError(io: CliIo, err: unknown): number {
  const e = toLaunchplaneError(err);
  if (e instanceof ConfigInvalidError) {
    for (const issue of e.issues) io.stderr(`${formatIssue(issue, e.path)}\n`);
    const n = e.issues.length;
    return printErrorLine(io, e, `Config "${e.path}" has ${n} problem${n === 1 ? '' : 's'}`);
  }
  return printErrorLine(io, e);
}

/** `1m 5s ago`-style age of a Unix-ms time, for human output. */
export function formatAge(thenMs: number, nowMs: number): string {
  const s = Math.max(0, Math.round((nowMs - thenMs) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/**
 * The `launchplane` CLI's output: the shared
 * docs/cli.md printer, bound to this process's streams and
 * made safe for a terminal. Much of what the CLI prints comes from hosts (agent versions, lane
 * recovery hints, error messages, audit records) or from GitHub (runner names), and a host must
 * not be able to drive the operator's terminal: human output never carries a control character
 * other than a newline or tab (none at all inside a table cell or an error line), and JSON output
 * keeps every value exact, with anything a terminal could act on written as a `\u` escape.
 */
import {
  LaunchplaneError,
  printError as printSharedError,
  renderTable as renderSharedTable,
  toLaunchplaneError,
} from '@launchplane/shared';
import type { CliIo } from '@launchplane/shared';

export type { CliIo } from '@launchplane/shared';

/**
 * Characters a terminal may act on: C0 controls but newline and tab, DEL, C1 controls (an 8-bit
 * CSI among them), and the Unicode marks that reorder or hide text (bidi overrides, isolates).
 */
/* eslint-disable no-control-regex -- matching control characters is the point */
const UNSAFE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */
/** Newline and tab: what a single line (a table cell, an error line) must not hold either. */
const LINE_BREAKING = /[\t\n]/g;
/** What JSON.stringify leaves raw that a terminal could act on, and the line separators. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Text for a terminal: every control character but newline and tab removed. */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, '');
}

/** Text for one line of a terminal: newlines and tabs become spaces, other controls go. */
export function oneLine(text: string): string {
  return terminalText(text).replace(LINE_BREAKING, ' ');
}

/**
 * JSON text of `value`, exact (it parses back to the same value) but with every character a
 * terminal could act on written as a `\u` escape; JSON.stringify already escapes C0 controls.
 */
export function jsonText(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'null').replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Writes one JSON document to stdout. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${jsonText(value, 2)}\n`);
}

/** A left-aligned table; each cell is one line with no control characters. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  return renderSharedTable(
    header,
    rows.map((r) => r.map(oneLine)),
  );
}

/** Prints an error the docs/cli.md way (`error LP_CODE: message`, `hint: …`); returns the exit status. */
export function printError(io: CliIo, err: unknown, message?: string): number {
  const e = toLaunchplaneError(err);
  const safe = new LaunchplaneError(e.code, oneLine(e.message), {
    ...(e.recovery === undefined ? {} : { recovery: oneLine(e.recovery) }),
  });
  return printSharedError(io, safe, message === undefined ? undefined : oneLine(message));
}

/** `io` with every write made terminal-safe: the last line of defence for human output. */
export function terminalIo(io: CliIo): CliIo {
  return {
    stdout: (t) => io.stdout(terminalText(t)),
    stderr: (t) => io.stderr(terminalText(t)),
  };
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

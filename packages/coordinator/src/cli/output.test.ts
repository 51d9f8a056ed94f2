import { LaunchplaneError } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import {
  jsonText,
  oneLine,
  printError,
  printJson,
  renderTable,
  terminalIo,
  terminalText,
  type CliIo,
} from './output.js';

/** What a hostile host might put in any text field. */
const HOSTILE = [
  '\u001b]0;owned\u0007', // set the terminal title (OSC … BEL)
  '\u001b[2J\u001b[H', // clear the screen
  '\u009b31m', // an 8-bit CSI
  '\r', // return to the start of the line and overwrite it
  '\u202egnp.exe', // right-to-left override
  '\u0000\u0008\u007f',
].join('');

function capture(): CliIo & { out: string; err: string } {
  const o = { out: '', err: '' } as CliIo & { out: string; err: string };
  o.stdout = (t) => (o.out += t);
  o.stderr = (t) => (o.err += t);
  return o;
}

/** True when `text` holds a character a terminal could act on (newline and tab aside). */
function actionable(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- looking for control characters is the point
  return /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text);
}

describe('terminal-safe output', () => {
  it('strips every control character a terminal acts on, keeping the printable rest', () => {
    expect(terminalText(`v1.0${HOSTILE}-ok\n`)).toBe('v1.0]0;owned[2J[H31mgnp.exe-ok\n');
    expect(actionable(terminalText(HOSTILE))).toBe(false);
    expect(oneLine('a\nhint: forged\tb')).toBe('a hint: forged b');
  });

  it('keeps JSON exact: the value parses back unchanged, and no raw control character is written', () => {
    const value = { agentVersion: `1.2${HOSTILE}\u2028`, n: 1 };
    const text = jsonText(value, 2);
    expect(JSON.parse(text)).toEqual(value);
    expect(actionable(text)).toBe(false);
    expect(text).toContain('\\u001b]0;owned\\u0007');
    expect(text).toContain('\\u009b');
    const io = capture();
    printJson(io, value);
    expect(JSON.parse(io.out)).toEqual(value);
    expect(actionable(io.out)).toBe(false);
  });

  it('keeps table cells and error lines to one safe line each', () => {
    const table = renderTable(['HOST', 'AGENT'], [['host-a', `x${HOSTILE}\nhost-z  forged-row`]]);
    expect(actionable(table)).toBe(false);
    expect(table.trimEnd().split('\n')).toHaveLength(2);
    const io = capture();
    printError(
      io,
      new LaunchplaneError('LP_BACKEND_FAILED', `bad${HOSTILE}\nhint: run rm -rf`, {
        recovery: `fix${HOSTILE}`,
      }),
    );
    expect(actionable(io.err)).toBe(false);
    expect(io.err.trimEnd().split('\n')).toEqual([
      'error LP_BACKEND_FAILED: bad]0;owned[2J[H31mgnp.exe hint: run rm -rf',
      'hint: fix]0;owned[2J[H31mgnp.exe',
    ]);
  });

  it('terminalIo cleans every write on both streams', () => {
    const inner = capture();
    const io = terminalIo(inner);
    io.stdout(`out${HOSTILE}\n`);
    io.stderr(`err${HOSTILE}\n`);
    expect(actionable(inner.out + inner.err)).toBe(false);
    expect(inner.out).toBe('out]0;owned[2J[H31mgnp.exe\n');
  });
});

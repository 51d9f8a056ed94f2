import { describe, expect, it } from 'vitest';
import { printError, printJson, renderTable } from './cli-output.js';
import { LaunchplaneError } from './errors.js';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t) },
    out,
    err,
  };
}

describe('CLI output', () => {
  it('renderTable() aligns columns and trims trailing space', () => {
    expect(
      renderTable(
        ['A', 'LONG'],
        [
          ['xyz', '1'],
          ['q', ''],
        ],
      ),
    ).toBe('A    LONG\nxyz  1\nq\n');
  });

  it('printJson() writes one document to stdout only', () => {
    const c = capture();
    printJson(c.io, { a: 1 });
    expect(JSON.parse(c.out.join(''))).toEqual({ a: 1 });
    expect(c.err).toEqual([]);
  });

  it('printError() writes the code line and hint, and returns 1 or 2', () => {
    const c = capture();
    const e = new LaunchplaneError('LP_NOT_OWNED', 'Cannot remove lane "x"', {
      recovery: 'List lanes',
    });
    expect(printError(c.io, e)).toBe(1);
    expect(c.err.join('')).toBe('error LP_NOT_OWNED: Cannot remove lane "x"\nhint: List lanes\n');
    expect(printError(capture().io, new LaunchplaneError('LP_USAGE', 'bad'))).toBe(2);
    const d = capture();
    expect(printError(d.io, new Error('boom'))).toBe(1);
    expect(d.err.join('')).toBe('error LP_INTERNAL: boom\n');
  });
});

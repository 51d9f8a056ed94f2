import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, type Harness } from '../core-harness.test-helper.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h.cleanup();
});

describe('handleCommand() under corrupted input', () => {
  it('a signed create with any one character changed is refused, audited, and executes nothing', async () => {
    h.units.calls.length = 0;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat({ max: alphabet.length - 1 }), async (pos, ch) => {
        const jws = h.sign(h.createCmd());
        const i = pos % jws.length;
        const replacement = alphabet[ch] ?? 'A';
        if (jws[i] === replacement) return;
        const corrupted = `${jws.slice(0, i)}${replacement}${jws.slice(i + 1)}`;
        const audits = h.core.auditLog().length;
        const lanes = h.core.listLanes().length;
        const calls = h.units.calls.length;
        const r = h.read(await h.core.handleCommand(corrupted));
        // Changing a trailing base64url bit can leave the signature bytes equal; then it is the
        // same command and may run. Anything else must be refused.
        if (r.ok) {
          expect(Buffer.from(corrupted.split('.')[2] ?? '', 'base64url')).toEqual(
            Buffer.from(jws.split('.')[2] ?? '', 'base64url'),
          );
          return;
        }
        expect(r.outcome).toBe('refused');
        expect(h.core.auditLog().length).toBe(audits + 1);
        expect(h.core.listLanes().length).toBe(lanes);
        expect(h.units.calls.length).toBe(calls);
      }),
      { numRuns: 60 },
    );
  });

  it('arbitrary strings never throw and are refused', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 300 }), async (s) => {
        const r = h.read(await h.core.handleCommand(s));
        expect(r.ok).toBe(false);
      }),
      { numRuns: 100 },
    );
  });
});

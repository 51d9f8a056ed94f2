import { describe, expect, it } from 'vitest';
import { hashSecret, mintToken, parseToken, secretMatches } from './secret-tokens.js';

describe('secret tokens', () => {
  it('mint parseable tokens whose secret matches the stored hash and nothing else', () => {
    const t = mintToken('operator');
    expect(t.value).toMatch(/^lpt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    const p = parseToken('operator', t.value);
    expect(p?.id).toBe(t.id);
    expect(secretMatches(p?.secret ?? '', t.hash)).toBe(true);
    const secret = p?.secret ?? '';
    // Change the last character to one it is not (a fixed 'A' would match 1 time in 64).
    const tampered = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    expect(secretMatches(tampered, t.hash)).toBe(false);
    expect(t.hash).toBe(hashSecret(p?.secret ?? ''));
    expect(t.hash).not.toContain(p?.secret);
  });

  it('refuses a token of the other kind or a malformed one', () => {
    const e = mintToken('enrollment');
    expect(e.value.startsWith('lpe_')).toBe(true);
    expect(parseToken('operator', e.value)).toBeUndefined();
    expect(parseToken('enrollment', `${e.value}x`)).toBeUndefined();
    expect(parseToken('operator', 'garbage')).toBeUndefined();
    expect(secretMatches('x', 'not-hex')).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { peekCommand } from './peek-command.js';

function jwsWithPayload(payload: unknown): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'EdDSA' })}.${b64(payload)}.c2ln`;
}

describe('peekCommand()', () => {
  it('labels a refusal with a jti only when the result schema would accept it', () => {
    const good = '5b0b7c3e-8f1a-4d2b-9c3d-2e4f5a6b7c8d';
    expect(peekCommand(jwsWithPayload({ jti: good })).jti).toBe(good);
    // Hex everywhere, but version nibble 0 and variant nibble c: not an RFC 9562 UUID. Signing a
    // refusal that echoed it would fail, so it is not echoed (found by the command fuzzer).
    expect(peekCommand(jwsWithPayload({ jti: '5b0b7c3e-8f1a-0d2b-cc3d-2e4f5a6b7c8d' })).jti).toBe(
      undefined,
    );
    expect(peekCommand(jwsWithPayload({ jti: good.toUpperCase() })).jti).toBe(good);
  });
});

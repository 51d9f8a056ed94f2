import { describe, expect, it } from 'vitest';
import { BARE_SECRETS, SECRET_SAMPLES } from '@launchplane/testkit/redact-vectors';
import { backendError, errorBodyOf } from './errors.js';

describe("the agent's error helpers", () => {
  // A backend's raw failure text reaches the operator through backendError (local CLI, logs) and
  // errorBodyOf (the signed result, the audit). Both rest on shared's redaction: without it the
  // sample's secret would be in the message.
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'a backend failure quoting a %s carries it nowhere',
    (_kind, sample) => {
      const e = backendError('docker', 'create container', new Error(sample.text));
      const body = errorBodyOf(new Error(sample.text));
      for (const out of [e.message, e.stack ?? '', JSON.stringify(e), JSON.stringify(body)]) {
        expect(out).not.toContain(sample.secret);
      }
      expect(e.code).toBe('LP_BACKEND_FAILED');
      expect(e.message).toMatch(/^create container failed: /);
    },
  );

  it('errorBodyOf removes the exact values of the command being answered', () => {
    const body = errorBodyOf(new Error(`config.sh said ${BARE_SECRETS.join(', ')}`), BARE_SECRETS);
    for (const s of BARE_SECRETS) expect(body.message).not.toContain(s);
    expect(body).toMatchObject({
      code: 'LP_INTERNAL',
      message: expect.stringMatching(/^config\.sh said \[redacted\]/),
    });
  });
});

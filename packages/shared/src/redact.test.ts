import { describe, expect, it } from 'vitest';
import type { LevelledLogMethods } from './redact.js';
import { LaunchplaneError, toLaunchplaneError } from './errors.js';
import {
  PINO_REDACT_PATHS,
  REDACTED,
  SECRET_CONTAINER_KEYS,
  SECRET_KEYS,
  isSecretKey,
  redactAuditEntry,
  redactDeep,
  redactRecord,
  redactText,
  redactingLog,
  secretValuesIn,
} from './redact.js';
import { BARE_SECRETS, SECRET_SAMPLES } from '@launchplane/testkit/redact-vectors';

describe('redactText()', () => {
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'removes a %s from free text without being told its value',
    (_kind, sample) => {
      const out = redactText(sample.text);
      expect(out).not.toContain(sample.secret);
      expect(out).toContain(REDACTED);
    },
  );

  it('removes the exact values a caller names, also as JSON escapes them', () => {
    const text = `config.sh said: ${BARE_SECRETS.join(' and ')}`;
    const out = redactText(text, BARE_SECRETS);
    for (const s of BARE_SECRETS) expect(out).not.toContain(s);
    const quoted = 'pa"ss\\word-9';
    expect(redactText(JSON.stringify({ note: `x ${quoted} y` }), [quoted])).toBe(
      `{"note":"x ${REDACTED} y"}`,
    );
  });

  it('ignores named values too short to search for', () => {
    expect(redactText('a b c abc', ['abc', 'b'])).toBe('a b c abc');
  });

  it('keeps public ids, prefixes and the scheme so an operator can still tell what it was', () => {
    expect(redactText(`token lpt_0123456789abcdef_${'A'.repeat(43)}`)).toBe(
      `token lpt_0123456789abcdef_${REDACTED}`,
    );
    expect(redactText(`with ghs_${'a1B2'.repeat(9)}`)).toBe(`with ghs_${REDACTED}`);
    expect(redactText('authorization: token abcdefgh12345')).toBe(
      `authorization: token ${REDACTED}`,
    );
    expect(redactText('Authorization: RunnerSecret abcdefgh12345')).toBe(
      `Authorization: RunnerSecret ${REDACTED}`,
    );
  });

  it('leaves what is not a secret alone', () => {
    const plain = [
      'Token role "viewer" cannot POST /v1/tokens',
      'Secret file "/var/lib/launchplane/private/host.key" has mode 644; it must be 600',
      'Set github.auth to {tokenFile: PATH} in coordinator.yaml',
      'fingerprint SHA256:If4x36FUomFia/hUBG/SJxt77UtqvkWqWId+9H+XIbk, pin sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=',
      `hash ${'0123456789abcdef'.repeat(8)} seq 4`,
      'lane 01hzzzzzzzzzzzzzzzzzzz0001 (lp-host-a-build-zzzz0001) jti 0b7e4ce3-7f1b-4c36-9a57-8d3e0d2c9f10',
      `/var/lib/launchplane/lanes/01HZZZZZZZZZZZZZZZZZZZ0001/runner/_work/_temp/${'Abc123/'.repeat(14)}x`,
      'tokenId=0123456789abcdef enrolled; --token-file /etc/launchplane/enroll.token',
      'the job used a bearer token',
      '--token puts the enrollment token on the command line; use --jitconfig or --token-file',
    ];
    for (const text of plain) expect(redactText(text)).toBe(text);
  });

  it('is idempotent', () => {
    for (const s of SECRET_SAMPLES) {
      const once = redactText(s.text);
      expect(redactText(once)).toBe(once);
    }
  });

  it('cuts a private key whose END line was cut off', () => {
    const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB`;
    expect(redactText(`read: ${pem}`)).toBe(`read: ${REDACTED}`);
  });
});

describe('redactDeep()', () => {
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'withholds a %s held in structured fields',
    (_kind, sample) => {
      expect(JSON.stringify(redactDeep(sample.fields))).not.toContain(sample.secret);
    },
  );

  it('replaces secret members at any depth and in any spelling, and keeps the rest', () => {
    expect(
      redactDeep({
        cmd: {
          runner: { url: 'https://github.com/acme', registrationToken: 'R', runnerGroup: 'g' },
        },
        list: [
          { ENCODED_JIT_CONFIG: 'J' },
          { encodedJitConfig: 'J' },
          { 'encoded-jit-config': 'J' },
        ],
        headers: { Authorization: 'Bearer x', accept: 'application/json' },
        env: { PATH: '/usr/bin' },
        Env: ['A=1'],
        tokenFile: '/etc/launchplane/github.token',
        tokenId: 'abc',
        token: undefined,
        keep: 1,
      }),
    ).toEqual({
      cmd: {
        runner: { url: 'https://github.com/acme', registrationToken: REDACTED, runnerGroup: 'g' },
      },
      list: [
        { ENCODED_JIT_CONFIG: REDACTED },
        { encodedJitConfig: REDACTED },
        { 'encoded-jit-config': REDACTED },
      ],
      headers: { Authorization: REDACTED, accept: 'application/json' },
      env: REDACTED,
      Env: REDACTED,
      tokenFile: '/etc/launchplane/github.token',
      tokenId: 'abc',
      token: undefined,
      keep: 1,
    });
  });

  it('removes a secret value from every other string that repeats it', () => {
    const secret = 'AAAABBBBCCCCDDDDEEEEFFFFGGGG1';
    expect(
      redactDeep({ runner: { registrationToken: secret }, steps: [`ran --url x ${secret}`] }),
    ).toEqual({ runner: { registrationToken: REDACTED }, steps: [`ran --url x ${REDACTED}`] });
    expect(redactDeep({ note: `said ${secret}` }, { secrets: [secret] })).toEqual({
      note: `said ${REDACTED}`,
    });
  });

  it('keeps an error of its class with message, stack, cause and fields redacted', () => {
    const [jit, pat] = [SECRET_SAMPLES[0]!, SECRET_SAMPLES[14]!];
    const cause = new Error(pat.text);
    const error = Object.assign(new TypeError(jit.text, { cause }), {
      code: 'EX',
      token: 'T-123456',
    });
    const copy = redactDeep({ err: error }) as { err: Error & Record<string, unknown> };
    expect(copy.err).toBeInstanceOf(TypeError);
    expect(copy.err.message).toBe(redactText(jit.text));
    expect(copy.err.stack).not.toContain(jit.secret);
    expect((copy.err.cause as Error).message).not.toContain(pat.secret);
    expect(copy.err.code).toBe('EX');
    expect(copy.err.token).toBe(REDACTED);
    // The original is untouched.
    expect(error.message).toBe(jit.text);
  });

  it('withholds binary data, cuts cycles and deep nesting, and keeps __proto__ a member', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const shared = { x: 1 };
    expect(redactDeep({ cyclic, one: shared, two: shared, key: Buffer.from('k') })).toEqual({
      cyclic: { a: 1, self: '[circular]' },
      one: { x: 1 },
      two: { x: 1 },
      key: REDACTED,
    });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(JSON.stringify(redactDeep(deep))).toContain(REDACTED);
    const hostile = JSON.parse('{"__proto__":{"polluted":1}}') as object;
    const out = redactRecord(hostile);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('serializes like JSON: dates and objects with toJSON go through their JSON form', () => {
    const when = new Date(0);
    expect(redactDeep({ when, thing: { toJSON: () => ({ token: 't', ok: 1 }) } })).toEqual({
      when: '1970-01-01T00:00:00.000Z',
      thing: { token: REDACTED, ok: 1 },
    });
  });
});

describe('secretValuesIn()', () => {
  it('lists the values under secret keys, and the credential of an Authorization value', () => {
    expect(
      secretValuesIn({
        a: { jitConfig: 'J1' },
        headers: { authorization: 'Bearer B1' },
        env: { X: 'E1' },
        name: 'not-secret',
      }),
    ).toEqual(['J1', 'Bearer B1', 'B1', 'E1']);
  });
});

describe('redactAuditEntry()', () => {
  it('redacts parameters, message and recovery, and removes parameter secrets from the text', () => {
    const token = 'AAAABBBBCCCCDDDDEEEEFFFFGGGG1';
    const pat = SECRET_SAMPLES.find((s) => s.kind.includes('classic'))!;
    const entry = redactAuditEntry({
      actor: 'a',
      params: { runner: { registrationToken: token }, n: 1 },
      message: `config.sh failed for ${token}`,
      recovery: pat.text,
    });
    expect(entry).toEqual({
      actor: 'a',
      params: { runner: { registrationToken: REDACTED }, n: 1 },
      message: `config.sh failed for ${REDACTED}`,
      recovery: redactText(pat.text),
    });
    expect(entry.recovery).not.toContain(pat.secret);
  });

  it('adds no field that was absent', () => {
    const entry: { actor: string; message?: string } = { actor: 'a' };
    expect(redactAuditEntry(entry)).toEqual({ actor: 'a' });
  });
});

describe('redactingLog()', () => {
  /** A log target that records what it is handed and writes the levels in `enabled`. */
  function target(enabled?: readonly string[]) {
    const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const at =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        lines.push({ level, fields, message });
      };
    const t: LevelledLogMethods = {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      ...(enabled === undefined ? {} : { isLevelEnabled: (l: string) => enabled.includes(l) }),
    };
    return { t, lines };
  }

  it('hands the target redacted fields and message at every level', () => {
    const { t, lines } = target();
    const log = redactingLog(t);
    const pat = SECRET_SAMPLES.find((s) => s.kind.includes('classic'))!;
    for (const level of ['debug', 'info', 'warn', 'error'] as const) {
      log[level]({ runner: { jitConfig: 'J'.repeat(40) }, n: 1 }, pat.text);
    }
    expect(lines.map((l) => l.level)).toEqual(['debug', 'info', 'warn', 'error']);
    for (const line of lines) {
      expect(line.fields).toEqual({ runner: { jitConfig: REDACTED }, n: 1 });
      expect(line.message).toBe(redactText(pat.text));
      expect(line.message).not.toContain(pat.secret);
    }
  });

  it('drops a line at a level the target does not write without reading its fields', () => {
    const { t, lines } = target(['info', 'warn', 'error']);
    const log = redactingLog(t);
    const fields = {
      get cmd(): never {
        throw new Error('the fields of a dropped line were read');
      },
    };
    log.debug(fields, 'dropped');
    log.info({ n: 1 }, 'written');
    expect(lines).toEqual([{ level: 'info', fields: { n: 1 }, message: 'written' }]);
  });
});

describe('LaunchplaneError', () => {
  it.each(SECRET_SAMPLES.map((s) => [s.kind, s] as const))(
    'carries no %s in its message, recovery, stack or toJSON()',
    (_kind, sample) => {
      // Made with the secret in both texts: the constructor is the last line that scrubs them.
      const e = new LaunchplaneError('LP_BACKEND_FAILED', `Step failed: ${sample.text}`, {
        recovery: `Retry without ${sample.text}`,
      });
      const wrapped = toLaunchplaneError(new Error(sample.text));
      for (const out of [
        e.message,
        e.recovery ?? '',
        e.stack ?? '',
        JSON.stringify(e),
        JSON.stringify(e.toJSON()),
        String(e),
        wrapped.message,
        JSON.stringify(wrapped),
      ]) {
        expect(out).not.toContain(sample.secret);
      }
    },
  );
});

describe('the key list', () => {
  it('has every kind of secret the system handles', () => {
    for (const key of [
      'jitConfig',
      'encoded_jit_config',
      'ACTIONS_RUNNER_INPUT_JITCONFIG',
      'registrationToken',
      'token',
      'ACTIONS_RUNNER_INPUT_TOKEN',
      'proof',
      'authorization',
      'privateKey',
      'sealed',
      '.credentials',
      'webhookSecret',
      'secret',
    ]) {
      expect(isSecretKey(key)).toBe(true);
    }
    for (const key of ['tokenId', 'tokenFile', 'privateKeyFile', 'url', 'name', 'key', 'cert'])
      expect(isSecretKey(key)).toBe(false);
  });

  it('gives pino a path for every key at the top and two levels down', () => {
    for (const key of [...SECRET_KEYS, ...SECRET_CONTAINER_KEYS]) {
      if (key.startsWith('.')) continue; // not a pino path; redactDeep covers it
      expect(PINO_REDACT_PATHS).toEqual(expect.arrayContaining([key, `*.${key}`, `*.*.${key}`]));
    }
  });
});

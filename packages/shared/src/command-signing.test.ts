import { Buffer } from 'node:buffer';
import { createHmac, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { CompactSign, compactVerify } from 'jose';
import { describe, expect, test } from 'vitest';
import { COMMAND_TYP, signCommand, verifyCommand } from './command-signing.js';
import { LaunchplaneError, type ErrorCode } from './errors.js';
import { fingerprint, generateEd25519KeyPair, privateKeyFromSeed, publicKeyOf } from './keys.js';
import type { CommandPayload } from './protocol.js';
import { InMemoryReplayStore } from './replay-guard.js';

interface Vectors {
  coordinator: { seedHex: string; fingerprint: string };
  agent: { seedHex: string; fingerprint: string };
  command: {
    header: Record<string, string>;
    payload: CommandPayload;
    jws: string;
    verifyAt: number;
  };
}
const vectors = JSON.parse(
  readFileSync(new URL('./protocol-vectors.json', import.meta.url), 'utf8'),
) as Vectors;

const coordinatorKey = privateKeyFromSeed(vectors.coordinator.seedHex);
const coordinatorPublic = publicKeyOf(coordinatorKey);
const agentKey = privateKeyFromSeed(vectors.agent.seedHex);
const NOW = vectors.command.verifyAt;
const HOST = 'host-a';
const JTI = vectors.command.payload.jti;

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');

/** A JWS with arbitrary header and payload text, correctly signed by `key`. */
function craft(headerText: string, payloadText: string, key: KeyObject = coordinatorKey): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const goodHeader = (): Record<string, unknown> => ({
  alg: 'EdDSA',
  typ: COMMAND_TYP,
  kid: vectors.coordinator.fingerprint,
});

function payload(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...vectors.command.payload, ...overrides };
}

function verify(jws: unknown, store = new InMemoryReplayStore(), now = NOW) {
  return verifyCommand(jws, { publicKey: coordinatorPublic, hostId: HOST, now, replay: store });
}

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchplaneError);
    return (error as LaunchplaneError).code;
  }
  throw new Error('expected a LaunchplaneError, nothing was thrown');
}

const verifyCode = (jws: unknown, store?: InMemoryReplayStore, now?: number): ErrorCode =>
  codeOf(() => verify(jws, store, now));

describe('signCommand()/verifyCommand() reproduce the protocol vector', () => {
  test('signing the vector payload gives the vector JWS byte for byte', () => {
    expect(signCommand(vectors.command.payload, { privateKey: coordinatorKey })).toBe(
      vectors.command.jws,
    );
    expect(
      signCommand(vectors.command.payload, {
        privateKey: coordinatorKey,
        kid: vectors.coordinator.fingerprint,
      }),
    ).toBe(vectors.command.jws);
  });

  test('the vector JWS verifies at verifyAt with the vector header and payload', () => {
    const store = new InMemoryReplayStore();
    const verified = verify(vectors.command.jws, store);
    expect(verified.header).toEqual(vectors.command.header);
    expect(verified.payload).toEqual(vectors.command.payload);
    expect(verified.replayRecord).toEqual({ jti: JTI, seq: 1, forgetAfter: 1764370120 + 30 });
    // Verification never records: the caller does, in its own transaction.
    expect(store.size).toBe(0);
    expect(store.lastSeq()).toBeUndefined();
  });

  test('the vector header serializes in the vector key order', () => {
    const headerPart = vectors.command.jws.split('.')[0]!;
    expect(Buffer.from(headerPart, 'base64url').toString()).toBe(
      JSON.stringify(vectors.command.header),
    );
  });
});

describe('interop with jose', () => {
  test('a command signed here verifies with jose.compactVerify (EdDSA)', async () => {
    const jws = signCommand(vectors.command.payload, { privateKey: coordinatorKey });
    const { payload: bytes, protectedHeader } = await compactVerify(jws, coordinatorPublic, {
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader).toEqual(vectors.command.header);
    expect(JSON.parse(Buffer.from(bytes).toString())).toEqual(vectors.command.payload);
  });

  test('a command signed by jose with the same key and header verifies here', async () => {
    const { privateKey, publicKey } = generateEd25519KeyPair();
    const body = payload({ jti: '0b7c6f3e-8d2a-4f1b-9c3d-2e1f0a9b8c7d' });
    const jws = await new CompactSign(Buffer.from(JSON.stringify(body)))
      .setProtectedHeader({ alg: 'EdDSA', typ: COMMAND_TYP, kid: fingerprint(publicKey) })
      .sign(privateKey);
    const verified = verifyCommand(jws, {
      publicKey,
      hostId: HOST,
      now: NOW,
      replay: new InMemoryReplayStore(),
    });
    expect(verified.payload).toEqual(body);
    // Ed25519 is deterministic: both implementations produce the same bytes.
    expect(jws).toBe(signCommand(body as CommandPayload, { privateKey }));
  });
});

type Segment = 'header' | 'payload' | 'signature';
const ALPHABET = /^[A-Za-z0-9_-]$/;

function segmentAt(jws: string, index: number): Segment | 'dot' {
  const first = jws.indexOf('.');
  const last = jws.lastIndexOf('.');
  if (index === first || index === last) return 'dot';
  return index < first ? 'header' : index < last ? 'payload' : 'signature';
}

describe('any single-byte change is rejected with the code of its class', () => {
  const create = signCommand(
    {
      ...vectors.command.payload,
      cmd: {
        type: 'lane.create',
        laneId: '01jd3xk5m8q2w7r9t4v6y0z1ab',
        dryRun: false,
        name: 'lp-host-a-ci-01',
        scope: { repository: 'acme/widgets' },
        pool: 'ci',
        labels: ['self-hosted', 'linux'],
        backend: 'docker',
        ephemeral: true,
        runner: { jitConfig: 'eyJzZWNyZXQiOiJub3QtcmVhbCJ9' },
        docker: { image: 'ghcr.io/actions/actions-runner:2.320.0' },
      },
    },
    { privateKey: coordinatorKey },
  );
  expect(verify(create).payload.cmd.type).toBe('lane.create');

  for (const [name, jws] of [
    ['lane.inspect (vector)', vectors.command.jws],
    ['lane.create', create],
  ] as const) {
    test(`${name}: flipping bits of any byte of header, payload or signature`, () => {
      fc.assert(
        fc.property(
          fc.nat({ max: jws.length - 1 }),
          fc.integer({ min: 1, max: 255 }),
          (index, mask) => {
            const bytes = Buffer.from(jws, 'latin1');
            bytes[index]! ^= mask;
            const tampered = bytes.toString('latin1');
            const store = new InMemoryReplayStore();
            const code = verifyCode(tampered, store);
            const segment = segmentAt(jws, index);
            const char = tampered[index]!;
            if (segment === 'dot' || !ALPHABET.test(char)) {
              expect(code).toBe('LP_INVALID_MESSAGE');
            } else if (segment === 'header') {
              expect(['LP_BAD_HEADER', 'LP_SIGNATURE_INVALID']).toContain(code);
            } else {
              expect(code).toBe('LP_SIGNATURE_INVALID');
            }
            expect(store.size).toBe(0);
          },
        ),
        { numRuns: 500 },
      );
    });
  }

  test('truncating or extending the signature is LP_SIGNATURE_INVALID', () => {
    const jws = vectors.command.jws;
    expect(verifyCode(jws.slice(0, -1))).toBe('LP_SIGNATURE_INVALID');
    expect(verifyCode(`${jws}AA`)).toBe('LP_SIGNATURE_INVALID');
    expect(verifyCode(jws.slice(0, jws.lastIndexOf('.') + 1))).toBe('LP_SIGNATURE_INVALID');
  });

  test('a signature by another key is LP_SIGNATURE_INVALID', () => {
    const forged = craft(JSON.stringify(goodHeader()), JSON.stringify(payload()), agentKey);
    expect(verifyCode(forged)).toBe('LP_SIGNATURE_INVALID');
  });
});

describe('structure', () => {
  test.each([
    ['a number', 42],
    ['an object', { jws: vectors.command.jws }],
    ['two parts', vectors.command.jws.slice(0, vectors.command.jws.lastIndexOf('.'))],
    ['four parts', `${vectors.command.jws}.AAAA`],
    ['an empty header', `.${vectors.command.jws.split('.').slice(1).join('.')}`],
    ['padding', vectors.command.jws.replace('.', '==.')],
    ['whitespace', ` ${vectors.command.jws}`],
    ['the JSON serialization', JSON.stringify({ payload: 'x', signatures: [] })],
  ])('%s is LP_INVALID_MESSAGE', (_name, jws) => {
    expect(verifyCode(jws)).toBe('LP_INVALID_MESSAGE');
  });

  test('a JWS over the size cap is LP_INVALID_MESSAGE before anything is decoded', () => {
    const big = craft(
      JSON.stringify(goodHeader()),
      JSON.stringify(payload({ pad: 'x'.repeat(200_000) })),
    );
    expect(verifyCode(big)).toBe('LP_INVALID_MESSAGE');
    const options = {
      publicKey: coordinatorPublic,
      hostId: HOST,
      now: NOW,
      replay: new InMemoryReplayStore(),
      maxLength: 100,
    };
    expect(codeOf(() => verifyCommand(vectors.command.jws, options))).toBe('LP_INVALID_MESSAGE');
  });
});

describe('header checks, each LP_BAD_HEADER, on correctly signed messages', () => {
  const withHeader = (header: Record<string, unknown>) =>
    craft(JSON.stringify(header), JSON.stringify(payload()));

  test.each([
    ['none', 'none'],
    ['HS256', 'HS256'],
    ['RS256', 'RS256'],
    ['ES256', 'ES256'],
    ['Ed25519', 'Ed25519'],
    ['lower case eddsa', 'eddsa'],
    ['EdDSA with a space', 'EdDSA '],
    ['a number', 1],
    ['null', null],
  ])('alg %s', (_name, alg) => {
    expect(verifyCode(withHeader({ ...goodHeader(), alg }))).toBe('LP_BAD_HEADER');
  });

  test('alg missing', () => {
    const { alg: _alg, ...rest } = goodHeader();
    expect(verifyCode(withHeader(rest))).toBe('LP_BAD_HEADER');
  });

  test('alg none with an empty signature (the classic unsigned token)', () => {
    const input = `${b64(JSON.stringify({ ...goodHeader(), alg: 'none' }))}.${b64(JSON.stringify(payload()))}`;
    expect(verifyCode(`${input}.`)).toBe('LP_BAD_HEADER');
  });

  test('HS256 keyed with the public key (algorithm confusion)', () => {
    const input = `${b64(JSON.stringify({ ...goodHeader(), alg: 'HS256' }))}.${b64(JSON.stringify(payload()))}`;
    const mac = createHmac('sha256', coordinatorPublic.export({ format: 'der', type: 'spki' }))
      .update(input)
      .digest('base64url');
    expect(verifyCode(`${input}.${mac}`)).toBe('LP_BAD_HEADER');
  });

  test.each([
    ['JWT', 'JWT'],
    ['the result type', 'launchplane-result'],
    ['the event type', 'launchplane-event'],
    ['missing', undefined],
  ])('typ %s', (_name, typ) => {
    expect(verifyCode(withHeader({ ...goodHeader(), typ }))).toBe('LP_BAD_HEADER');
  });

  test('kid of another key, even when that key really signed it', () => {
    const header = { ...goodHeader(), kid: vectors.agent.fingerprint };
    expect(verifyCode(craft(JSON.stringify(header), JSON.stringify(payload()), agentKey))).toBe(
      'LP_BAD_HEADER',
    );
    expect(verifyCode(withHeader(header))).toBe('LP_BAD_HEADER');
  });

  test('kid missing', () => {
    const { kid: _kid, ...rest } = goodHeader();
    expect(verifyCode(withHeader(rest))).toBe('LP_BAD_HEADER');
  });

  test.each([
    ['crit', { crit: ['exp'], exp: 1 }],
    ['crit empty', { crit: [] }],
    ['an embedded jwk', { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }],
    ['jku', { jku: 'https://evil.example/keys' }],
    ['x5c', { x5c: [] }],
    ['b64 false', { b64: false }],
    ['cty', { cty: 'JWT' }],
  ])('unknown parameter %s', (_name, extra) => {
    expect(verifyCode(withHeader({ ...goodHeader(), ...extra }))).toBe('LP_BAD_HEADER');
  });

  test('duplicate header keys, even when the last one would be accepted', () => {
    const good = JSON.stringify(goodHeader());
    for (const text of [
      `{"alg":"none",${good.slice(1)}`,
      `${good.slice(0, -1)},"alg":"EdDSA"}`,
      `${good.slice(0, -1)},"kid":${JSON.stringify(vectors.coordinator.fingerprint)}}`,
    ]) {
      expect(verifyCode(craft(text, JSON.stringify(payload())))).toBe('LP_BAD_HEADER');
    }
  });

  test.each([
    ['not JSON', 'alg=EdDSA'],
    ['an array', '["EdDSA"]'],
    ['a string', '"EdDSA"'],
    ['trailing data', `${JSON.stringify({ alg: 'EdDSA' })}x`],
  ])('header %s', (_name, text) => {
    expect(verifyCode(craft(text, JSON.stringify(payload())))).toBe('LP_BAD_HEADER');
  });

  test('header that is not UTF-8', () => {
    const header = Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url');
    const input = `${header}.${b64(JSON.stringify(payload()))}`;
    const jws = `${input}.${sign(null, Buffer.from(input), coordinatorKey).toString('base64url')}`;
    expect(verifyCode(jws)).toBe('LP_BAD_HEADER');
  });
});

describe('payload checks, on correctly signed messages', () => {
  const withPayload = (body: unknown) =>
    craft(JSON.stringify(goodHeader()), typeof body === 'string' ? body : JSON.stringify(body));

  test('an unknown top-level field is LP_INVALID_MESSAGE', () => {
    expect(verifyCode(withPayload(payload({ admin: true })))).toBe('LP_INVALID_MESSAGE');
  });

  test('an unknown field inside cmd is LP_INVALID_MESSAGE', () => {
    const cmd = { ...vectors.command.payload.cmd, force: true };
    expect(verifyCode(withPayload(payload({ cmd })))).toBe('LP_INVALID_MESSAGE');
  });

  test('a missing field is LP_INVALID_MESSAGE', () => {
    const { seq: _seq, ...rest } = vectors.command.payload;
    expect(verifyCode(withPayload(rest))).toBe('LP_INVALID_MESSAGE');
  });

  test.each(['lane.destroy', 'lane.exec', 'shell', '', 'LANE.START'])(
    'cmd.type %j is LP_UNKNOWN_COMMAND',
    (type) => {
      const cmd = { ...vectors.command.payload.cmd, type };
      expect(verifyCode(withPayload(payload({ cmd })))).toBe('LP_UNKNOWN_COMMAND');
    },
  );

  test('a cmd without a type is LP_INVALID_MESSAGE', () => {
    const { type: _t, ...cmd } = vectors.command.payload.cmd;
    expect(verifyCode(withPayload(payload({ cmd })))).toBe('LP_INVALID_MESSAGE');
  });

  test('duplicate payload keys are LP_INVALID_MESSAGE, whichever value comes last', () => {
    const good = JSON.stringify(payload());
    for (const text of [
      `{"aud":"host-b",${good.slice(1)}`,
      `${good.slice(0, -1)},"aud":"host-a"}`,
      good.replace('"type":"lane.inspect"', '"type":"lane.remove","type":"lane.inspect"'),
    ]) {
      expect(verifyCode(withPayload(text))).toBe('LP_INVALID_MESSAGE');
    }
  });

  test.each([
    ['not JSON', 'hello'],
    ['an array', '[]'],
    ['a number', '42'],
    ['trailing data', `${JSON.stringify(payload())} {}`],
  ])('a payload that is %s is LP_INVALID_MESSAGE', (_name, text) => {
    expect(verifyCode(withPayload(text))).toBe('LP_INVALID_MESSAGE');
  });

  test('wrong aud is LP_WRONG_AUDIENCE', () => {
    expect(verifyCode(withPayload(payload({ aud: 'host-b' })))).toBe('LP_WRONG_AUDIENCE');
  });
});

describe('time checks (skew 30s, lifetime at most 300s)', () => {
  const at = (iat: number, exp: number) =>
    craft(JSON.stringify(goodHeader()), JSON.stringify(payload({ iat, exp })));

  test('iat up to 30s in the future is accepted, beyond is LP_NOT_YET_VALID', () => {
    expect(verify(at(NOW + 30, NOW + 100)).payload.iat).toBe(NOW + 30);
    expect(verifyCode(at(NOW + 31, NOW + 100))).toBe('LP_NOT_YET_VALID');
  });

  test('exp passed by less than 30s is accepted, 30s or more is LP_EXPIRED', () => {
    expect(verify(at(NOW - 100, NOW - 29)).payload.exp).toBe(NOW - 29);
    expect(verifyCode(at(NOW - 100, NOW - 30))).toBe('LP_EXPIRED');
  });

  test('exp - iat of 300s is accepted, 301s is LP_LIFETIME_TOO_LONG', () => {
    expect(verify(at(NOW - 10, NOW + 290)).payload.exp).toBe(NOW + 290);
    expect(verifyCode(at(NOW - 10, NOW + 291))).toBe('LP_LIFETIME_TOO_LONG');
  });

  test('exp not after iat is LP_LIFETIME_TOO_LONG', () => {
    expect(verifyCode(at(NOW, NOW))).toBe('LP_LIFETIME_TOO_LONG');
    expect(verifyCode(at(NOW, NOW - 10))).toBe('LP_LIFETIME_TOO_LONG');
  });

  test('a lower maxLifetimeSec is honoured; one above 300 is a programming error', () => {
    const options = {
      publicKey: coordinatorPublic,
      hostId: HOST,
      now: NOW,
      replay: new InMemoryReplayStore(),
    };
    expect(codeOf(() => verifyCommand(at(NOW, NOW + 61), { ...options, maxLifetimeSec: 60 }))).toBe(
      'LP_LIFETIME_TOO_LONG',
    );
    expect(() => verifyCommand(vectors.command.jws, { ...options, maxLifetimeSec: 301 })).toThrow(
      RangeError,
    );
  });

  test('a command accepted at some time is expired from its forgetAfter on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -400, max: 400 }),
        fc.integer({ min: -50, max: 400 }),
        (iatOffset, lifetime) => {
          const jws = at(NOW + iatOffset, NOW + iatOffset + lifetime);
          let forgetAfter: number;
          try {
            forgetAfter = verify(jws).replayRecord.forgetAfter;
          } catch {
            return;
          }
          expect(forgetAfter).toBeGreaterThan(NOW);
          expect(verifyCode(jws, new InMemoryReplayStore(), forgetAfter)).toBe('LP_EXPIRED');
          expect(verify(jws, new InMemoryReplayStore(), forgetAfter - 1).payload.jti).toBe(JTI);
        },
      ),
    );
  });
});

describe('replay and sequence', () => {
  test('a seen jti is LP_REPLAYED and carries the stored result', () => {
    const store = new InMemoryReplayStore<{ ok: boolean }>();
    const first = verifyCommand(vectors.command.jws, {
      publicKey: coordinatorPublic,
      hostId: HOST,
      now: NOW,
      replay: store,
    });
    store.remember({ ...first.replayRecord, result: { ok: true } });
    try {
      verify(vectors.command.jws, store);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(LaunchplaneError);
      expect((error as LaunchplaneError).code).toBe('LP_REPLAYED');
      expect((error as LaunchplaneError).details).toEqual({ jti: JTI, result: { ok: true } });
    }
  });

  test('seq not above the last accepted is LP_SEQ_REGRESSION, above is accepted', () => {
    const store = new InMemoryReplayStore();
    store.remember({
      jti: 'a0000000-0000-4000-8000-000000000000',
      seq: 5,
      forgetAfter: NOW + 100,
      result: undefined,
    });
    for (const seq of [1, 5]) {
      const jws = craft(JSON.stringify(goodHeader()), JSON.stringify(payload({ seq })));
      expect(verifyCode(jws, store)).toBe('LP_SEQ_REGRESSION');
    }
    const next = craft(JSON.stringify(goodHeader()), JSON.stringify(payload({ seq: 6 })));
    expect(verify(next, store).payload.seq).toBe(6);
  });

  test('after pruning, a replayed command is still refused (as expired), never run again', () => {
    const store = new InMemoryReplayStore();
    const first = verify(vectors.command.jws, store);
    store.remember({ ...first.replayRecord, result: 'done' });
    expect(store.prune(first.replayRecord.forgetAfter)).toBe(1);
    expect(verifyCode(vectors.command.jws, store, first.replayRecord.forgetAfter)).toBe(
      'LP_EXPIRED',
    );
  });
});

type Defect =
  | 'badAlg'
  | 'badKid'
  | 'badSig'
  | 'unknownCmd'
  | 'unknownField'
  | 'wrongAud'
  | 'futureIat'
  | 'expired'
  | 'tooLong'
  | 'replayed'
  | 'seqRegression';

/** The order of docs/design/protocol.md "Verification order"; the first defect present decides the code. */
const ORDER: readonly [Defect, ErrorCode][] = [
  ['badAlg', 'LP_BAD_HEADER'],
  ['badKid', 'LP_BAD_HEADER'],
  ['badSig', 'LP_SIGNATURE_INVALID'],
  ['unknownCmd', 'LP_UNKNOWN_COMMAND'],
  ['unknownField', 'LP_INVALID_MESSAGE'],
  ['wrongAud', 'LP_WRONG_AUDIENCE'],
  ['futureIat', 'LP_NOT_YET_VALID'],
  ['expired', 'LP_EXPIRED'],
  ['tooLong', 'LP_LIFETIME_TOO_LONG'],
  ['replayed', 'LP_REPLAYED'],
  ['seqRegression', 'LP_SEQ_REGRESSION'],
];

describe('the order of checks', () => {
  test('bad signature and wrong aud: the signature is checked first', () => {
    const jws = craft(
      JSON.stringify(goodHeader()),
      JSON.stringify(payload({ aud: 'host-b' })),
      agentKey,
    );
    expect(verifyCode(jws)).toBe('LP_SIGNATURE_INVALID');
  });

  test('a replay that is valid in every other way is LP_REPLAYED', () => {
    const store = new InMemoryReplayStore();
    store.remember({ ...verify(vectors.command.jws, store).replayRecord, result: undefined });
    expect(verifyCode(vectors.command.jws, store)).toBe('LP_REPLAYED');
  });

  test('for any set of defects, the first in protocol order decides the code', () => {
    const defects = fc.subarray(
      ORDER.map(([d]) => d),
      { minLength: 1 },
    );
    fc.assert(
      fc.property(defects, (present) => {
        const has = (d: Defect) => present.includes(d);
        const header = {
          ...goodHeader(),
          ...(has('badAlg') ? { alg: 'HS256' } : {}),
          ...(has('badKid') ? { kid: vectors.agent.fingerprint } : {}),
        };
        const iat = has('futureIat') ? NOW + 100 : NOW - 10;
        const exp = has('expired') ? NOW - 40 : has('tooLong') ? iat + 301 : iat + 120;
        const body = payload({
          aud: has('wrongAud') ? 'host-b' : HOST,
          iat,
          exp,
          seq: 5,
          cmd: {
            ...vectors.command.payload.cmd,
            ...(has('unknownCmd') ? { type: 'lane.nuke' } : {}),
          },
          ...(has('unknownField') ? { extra: 1 } : {}),
        });
        const jws = craft(
          JSON.stringify(header),
          JSON.stringify(body),
          has('badSig') ? agentKey : coordinatorKey,
        );
        const store = new InMemoryReplayStore();
        if (has('replayed'))
          store.remember({ jti: JTI, seq: 5, forgetAfter: NOW + 1000, result: 'r' });
        if (has('seqRegression')) {
          store.remember({
            jti: 'b0000000-0000-4000-8000-000000000000',
            seq: 9,
            forgetAfter: NOW + 1000,
            result: undefined,
          });
        }
        const expected = ORDER.find(([d]) => has(d))![1];
        expect(verifyCode(jws, store)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('signCommand() refuses what an agent would refuse', () => {
  test('a payload with an unknown field is LP_INVALID_MESSAGE', () => {
    const bad = payload({ extra: 1 }) as unknown as CommandPayload;
    expect(codeOf(() => signCommand(bad, { privateKey: coordinatorKey }))).toBe(
      'LP_INVALID_MESSAGE',
    );
  });

  test('a lifetime over 300s is LP_LIFETIME_TOO_LONG', () => {
    const bad = payload({ exp: NOW + 1000, iat: NOW }) as unknown as CommandPayload;
    expect(codeOf(() => signCommand(bad, { privateKey: coordinatorKey }))).toBe(
      'LP_LIFETIME_TOO_LONG',
    );
  });

  test('a public key cannot sign', () => {
    expect(() => signCommand(vectors.command.payload, { privateKey: coordinatorPublic })).toThrow(
      TypeError,
    );
  });
});

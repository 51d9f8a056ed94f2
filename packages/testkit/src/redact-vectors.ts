/**
 * Test vectors for the redaction module: one sample of every kind of secret the system handles,
 * shaped as it really travels (lengths, alphabets, prefixes, PEM armour, a JIT config carrying
 * the runner's credential files), under the names it travels by. Every log and audit writer on
 * both sides is tested by sending each sample through it and searching its output for `secret`.
 * The values are made up; none of them was ever a real credential. Pure: no I/O.
 */
import { Buffer } from 'node:buffer';
import { LaunchplaneError, type LogMethods } from '@launchplane/shared';

/** One secret as a caller could hand it to a writer. */
export interface SecretSample {
  /** What the secret is. */
  kind: string;
  /** What must appear in no output (for a token with a public id, its secret part). */
  secret: string;
  /** Structured fields carrying it, as passed to a logger or as audit parameters. */
  fields: Record<string, unknown>;
  /** Free text carrying it in a form that is recognized without being told the value. */
  text: string;
}

/** Deterministic bytes (xorshift32) so that the samples are the same on every run. */
function bytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

const b64 = (seed: number, length: number): string => bytes(seed, length).toString('base64');
const b64url = (seed: number, length: number): string => bytes(seed, length).toString('base64url');
const alnum = (seed: number, length: number): string =>
  b64(seed, length * 2)
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, length);
const base32 = (seed: number, length: number): string =>
  b64(seed, length * 2)
    .toUpperCase()
    .replace(/[^A-Z2-7]/g, '')
    .slice(0, length);
const hex = (seed: number, length: number): string => bytes(seed, length / 2).toString('hex');
const json64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64');

/** A PEM block of `label` around `length` deterministic bytes, 64 characters a line. */
function pem(label: string, seed: number, length: number): string {
  const body = b64(seed, length).match(/.{1,64}/g) ?? [];
  return [`-----BEGIN ${label}-----`, ...body, `-----END ${label}-----`].join('\n');
}

/** The runner's RSA parameters as `.credentials_rsaparams` holds them (2048-bit sizes). */
function rsaParams(seed: number): Record<string, string> {
  return {
    d: b64(seed, 256),
    dp: b64(seed + 1, 128),
    dq: b64(seed + 2, 128),
    exponent: 'AQAB',
    inverseQ: b64(seed + 3, 128),
    modulus: b64(seed + 4, 256),
    p: b64(seed + 5, 128),
    q: b64(seed + 6, 128),
  };
}

/** A `.credentials` file as the runner writes it (OAuth client credential). */
function credentials(seed: number): Record<string, unknown> {
  return {
    scheme: 'OAuth',
    data: {
      clientId: `${hex(seed, 8)}-${hex(seed + 1, 4)}-${hex(seed + 2, 4)}`,
      authorizationUrl: 'https://pipelines.actions.githubusercontent.com/_apis/oauth2/token',
    },
  };
}

/** `encoded_jit_config` as GitHub hands it out: base64 of file name → base64 of the file. */
function jitConfig(seed: number): string {
  return json64({
    '.runner': json64({ agentId: 42, agentName: 'lp-host-a-build-0000abcd', poolId: 1 }),
    '.credentials': json64(credentials(seed)),
    '.credentials_rsaparams': json64(rsaParams(seed + 10)),
  });
}

const lpToken = (prefix: 'lpt' | 'lpe', seed: number) => ({
  value: `${prefix}_${hex(seed, 16)}_${b64url(seed + 1, 32)}`,
  secret: b64url(seed + 1, 32),
});

const JIT_COMMAND = jitConfig(100);
const JIT_REST = jitConfig(200);
const JIT_ENV = jitConfig(300);
const REGISTRATION = base32(400, 29);
const REMOVE = base32(410, 29);
const REGISTRATION_ENV = base32(420, 29);
const ENROLL = lpToken('lpe', 500);
const PROOF = b64url(510, 32);
const OPERATOR = lpToken('lpt', 600);
const OPERATOR_ENV = lpToken('lpt', 610);
const HOST_KEY = pem('PRIVATE KEY', 700, 48);
const SEALED = b64url(710, 48);
const APP_KEY = pem('RSA PRIVATE KEY', 800, 1190);
const INSTALLATION = `ghs_${alnum(810, 36)}`;
const PAT = `ghp_${alnum(820, 36)}`;
const FINE_GRAINED = `github_pat_${alnum(830, 22)}_${alnum(831, 59)}`;
const APP_JWT = `${b64url(840, 27).replace(/^.{3}/, 'eyJ')}.${b64url(841, 90).replace(/^.{3}/, 'eyJ')}.${b64url(842, 256)}`;
const CREDENTIALS = json64(credentials(900));
const RSA = rsaParams(910);
const TLS_KEY = pem('EC PRIVATE KEY', 1000, 121);
const WEBHOOK = b64url(1100, 32);
const OTHER_SECRET = b64url(1110, 24);

/** The middle line of a PEM body: a part that only the whole key contains. */
const pemLine = (block: string): string => block.split('\n')[2] ?? block;

/** Every secret kind, once. */
export const SECRET_SAMPLES: readonly SecretSample[] = [
  {
    kind: 'JIT config in a lane.create command',
    secret: JIT_COMMAND,
    fields: { cmd: { type: 'lane.create', runner: { jitConfig: JIT_COMMAND } } },
    text: `run.sh --jitconfig ${JIT_COMMAND}`,
  },
  {
    kind: "JIT config in GitHub's REST answer",
    secret: JIT_REST,
    fields: { response: { runner: { id: 42 }, encoded_jit_config: JIT_REST } },
    text: `unexpected answer {"runner":{"id":42},"encoded_jit_config":"${JIT_REST}"}`,
  },
  {
    kind: "JIT config in the runner's environment",
    secret: JIT_ENV,
    fields: { spawn: { ACTIONS_RUNNER_INPUT_JITCONFIG: JIT_ENV } },
    text: `exec env ACTIONS_RUNNER_INPUT_JITCONFIG=${JIT_ENV} ./run.sh`,
  },
  {
    kind: 'registration token',
    secret: REGISTRATION,
    fields: { runner: { url: 'https://github.com/acme', registrationToken: REGISTRATION } },
    text: `config.sh --url https://github.com/acme --token ${REGISTRATION} --unattended`,
  },
  {
    kind: 'remove token',
    secret: REMOVE,
    fields: { answer: { token: REMOVE, expires_at: '2030-01-01T00:00:00Z' } },
    text: `config.sh remove --token=${REMOVE}`,
  },
  {
    kind: "registration token in config.sh's environment",
    secret: REGISTRATION_ENV,
    fields: { child: { ACTIONS_RUNNER_INPUT_TOKEN: REGISTRATION_ENV } },
    text: `ACTIONS_RUNNER_INPUT_TOKEN="${REGISTRATION_ENV}" ./config.sh`,
  },
  {
    kind: 'enrollment token',
    secret: ENROLL.secret,
    fields: { LAUNCHPLANE_ENROLL_TOKEN: ENROLL.value },
    text: `enrolling with ${ENROLL.value} failed`,
  },
  {
    kind: 'enrollment proof',
    secret: PROOF,
    fields: { request: { tokenId: hex(500, 16), hostId: 'host-a', proof: PROOF } },
    text: `enroll request tokenId=${hex(500, 16)} proof=${PROOF}`,
  },
  {
    kind: 'operator bearer token',
    secret: OPERATOR.secret,
    fields: { req: { headers: { authorization: `Bearer ${OPERATOR.value}` } } },
    text: `Authorization: Bearer ${OPERATOR.value}`,
  },
  {
    kind: "operator token in the CLI's environment",
    secret: OPERATOR_ENV.secret,
    fields: { LAUNCHPLANE_TOKEN: OPERATOR_ENV.value },
    text: `LAUNCHPLANE_TOKEN=${OPERATOR_ENV.value} launchplane plan`,
  },
  {
    kind: 'Ed25519 signing key (PKCS#8 PEM)',
    secret: pemLine(HOST_KEY),
    fields: { identity: { privateKey: HOST_KEY } },
    text: `Cannot use key file:\n${HOST_KEY}\n(not Ed25519)`,
  },
  {
    kind: 'sealed value',
    secret: SEALED,
    fields: { store: { sealed: SEALED } },
    text: `sealed=${SEALED}`,
  },
  {
    kind: 'GitHub App private key (RSA PEM)',
    secret: pemLine(APP_KEY),
    fields: { auth: { appId: 1, installationId: 2, privateKey: APP_KEY } },
    text: `App key ${APP_KEY} refused`,
  },
  {
    kind: 'GitHub installation token',
    secret: INSTALLATION.slice(4),
    fields: { auth: { type: 'token', tokenType: 'installation', token: INSTALLATION } },
    text: `request with ${INSTALLATION} failed: 401`,
  },
  {
    kind: 'GitHub personal access token (classic)',
    secret: PAT.slice(4),
    fields: { github: { auth: { token: PAT } } },
    text: `Bad credentials for ${PAT}`,
  },
  {
    kind: 'GitHub personal access token (fine-grained)',
    secret: FINE_GRAINED.slice(11),
    fields: { github: { accessToken: FINE_GRAINED } },
    text: `token ${FINE_GRAINED} expired`,
  },
  {
    kind: 'GitHub App JWT',
    secret: APP_JWT.split('.')[2] ?? APP_JWT,
    fields: { appAuth: { jwt: APP_JWT } },
    text: `app authentication with ${APP_JWT} refused`,
  },
  {
    kind: 'runner credentials (.credentials)',
    secret: CREDENTIALS,
    fields: { files: { '.credentials': CREDENTIALS } },
    text: `{".credentials":"${CREDENTIALS}"}`,
  },
  {
    kind: 'runner RSA key (.credentials_rsaparams)',
    secret: RSA['d'] ?? '',
    fields: { files: { '.credentials_rsaparams': RSA } },
    text: `cannot parse ${JSON.stringify(RSA)}`,
  },
  {
    kind: 'coordinator TLS key',
    secret: pemLine(TLS_KEY),
    fields: { tls: { cert: '/etc/launchplane/cert.pem', key: TLS_KEY } },
    text: `https.createServer failed for key ${TLS_KEY}`,
  },
  {
    kind: 'GitHub webhook secret',
    secret: WEBHOOK,
    fields: { github: { webhookSecret: WEBHOOK } },
    text: `webhookSecret: ${WEBHOOK}`,
  },
  {
    kind: 'secret under the name "secret"',
    secret: OTHER_SECRET,
    fields: { hook: { secret: OTHER_SECRET } },
    text: `secret="${OTHER_SECRET}"`,
  },
];

/** Samples whose bare value has no known shape: text redaction needs to be told them. */
export const BARE_SECRETS: readonly string[] = [REGISTRATION, REMOVE, PROOF, WEBHOOK, OTHER_SECRET];

/**
 * Sends `sample` through `log` every way a caller could: as fields, nested three levels deeper,
 * in the message, in an error's message and cause, and in a coded error's details. Returns the
 * number of lines written.
 */
export function logSampleEveryWay(log: LogMethods, sample: SecretSample): number {
  log.info(sample.fields, 'fields');
  log.warn({ deep: { deeper: { deepest: sample.fields } } }, 'nested');
  log.error({ laneId: 'x' }, `failed: ${sample.text}`);
  log.error({ err: new Error(sample.text, { cause: new Error(sample.text) }) }, 'error');
  log.error(
    { err: new LaunchplaneError('LP_BACKEND_FAILED', 'x', { details: sample.fields }) },
    'coded error',
  );
  return 5;
}

/**
 * `launchplane-agent enroll` (docs/security.md "Enrollment handshake"): generate or reuse the host
 * key, then authenticate the coordinator before anything secret leaves the host, then prove the
 * token for this host key only, then pin the coordinator key and write the config's
 * `coordinator` section.
 *
 * 1. `POST /v1/enroll/challenge` with a fresh nonce of ours; the answer must carry the key the
 *    operator said to pin (`--coordinator-fingerprint`) and that key's signature over our nonce,
 *    so an old signed answer cannot be replayed. Over https with a `--tls-pin`, the connection is
 *    refused before a byte is written unless the server's TLS key matches.
 * 2. `POST /v1/enroll` with an HMAC proof of the token over the host key's fingerprint and both
 *    nonces. The token itself is never sent, logged or put in an error message, and a proxy that
 *    swaps the host key holds a proof that is worth nothing for its key.
 * 3. The answer must be signed by the same key over this host key's fingerprint and the agent URL.
 *
 * Plain `http://` is allowed on loopback only, unless `insecure` (which the caller must make loud).
 */
import {
  DEFAULT_DATA_DIR,
  LaunchplaneError,
  computeEnrollProof,
  enrollChallengeResponseSchema,
  enrollProofKey,
  enrollResponseSchema,
  exportPublicJwk,
  fingerprint,
  hostIdSchema,
  importPublicJwk,
  isErrorCode,
  isTlsPin,
  newNonce,
  parseAgentConfig,
  parseEnrollmentToken,
  redactText,
  verifyEnrollChallenge,
  verifyEnrolled,
} from '@launchplane/shared';
import type { EnrollRequest, ErrorCode } from '@launchplane/shared';
import type { z } from 'zod';
import {
  readConfigText,
  renderConfigWithCoordinator,
  writeFileAtomic,
} from '../config/config-file.js';
import { ensureHostKey } from '../keys/host-key.js';
import { writeCoordinatorKey } from '../keys/coordinator-key.js';
import { postJson } from './http-client.js';

/** Options of {@link enroll}. */
export interface EnrollOptions {
  /** The coordinator's HTTP(S) base URL, e.g. `https://coord.example:7443`. */
  coordinatorUrl: string;
  /** Single-use enrollment token `lpe_…`. Secret: never sent, only proven. */
  token: string;
  hostId: string;
  /** The coordinator key fingerprint to pin (`SHA256:…`, from `launchplane enroll-token create`). */
  expectedFingerprint: string;
  /** The coordinator's TLS key pin (`sha256//…`); https only. */
  tlsPin?: string | undefined;
  /** Allow plain http:// (and ws://) to a coordinator that is not on loopback. */
  insecure?: boolean | undefined;
  /** Config file to create or update. */
  configPath: string;
  /** Data directory for a new config. Default: the existing config's, else `/var/lib/launchplane`. */
  dataDir?: string;
  agentVersion: string;
  /** Deadline of each HTTP request in ms. Default 10 000. */
  timeoutMs?: number;
  /** Largest response body accepted, in bytes. Default 64 KiB. */
  maxResponseBytes?: number;
  /** Extra CA certificates (PEM) to trust for https without a pin. */
  ca?: string | Buffer;
}

/** What enrollment did. */
export interface EnrollResult {
  hostId: string;
  coordinatorId: string;
  agentUrl: string;
  coordinatorFingerprint: string;
  /** The TLS key pin stored for every later connection, when one was given. */
  tlsPin?: string;
  hostFingerprint: string;
  /** True when a new host key was generated (false: an existing key of this host was reused). */
  keyCreated: boolean;
  /** True when the config file did not exist and was created. */
  configCreated: boolean;
  configPath: string;
  dataDir: string;
  /** True when plain HTTP crossed the network (`insecure`). */
  insecure: boolean;
}

const FINGERPRINT_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/;
// Placeholder used to validate the merged config before the token is spent.
const PLACEHOLDER_COORDINATOR = {
  url: 'wss://placeholder.invalid/v1/agent',
  fingerprint: `SHA256:${'A'.repeat(43)}`,
  coordinatorId: 'placeholder',
};

/** Enrolls this host with a coordinator. Throws a LaunchplaneError with a stable code. */
export async function enroll(options: EnrollOptions): Promise<EnrollResult> {
  const base = baseUrl(options.coordinatorUrl);
  if (!hostIdSchema.safeParse(options.hostId).success) {
    throw usage(`Host id "${options.hostId}" is invalid: use 1-32 of a-z, 0-9 and "-"`);
  }
  const token = parseEnrollmentToken(options.token);
  if (token === undefined) {
    // Never echo the token, not even in part.
    throw usage(
      'Enrollment token is malformed: expected "lpe_", 16 hex digits, "_" and 43 base64url characters',
    );
  }
  if (!FINGERPRINT_PATTERN.test(options.expectedFingerprint)) {
    throw usage(
      `Coordinator fingerprint "${options.expectedFingerprint}" is malformed: expected "SHA256:" and 43 base64 characters`,
    );
  }
  if (options.tlsPin !== undefined && !isTlsPin(options.tlsPin)) {
    throw usage(
      `TLS pin "${options.tlsPin}" is malformed: expected "sha256//" and 44 base64 characters`,
    );
  }
  const insecure = transportIsInsecure(base, options);

  // Everything that can be checked locally is checked before the coordinator is contacted.
  const existing = await readConfigText(options.configPath);
  const dataDir = resolveDataDir(existing, options);
  renderConfigWithCoordinator(existing, options.configPath, {
    hostId: options.hostId,
    dataDir,
    coordinator: PLACEHOLDER_COORDINATOR,
  });
  const hostKey = await ensureHostKey(dataDir, options.hostId);

  // 1. The coordinator proves it holds the pinned key, over a nonce only we know.
  const agentNonce = newNonce();
  const challenge = await post(
    base,
    '/v1/enroll/challenge',
    { hostId: options.hostId, agentNonce },
    enrollChallengeResponseSchema,
    options,
  );
  const coordinatorKey = importPublicJwk(challenge.coordinatorKey);
  const coordinatorFingerprint = fingerprint(coordinatorKey);
  if (coordinatorFingerprint !== options.expectedFingerprint) {
    throw new LaunchplaneError(
      'LP_UNAUTHENTICATED',
      `Coordinator key fingerprint "${coordinatorFingerprint}" does not match the expected "${options.expectedFingerprint}"`,
      {
        recovery:
          'Nothing secret was sent and nothing was written. Check that --coordinator points at your coordinator and compare the fingerprint printed by `launchplane enroll-token create`',
      },
    );
  }
  const challengeFields = {
    coordinatorId: challenge.coordinatorId,
    hostId: options.hostId,
    agentNonce,
    nonce: challenge.nonce,
    expiresAt: challenge.expiresAt,
  };
  if (!verifyEnrollChallenge(challengeFields, challenge.sig, coordinatorKey)) {
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      'Coordinator challenge is not signed by the pinned key over this enrollment (an old or forged answer)',
      {
        recovery:
          'Nothing secret was sent and nothing was written. Something between this host and the coordinator altered or replayed the answer; enroll over a path you trust (https with --tls-pin)',
      },
    );
  }

  // 2. Prove the token, for this host key and this challenge only.
  const hostFingerprint = hostKey.fingerprint;
  const request: EnrollRequest = {
    tokenId: token.id,
    hostId: options.hostId,
    publicKey: exportPublicJwk(hostKey.publicKey),
    agentVersion: options.agentVersion,
    nonce: challenge.nonce,
    proof: computeEnrollProof(enrollProofKey(token.secret), {
      coordinatorId: challenge.coordinatorId,
      hostId: options.hostId,
      tokenId: token.id,
      hostFingerprint,
      agentNonce,
      nonce: challenge.nonce,
    }),
  };
  const response = await post(base, '/v1/enroll', request, enrollResponseSchema, options);

  // 3. The same key confirms it recorded this host key, and says where to dial.
  if (
    response.hostId !== options.hostId ||
    response.coordinatorId !== challenge.coordinatorId ||
    response.hostFingerprint !== hostFingerprint ||
    fingerprint(importPublicJwk(response.coordinatorKey)) !== coordinatorFingerprint ||
    !verifyEnrolled(
      {
        coordinatorId: response.coordinatorId,
        hostId: response.hostId,
        hostFingerprint: response.hostFingerprint,
        agentUrl: response.agentUrl,
        nonce: challenge.nonce,
      },
      response.sig,
      coordinatorKey,
    )
  ) {
    throw new LaunchplaneError(
      'LP_SIGNATURE_INVALID',
      `Coordinator answer is not a signed confirmation of host "${options.hostId}" with key "${hostFingerprint}"`,
      {
        recovery:
          'Nothing was written. Check with an admin (`launchplane hosts`) which key the coordinator recorded, and enroll over a path you trust',
      },
    );
  }
  checkAgentUrl(response.agentUrl, options, insecure);

  await writeCoordinatorKey(dataDir, challenge.coordinatorKey);
  // Re-read: the file may have changed since the check above; the render validates again.
  const current = await readConfigText(options.configPath);
  const text = renderConfigWithCoordinator(current, options.configPath, {
    hostId: options.hostId,
    dataDir,
    coordinator: {
      url: response.agentUrl,
      fingerprint: coordinatorFingerprint,
      coordinatorId: response.coordinatorId,
      ...(options.tlsPin === undefined ? {} : { tlsPin: options.tlsPin }),
    },
  });
  await writeFileAtomic(options.configPath, text, 0o644);

  return {
    hostId: response.hostId,
    coordinatorId: response.coordinatorId,
    agentUrl: response.agentUrl,
    coordinatorFingerprint,
    ...(options.tlsPin === undefined ? {} : { tlsPin: options.tlsPin }),
    hostFingerprint,
    keyCreated: hostKey.created,
    configCreated: current === undefined,
    configPath: options.configPath,
    dataDir,
    insecure,
  };
}

/** True for a host name or address that cannot leave this machine. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Whether this enrollment crosses the network in clear: plain http:// off loopback needs
 * `insecure`; a TLS pin needs https://.
 */
function transportIsInsecure(base: URL, options: EnrollOptions): boolean {
  if (base.protocol === 'https:') return false;
  if (options.tlsPin !== undefined) {
    throw usage("A TLS pin needs the coordinator's https:// URL", 'Use --coordinator https://…');
  }
  if (isLoopbackHost(base.hostname)) return false;
  if (options.insecure !== true) {
    throw usage(
      `Coordinator URL "${base.origin}" is plain HTTP to another machine: anyone on the path could read and change the enrollment`,
      "Use the coordinator's https:// URL (with --tls-pin for a self-signed certificate), or pass --insecure on a network you trust",
    );
  }
  return true;
}

/** The agent URL must be as safe as the enrollment was: wss://, ws:// only on loopback or insecure. */
function checkAgentUrl(agentUrl: string, options: EnrollOptions, insecure: boolean): void {
  const url = new URL(agentUrl);
  if (url.protocol === 'wss:') return;
  const refuse = (why: string): never => {
    throw new LaunchplaneError('LP_CONFIG_INVALID', `Coordinator agent URL "${agentUrl}" ${why}`, {
      recovery:
        "Nothing was written. Set the coordinator's publicUrl to its https:// URL, then enroll again",
    });
  };
  if (options.tlsPin !== undefined) refuse('is plain ws://, so the TLS pin could not be checked');
  if (!isLoopbackHost(url.hostname) && !insecure) refuse('is plain ws:// to another machine');
}

function usage(message: string, recovery?: string): LaunchplaneError {
  return new LaunchplaneError('LP_USAGE', message, recovery === undefined ? {} : { recovery });
}

function baseUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw usage(`Coordinator URL "${base}" is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw usage(`Coordinator URL "${base}" must be http(s)://, the coordinator's HTTP base`);
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw usage('Coordinator URL must not carry credentials, a query or a fragment');
  }
  return url;
}

function resolveDataDir(existing: string | undefined, options: EnrollOptions): string {
  if (existing !== undefined) {
    const parsed = parseAgentConfig(existing);
    // An invalid file is reported by renderConfigWithCoordinator with every problem.
    if (parsed.ok) {
      if (options.dataDir !== undefined && options.dataDir !== parsed.value.dataDir) {
        throw new LaunchplaneError(
          'LP_CONFLICT',
          `Data directory "${options.dataDir}" differs from "${parsed.value.dataDir}" in config "${options.configPath}"`,
          { recovery: 'Drop --data-dir, or change dataDir in the config first' },
        );
      }
      return parsed.value.dataDir;
    }
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (!dataDir.startsWith('/')) throw usage(`Data directory "${dataDir}" must be an absolute path`);
  return dataDir;
}

/** POSTs to `base` + `path` and parses a 2xx answer with `schema`; a refusal keeps its code. */
async function post<S extends z.ZodType>(
  base: URL,
  path: string,
  body: unknown,
  schema: S,
  options: EnrollOptions,
): Promise<z.output<S>> {
  const url = new URL(`${base.pathname.replace(/\/+$/, '')}${path}`, base);
  const answer = await postJson(url, body, {
    tlsPin: options.tlsPin,
    ca: options.ca,
    timeoutMs: options.timeoutMs ?? 10_000,
    maxResponseBytes: options.maxResponseBytes ?? 64 * 1024,
  });
  if (answer.status >= 300 && answer.status < 400) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator answered with a redirect (HTTP ${answer.status}); redirects are not followed`,
      { recovery: 'Pass the final coordinator URL with --coordinator' },
    );
  }
  if (answer.status !== 200 && answer.status !== 201) {
    throw refusal(answer.status, answer.body, options.token);
  }
  let json: unknown;
  try {
    json = JSON.parse(answer.body) as unknown;
  } catch (cause) {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Coordinator answer is not valid JSON', {
      cause,
    });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator answer to "${path}" is not what the protocol says${first === undefined ? '' : `: ${first.path.join('.')} ${first.message}`}`,
    );
  }
  return parsed.data;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'LP_INVALID_MESSAGE',
  401: 'LP_TOKEN_INVALID',
  403: 'LP_FORBIDDEN',
  404: 'LP_NOT_FOUND',
  409: 'LP_CONFLICT',
  429: 'LP_RATE_LIMITED',
};

/** The coordinator's refusal as an error, keeping its code when it sent a stable one. */
function refusal(status: number, body: string, token: string): LaunchplaneError {
  let code: ErrorCode = STATUS_CODES[status] ?? 'LP_INTERNAL';
  let message: string | undefined;
  let recovery: string | undefined;
  try {
    const json = JSON.parse(body) as unknown;
    const error =
      typeof json === 'object' && json !== null && 'error' in json && typeof json.error === 'object'
        ? json.error
        : json;
    if (typeof error === 'object' && error !== null) {
      const e = error as Record<string, unknown>;
      if (isErrorCode(e['code'])) code = e['code'];
      if (typeof e['message'] === 'string') message = e['message'].slice(0, 500);
      if (typeof e['recovery'] === 'string') recovery = e['recovery'].slice(0, 500);
    }
  } catch {
    // Not JSON: the status alone says what happened.
  }
  const scrub = (s: string): string => redactText(s, [token]);
  return new LaunchplaneError(
    code,
    `Coordinator refused enrollment (HTTP ${status})${message === undefined ? '' : `: ${scrub(message)}`}`,
    {
      recovery:
        recovery === undefined
          ? code === 'LP_TOKEN_INVALID'
            ? 'Ask an admin for a new token: `launchplane enroll-token create --host <hostId>`'
            : 'Nothing was written; fix the cause and enroll again'
          : scrub(recovery),
      details: { status },
    },
  );
}

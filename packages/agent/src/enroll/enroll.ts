/**
 * `launchplane-agent enroll` (PROTOCOL.md "Enrollment"): generate or reuse the host key, `POST
 * /v1/enroll`, check the coordinator key against the operator's pin, then pin it and write the
 * config's `coordinator` section. The enrollment token is a secret: it is only ever put in the
 * request body, never in a log line or an error message.
 */
import {
  DEFAULT_DATA_DIR,
  LaunchplaneError,
  enrollResponseSchema,
  exportPublicJwk,
  fingerprint,
  hostIdSchema,
  importPublicJwk,
  isErrorCode,
  parseAgentConfig,
} from '@launchplane/shared';
import type { EnrollRequest, EnrollResponse, ErrorCode } from '@launchplane/shared';
import {
  readConfigText,
  renderConfigWithCoordinator,
  writeFileAtomic,
} from '../config/config-file.js';
import { ensureHostKey } from '../keys/host-key.js';
import { writeCoordinatorKey } from '../keys/coordinator-key.js';

/** Options of {@link enroll}. */
export interface EnrollOptions {
  /** The coordinator's HTTP(S) base URL, e.g. `https://coord.example:7443`. */
  coordinatorUrl: string;
  /** Single-use enrollment token. Secret. */
  token: string;
  hostId: string;
  /** When given, the coordinator key must have this fingerprint (`SHA256:…`). */
  expectedFingerprint?: string;
  /** Config file to create or update. */
  configPath: string;
  /** Data directory for a new config. Default: the existing config's, else `/var/lib/launchplane`. */
  dataDir?: string;
  agentVersion: string;
  /** Deadline of the HTTP request in ms. Default 10 000. */
  timeoutMs?: number;
  /** Largest response body accepted, in bytes. Default 64 KiB. */
  maxResponseBytes?: number;
  /** The fetch implementation (tests). Default the global `fetch` (TLS verification on). */
  fetch?: typeof fetch;
}

/** What enrollment did. */
export interface EnrollResult {
  hostId: string;
  coordinatorId: string;
  agentUrl: string;
  coordinatorFingerprint: string;
  hostFingerprint: string;
  /** True when a new host key was generated (false: an existing key of this host was reused). */
  keyCreated: boolean;
  /** True when the config file did not exist and was created. */
  configCreated: boolean;
  configPath: string;
  dataDir: string;
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
  const endpoint = enrollEndpoint(options.coordinatorUrl);
  if (!hostIdSchema.safeParse(options.hostId).success) {
    throw usage(`Host id "${options.hostId}" is invalid: use 1-32 of a-z, 0-9 and "-"`);
  }
  if (options.token.length < 16 || options.token.length > 256 || /\s/.test(options.token)) {
    // Never echo the token, not even in part.
    throw usage('Enrollment token is malformed: expected 16-256 characters without spaces');
  }
  if (
    options.expectedFingerprint !== undefined &&
    !FINGERPRINT_PATTERN.test(options.expectedFingerprint)
  ) {
    throw usage(
      `Coordinator fingerprint "${options.expectedFingerprint}" is malformed: expected "SHA256:" and 43 base64 characters`,
    );
  }

  // Everything that can be checked locally is checked before the single-use token is spent.
  const existing = await readConfigText(options.configPath);
  const dataDir = resolveDataDir(existing, options);
  renderConfigWithCoordinator(existing, options.configPath, {
    hostId: options.hostId,
    dataDir,
    coordinator: PLACEHOLDER_COORDINATOR,
  });
  const hostKey = await ensureHostKey(dataDir, options.hostId);

  const request: EnrollRequest = {
    token: options.token,
    hostId: options.hostId,
    publicKey: exportPublicJwk(hostKey.publicKey),
    agentVersion: options.agentVersion,
  };
  const response = await postEnroll(endpoint, request, options);

  if (response.hostId !== options.hostId) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator enrolled host "${response.hostId}", but this host asked to be "${options.hostId}"`,
      { recovery: 'Check the coordinator URL; nothing was written' },
    );
  }
  const coordinatorKey = importPublicJwk(response.coordinatorKey);
  const coordinatorFingerprint = fingerprint(coordinatorKey);
  if (
    options.expectedFingerprint !== undefined &&
    coordinatorFingerprint !== options.expectedFingerprint
  ) {
    throw new LaunchplaneError(
      'LP_UNAUTHENTICATED',
      `Coordinator key fingerprint "${coordinatorFingerprint}" does not match the expected "${options.expectedFingerprint}"`,
      {
        recovery:
          'Nothing was pinned. Check that --coordinator points at your coordinator and compare the fingerprint printed by `launchplane enroll-token create`',
      },
    );
  }

  await writeCoordinatorKey(dataDir, response.coordinatorKey);
  // Re-read: the file may have changed since the check above; the render validates again.
  const current = await readConfigText(options.configPath);
  const text = renderConfigWithCoordinator(current, options.configPath, {
    hostId: options.hostId,
    dataDir,
    coordinator: {
      url: response.agentUrl,
      fingerprint: coordinatorFingerprint,
      coordinatorId: response.coordinatorId,
    },
  });
  await writeFileAtomic(options.configPath, text, 0o644);

  return {
    hostId: response.hostId,
    coordinatorId: response.coordinatorId,
    agentUrl: response.agentUrl,
    coordinatorFingerprint,
    hostFingerprint: hostKey.fingerprint,
    keyCreated: hostKey.created,
    configCreated: current === undefined,
    configPath: options.configPath,
    dataDir,
  };
}

function usage(message: string): LaunchplaneError {
  return new LaunchplaneError('LP_USAGE', message);
}

function enrollEndpoint(base: string): URL {
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
  return new URL(`${url.pathname.replace(/\/+$/, '')}/v1/enroll`, url);
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

async function postEnroll(
  endpoint: URL,
  request: EnrollRequest,
  options: EnrollOptions,
): Promise<EnrollResponse> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const limit = options.maxResponseBytes ?? 64 * 1024;
  let res: Response;
  try {
    res = await doFetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(request),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    const timedOut = cause instanceof Error && cause.name === 'TimeoutError';
    throw new LaunchplaneError(
      timedOut ? 'LP_TIMEOUT' : 'LP_BACKEND_UNAVAILABLE',
      timedOut
        ? `Coordinator "${endpoint.origin}" did not answer within ${timeoutMs} ms`
        : `Cannot reach coordinator "${endpoint.origin}": ${describeNetworkError(cause)}`,
      {
        cause,
        recovery:
          'Check the URL, that the coordinator runs, and that its TLS certificate is trusted',
      },
    );
  }
  let body: string;
  try {
    body = await readLimited(res, limit);
  } catch (cause) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator answer is unreadable or larger than ${limit} bytes`,
      { cause },
    );
  }
  if (res.status >= 300 && res.status < 400) {
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator answered with a redirect (HTTP ${res.status}); redirects are not followed`,
      { recovery: 'Pass the final coordinator URL with --coordinator' },
    );
  }
  if (res.status !== 201 && res.status !== 200) {
    throw refusal(res.status, body, request.token);
  }
  let json: unknown;
  try {
    json = JSON.parse(body) as unknown;
  } catch (cause) {
    throw new LaunchplaneError('LP_INVALID_MESSAGE', 'Coordinator answer is not valid JSON', {
      cause,
    });
  }
  const parsed = enrollResponseSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Coordinator answer is not an enrollment response${first === undefined ? '' : `: ${first.path.join('.')} ${first.message}`}`,
    );
  }
  return parsed.data;
}

function describeNetworkError(cause: unknown): string {
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause;
  if (inner instanceof Error) {
    const code = (inner as NodeJS.ErrnoException).code;
    return code === undefined ? inner.message : `${code} ${inner.message}`;
  }
  return String(inner);
}

async function readLimited(res: Response, limit: number): Promise<string> {
  if (res.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Node's web ReadableStream is async iterable; breaking out of the loop cancels it.
  for await (const value of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += value.byteLength;
    if (size > limit) throw new Error(`body exceeds ${limit} bytes`);
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'LP_INVALID_MESSAGE',
  401: 'LP_TOKEN_INVALID',
  403: 'LP_FORBIDDEN',
  404: 'LP_NOT_FOUND',
  409: 'LP_CONFLICT',
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
  const scrub = (s: string): string => s.split(token).join('[redacted]');
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

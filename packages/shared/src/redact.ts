/**
 * The one redaction of the project. Every log line, audit record, error message and report that
 * either side writes passes through these functions, so "what is a secret" is decided here only:
 *
 * - {@link SECRET_KEYS}: names whose value is a secret wherever they appear (matched without
 *   regard to case, `_`, `-` or `.`, so `encoded_jit_config`, `encodedJitConfig` and
 *   `ENCODED-JIT-CONFIG` are one key);
 * - {@link redactDeep}: a copy of any value with those members replaced by `[redacted]` and every
 *   string in it passed through {@link redactText};
 * - {@link redactText}: free text with known secret shapes (GitHub and Launchplane tokens, private
 *   key PEM blocks, JWTs, long base64 blobs such as JIT configs, `key=value` and `--flag value`
 *   forms of the keys) and the exact values a caller names replaced;
 * - {@link redactingLog}: a logger wrapper that redacts every line's fields and message;
 * - {@link PINO_REDACT_PATHS}: the same keys as pino redact paths, for the loggers' own censor.
 *
 * Pure: no I/O.
 */

/** What replaces a secret. */
export const REDACTED = '[redacted]';

/**
 * Names whose value is a secret wherever it appears: in log fields, audit parameters, commands,
 * environments and free text (`name=value`, `"name": "value"`, `--name value`).
 */
export const SECRET_KEYS: readonly string[] = [
  // Runner JIT configs: in lane.create, in GitHub's REST answer, in the runner's environment.
  'jitConfig',
  'encoded_jit_config',
  'ACTIONS_RUNNER_INPUT_JITCONFIG',
  // Registration and remove tokens, and any other token named as such (GitHub PATs, installation
  // tokens, Octokit's auth objects).
  'registrationToken',
  'removeToken',
  'token',
  'ACTIONS_RUNNER_INPUT_TOKEN',
  // The runner's other secret inputs (its `Args.Secrets`: token, pat, jitconfig,
  // windowslogonpassword), as arguments and as `ACTIONS_RUNNER_INPUT_*` variables.
  'pat',
  'ACTIONS_RUNNER_INPUT_PAT',
  'windowsLogonPassword',
  'ACTIONS_RUNNER_INPUT_WINDOWSLOGONPASSWORD',
  // Enrollment: the single-use token (by the names it travels under) and the proof of it.
  'enrollToken',
  'LAUNCHPLANE_ENROLL_TOKEN',
  'proof',
  // Operator bearer tokens: the HTTP header and the CLI's environment variable.
  'authorization',
  'cookie',
  'LAUNCHPLANE_TOKEN',
  // Private keys: host and coordinator signing keys, the GitHub App key, the TLS key.
  'privateKey',
  'tlsKey',
  'sealed',
  // GitHub App and installation credentials.
  'installationToken',
  'accessToken',
  'clientSecret',
  'jwt',
  // The runner's credentials, as the files a JIT config carries.
  '.credentials',
  '.credentials_rsaparams',
  // The GitHub webhook secret, and any other secret named as such.
  'webhookSecret',
  'secret',
  'password',
];

/**
 * Names whose whole value is withheld because it may carry a secret under any other name: a
 * process environment (a lane's unit or container `env`, Docker's `Env`). Structured data only;
 * in free text these words are ordinary words.
 */
export const SECRET_CONTAINER_KEYS: readonly string[] = ['env', 'environment'];

/** A secret shorter than this is not searched for in text: it would match ordinary words. */
export const MIN_SECRET_LENGTH = 4;

const MAX_DEPTH = 32;

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const SECRET_KEY_SET: ReadonlySet<string> = new Set(
  [...SECRET_KEYS, ...SECRET_CONTAINER_KEYS].map(normalizeKey),
);

/** True when a member named `key` holds a secret (see {@link SECRET_KEYS}). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_SET.has(normalizeKey(key));
}

/**
 * pino redact paths for {@link SECRET_KEYS} (as spelled, at the top and two levels down) and
 * {@link SECRET_CONTAINER_KEYS}. A second line behind {@link redactDeep}, which catches every
 * depth and spelling.
 */
export const PINO_REDACT_PATHS: readonly string[] = [...SECRET_KEYS, ...SECRET_CONTAINER_KEYS]
  .filter((key) => /^[A-Za-z_$][\w$]*$/.test(key))
  .flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

// ---------------------------------------------------------------- free text

/** A key as a pattern: its words joined by an optional `-`, `_` or `.` (case is ignored). */
function keyPattern(key: string): string {
  return key
    .replace(/^\./, '')
    .split(/[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])/)
    .filter((w) => w !== '')
    .join('[-_.]?');
}

const KEY_ALTERNATION = [...SECRET_KEYS]
  .map(keyPattern)
  .sort((a, b) => b.length - a.length)
  .join('|');

/** What a secret value in text looks like after its key: up to a quote, space or delimiter. */
const VALUE = String.raw`[^\s"'\\,;&<>(){}\[\]]+`;

/** Authorization schemes: kept in front of the credential they introduce. */
const SCHEME = '(?:bearer|token|basic|runnersecret)';

type Replacer = (match: string, ...groups: string[]) => string;

/**
 * The shape rules, in order. `needs` is a cheap test that a text must pass for the rule to
 * match at all, so ordinary short text skips the costly patterns.
 */
const TEXT_RULES: {
  needs: (text: string) => boolean;
  pattern: RegExp;
  replace: string | Replacer;
}[] = [
  // PEM private keys (PKCS#8, RSA, EC, OpenSSH, encrypted), to their end or the end of the text.
  {
    needs: (t) => t.includes('PRIVATE KEY'),
    pattern:
      /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)/g,
    replace: REDACTED,
  },
  // JWTs and compact JWS (a GitHub App's JWT, a signed command).
  {
    needs: (t) => t.includes('eyJ'),
    pattern: /\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}/g,
    replace: REDACTED,
  },
  // `--token X`, `--jitconfig=X` … (before the shapes below: the whole value goes, not its tail)
  {
    needs: (t) => t.includes('--'),
    pattern: new RegExp(String.raw`(--(?:${KEY_ALTERNATION})=)${VALUE}`, 'gi'),
    replace: `$1${REDACTED}`,
  },
  // `--token X` with a space: X must look like a value (8 or more characters, not only lower-case
  // letters), so that prose about a flag ("--token puts the token on the command line") stays.
  {
    needs: (t) => t.includes('--'),
    pattern: new RegExp(String.raw`(--(?:${KEY_ALTERNATION})\s+)(${VALUE})`, 'gi'),
    replace: (match, flag: string, value: string) =>
      value.length >= 8 && !/^[a-z]+$/.test(value) ? `${flag}${REDACTED}` : match,
  },
  // `token=X`, `"jitConfig": "X"`, `ACTIONS_RUNNER_INPUT_TOKEN=X`, `Authorization: Bearer X` …
  {
    needs: (t) => t.includes('=') || t.includes(':'),
    pattern: new RegExp(
      String.raw`((?<![A-Za-z0-9])\.?(?:${KEY_ALTERNATION})\\?["']?\s*[:=]\s*\\?["']?(?:${SCHEME}\s+)?)(?!${SCHEME}\s)${VALUE}`,
      'gi',
    ),
    replace: `$1${REDACTED}`,
  },
  // A bearer credential anywhere.
  {
    needs: (t) => /bearer|runnersecret/i.test(t),
    pattern: /\b((?:bearer|runnersecret)\s+)[\w.~+/-]{8,}=*/gi,
    replace: `$1${REDACTED}`,
  },
  // GitHub tokens: ghp_ (PAT), gho_, ghu_, ghs_ (installation), ghr_, and fine-grained PATs.
  {
    needs: (t) => t.includes('gh'),
    pattern: /\b(gh[pousr]_)[A-Za-z0-9]{20,}/g,
    replace: `$1${REDACTED}`,
  },
  {
    needs: (t) => t.includes('github_pat_'),
    pattern: /\b(github_pat_)\w{20,}/g,
    replace: `$1${REDACTED}`,
  },
  // Launchplane's operator (lpt_) and enrollment (lpe_) tokens: the public id is kept.
  {
    needs: (t) => t.includes('lp'),
    pattern: /\b(lp[te]_[0-9a-f]{16}_)[\w-]{16,}/g,
    replace: `$1${REDACTED}`,
  },
  // Long base64 (JIT configs, the runner's RSA parameters, key material). A path is left alone.
  {
    needs: (t) => t.length >= 100,
    pattern: /[\w+/-]{100,}={0,2}/g,
    replace: (m) => (looksLikeBlob(m) ? REDACTED : m),
  },
];

/** A run of base64 characters that is random data rather than a path or a hex digest. */
function looksLikeBlob(run: string): boolean {
  if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/[0-9]/.test(run)) return false;
  const slashes = run.length - run.replaceAll('/', '').length;
  return !(run.startsWith('/') && slashes / run.length > 0.05);
}

/**
 * `text` with every secret in it replaced by `[redacted]`: the exact `secrets` a caller names
 * (those of at least {@link MIN_SECRET_LENGTH} characters, also as JSON escapes them), then the
 * known shapes listed in this module's header.
 */
export function redactText(text: string, secrets: readonly string[] = []): string {
  return scrub(text, needlesOf(secrets));
}

/** The exact strings to cut: each secret long enough, also as JSON escapes it, longest first. */
function needlesOf(secrets: readonly string[]): readonly string[] {
  const needles = new Set<string>();
  for (const s of secrets) {
    if (s.length < MIN_SECRET_LENGTH) continue;
    needles.add(s);
    needles.add(JSON.stringify(s).slice(1, -1));
  }
  return [...needles].sort((a, b) => b.length - a.length);
}

function scrub(text: string, needles: readonly string[]): string {
  let out = text;
  for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join(REDACTED);
  for (const rule of TEXT_RULES) {
    if (!rule.needs(out)) continue;
    out =
      typeof rule.replace === 'string'
        ? out.replace(rule.pattern, rule.replace)
        : out.replace(rule.pattern, rule.replace);
  }
  return out;
}

// ---------------------------------------------------------------- structured values

/** Options of {@link redactDeep}. */
export interface RedactOptions {
  /** Exact secret values to remove from every string, in addition to the known shapes. */
  secrets?: readonly string[];
}

const CREDENTIAL = new RegExp(String.raw`^${SCHEME}\s+(\S+)$`, 'i');

/**
 * The string values held under secret keys anywhere in `value` (and the credential part of an
 * `Authorization` value), so they can be removed from text that repeats them.
 */
export function secretValuesIn(value: unknown): string[] {
  const found: string[] = [];
  const seen = new WeakSet<object>();
  const collectAll = (v: unknown, depth: number): void => {
    if (typeof v === 'string') {
      found.push(v);
      const credential = CREDENTIAL.exec(v)?.[1];
      if (credential !== undefined) found.push(credential);
    } else if (typeof v === 'object' && v !== null && depth < MAX_DEPTH && !seen.has(v)) {
      seen.add(v);
      for (const x of Object.values(v)) collectAll(x, depth + 1);
    }
  };
  const visit = (v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null || depth >= MAX_DEPTH || seen.has(v)) return;
    seen.add(v);
    for (const [k, x] of Object.entries(v)) {
      if (isSecretKey(k)) collectAll(x, depth + 1);
      else visit(x, depth + 1);
    }
  };
  visit(value, 0);
  return found;
}

/**
 * A copy of `value` fit for a log or an audit record: every member under a secret key (at any
 * depth) is `[redacted]`, every string is passed through {@link redactText} with the values found
 * under secret keys and `options.secrets`, errors keep their class with message, stack, cause and
 * fields redacted, binary data is withheld, and cycles and depths past 32 are cut.
 */
export function redactDeep(value: unknown, options: RedactOptions = {}): unknown {
  const needles = needlesOf([...(options.secrets ?? []), ...secretValuesIn(value)]);
  return walk(value, needles, 0, new WeakSet());
}

/** {@link redactDeep} for a record, typed as one. */
export function redactRecord(value: object, options: RedactOptions = {}): Record<string, unknown> {
  return redactDeep(value, options) as Record<string, unknown>;
}

function walk(
  value: unknown,
  needles: readonly string[],
  depth: number,
  seen: WeakSet<object>,
): unknown {
  if (typeof value === 'string') return scrub(value, needles);
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_DEPTH) return REDACTED;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => walk(v, needles, depth + 1, seen));
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return REDACTED;
    if (value instanceof Error) return redactError(value, needles, depth, seen);
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      return walk((toJSON as () => unknown).call(value), needles, depth + 1, seen);
    }
    return redactMembers(value, {}, needles, depth, seen);
  } finally {
    seen.delete(value);
  }
}

function redactMembers(
  from: object,
  to: Record<string, unknown>,
  needles: readonly string[],
  depth: number,
  seen: WeakSet<object>,
): Record<string, unknown> {
  const plain = Object.getPrototypeOf(to) === Object.prototype;
  for (const [k, v] of Object.entries(from)) {
    const value =
      isSecretKey(k) && v !== undefined && v !== null
        ? REDACTED
        : walk(v, needles, depth + 1, seen);
    // Assigned where that is plain (it keeps the copy a fast object); defined where an
    // assignment could call a setter: a member named `__proto__`, a member of an error copy.
    if (plain && k !== '__proto__') to[k] = value;
    else
      Object.defineProperty(to, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return to;
}

/** An error of the same class whose message, stack, cause and fields are redacted. */
function redactError(
  error: Error,
  needles: readonly string[],
  depth: number,
  seen: WeakSet<object>,
): Error {
  const copy = Object.create(Object.getPrototypeOf(error) as object | null) as Error;
  const hidden = (key: string, v: unknown): void => {
    Object.defineProperty(copy, key, { value: v, writable: true, configurable: true });
  };
  hidden('message', scrub(error.message, needles));
  if (typeof error.stack === 'string') hidden('stack', scrub(error.stack, needles));
  if ('cause' in error) hidden('cause', walk(error.cause, needles, depth + 1, seen));
  redactMembers(error, copy as unknown as Record<string, unknown>, needles, depth, seen);
  return copy;
}

// ---------------------------------------------------------------- log writers

/** The four methods of a structured logger: pino's, and both packages' `Logger` port. */
export interface LogMethods {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A log target that can say which levels it writes (pino's `isLevelEnabled`). */
export interface LevelledLogMethods extends LogMethods {
  isLevelEnabled?(level: string): boolean;
}

/**
 * A logger that writes to `target` with every line's fields through {@link redactRecord} and its
 * message through {@link redactText}. Both daemons wrap their pino logger in this. A line at a
 * level the target does not write (a `debug` line at level `info`) is dropped before it is
 * redacted: the redaction of a large command is paid only for lines that are written.
 */
export function redactingLog(target: LevelledLogMethods): LogMethods {
  const writes = (level: keyof LogMethods): boolean => target.isLevelEnabled?.(level) ?? true;
  const line =
    (level: keyof LogMethods) =>
    (fields: Record<string, unknown>, message: string): void => {
      if (writes(level)) target[level](redactRecord(fields), redactText(message));
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

// ---------------------------------------------------------------- audit records

/** The fields of an audit entry that can carry what a caller said. */
export interface RedactableAuditFields {
  params?: Record<string, unknown> | undefined;
  message?: string | undefined;
  recovery?: string | undefined;
}

/**
 * An audit entry as it may be stored: parameters through {@link redactDeep}, message and recovery
 * through {@link redactText}, each also without the values found under secret keys in the
 * parameters. Every audit writer (the agent's hash-chained log, the coordinator's store) calls
 * this before it stores, and before the agent hashes.
 */
export function redactAuditEntry<T extends RedactableAuditFields>(
  entry: T,
  options: RedactOptions = {},
): T {
  const secrets = [...(options.secrets ?? []), ...secretValuesIn(entry.params)];
  return {
    ...entry,
    ...(entry.params === undefined ? {} : { params: redactRecord(entry.params, { secrets }) }),
    ...(entry.message === undefined ? {} : { message: redactText(entry.message, secrets) }),
    ...(entry.recovery === undefined ? {} : { recovery: redactText(entry.recovery, secrets) }),
  };
}

/**
 * `coordinator.yaml`: the coordinator's configuration file, parsed strictly with errors that name
 * their YAML path and line. Relative paths are resolved against the file's directory.
 *
 * ```yaml
 * listen: { host: 127.0.0.1, port: 7443 }     # port 0 picks a free port
 * tls: { cert: cert.pem, key: key.pem }       # optional; without it the server speaks plain HTTP
 * dataDir: /var/lib/launchplane-coordinator   # database, signing key, admin token
 * publicUrl: https://coord.example:7443       # what agents and the CLI dial
 * coordinatorId: ctl-1                        # optional; generated at first start and kept
 * github:
 *   apiUrl: https://api.github.com
 *   webUrl: https://github.com
 *   auth: { tokenFile: /etc/launchplane/github.token }   # or {token} or {appId, privateKeyFile, installationId}
 *   webhook: { secretFile: /etc/launchplane/webhook.secret, maxBodyBytes: 1048576 }   # optional
 * jobs:                                       # demand: the job store and its polling safety net
 *   poll: { enabled: true, intervalSec: 60, minRateRemaining: 500 }
 *   retention: { completedSec: 86400, staleSec: 604800, deliveriesSec: 259200 }
 * policyFile: policy.yaml                     # optional; applied at start when its digest is new
 * reconcile: { auto: false, intervalSec: 30, minGapSec: 1 }  # minGapSec: least gap when a job wakes it
 * timeouts: { createOnlineSec: 300, drainSec: 900, onlinePollMaxSec: 10 }
 * drain: { settleSec: 60, settleObservations: 3, pollSec: 5 }   # idle = N checks in a row over ≥ settleSec
 * agents: { heartbeatSec: 15, handshakeTimeoutSec: 10, commandTimeoutSec: 30, commandLifetimeSec: 120,
 *           maxPendingHandshakes: 2048, maxBufferedBytes: 1048576 }        # an agent that stops reading is cut off past this
 * limits: { pendingHandshakes: 128, pendingRequests: 32, pendingChallenges: 32,     # per source address
 *           refusalsPerMinute: 60, exempt: [] }                           # before authentication
 * http: { maxBodyBytes: 1048576 }
 * log: { level: info }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import { z } from 'zod';
import {
  LaunchplaneError,
  MAX_COMMAND_LIFETIME_SEC,
  coordinatorIdSchema,
  formatIssue,
  parseYamlWithSchema,
} from '@launchplane/shared';

const path = z.string().min(1);

/** `10.0.0.5`, `10.0.0.0/8`, `2001:db8::/32`. */
function isAddressOrCidr(value: string): boolean {
  const [address = '', bits, ...rest] = value.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

const githubAuthSchema = z.union([
  z.strictObject({ token: z.string().min(1) }),
  z.strictObject({ tokenFile: path }),
  z.strictObject({
    appId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]),
    privateKeyFile: path,
    installationId: z.number().int().positive(),
  }),
]);

/** Largest webhook body accepted by default. */
export const WEBHOOK_MAX_BODY_BYTES = 1024 * 1024;
const POLL_DEFAULTS = { enabled: true, intervalSec: 60, minRateRemaining: 500 };
const RETENTION_DEFAULTS = {
  completedSec: 86_400,
  staleSec: 7 * 86_400,
  deliveriesSec: 3 * 86_400,
};

export const coordinatorConfigSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(7443),
    })
    .default({ host: '127.0.0.1', port: 7443 }),
  tls: z.strictObject({ cert: path, key: path }).optional(),
  dataDir: path,
  publicUrl: z.url({ protocol: /^https?$/ }).optional(),
  coordinatorId: coordinatorIdSchema.optional(),
  github: z
    .strictObject({
      apiUrl: z.url({ protocol: /^https?$/ }).default('https://api.github.com'),
      webUrl: z.url({ protocol: /^https?$/ }).default('https://github.com'),
      auth: githubAuthSchema.optional(),
      /**
       * Least gap between two writes (POST, PATCH, PUT, DELETE) to GitHub, in ms. github.com asks
       * integrations for at least a second between writes (secondary rate limits); a GitHub
       * Enterprise Server without those limits may take less.
       */
      minWriteIntervalMs: z.number().int().min(0).max(60_000).default(1000),
      /**
       * `workflow_job` deliveries at `POST /v1/github/webhook`, checked against the HMAC secret
       * in `secretFile` (owner-only). Without it the route answers 404 and demand comes from
       * polling alone.
       */
      webhook: z
        .strictObject({
          secretFile: path,
          /** A `workflow_job` delivery is a few KiB; GitHub caps any payload at 25 MB. */
          maxBodyBytes: z
            .number()
            .int()
            .min(1024)
            .max(25 * 1024 * 1024)
            .default(WEBHOOK_MAX_BODY_BYTES),
        })
        .optional(),
    })
    .default({
      apiUrl: 'https://api.github.com',
      webUrl: 'https://github.com',
      minWriteIntervalMs: 1000,
    }),
  /**
   * The job store: GitHub Actions jobs of the policy's scopes, from webhooks and from polling
   * the repositories of pools that follow demand (docs/coordinator-config.md "Demand: webhooks and polling").
   */
  jobs: z
    .strictObject({
      poll: z
        .strictObject({
          enabled: z.boolean().default(true),
          intervalSec: z.number().int().min(10).max(3600).default(60),
          /** A round is skipped while GitHub's remaining request budget is below this. */
          minRateRemaining: z.number().int().min(0).max(1_000_000).default(500),
        })
        .default(POLL_DEFAULTS),
      retention: z
        .strictObject({
          /** Completed jobs are kept this long after they completed (queue-wait figures). */
          completedSec: z
            .number()
            .int()
            .min(3600)
            .max(90 * 86_400)
            .default(86_400),
          /** A job GitHub has said nothing about for this long is dropped, whatever its status. */
          staleSec: z
            .number()
            .int()
            .min(86_400)
            .max(90 * 86_400)
            .default(7 * 86_400),
          /** Delivery ids are remembered this long (GitHub redelivers up to three days back). */
          deliveriesSec: z
            .number()
            .int()
            .min(3600)
            .max(90 * 86_400)
            .default(3 * 86_400),
        })
        .default(RETENTION_DEFAULTS),
    })
    .default({ poll: POLL_DEFAULTS, retention: RETENTION_DEFAULTS }),
  policyFile: path.optional(),
  reconcile: z
    .strictObject({
      auto: z.boolean().default(false),
      intervalSec: z.number().int().min(5).max(86_400).default(30),
      /**
       * Least seconds between the end of a round and the next one when demand wakes it early
       * (a queued job's webhook): a burst of jobs makes a round per gap, not one per job.
       */
      minGapSec: z.number().min(0.1).max(60).default(1),
    })
    .default({ auto: false, intervalSec: 30, minGapSec: 1 }),
  timeouts: z
    .strictObject({
      createOnlineSec: z.number().int().min(1).max(86_400).default(300),
      drainSec: z.number().int().min(1).max(86_400).default(900),
      /**
       * While a new or restarted lane's runner is not online yet, GitHub is asked again after
       * 1, 2, 4… seconds, at most this far apart.
       */
      onlinePollMaxSec: z.number().int().min(1).max(300).default(10),
    })
    .default({ createOnlineSec: 300, drainSec: 900, onlinePollMaxSec: 10 }),
  /**
   * When a draining lane counts as idle: `settleObservations` checks in a row, `pollSec` apart,
   * spanning at least `settleSec`, where the host and GitHub both say idle. Keep `settleSec` above
   * GitHub's busy-flag lag (25–60 s on github.com).
   */
  drain: z
    .strictObject({
      settleSec: z.number().int().min(0).max(3600).default(60),
      settleObservations: z.number().int().min(1).max(100).default(3),
      pollSec: z.number().int().min(1).max(300).default(5),
    })
    .default({ settleSec: 60, settleObservations: 3, pollSec: 5 }),
  agents: z
    .strictObject({
      heartbeatSec: z.number().int().min(1).max(300).default(15),
      handshakeTimeoutSec: z.number().int().min(1).max(300).default(10),
      commandTimeoutSec: z.number().int().min(1).max(3600).default(30),
      /**
       * How long a signed command stays valid (`exp - iat`). An agent refuses it after that
       * plus the 30 s clock-skew allowance, however late it arrives; shorter narrows the window
       * in which a delayed command could still act. At most 300
       * (docs/design/protocol.md "Lifetime, skew and replay").
       */
      commandLifetimeSec: z.number().int().min(1).max(MAX_COMMAND_LIFETIME_SEC).default(120),
      maxPendingHandshakes: z.number().int().min(1).max(1_000_000).default(2048),
      /**
       * Bytes queued for one agent that its socket has not taken yet; past this the agent is
       * not reading and its session is terminated, so one stuck host cannot grow the
       * coordinator's memory. At least one largest frame (256 KiB).
       */
      maxBufferedBytes: z
        .number()
        .int()
        .min(256 * 1024)
        .max(1024 * 1024 * 1024)
        .default(1024 * 1024),
    })
    .default({
      heartbeatSec: 15,
      handshakeTimeoutSec: 10,
      commandTimeoutSec: 30,
      commandLifetimeSec: 120,
      maxPendingHandshakes: 2048,
      maxBufferedBytes: 1024 * 1024,
    }),
  /**
   * What one source address (an IPv4 address, or an IPv6 /64) may hold or cost before it has
   * authenticated. Past `refusalsPerMinute` refused requests and hellos, it gets 429
   * (`LP_RATE_LIMITED`) for anything unauthenticated until its minute is over. Refusals are
   * audited as one record per source and minute with a count. `exempt` addresses and CIDR blocks
   * (a NAT in front of many agents, a bastion) are counted but never limited.
   */
  limits: z
    .strictObject({
      pendingHandshakes: z.number().int().min(1).max(1_000_000).default(128),
      pendingRequests: z.number().int().min(1).max(1_000_000).default(32),
      pendingChallenges: z.number().int().min(1).max(1_000_000).default(32),
      refusalsPerMinute: z.number().int().min(1).max(1_000_000).default(60),
      exempt: z
        .array(
          z.string().refine(isAddressOrCidr, { message: 'must be an IP address or CIDR block' }),
        )
        .max(1000)
        .default([]),
    })
    .default({
      pendingHandshakes: 128,
      pendingRequests: 32,
      pendingChallenges: 32,
      refusalsPerMinute: 60,
      exempt: [],
    }),
  http: z
    .strictObject({
      maxBodyBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(1024 * 1024),
    })
    .default({ maxBodyBytes: 1024 * 1024 }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
});

/** The parsed configuration, paths absolute. */
export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema>;

/** Parses config text; relative paths resolve against `baseDir`. Throws LP_CONFIG_INVALID. */
export function parseCoordinatorConfig(
  text: string,
  opts: { baseDir: string; source?: string },
): CoordinatorConfig {
  const result = parseYamlWithSchema(text, coordinatorConfigSchema);
  if (!result.ok) {
    const lines = result.issues.map((i) => formatIssue(i, opts.source));
    throw new LaunchplaneError(
      'LP_CONFIG_INVALID',
      `Invalid coordinator config${opts.source === undefined ? '' : ` "${opts.source}"`}: ${lines.join('; ')}`,
      { details: { issues: result.issues }, recovery: 'Fix each path named above' },
    );
  }
  const c = result.value;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(opts.baseDir, p));
  const auth = c.github.auth;
  const webhook = c.github.webhook;
  return {
    ...c,
    dataDir: abs(c.dataDir),
    ...(c.tls === undefined ? {} : { tls: { cert: abs(c.tls.cert), key: abs(c.tls.key) } }),
    ...(c.policyFile === undefined ? {} : { policyFile: abs(c.policyFile) }),
    github: {
      ...c.github,
      ...(auth === undefined
        ? {}
        : {
            auth:
              'tokenFile' in auth
                ? { tokenFile: abs(auth.tokenFile) }
                : 'privateKeyFile' in auth
                  ? { ...auth, privateKeyFile: abs(auth.privateKeyFile) }
                  : auth,
          }),
      ...(webhook === undefined
        ? {}
        : { webhook: { ...webhook, secretFile: abs(webhook.secretFile) } }),
    },
  };
}

/** Reads and parses a config file. Throws LP_NOT_FOUND or LP_CONFIG_INVALID. */
export async function loadCoordinatorConfig(file: string): Promise<CoordinatorConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new LaunchplaneError('LP_NOT_FOUND', `Cannot read coordinator config "${file}"`, {
      cause,
      recovery: 'Check the --config path and that the file is readable',
    });
  }
  return parseCoordinatorConfig(text, { baseDir: dirname(resolve(file)), source: file });
}

/** The URL agents dial: `publicUrl` with ws(s) and `/v1/agent`. */
export function agentUrlOf(publicUrl: string): string {
  const u = new URL(publicUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/agent`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

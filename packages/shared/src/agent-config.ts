/**
 * The agent's config file (docs/agent-config.md). The `optIn` section is the host's own consent:
 * the agent enforces it whatever the coordinator says. Empty means nothing is allowed.
 */
import { z } from 'zod';
import { hostIdSchema, labelSchema, isReservedLabel } from './names.js';
import { optInSchema } from './protocol.js';
import { TLS_PIN_PATTERN } from './tls-pin.js';
import { parseYamlWithSchema } from './yaml-config.js';
import type { ParseResult } from './yaml-config.js';

export const DEFAULT_AGENT_CONFIG_PATH = '/etc/launchplane/agent.yaml';
export const DEFAULT_DATA_DIR = '/var/lib/launchplane';

/** A POSIX user name as `useradd` and systemd's `User=` accept it. */
const userNameSchema = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, {
  message: 'must be a user name: lowercase letters, digits, "_" or "-", at most 32 characters',
});

/** The default uid range of lane users (see {@link laneUserModel}). */
export const DEFAULT_LANE_UID_RANGE = '60600-61099';
/** The default seconds a lane's runner gets to stop before SIGKILL. */
export const DEFAULT_STOP_TIMEOUT_SEC = 300;

/**
 * `"<first>-<last>"`: uids of lane users. Kept apart from root, system users (below 1000) and
 * `nobody`/the 16-bit -1 (65534, 65535); a uid in the range that is taken is skipped.
 */
const uidRangeSchema = z
  .string()
  .regex(/^\d{1,10}-\d{1,10}$/, { message: 'must be "<first uid>-<last uid>", e.g. "60600-61099"' })
  .refine(
    (r) => {
      const [first, last] = r.split('-').map(Number) as [number, number];
      return first >= 1000 && first <= last && last <= 2_147_483_646;
    },
    { message: 'must run from 1000 or more up to a last uid no smaller than the first' },
  )
  .refine(
    (r) => {
      const [first, last] = r.split('-').map(Number) as [number, number];
      return last < 65534 || first > 65535;
    },
    { message: 'must not include 65534 (nobody) or 65535' },
  );

const fingerprintSchema = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, {
  message: 'must be "SHA256:" and 43 base64 characters',
});

export const agentConfigSchema = z
  .strictObject({
    hostId: hostIdSchema,
    /** Written by `launchplane-agent enroll`; absent until the host is enrolled. */
    coordinator: z
      .strictObject({
        url: z.url({ protocol: /^wss?$/ }),
        fingerprint: fingerprintSchema,
        coordinatorId: z.string().min(1).max(64).optional(),
        /**
         * The coordinator's TLS key pin (`sha256//…`, as `launchplane enroll-token create` prints
         * it). When set, every connection checks the server's key against it before sending
         * anything, instead of trusting a certificate authority.
         */
        tlsPin: z
          .string()
          .regex(TLS_PIN_PATTERN, { message: 'must be "sha256//" and 44 base64 characters' })
          .optional(),
      })
      .refine((c) => c.tlsPin === undefined || c.url.startsWith('wss:'), {
        message: 'tlsPin needs a wss:// url',
        path: ['tlsPin'],
      })
      .optional(),
    dataDir: z.string().startsWith('/').default(DEFAULT_DATA_DIR),
    optIn: optInSchema.default({ repositories: [], organizations: [], backends: [], maxLanes: 0 }),
    capabilities: z
      .array(labelSchema.refine((l) => !isReservedLabel(l), { message: 'uses a reserved prefix' }))
      .max(50)
      .default([]),
    systemd: z
      .strictObject({
        bus: z.enum(['system', 'user']).default('system'),
        /** Where lane units are written; defaults by bus (`/etc/systemd/system` or the user dir). */
        unitDir: z.string().startsWith('/').optional(),
        /** Deprecated alias of `runner.runAsUser`. */
        runAsUser: userNameSchema.optional(),
      })
      .default({ bus: 'system' }),
    docker: z
      .strictObject({ socketPath: z.string().startsWith('/').default('/var/run/docker.sock') })
      .default({ socketPath: '/var/run/docker.sock' }),
    runner: z
      .strictObject({
        /** An extracted actions/runner release (or the stub runner in tests). */
        template: z.string().startsWith('/').default('/opt/actions-runner'),
        /**
         * The default lane-user model: every systemd lane runs as its own user, made for it from this
         * uid range and deleted with it. Exclusive with `runAsUser`.
         */
        users: z
          .strictObject({ uidRange: uidRangeSchema.default(DEFAULT_LANE_UID_RANGE) })
          .optional(),
        /** Instead of a user per lane: one existing user runs every systemd lane (shared). */
        runAsUser: userNameSchema.optional(),
        /** Lanes may run as root (`RUNNER_ALLOW_RUNASROOT=1`); refused without it. */
        allowRoot: z.boolean().default(false),
        /** Seconds a stopping runner gets before SIGKILL (`TimeoutStopSec=`, Docker's stop timeout). */
        stopTimeoutSec: z.number().int().min(10).max(86_400).default(DEFAULT_STOP_TIMEOUT_SEC),
      })
      .default({
        template: '/opt/actions-runner',
        allowRoot: false,
        stopTimeoutSec: DEFAULT_STOP_TIMEOUT_SEC,
      }),
    health: z
      .strictObject({
        intervalSec: z.number().int().min(1).max(3600).default(10),
        /** Failures in `failureWindowSec` that make a lane `failed`. */
        maxFailures: z.number().int().min(1).max(100).default(5),
        failureWindowSec: z.number().int().min(10).max(86_400).default(600),
        backoffBaseSec: z.number().min(0.1).max(600).default(2),
        backoffCapSec: z.number().min(1).max(3600).default(120),
      })
      .default({
        intervalSec: 10,
        maxFailures: 5,
        failureWindowSec: 600,
        backoffBaseSec: 2,
        backoffCapSec: 120,
      }),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
      })
      .default({ level: 'info' }),
  })
  .superRefine((config, ctx) => {
    const legacy = config.systemd.runAsUser;
    const { runAsUser, users } = config.runner;
    if (legacy !== undefined && runAsUser !== undefined && legacy !== runAsUser) {
      ctx.addIssue({
        code: 'custom',
        path: ['systemd', 'runAsUser'],
        message: `deprecated alias of runner.runAsUser, and names another user ("${legacy}" against "${runAsUser}"); keep only runner.runAsUser`,
      });
    }
    if (users !== undefined && (runAsUser ?? legacy) !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runner', 'users'],
        message:
          'a user per lane (runner.users) and one shared user (runner.runAsUser) exclude each other; keep one',
      });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

/**
 * Who runs a host's systemd lanes, when the manager can switch users:
 * - `per-lane`: a user of its own per lane, from `uidRange` (the default);
 * - `shared`: one existing user for every lane (`runner.runAsUser`, or the deprecated
 *   `systemd.runAsUser`).
 */
export type LaneUserModel =
  { kind: 'per-lane'; firstUid: number; lastUid: number } | { kind: 'shared'; user: string };

/** The lane-user model of a config (see {@link LaneUserModel}). */
export function laneUserModel(config: Pick<AgentConfig, 'runner' | 'systemd'>): LaneUserModel {
  const shared = config.runner.runAsUser ?? config.systemd.runAsUser;
  if (shared !== undefined) return { kind: 'shared', user: shared };
  const [firstUid, lastUid] = (config.runner.users?.uidRange ?? DEFAULT_LANE_UID_RANGE)
    .split('-')
    .map(Number) as [number, number];
  return { kind: 'per-lane', firstUid, lastUid };
}

/** Parses and validates an agent config file's text. Never throws for bad input. */
export function parseAgentConfig(text: string): ParseResult<AgentConfig> {
  return parseYamlWithSchema(text, agentConfigSchema);
}

/**
 * The agent's config file (CLI.md "Agent config"). The `optIn` section is the host's own consent:
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

const fingerprintSchema = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, {
  message: 'must be "SHA256:" and 43 base64 characters',
});

export const agentConfigSchema = z.strictObject({
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
      /** User that runs lane processes under the system bus (never root in production). */
      runAsUser: z.string().min(1).max(64).optional(),
    })
    .default({ bus: 'system' }),
  docker: z
    .strictObject({ socketPath: z.string().startsWith('/').default('/var/run/docker.sock') })
    .default({ socketPath: '/var/run/docker.sock' }),
  runner: z
    .strictObject({
      /** An extracted actions/runner release (or the stub runner in tests). */
      template: z.string().startsWith('/').default('/opt/actions-runner'),
    })
    .default({ template: '/opt/actions-runner' }),
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
});

export type AgentConfig = z.output<typeof agentConfigSchema>;

/** Parses and validates an agent config file's text. Never throws for bad input. */
export function parseAgentConfig(text: string): ParseResult<AgentConfig> {
  return parseYamlWithSchema(text, agentConfigSchema);
}

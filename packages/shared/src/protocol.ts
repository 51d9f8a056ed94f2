/**
 * Zod schemas of every message in
 * docs/design/protocol.md. Parse at the socket or HTTP edge only, and pass the
 * parsed types inward. Every object schema is strict: unknown fields are refused.
 */
import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { laneStateSchema } from './lane-state.js';
import {
  coordinatorIdSchema,
  hostIdSchema,
  labelSchema,
  laneIdSchema,
  organizationSchema,
  poolNameSchema,
  repositorySchema,
  runnerGroupNameSchema,
} from './names.js';

export const PROTOCOL_SUBPROTOCOL = 'launchplane.v1';
export const PROTOCOL_VERSION = 1;
/** Largest WebSocket message either side accepts (docs/design/protocol.md "Limits"). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** Clock skew allowed on signed times, in seconds. */
export const CLOCK_SKEW_SEC = 30;
/** Longest life of a signed command, in seconds. */
export const MAX_COMMAND_LIFETIME_SEC = 300;
export const DEFAULT_HEARTBEAT_SEC = 15;

const unixSeconds = z.number().int().nonnegative();
const b64url = z.string().regex(/^[A-Za-z0-9_-]+$/);
const compactJws = z
  .string()
  .max(MAX_PAYLOAD_BYTES)
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
const shortText = z.string().max(4096);

/** A command's `jti`: a UUID (RFC 9562 version and variant). */
export const jtiSchema = z.uuid();

export const backendSchema = z.enum(['systemd', 'docker']);
export type Backend = z.infer<typeof backendSchema>;

/** A pool's GitHub scope: one repository or one organization. */
export const scopeSchema = z.union([
  z.strictObject({ repository: repositorySchema }),
  z.strictObject({ organization: organizationSchema }),
]);
export type Scope = z.infer<typeof scopeSchema>;

/** The error body carried in results and HTTP answers. */
export const errorBodySchema = z.strictObject({
  code: z.enum(ERROR_CODES),
  message: shortText,
  recovery: shortText.optional(),
});

/** A host's own consent (agent config `optIn`), as reported in its inventory. */
export const optInSchema = z.strictObject({
  repositories: z.array(repositorySchema).default([]),
  organizations: z.array(organizationSchema).default([]),
  /** When given, only these pools; when absent, any pool of an opted-in scope. */
  pools: z.array(poolNameSchema).optional(),
  backends: z.array(backendSchema).default([]),
  maxLanes: z.number().int().min(0).max(1000).default(0),
});
export type OptIn = z.infer<typeof optInSchema>;

/** The local busy signal of a lane (job hooks and the `Runner.Worker` process). */
export const localBusySchema = z.strictObject({
  busy: z.boolean(),
  /** A job-started hook ran without its job-completed hook. */
  jobRunning: z.boolean(),
  /** A `Runner.Worker` process lives in the lane's cgroup or container. */
  workerProcess: z.boolean(),
  lastJobStartedAt: unixSeconds.optional(),
  lastJobCompletedAt: unixSeconds.optional(),
  jobsCompleted: z.number().int().nonnegative().default(0),
});
export type LocalBusy = z.infer<typeof localBusySchema>;

/** One lane as an agent reports it (inventory, results, events). */
export const laneReportSchema = z.strictObject({
  laneId: laneIdSchema,
  name: z.string().max(64),
  pool: poolNameSchema,
  scope: scopeSchema,
  backend: backendSchema,
  ephemeral: z.boolean(),
  state: laneStateSchema,
  runnerId: z.number().int().positive().optional(),
  labels: z.array(labelSchema),
  /** What systemd or Docker shows, in its own words (`active/running`, `exited`). */
  backendState: shortText.optional(),
  local: localBusySchema.optional(),
  restarts: z.number().int().nonnegative().default(0),
  lastHealthAt: unixSeconds.optional(),
  recovery: shortText.optional(),
  createdAt: unixSeconds,
  updatedAt: unixSeconds,
});
export type LaneReport = z.infer<typeof laneReportSchema>;

// ---------------------------------------------------------------- commands

const commandBase = {
  laneId: laneIdSchema,
  dryRun: z.boolean(),
};

/** How a lane's runner is configured: a JIT config (ephemeral) or a registration token. */
export const runnerConfigSchema = z.union([
  z.strictObject({
    jitConfig: z
      .string()
      .min(1)
      .max(64 * 1024),
  }),
  z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    registrationToken: z.string().min(1).max(4096),
    /** `config.sh --runnergroup NAME`; absent for the default group. */
    runnerGroup: runnerGroupNameSchema.optional(),
  }),
]);
export type RunnerConfig = z.infer<typeof runnerConfigSchema>;

export const laneCreateSchema = z.strictObject({
  type: z.literal('lane.create'),
  ...commandBase,
  name: z.string().min(1).max(64),
  scope: scopeSchema,
  pool: poolNameSchema,
  labels: z.array(labelSchema).min(1).max(100),
  backend: backendSchema,
  ephemeral: z.boolean(),
  /** Known up front for JIT lanes; a persistent lane reports it after `config.sh`. */
  runnerId: z.number().int().positive().optional(),
  runner: runnerConfigSchema,
  docker: z
    .strictObject({
      image: z.string().min(1).max(512),
      network: z.string().min(1).max(128).optional(),
    })
    .optional(),
});

export const laneStartSchema = z.strictObject({ type: z.literal('lane.start'), ...commandBase });
export const laneStopSchema = z.strictObject({ type: z.literal('lane.stop'), ...commandBase });
export const laneRestartSchema = z.strictObject({
  type: z.literal('lane.restart'),
  ...commandBase,
});
export const laneRemoveSchema = z.strictObject({
  type: z.literal('lane.remove'),
  ...commandBase,
  force: z.boolean(),
});
export const laneInspectSchema = z.strictObject({
  type: z.literal('lane.inspect'),
  ...commandBase,
});

export const COMMAND_TYPES = [
  'lane.create',
  'lane.start',
  'lane.stop',
  'lane.restart',
  'lane.remove',
  'lane.inspect',
] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export const commandSchema = z.discriminatedUnion('type', [
  laneCreateSchema,
  laneStartSchema,
  laneStopSchema,
  laneRestartSchema,
  laneRemoveSchema,
  laneInspectSchema,
]);
export type Command = z.infer<typeof commandSchema>;
export type LaneCreateCommand = z.infer<typeof laneCreateSchema>;

/** The payload of a signed command (docs/design/protocol.md "Envelope"). */
export const CommandPayloadSchema = z.strictObject({
  iss: coordinatorIdSchema,
  aud: hostIdSchema,
  iat: unixSeconds,
  exp: unixSeconds,
  jti: jtiSchema,
  seq: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  cmd: commandSchema,
});
export type CommandPayload = z.infer<typeof CommandPayloadSchema>;

// ---------------------------------------------------------------- results and events

export const ResultPayloadSchema = z.strictObject({
  iss: hostIdSchema,
  jti: jtiSchema,
  ok: z.boolean(),
  dryRun: z.boolean(),
  /** One word for what happened: `created`, `removed`, `refused`, `would-create`, … */
  outcome: z.string().min(1).max(64),
  error: errorBodySchema.optional(),
  lane: laneReportSchema.optional(),
  /** The steps taken, or for a dry run the steps that would be taken, in order. */
  steps: z.array(shortText).max(100).optional(),
});
export type ResultPayload = z.infer<typeof ResultPayloadSchema>;

export const auditOutcomeSchema = z.enum(['ok', 'refused', 'failed', 'dry-run']);
export type AuditOutcome = z.infer<typeof auditOutcomeSchema>;

/** One audit record (docs/design/architecture.md "Dry runs and audit"). Parameters are redacted before they get here. */
export const auditRecordSchema = z.strictObject({
  /** Position in the writer's log, from 1. */
  seq: z.number().int().positive(),
  at: unixSeconds,
  /** Token id, `reconciler`, `agent`, `coordinator` or `cli:local`. */
  actor: z.string().min(1).max(128),
  hostId: hostIdSchema.optional(),
  laneId: laneIdSchema.optional(),
  action: z.string().min(1).max(64),
  params: z.record(z.string(), z.unknown()).default({}),
  dryRun: z.boolean(),
  outcome: auditOutcomeSchema,
  code: z.enum(ERROR_CODES).optional(),
  message: shortText.optional(),
  recovery: shortText.optional(),
  /** Hash chain (agent audit log): SHA-256 hex of the previous record and of this one. */
  prevHash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  hash: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

export const EventPayloadSchema = z.strictObject({
  iss: hostIdSchema,
  seq: z.number().int().positive(),
  at: unixSeconds,
  event: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('audit'), record: auditRecordSchema }),
    z.strictObject({ kind: z.literal('lane'), lane: laneReportSchema }),
    z.strictObject({ kind: z.literal('lane-removed'), laneId: laneIdSchema }),
  ]),
});
export type EventPayload = z.infer<typeof EventPayloadSchema>;

// ---------------------------------------------------------------- frames

export const challengeMessageSchema = z.strictObject({
  type: z.literal('challenge'),
  nonce: b64url.length(43),
  coordinatorId: coordinatorIdSchema,
});
export const helloMessageSchema = z.strictObject({
  type: z.literal('hello'),
  hostId: hostIdSchema,
  nonce: b64url.length(43),
  agentVersion: z.string().min(1).max(64),
  sig: b64url.length(86),
});
export const welcomeMessageSchema = z.strictObject({
  type: z.literal('welcome'),
  heartbeatSec: z.number().int().min(1).max(300),
});
export const inventoryMessageSchema = z.strictObject({
  type: z.literal('inventory'),
  optIn: optInSchema,
  lanes: z.array(laneReportSchema).max(1000),
  capabilities: z.array(labelSchema).max(100),
});
export const commandMessageSchema = z.strictObject({ type: z.literal('command'), jws: compactJws });
export const resultMessageSchema = z.strictObject({ type: z.literal('result'), jws: compactJws });
export const eventMessageSchema = z.strictObject({
  type: z.literal('event'),
  seq: z.number().int().positive(),
  jws: compactJws,
});
export const ackMessageSchema = z.strictObject({
  type: z.literal('ack'),
  seq: z.number().int().positive(),
});

/** Frames the coordinator sends. */
export const coordinatorMessageSchema = z.discriminatedUnion('type', [
  challengeMessageSchema,
  welcomeMessageSchema,
  commandMessageSchema,
  ackMessageSchema,
]);
export type CoordinatorMessage = z.infer<typeof coordinatorMessageSchema>;

/** Frames an agent sends. */
export const agentMessageSchema = z.discriminatedUnion('type', [
  helloMessageSchema,
  inventoryMessageSchema,
  resultMessageSchema,
  eventMessageSchema,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

export type ChallengeMessage = z.infer<typeof challengeMessageSchema>;
export type HelloMessage = z.infer<typeof helloMessageSchema>;
export type WelcomeMessage = z.infer<typeof welcomeMessageSchema>;
export type InventoryMessage = z.infer<typeof inventoryMessageSchema>;

// ---------------------------------------------------------------- enrollment (HTTP)

export const publicJwkSchema = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: b64url.length(43),
});
export type PublicJwk = z.infer<typeof publicJwkSchema>;

const sha256Fingerprint = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/);

/**
 * `POST /v1/enroll/challenge` (docs/security.md "Enrollment handshake"): the agent's fresh nonce.
 * Nothing secret is sent until the answer is checked against the pinned coordinator key.
 */
export const enrollChallengeRequestSchema = z.strictObject({
  hostId: hostIdSchema,
  agentNonce: b64url.length(43),
});
export type EnrollChallengeRequest = z.infer<typeof enrollChallengeRequestSchema>;

/** The coordinator's signed challenge: its key, a single-use nonce and when that nonce expires. */
export const enrollChallengeResponseSchema = z.strictObject({
  coordinatorId: coordinatorIdSchema,
  coordinatorKey: publicJwkSchema,
  nonce: b64url.length(43),
  expiresAt: unixSeconds,
  sig: b64url.length(86),
});
export type EnrollChallengeResponse = z.infer<typeof enrollChallengeResponseSchema>;

/**
 * `POST /v1/enroll`: the host key and a proof that the sender holds the enrollment token, bound to
 * that key and to the challenge. The token itself never travels.
 */
export const enrollRequestSchema = z.strictObject({
  tokenId: z.string().regex(/^[0-9a-f]{16}$/),
  hostId: hostIdSchema,
  publicKey: publicJwkSchema,
  agentVersion: z.string().min(1).max(64),
  /** The coordinator nonce from the challenge. */
  nonce: b64url.length(43),
  /** HMAC-SHA256, base64url. */
  proof: b64url.length(43),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

/** The coordinator's signed answer: the host key it recorded and where to dial. */
export const enrollResponseSchema = z.strictObject({
  hostId: hostIdSchema,
  coordinatorId: coordinatorIdSchema,
  coordinatorKey: publicJwkSchema,
  agentUrl: z.url({ protocol: /^wss?$/ }),
  hostFingerprint: sha256Fingerprint,
  sig: b64url.length(86),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

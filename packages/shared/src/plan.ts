/**
 * The control plan (DESIGN.md "plan"): the deterministic diff of policy against observed state.
 * Every action carries its reason; every desired lane that cannot be made carries the guardrail
 * that blocks it; runners that are not provably ours are listed as unmanaged, never acted on.
 */
import { z } from 'zod';
import { laneStateSchema } from './lane-state.js';
import { hostIdSchema, laneIdSchema, poolNameSchema } from './names.js';
import { backendSchema, scopeSchema } from './protocol.js';

export const GUARDRAILS = [
  'host-not-allowed',
  'repository-not-allowed',
  'organization-not-allowed',
  'host-not-enrolled',
  'host-revoked',
  'host-offline',
  'host-not-opted-in-repository',
  'host-not-opted-in-organization',
  'host-not-opted-in-pool',
  'host-not-opted-in-backend',
  'host-degraded',
  'capacity',
  'github-unavailable',
] as const;
export type Guardrail = (typeof GUARDRAILS)[number];

const reason = z.string().min(1).max(500);

export const planActionSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('create'),
    /** Deterministic id of the action within the plan. */
    id: z.string(),
    hostId: hostIdSchema,
    pool: poolNameSchema,
    scope: scopeSchema,
    backend: backendSchema,
    ephemeral: z.boolean(),
    reason,
  }),
  z.strictObject({
    kind: z.literal('remove'),
    id: z.string(),
    hostId: hostIdSchema,
    pool: poolNameSchema,
    laneId: laneIdSchema,
    runnerId: z.number().int().positive().optional(),
    state: laneStateSchema,
    reason,
  }),
  z.strictObject({
    kind: z.literal('restart'),
    id: z.string(),
    hostId: hostIdSchema,
    pool: poolNameSchema,
    laneId: laneIdSchema,
    runnerId: z.number().int().positive().optional(),
    state: laneStateSchema,
    reason,
  }),
  z.strictObject({
    kind: z.literal('repair-labels'),
    id: z.string(),
    hostId: hostIdSchema,
    pool: poolNameSchema,
    laneId: laneIdSchema,
    runnerId: z.number().int().positive(),
    missing: z.array(z.string()),
    extra: z.array(z.string()),
    reason,
  }),
]);
export type PlanAction = z.infer<typeof planActionSchema>;

export const blockedSchema = z.strictObject({
  hostId: hostIdSchema,
  pool: poolNameSchema,
  /** Lanes wanted by the policy that this guardrail keeps from being made. */
  count: z.number().int().positive(),
  guardrail: z.enum(GUARDRAILS),
  message: reason,
});
export type Blocked = z.infer<typeof blockedSchema>;

export const unmanagedRunnerSchema = z.strictObject({
  runnerId: z.number().int().positive(),
  name: z.string(),
  scope: z.string(),
  status: z.string(),
  labels: z.array(z.string()),
  reason: z.string(),
});
export type UnmanagedRunner = z.infer<typeof unmanagedRunnerSchema>;

/** A capability a host reported that no lane carries, and why (see `grantedCapabilities`). */
export const ignoredCapabilitySchema = z.strictObject({
  hostId: hostIdSchema,
  capability: z.string().max(100),
  reason: z.enum(['reserved', 'not-granted']),
  message: reason,
});
export type IgnoredCapabilityView = z.infer<typeof ignoredCapabilitySchema>;

export const controlPlanSchema = z.strictObject({
  version: z.literal(1),
  generatedAt: z.number().int().nonnegative(),
  policyDigest: z.string().nullable(),
  actions: z.array(planActionSchema),
  blocked: z.array(blockedSchema),
  unmanaged: z.array(unmanagedRunnerSchema),
  /** Capabilities hosts reported that their lanes do not carry (reserved, or not granted). */
  ignoredCapabilities: z.array(ignoredCapabilitySchema),
  /** Observation problems that make the plan less certain (GitHub unreachable, a host stale). */
  degraded: z.array(z.string()),
  summary: z.strictObject({
    desired: z.number().int().nonnegative(),
    observed: z.number().int().nonnegative(),
    creates: z.number().int().nonnegative(),
    removes: z.number().int().nonnegative(),
    restarts: z.number().int().nonnegative(),
    repairs: z.number().int().nonnegative(),
    blocked: z.number().int().nonnegative(),
    unmanaged: z.number().int().nonnegative(),
  }),
});
export type ControlPlan = z.infer<typeof controlPlanSchema>;

/**
 * The control plan (docs/design/architecture.md "The plan"):
 * the deterministic diff of policy against observed state.
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
    /**
     * A pool that follows demand removes this idle lane (scale-down). Until its remove begins,
     * a later plan may take the lane back (`reclaim`) instead of making a new one.
     */
    scaleDown: z.boolean().optional(),
    reason,
  }),
  z.strictObject({
    /**
     * Takes back a lane whose scale-down has not begun removing it yet: its runner gets its
     * canonical labels again and the lane serves the pool, instead of a new lane being made.
     */
    kind: z.literal('reclaim'),
    id: z.string(),
    hostId: hostIdSchema,
    pool: poolNameSchema,
    laneId: laneIdSchema,
    runnerId: z.number().int().positive(),
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

const count = z.number().int().nonnegative();

/**
 * A pool that follows demand, as the plan sized it: its demand, its target and why
 * (`pool build: 3 queued jobs + minIdle 1 → target 4 (max 6)`).
 */
export const poolScalingSchema = z.strictObject({
  pool: poolNameSchema,
  /** Lanes holding a slot before the plan, of which `busy` run a job. */
  lanes: count,
  busy: count,
  /** Matching jobs with no runner yet that count toward this pool. */
  queued: count,
  /** Of those, jobs a lane of the pool already took before the job data said so (reservations). */
  taken: count,
  /** `queued - taken`: the waiting jobs in the formula. */
  waiting: count,
  /** Their ids, oldest first (at most 100). */
  waitingJobs: z.array(z.number().int().positive()).max(100),
  /** The effective bounds: schedule windows applied, `max` within the pool's `lanes`. */
  min: count,
  max: count,
  minIdle: count,
  /** Schedule windows in force, by name (or `schedule[i]`). */
  windows: z.array(z.string().max(200)).max(50),
  target: count,
  creates: count,
  /** Lanes taken back from their scale-down instead of new ones made (see the `reclaim` action). */
  reclaims: count,
  removes: count,
  /** Lanes wanted that no host can take now (see `blocked`). */
  blocked: count,
  /** Waiting jobs no lane is made for because the pool is at `max`. */
  capped: count,
  /** False while the job data could not be read: the pool neither grows for jobs nor shrinks. */
  demandKnown: z.boolean(),
  /**
   * When (epoch seconds) the next spare lane will have been idle for `scaleDownAfterSec` (and be
   * past its reservation), if the pool has a spare lane not yet due: the reconciler plans again
   * then rather than at its next interval.
   */
  nextScaleDownAt: z.number().int().nonnegative().optional(),
  reason,
});
export type PoolScaling = z.infer<typeof poolScalingSchema>;

/**
 * Why a queued job matches no pool (see the coordinator's `matchJob`); stable strings.
 * - `github-default-label`: it asks for `self-hosted`, `Linux`, `X64` … which no lane carries
 * - `no-pool-for-scope`: no pool serves its repository or its repository's organization
 * - `runner-group`: GitHub gave it a runner group no pool serving it uses
 * - `labels`: pools serve it, but no lane of theirs would carry every label it asks for
 */
export const NO_MATCH_REASONS = [
  'github-default-label',
  'no-pool-for-scope',
  'runner-group',
  'labels',
] as const;
export type NoMatchReason = (typeof NO_MATCH_REASONS)[number];

export const unmatchedJobSchema = z.strictObject({
  jobId: z.number().int().positive(),
  repository: z.string().max(200),
  labels: z.array(z.string().max(200)).max(100),
  reason: z.enum(NO_MATCH_REASONS),
  message: reason,
});
export type UnmatchedJob = z.infer<typeof unmatchedJobSchema>;

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
  /**
   * Pools that follow demand (`scaling.mode: demand`), and queued jobs that match no pool (at
   * most 100). Absent when no pool follows demand, so such plans read as they always have.
   */
  scaling: z
    .strictObject({
      pools: z.array(poolScalingSchema),
      unmatched: z.array(unmatchedJobSchema).max(100),
      /** Queued jobs that match no pool, in all (`unmatched` lists the first 100). */
      unmatchedTotal: count,
    })
    .optional(),
  summary: z.strictObject({
    desired: z.number().int().nonnegative(),
    observed: z.number().int().nonnegative(),
    creates: z.number().int().nonnegative(),
    reclaims: z.number().int().nonnegative(),
    removes: z.number().int().nonnegative(),
    restarts: z.number().int().nonnegative(),
    repairs: z.number().int().nonnegative(),
    blocked: z.number().int().nonnegative(),
    unmanaged: z.number().int().nonnegative(),
  }),
});
export type ControlPlan = z.infer<typeof controlPlanSchema>;

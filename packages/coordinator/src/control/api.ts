/**
 * The control API routes (plan, apply, lanes, lane actions, runners) in the server's route
 * shape. The server authenticates, enforces roles and maps thrown `LaunchplaneError`s to HTTP
 * errors; these handlers parse their input strictly and call the control service.
 */
import { z } from 'zod';
import {
  LaunchplaneError,
  backendSchema,
  hostIdSchema,
  laneIdSchema,
  poolNameSchema,
  repositorySchema,
} from '@launchplane/shared';
import { parseBody, type Route, type RouteContext } from '../http/route.js';
import type { ActionReport } from './action-report.js';
import type { ControlService } from './control-service.js';
import type { DrainMode } from './drain-lane.js';
import { errorBody } from './saga-support.js';

const applyBody = z.strictObject({
  dryRun: z.boolean().default(false),
  wait: z.boolean().default(false),
});

const laneActionBody = z.strictObject({
  dryRun: z.boolean().default(false),
  force: z.boolean().default(false),
  timeoutSec: z.number().int().min(1).max(86_400).optional(),
  wait: z.boolean().default(true),
});

/** A workflow file name or id, or a git ref: printable, no spaces, no slashes at the ends. */
const nameLike = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[^\s\p{Cc}\p{Cf}]+$/u, { message: 'must be printable and hold no spaces' });

const smokeBody = z
  .strictObject({
    hostId: hostIdSchema,
    repository: repositorySchema,
    backend: backendSchema.optional(),
    image: z.string().min(1).max(512).optional(),
    workflow: nameLike(255)
      .refine((w) => !w.includes('/'), { message: 'must be a file name or an id, not a path' })
      .optional(),
    ref: nameLike(255).optional(),
    workflowTimeoutSec: z.number().int().min(1).max(86_400).optional(),
    dryRun: z.boolean().default(false),
  })
  .refine((b) => (b.workflow === undefined) === (b.ref === undefined), {
    message: 'a workflow and its ref go together: give both or neither',
    path: ['ref'],
  });

const lanesQuery = z.strictObject({
  host: hostIdSchema.optional(),
  pool: poolNameSchema.optional(),
});

/** The control routes, mounted by the server under `/v1/`. */
export function controlRoutes(service: ControlService): Route[] {
  const laneRoute = (mode: DrainMode): Route => ({
    method: 'POST',
    path: `/v1/lanes/:id/${mode}`,
    role: 'operator',
    handler: (ctx) => laneAction(service, mode, ctx),
  });
  return [
    {
      method: 'GET',
      path: '/v1/plan',
      role: 'viewer',
      handler: async () => ({ status: 200, body: await service.plan() }),
    },
    {
      method: 'POST',
      path: '/v1/apply',
      role: 'operator',
      handler: async (ctx) => {
        const body = parseBody(applyBody, ctx.body);
        if (body.wait || body.dryRun) {
          return {
            status: 200,
            body: await service.apply({ actor: ctx.actor, dryRun: body.dryRun }),
          };
        }
        const job = await service.startApply({ actor: ctx.actor, dryRun: false });
        return {
          status: 202,
          body: { plan: job.plan, jobId: job.id, dryRun: false, started: true },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/lanes',
      role: 'viewer',
      handler: async (ctx) => {
        const q = parseBody(lanesQuery, Object.fromEntries(ctx.query));
        const lanes = await service.lanes({
          ...(q.host === undefined ? {} : { hostId: q.host }),
          ...(q.pool === undefined ? {} : { pool: q.pool }),
        });
        return { status: 200, body: { lanes } };
      },
    },
    {
      method: 'GET',
      path: '/v1/apply',
      role: 'viewer',
      handler: answer(() => {
        const job = service.applyJob();
        if (job === undefined) throw new LaunchplaneError('LP_NOT_FOUND', 'No apply has run yet');
        return { status: 200, body: { job } };
      }),
    },
    {
      method: 'GET',
      path: '/v1/lanes/:id/job',
      role: 'viewer',
      handler: answer((ctx) => {
        const job = service.laneJob(ctx.params['id'] ?? '');
        if (job === undefined) {
          throw new LaunchplaneError(
            'LP_NOT_FOUND',
            `No action has run on lane "${ctx.params['id'] ?? ''}" here`,
          );
        }
        return { status: 200, body: { job } };
      }),
    },
    laneRoute('drain'),
    laneRoute('restart'),
    laneRoute('remove'),
    {
      method: 'POST',
      path: '/v1/smoke',
      role: 'operator',
      handler: async (ctx) => {
        const b = parseBody(smokeBody, ctx.body);
        const opts = {
          hostId: b.hostId,
          repository: b.repository,
          ...(b.backend === undefined ? {} : { backend: b.backend }),
          ...(b.image === undefined ? {} : { image: b.image }),
          ...(b.workflow === undefined ? {} : { workflow: b.workflow }),
          ...(b.ref === undefined ? {} : { ref: b.ref }),
          ...(b.workflowTimeoutSec === undefined
            ? {}
            : { workflowTimeoutSec: b.workflowTimeoutSec }),
          actor: ctx.actor,
          dryRun: b.dryRun,
        };
        // A dry run answers with its report; a smoke runs on in the background (its refusals
        // and failures are in the report that GET /v1/smoke/:id shows, and in the audit).
        if (b.dryRun) return { status: 200, body: { report: await service.smoke(opts) } };
        return { status: 202, body: { job: service.startSmoke(opts) } };
      },
    },
    {
      method: 'GET',
      path: '/v1/smoke/:id',
      role: 'viewer',
      handler: answer((ctx) => {
        const job = service.smokeJob(ctx.params['id'] ?? '');
        if (job === undefined) {
          throw new LaunchplaneError(
            'LP_NOT_FOUND',
            `No smoke "${ctx.params['id'] ?? ''}" ran on this coordinator since it started`,
            { recovery: 'Look for it with "launchplane audit"' },
          );
        }
        return { status: 200, body: { job } };
      }),
    },
    {
      method: 'GET',
      path: '/v1/runners',
      role: 'viewer',
      handler: async () => ({ status: 200, body: await service.runners() }),
    },
    {
      method: 'GET',
      path: '/v1/jobs',
      role: 'viewer',
      handler: async () => ({ status: 200, body: await service.jobs() }),
    },
    {
      method: 'GET',
      path: '/v1/jobs/:id/why',
      role: 'viewer',
      handler: async (ctx) => {
        const raw = ctx.params['id'] ?? '';
        const id = /^[1-9][0-9]{0,15}$/.test(raw) ? Number(raw) : Number.NaN;
        if (!Number.isSafeInteger(id)) {
          throw new LaunchplaneError('LP_USAGE', 'Invalid job id: must be a positive integer');
        }
        return { status: 200, body: await service.why(id) };
      },
    },
    {
      method: 'GET',
      path: '/v1/capacity',
      role: 'viewer',
      handler: async () => ({ status: 200, body: await service.capacity() }),
    },
  ];
}

async function laneAction(
  service: ControlService,
  mode: DrainMode,
  ctx: RouteContext,
): Promise<{ status: number; body: unknown }> {
  const laneId = laneIdSchema.safeParse(ctx.params['id']);
  if (!laneId.success) {
    throw new LaunchplaneError('LP_USAGE', `Invalid lane id: must be a lowercase ULID`);
  }
  const body = parseBody(laneActionBody, ctx.body);
  const opts = {
    actor: ctx.actor,
    dryRun: body.dryRun,
    force: body.force,
    ...(body.timeoutSec === undefined ? {} : { timeoutSec: body.timeoutSec }),
  };
  if (body.wait || body.dryRun) {
    // The saga goes on if the client leaves: stopping a drain half way helps no one.
    return {
      status: 200,
      body: { report: throwIfFailed(await service.laneAction(laneId.data, mode, opts)) },
    };
  }
  // Refusals (unknown lane, offline host, a saga already on the lane) answer now, not later.
  const job = await service.startLaneAction(laneId.data, mode, opts);
  return { status: 202, body: { job } };
}

/** A synchronous handler whose throws become rejections, like an async one's. */
function answer(
  fn: (ctx: RouteContext) => { status: number; body: unknown },
): (ctx: RouteContext) => Promise<{ status: number; body: unknown }> {
  return (ctx) => new Promise((resolve) => resolve(fn(ctx)));
}

/** A failed or refused action becomes the error the server answers with. */
function throwIfFailed(report: ActionReport): ActionReport {
  if (report.ok) return report;
  const e = report.error ?? errorBody(new Error(`${report.kind} failed`));
  throw new LaunchplaneError(e.code, e.message, {
    ...(e.recovery === undefined ? {} : { recovery: e.recovery }),
    details: { outcome: report.outcome, laneId: report.laneId, steps: report.steps },
  });
}

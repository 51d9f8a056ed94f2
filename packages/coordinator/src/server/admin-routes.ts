/**
 * The server's own admin API routes: tokens, enrollment tokens, hosts, policy, audit. Every
 * mutation is audited with the caller's token id.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  LaunchplaneError,
  canonicalJson,
  formatIssue,
  hostIdSchema,
  laneIdSchema,
  parsePolicy,
  summarizePolicy,
} from '@launchplane/shared';
import type { CoordinatorStore } from '../ports/store.js';
import type { CoordinatorIdentity } from '../keys/coordinator-identity.js';
import { writeAudit } from '../audit/audit-writer.js';
import { staleHealth, type HostHealth } from '../domain/host-health.js';
import {
  DEFAULT_ENROLLMENT_TTL_SEC,
  MAX_ENROLLMENT_TTL_SEC,
  createEnrollmentToken,
} from './enrollment.js';
import { createOperatorToken } from './operator-auth.js';
import { parseBody, type Route } from '../http/route.js';
import type { WsAgentHub } from './agent-hub.js';

/** What the admin routes need. */
export interface AdminRouteDeps {
  store: CoordinatorStore;
  hub: WsAgentHub;
  identity: CoordinatorIdentity;
  coordinatorId: string;
  /** Unix seconds. */
  now: () => number;
  /** The served certificate's key pin, printed with enrollment tokens; undefined without TLS. */
  tlsPin?: string | undefined;
}

/** `sha256:<hex>` over the canonical JSON of a parsed policy. */
export function policyDigest(policy: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(policy), 'utf8').digest('hex')}`;
}

const tokenBody = z.strictObject({
  role: z.enum(['viewer', 'operator', 'admin']),
  name: z.string().min(1).max(128).optional(),
});
const enrollTokenBody = z.strictObject({
  hostId: hostIdSchema,
  ttlSec: z.number().int().min(1).max(MAX_ENROLLMENT_TTL_SEC).optional(),
});
const policyBody = z.strictObject({
  text: z.string().max(1024 * 1024),
  dryRun: z.boolean().default(false),
});
const auditQuery = z.strictObject({
  host: hostIdSchema.optional(),
  lane: laneIdSchema.optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  afterSeq: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/**
 * Applies policy text: validates it with the shared schema, and unless `dryRun` stores a new
 * version when its digest differs from the current one. Audited either way.
 */
export async function applyPolicyText(
  deps: Pick<AdminRouteDeps, 'store' | 'now'>,
  opts: { text: string; dryRun: boolean; actor: string; source?: string },
): Promise<{
  digest: string;
  version: number | undefined;
  changed: boolean;
  dryRun: boolean;
  summary: ReturnType<typeof summarizePolicy>;
}> {
  const { store } = deps;
  const now = deps.now();
  const parsed = parsePolicy(opts.text);
  if (!parsed.ok) {
    const message = `Policy has ${parsed.issues.length} problem${parsed.issues.length === 1 ? '' : 's'}: ${parsed.issues
      .map((i) => formatIssue(i, opts.source))
      .join('; ')}`;
    await writeAudit(store, now, {
      actor: opts.actor,
      action: 'policy.apply',
      outcome: 'refused',
      dryRun: opts.dryRun,
      code: 'LP_POLICY_INVALID',
      message,
    });
    throw new LaunchplaneError('LP_POLICY_INVALID', message, {
      details: { issues: parsed.issues },
      recovery: 'Run "launchplane policy validate FILE" and fix each path it names',
    });
  }
  const digest = policyDigest(parsed.value);
  const summary = summarizePolicy(parsed.value);
  const current = await store.currentPolicy();
  const changed = current?.digest !== digest;
  let version = current?.version;
  if (!opts.dryRun && changed) {
    version = (
      await store.addPolicyVersion({ digest, text: opts.text, createdAt: now, actor: opts.actor })
    ).version;
  }
  await writeAudit(store, now, {
    actor: opts.actor,
    action: 'policy.apply',
    outcome: opts.dryRun ? 'dry-run' : 'ok',
    dryRun: opts.dryRun,
    params: { digest, version, changed, pools: summary.pools.length, lanes: summary.totalLanes },
  });
  return { digest, version, changed, dryRun: opts.dryRun, summary };
}

/** The admin routes. */
export function adminRoutes(deps: AdminRouteDeps): Route[] {
  const { store, hub, identity, coordinatorId, now, tlsPin } = deps;
  return [
    {
      method: 'POST',
      path: '/v1/tokens',
      role: 'admin',
      async handler(ctx) {
        const body = parseBody(tokenBody, ctx.body);
        const name = body.name ?? body.role;
        const { record, value } = await createOperatorToken(store, {
          role: body.role,
          name,
          now: now(),
        });
        await writeAudit(store, now(), {
          actor: ctx.actor,
          action: 'token.create',
          outcome: 'ok',
          params: { id: record.id, role: record.role, name },
        });
        return {
          status: 201,
          body: {
            id: record.id,
            name,
            role: record.role,
            createdAt: record.createdAt,
            token: value,
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/tokens/:id/revoke',
      role: 'admin',
      async handler(ctx) {
        const id = ctx.params.id ?? '';
        const record = await store.getOperatorToken(id);
        if (record === undefined) {
          throw new LaunchplaneError('LP_NOT_FOUND', `Token "${id}" does not exist`);
        }
        const revokedAt = record.revokedAt ?? now();
        if (record.revokedAt === undefined) await store.putOperatorToken({ ...record, revokedAt });
        await writeAudit(store, now(), {
          actor: ctx.actor,
          action: 'token.revoke',
          outcome: 'ok',
          params: { id, role: record.role },
        });
        return { status: 200, body: { id, revokedAt } };
      },
    },
    {
      method: 'POST',
      path: '/v1/enrollment-tokens',
      role: 'admin',
      async handler(ctx) {
        const body = parseBody(enrollTokenBody, ctx.body);
        const host = await store.getHost(body.hostId);
        if (host?.revokedAt !== undefined) {
          throw new LaunchplaneError('LP_HOST_REVOKED', `Host "${body.hostId}" has been revoked`, {
            recovery: 'Enroll the machine under a new host id',
          });
        }
        const { record, value } = await createEnrollmentToken(store, {
          hostId: body.hostId,
          ttlSec: body.ttlSec ?? DEFAULT_ENROLLMENT_TTL_SEC,
          actor: ctx.actor,
          now: now(),
        });
        await writeAudit(store, now(), {
          actor: ctx.actor,
          action: 'enroll-token.create',
          outcome: 'ok',
          hostId: body.hostId,
          params: { id: record.id, expiresAt: record.expiresAt },
        });
        return {
          status: 201,
          body: {
            id: record.id,
            hostId: record.hostId,
            expiresAt: record.expiresAt,
            token: value,
            coordinatorId,
            coordinatorFingerprint: identity.fingerprint,
            ...(tlsPin === undefined ? {} : { tlsPin }),
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/v1/hosts',
      role: 'viewer',
      async handler() {
        const [hosts, lanes] = await Promise.all([store.listHosts(), store.listLanes()]);
        return {
          status: 200,
          body: {
            hosts: hosts.map((h) => {
              const live = hub.session(h.hostId);
              return {
                hostId: h.hostId,
                fingerprint: h.fingerprint,
                enrolledAt: h.enrolledAt,
                revoked: h.revokedAt !== undefined,
                revokedAt: h.revokedAt ?? null,
                connected: live !== undefined,
                connectedAt: live?.connectedAt ?? null,
                lastSeenAt: live?.lastSeenAt ?? h.lastSeenAt ?? null,
                agentVersion: live?.agentVersion ?? h.agentVersion ?? null,
                optIn: h.optIn ?? null,
                capabilities: h.capabilities,
                lanes: lanes.filter((l) => l.hostId === h.hostId).length,
                reportedLanes: live?.inventory?.lanes.length ?? null,
                health: hostHealthBody(h.hostId, live?.health, now()),
              };
            }),
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/hosts/:id/revoke',
      role: 'admin',
      async handler(ctx) {
        const hostId = ctx.params.id ?? '';
        const at = now();
        const host = await store.transaction(async (tx) => {
          const current = await tx.getHost(hostId);
          if (current === undefined) {
            throw new LaunchplaneError('LP_NOT_FOUND', `Host "${hostId}" is not enrolled`, {
              recovery: 'List hosts with "launchplane hosts"',
            });
          }
          if (current.revokedAt === undefined) await tx.putHost({ ...current, revokedAt: at });
          return current;
        });
        const revokedAt = host.revokedAt ?? at;
        const sessionClosed = hub.revoke(hostId);
        await writeAudit(store, at, {
          actor: ctx.actor,
          action: 'host.revoke',
          outcome: 'ok',
          hostId,
          params: { sessionClosed, already: host.revokedAt !== undefined },
        });
        return { status: 200, body: { hostId, revokedAt, sessionClosed } };
      },
    },
    {
      method: 'POST',
      path: '/v1/policy',
      role: 'admin',
      async handler(ctx) {
        const body = parseBody(policyBody, ctx.body);
        const result = await applyPolicyText(
          { store, now },
          { text: body.text, dryRun: body.dryRun, actor: ctx.actor },
        );
        return { status: result.changed && !result.dryRun ? 201 : 200, body: result };
      },
    },
    {
      method: 'GET',
      path: '/v1/policy',
      role: 'viewer',
      async handler() {
        const current = await store.currentPolicy();
        if (current === undefined) {
          throw new LaunchplaneError('LP_NOT_FOUND', 'No policy has been applied yet', {
            recovery: 'Apply one with "launchplane policy apply FILE"',
          });
        }
        return { status: 200, body: current };
      },
    },
    {
      method: 'GET',
      path: '/v1/audit',
      role: 'viewer',
      async handler(ctx) {
        const q = parseBody(auditQuery, Object.fromEntries(ctx.query));
        const records = await store.listAudit({
          ...(q.host === undefined ? {} : { hostId: q.host }),
          ...(q.lane === undefined ? {} : { laneId: q.lane }),
          ...(q.since === undefined ? {} : { since: q.since }),
          ...(q.afterSeq === undefined ? {} : { afterSeq: q.afterSeq }),
          ...(q.limit === undefined ? {} : { limit: q.limit }),
        });
        return { status: 200, body: { records, actors: await actorNames(store, records) } };
      },
    },
  ];
}

/** A host's health loop as `GET /v1/hosts` shows it; null when its agent sent no report. */
function hostHealthBody(
  hostId: string,
  health: HostHealth | undefined,
  at: number,
): {
  intervalSec: number;
  lastPassAt: number | null;
  passStartedAt: number | null;
  degraded: boolean;
  message: string | null;
} | null {
  if (health === undefined) return null;
  const stale = staleHealth(hostId, health, at);
  return {
    intervalSec: health.intervalSec,
    lastPassAt: health.lastPassAt ?? null,
    passStartedAt: health.passStartedAt ?? null,
    degraded: stale !== undefined,
    message: stale?.message ?? null,
  };
}

/**
 * The names of the operator tokens that appear as actors in `records` (an operator's actor is its
 * token id): `launchplane audit` shows the name a person gave the token, not its id. Stored
 * records keep the id, so the hash chain and filters never depend on a rename.
 */
async function actorNames(
  store: CoordinatorStore,
  records: readonly { actor: string }[],
): Promise<Record<string, { name: string; role: string }>> {
  const actors = new Set(records.map((r) => r.actor));
  const out: Record<string, { name: string; role: string }> = {};
  for (const t of await store.listOperatorTokens()) {
    if (actors.has(t.id)) out[t.id] = { name: t.name, role: t.role };
  }
  return out;
}

/**
 * The coordinator's policy file (CLI.md "Policy file"): allowed hosts, allowed repositories and
 * organizations, and pools with their desired lane counts per host. Fail closed: a missing or
 * empty allowlist allows nothing, and a pool that names anything not allowed is an error.
 */
import { z } from 'zod';
import { backendSchema } from './protocol.js';
import {
  hostIdSchema,
  isReservedLabel,
  labelSchema,
  organizationSchema,
  poolNameSchema,
  repositorySchema,
} from './names.js';
import { parseYamlWithSchema } from './yaml-config.js';
import type { ParseResult } from './yaml-config.js';

/** Most lanes one pool may ask of one host. */
export const MAX_LANES_PER_HOST_PER_POOL = 100;

const poolSchema = z
  .strictObject({
    repository: repositorySchema.optional(),
    organization: organizationSchema.optional(),
    labels: z.array(labelSchema).max(50).default([]),
    backend: backendSchema,
    docker: z
      .strictObject({
        image: z.string().min(1).max(512),
        network: z.string().min(1).max(128).optional(),
      })
      .optional(),
    ephemeral: z.boolean().default(false),
    /** The GitHub runner group for JIT configs (1 is the default group). */
    runnerGroupId: z.number().int().positive().default(1),
    lanes: z
      .record(z.string(), z.number().int().min(0).max(MAX_LANES_PER_HOST_PER_POOL))
      .default({}),
  })
  .superRefine((pool, ctx) => {
    if ((pool.repository === undefined) === (pool.organization === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'a pool needs exactly one of "repository" or "organization"',
      });
    }
    if (pool.backend === 'docker' && pool.docker === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['docker'],
        message: 'a docker pool needs "docker.image"',
      });
    }
    if (pool.backend === 'systemd' && pool.docker !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['docker'],
        message: 'a systemd pool takes no "docker" settings',
      });
    }
    pool.labels.forEach((label, i) => {
      if (isReservedLabel(label)) {
        ctx.addIssue({
          code: 'custom',
          path: ['labels', i],
          message: `label "${label}" uses a prefix reserved for Launchplane ("lp-", "launchplane")`,
        });
      }
    });
    for (const host of Object.keys(pool.lanes)) {
      if (!hostIdSchema.safeParse(host).success) {
        ctx.addIssue({
          code: 'custom',
          path: ['lanes', host],
          message: `"${host}" is not a valid host id`,
        });
      }
    }
  });

const listOf = <T extends z.ZodType>(item: T) => z.array(item).max(10_000).default([]);

export const policySchema = z
  .strictObject({
    version: z.literal(1),
    allowedHosts: listOf(hostIdSchema),
    allowedRepositories: listOf(repositorySchema),
    allowedOrganizations: listOf(organizationSchema),
    pools: z.record(z.string(), poolSchema).default({}),
  })
  .superRefine((policy, ctx) => {
    const hosts = new Set(policy.allowedHosts);
    const repos = new Set(policy.allowedRepositories);
    const orgs = new Set(policy.allowedOrganizations);
    for (const [name, pool] of Object.entries(policy.pools)) {
      if (!poolNameSchema.safeParse(name).success) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name],
          message: `pool name "${name}" must match ^[a-z0-9][a-z0-9-]{0,31}$`,
        });
      }
      if (pool.repository !== undefined && !repos.has(pool.repository)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name, 'repository'],
          message: `repository "${pool.repository}" is not in allowedRepositories`,
        });
      }
      if (pool.organization !== undefined && !orgs.has(pool.organization)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name, 'organization'],
          message: `organization "${pool.organization}" is not in allowedOrganizations`,
        });
      }
      for (const host of Object.keys(pool.lanes)) {
        if (!hosts.has(host)) {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', name, 'lanes', host],
            message: `host "${host}" is not in allowedHosts`,
          });
        }
      }
    }
    reportDuplicates(policy.allowedHosts, 'allowedHosts', ctx);
    reportDuplicates(policy.allowedRepositories, 'allowedRepositories', ctx);
    reportDuplicates(policy.allowedOrganizations, 'allowedOrganizations', ctx);
  });

export type Policy = z.output<typeof policySchema>;
export type Pool = z.output<typeof poolSchema>;

function reportDuplicates(list: readonly string[], key: string, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  list.forEach((v, i) => {
    if (seen.has(v))
      ctx.addIssue({ code: 'custom', path: [key, i], message: `"${v}" is listed twice` });
    seen.add(v);
  });
}

/** Parses and validates a policy file's text. Never throws for bad input. */
export function parsePolicy(text: string): ParseResult<Policy> {
  return parseYamlWithSchema(text, policySchema);
}

/** A pool's scope as one string: `acme/api` or `org:acme`. */
export function poolScopeKey(pool: Pick<Pool, 'repository' | 'organization'>): string {
  return pool.repository ?? `org:${pool.organization ?? ''}`;
}

/** What `policy validate` prints: pools, their scope, backend and lane counts. */
export interface PolicySummary {
  hosts: number;
  repositories: number;
  organizations: number;
  pools: {
    name: string;
    scope: string;
    backend: 'systemd' | 'docker';
    ephemeral: boolean;
    lanes: number;
    perHost: Record<string, number>;
  }[];
  totalLanes: number;
}

export function summarizePolicy(policy: Policy): PolicySummary {
  const pools = Object.entries(policy.pools)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, pool]) => {
      const perHost = Object.fromEntries(
        Object.entries(pool.lanes).sort(([a], [b]) => a.localeCompare(b)),
      );
      return {
        name,
        scope: poolScopeKey(pool),
        backend: pool.backend,
        ephemeral: pool.ephemeral,
        lanes: Object.values(pool.lanes).reduce((a, b) => a + b, 0),
        perHost,
      };
    });
  return {
    hosts: policy.allowedHosts.length,
    repositories: policy.allowedRepositories.length,
    organizations: policy.allowedOrganizations.length,
    pools,
    totalLanes: pools.reduce((a, p) => a + p.lanes, 0),
  };
}

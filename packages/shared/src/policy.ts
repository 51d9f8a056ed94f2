/**
 * The coordinator's policy file (docs/policy.md): allowed hosts, allowed repositories and
 * organizations, and pools with their desired lane counts per host. Fail closed: a missing or
 * empty allowlist allows nothing, and a pool that names anything not allowed is an error.
 */
import { Cron } from 'croner';
import { z } from 'zod';
import {
  DEFAULT_DOCKER_NETWORK,
  dockerNetworkSchema,
  imageReferenceSchema,
} from './docker-lane.js';
import { msToSec } from './clock.js';
import { backendSchema } from './protocol.js';
import {
  hostIdSchema,
  RESERVED_POOL_PREFIX,
  isReservedLabel,
  isReservedPoolName,
  labelSchema,
  organizationSchema,
  poolNameSchema,
  repositorySchema,
  runnerGroupNameSchema,
} from './names.js';
import { PROTOTYPE_KEYS, parseYamlWithSchema } from './yaml-config.js';
import type { ParseResult } from './yaml-config.js';

/** Most lanes one pool may ask of one host. */
export const MAX_LANES_PER_HOST_PER_POOL = 100;
/** The id GitHub gives every organization's (and repository's) default runner group. */
export const DEFAULT_RUNNER_GROUP_ID = 1;

/** Most lanes a pool's `scaling` may ask for in all (its `min`, `max`, `minIdle`). */
export const MAX_POOL_LANES = 10_000;
/** Longest schedule window: one week. */
export const MAX_WINDOW_MINUTES = 7 * 24 * 60;

const poolLaneCount = z.number().int().min(0).max(MAX_POOL_LANES);

/** A cron expression's first fields, five of them as in crontab(5): minute hour day month weekday. */
const CRON_MODE = '5-part';

/**
 * A window of a pool's `scaling.schedule`: from each time `cron` fires in `timezone` (DST-correct,
 * via croner) for `durationMinutes` of elapsed time, `min` and/or `minIdle` replace the pool's own.
 */
const scheduleWindowSchema = z
  .strictObject({
    /** Shown in plan reasons; the window's index names it otherwise. */
    name: labelSchema.optional(),
    cron: z.string().min(1).max(200),
    durationMinutes: z.number().int().min(1).max(MAX_WINDOW_MINUTES),
    /** An IANA time zone (`Europe/Berlin`); UTC when absent. */
    timezone: z.string().min(1).max(64).optional(),
    min: poolLaneCount.optional(),
    minIdle: poolLaneCount.optional(),
  })
  .superRefine((w, ctx) => {
    if (w.min === undefined && w.minIdle === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'a schedule window needs "min" or "minIdle" (or both)',
      });
    }
    const tzProblem = w.timezone === undefined ? undefined : timeZoneProblem(w.timezone);
    if (tzProblem !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['timezone'], message: tzProblem });
    }
    const cronProblem = cronExpressionProblem(w.cron);
    if (cronProblem !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cron'], message: cronProblem });
    }
  });

/**
 * How a pool follows demand (docs/policy.md "Scaling on demand"). Without it, or with
 * `mode: static`, the pool holds exactly the lanes `lanes` lists per host.
 */
const scalingSchema = z.strictObject({
  mode: z.enum(['static', 'demand']).default('static'),
  /** Never fewer lanes in the pool. */
  min: poolLaneCount.default(0),
  /** Never more; also bounded by the sum of `lanes` and the hosts' `maxLanes`. */
  max: poolLaneCount.optional(),
  /** Idle lanes kept ready on top of the busy ones and the waiting jobs. */
  minIdle: poolLaneCount.default(0),
  /** An idle lane may be removed once it has been idle this long (hysteresis). */
  scaleDownAfterSec: z.number().int().min(0).max(86_400).default(600),
  /**
   * How long a lane that took a job the job store has not yet attributed to it keeps that job
   * counted as taken (see the planner's reservations).
   */
  reservationSec: z.number().int().min(1).max(86_400).default(600),
  /** `spread`: the host with the fewest lanes of the pool first; `pack`: the fullest first. */
  placement: z.enum(['spread', 'pack']).default('spread'),
  schedule: z.array(scheduleWindowSchema).max(50).default([]),
  /**
   * Organization pools only: the organization's repositories whose queued jobs the coordinator
   * polls (GitHub lists jobs per repository, never per organization). Webhooks need no list; a
   * demand pool of an organization without one follows webhooks alone.
   */
  repositories: z.array(repositorySchema).max(1000).optional(),
});

/** What the policy grants one host: capability labels, and Docker networks beyond `bridge`. */
const hostGrantSchema = z.strictObject({
  capabilities: z.array(labelSchema).max(50).default([]),
  /**
   * Network modes other than `bridge` (e.g. `host`) that docker pools may use on this host. The
   * host's agent must allow them too (its `optIn.docker.networks`).
   */
  dockerNetworks: z.array(dockerNetworkSchema).max(50).optional(),
});

const poolSchema = z
  .strictObject({
    repository: repositorySchema.optional(),
    organization: organizationSchema.optional(),
    labels: z.array(labelSchema).max(50).default([]),
    backend: backendSchema,
    docker: z
      .strictObject({
        image: imageReferenceSchema,
        /** Default `bridge`; anything else must be granted per host (`hosts.<id>.dockerNetworks`). */
        network: dockerNetworkSchema.optional(),
      })
      .optional(),
    ephemeral: z.boolean().default(false),
    /** The organization's runner group, by name (config.sh `--runnergroup`; JIT resolves the id). */
    runnerGroup: runnerGroupNameSchema.optional(),
    /** The runner group by id (1 is the default group); the default when neither is given. */
    runnerGroupId: z.number().int().positive().optional(),
    /** Lanes per host; with `scaling.mode: demand`, the most lanes per host. */
    lanes: z
      .record(z.string(), z.number().int().min(0).max(MAX_LANES_PER_HOST_PER_POOL))
      .default({}),
    /** Optional, so a policy without it keeps its digest. */
    scaling: scalingSchema.optional(),
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
    if (pool.runnerGroup !== undefined && pool.runnerGroupId !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runnerGroup'],
        message: 'give "runnerGroup" or "runnerGroupId", not both',
      });
    }
    if (pool.repository !== undefined && pool.runnerGroup !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['runnerGroup'],
        message:
          'a repository pool can only use the default runner group: runner groups belong to organizations',
      });
    }
    if (
      pool.repository !== undefined &&
      pool.runnerGroupId !== undefined &&
      pool.runnerGroupId !== DEFAULT_RUNNER_GROUP_ID
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['runnerGroupId'],
        message: `a repository pool can only use the default runner group (${DEFAULT_RUNNER_GROUP_ID}): runner groups belong to organizations`,
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
    if (pool.scaling !== undefined) checkScalingBounds(pool.scaling, pool.lanes, ctx);
    if (pool.scaling?.repositories !== undefined) checkPolledRepositories(pool, ctx);
  })
  // Without either, the default group: the parsed form (and so a policy's digest) stays as it
  // was before groups could be named.
  .transform((pool) =>
    pool.runnerGroup === undefined && pool.runnerGroupId === undefined
      ? { ...pool, runnerGroupId: DEFAULT_RUNNER_GROUP_ID }
      : pool,
  );

const listOf = <T extends z.ZodType>(item: T) => z.array(item).max(10_000).default([]);

export const policySchema = z
  .strictObject({
    version: z.literal(1),
    allowedHosts: listOf(hostIdSchema),
    allowedRepositories: listOf(repositorySchema),
    allowedOrganizations: listOf(organizationSchema),
    pools: z.record(z.string(), poolSchema).default({}),
    /**
     * Per host, what the policy grants it: `capabilities` are the only host-reported labels
     * its lanes may carry. Optional, so a policy without it keeps its digest.
     */
    hosts: z.record(z.string(), hostGrantSchema).optional(),
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
      } else if (isReservedPoolName(name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['pools', name],
          message: `pool name "${name}" uses the prefix "${RESERVED_POOL_PREFIX}", reserved for Launchplane's own lanes`,
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
      const network = pool.docker?.network;
      if (
        network !== undefined &&
        network !== DEFAULT_DOCKER_NETWORK &&
        dockerNetworkSchema.safeParse(network).success
      ) {
        for (const host of Object.keys(pool.lanes)) {
          const granted = ownEntry(policy.hosts, host)?.dockerNetworks ?? [];
          if (!granted.includes(network)) {
            ctx.addIssue({
              code: 'custom',
              path: ['pools', name, 'docker', 'network'],
              message: `network "${network}" is not granted to host "${host}": list it under hosts.${host}.dockerNetworks (the host's agent must allow it too)`,
            });
          }
        }
      }
    }
    for (const [host, grant] of Object.entries(policy.hosts ?? {})) {
      if (!hostIdSchema.safeParse(host).success) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', host],
          message: `"${host}" is not a valid host id`,
        });
      } else if (!hosts.has(host)) {
        ctx.addIssue({
          code: 'custom',
          path: ['hosts', host],
          message: `host "${host}" is not in allowedHosts`,
        });
      }
      grant.capabilities.forEach((label, i) => {
        if (isReservedLabel(label)) {
          ctx.addIssue({
            code: 'custom',
            path: ['hosts', host, 'capabilities', i],
            message: `capability "${label}" uses a prefix reserved for Launchplane ("lp-", "launchplane")`,
          });
        }
      });
      reportDuplicates(grant.capabilities, ['hosts', host, 'capabilities'], ctx);
    }
    reportDuplicates(policy.allowedHosts, 'allowedHosts', ctx);
    reportDuplicates(policy.allowedRepositories, 'allowedRepositories', ctx);
    reportDuplicates(policy.allowedOrganizations, 'allowedOrganizations', ctx);
  });

export type Policy = z.output<typeof policySchema>;
export type Pool = z.output<typeof poolSchema>;
export type Scaling = z.output<typeof scalingSchema>;
export type ScheduleWindow = z.output<typeof scheduleWindowSchema>;

/** `min` and `minIdle` (and each schedule window's) may not exceed what the pool may ever hold. */
function checkScalingBounds(
  scaling: Scaling,
  lanes: Readonly<Record<string, number>>,
  ctx: z.RefinementCtx,
): void {
  const total = Object.values(lanes).reduce((a, b) => a + b, 0);
  const bound =
    scaling.max === undefined
      ? { value: total, text: `the pool's lanes (${total} in all)` }
      : { value: scaling.max, text: `max (${scaling.max})` };
  const check = (value: number | undefined, path: (string | number)[], key: string): void => {
    if (value !== undefined && value > bound.value) {
      ctx.addIssue({
        code: 'custom',
        path: ['scaling', ...path],
        message: `${key} (${value}) is more than ${bound.text}`,
      });
    }
  };
  check(scaling.min, ['min'], 'min');
  check(scaling.minIdle, ['minIdle'], 'minIdle');
  scaling.schedule.forEach((w, i) => {
    check(w.min, ['schedule', i, 'min'], 'min');
    check(w.minIdle, ['schedule', i, 'minIdle'], 'minIdle');
  });
}

/**
 * `scaling.repositories` belongs to an organization pool and names repositories of that
 * organization only (the organization's place in `allowedOrganizations` is what allows them).
 */
function checkPolledRepositories(
  pool: {
    repository?: string | undefined;
    organization?: string | undefined;
    scaling?: Scaling | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const repos = pool.scaling?.repositories ?? [];
  if (pool.repository !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['scaling', 'repositories'],
      message:
        'a repository pool is polled for its own repository: "scaling.repositories" is for organization pools',
    });
    return;
  }
  repos.forEach((repo, i) => {
    const owner = repo.split('/')[0];
    if (pool.organization !== undefined && owner !== pool.organization) {
      ctx.addIssue({
        code: 'custom',
        path: ['scaling', 'repositories', i],
        message: `repository "${repo}" is not in the pool's organization "${pool.organization}"`,
      });
    }
  });
  reportDuplicates(repos, ['scaling', 'repositories'], ctx);
}

/** Why `zone` is not an IANA time zone this runtime knows, or undefined when it is one. */
function timeZoneProblem(zone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return undefined;
  } catch {
    return `time zone "${zone}" is not known (use an IANA name such as "Europe/Berlin" or "UTC")`;
  }
}

// A fixed reference, so validation never reads the clock: a pattern that never fires after it
// (30 February) never fires at all.
const CRON_PROBE = new Date(Date.UTC(2000, 0, 1));

/** Why `expr` is not a five-field cron expression that ever fires, or undefined. */
function cronExpressionProblem(expr: string): string | undefined {
  let cron: Cron;
  try {
    cron = new Cron(expr, { mode: CRON_MODE, paused: true });
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).replace(/^Cron\w*: /, '');
    return `cron "${expr}" is not valid: ${why}`;
  }
  if (cron.nextRun(CRON_PROBE) === null) return `cron "${expr}" never fires`;
  return undefined;
}

/** A schedule window in force at some instant. Times are Unix seconds. */
export interface ActiveWindow {
  /** Index in `scaling.schedule`. */
  index: number;
  window: ScheduleWindow;
  startedAt: number;
  endsAt: number;
}

const cronCache = new Map<string, Cron>();

function cronOf(w: ScheduleWindow): Cron {
  const key = `${w.timezone ?? 'UTC'}\u0000${w.cron}`;
  let cron = cronCache.get(key);
  if (cron === undefined) {
    cron = new Cron(w.cron, { mode: CRON_MODE, paused: true, timezone: w.timezone ?? 'UTC' });
    if (cronCache.size > 1000) cronCache.clear();
    cronCache.set(key, cron);
  }
  return cron;
}

/**
 * The schedule windows in force at `now` (Unix seconds): those whose cron fired, in its time
 * zone, at most `durationMinutes` before `now`. Pure: `now` is passed in.
 */
export function windowsInForce(scaling: Pick<Scaling, 'schedule'>, now: number): ActiveWindow[] {
  const out: ActiveWindow[] = [];
  scaling.schedule.forEach((window, index) => {
    // The last firing at or before `now` (a reference one second later includes `now` itself).
    const last = cronOf(window).previousRuns(1, new Date((now + 1) * 1000))[0];
    if (last === undefined) return;
    const startedAt = msToSec(last.getTime());
    const endsAt = startedAt + window.durationMinutes * 60;
    if (now < endsAt) out.push({ index, window, startedAt, endsAt });
  });
  return out;
}

function reportDuplicates(
  list: readonly string[],
  key: string | readonly string[],
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  const at = typeof key === 'string' ? [key] : [...key];
  list.forEach((v, i) => {
    if (seen.has(v))
      ctx.addIssue({ code: 'custom', path: [...at, i], message: `"${v}" is listed twice` });
    seen.add(v);
  });
}

/**
 * Parses and validates a policy file's text. Never throws for bad input. A key that reaches an
 * object's prototype (`__proto__`, `constructor`, `prototype`) is refused in every map, rather
 * than silently dropped or turned into an inherited value.
 */
export function parsePolicy(text: string): ParseResult<Policy> {
  return parseYamlWithSchema(text, policySchema, { forbiddenKeys: PROTOTYPE_KEYS });
}

/** The entry of `map` under `key` when it is the map's own (never an inherited property). */
export function ownEntry<T>(
  map: Readonly<Record<string, T>> | undefined,
  key: string,
): T | undefined {
  return map !== undefined && Object.hasOwn(map, key) ? map[key] : undefined;
}

/** A capability a host reported that its lanes do not carry, and why. */
export interface IgnoredCapability {
  capability: string;
  reason: 'reserved' | 'not-granted';
  message: string;
}

/**
 * The capability labels a host's lanes carry: those it reports that the policy grants it under
 * `hosts.<id>.capabilities`. A reported label with a prefix reserved for Launchplane, or one the
 * policy does not grant that host, is ignored, and said why. A host's report alone never makes a
 * label: it could otherwise route another pool's jobs (`lp-pool-*`) or hide a lane (`lp-draining`).
 */
export function grantedCapabilities(
  policy: Pick<Policy, 'hosts'>,
  hostId: string,
  reported: readonly string[],
): { granted: string[]; ignored: IgnoredCapability[] } {
  const grant = new Set(ownEntry(policy.hosts, hostId)?.capabilities ?? []);
  const granted: string[] = [];
  const ignored: IgnoredCapability[] = [];
  for (const capability of [...new Set(reported)].sort()) {
    if (isReservedLabel(capability)) {
      ignored.push({
        capability,
        reason: 'reserved',
        message: `Host "${hostId}" reported capability "${capability}", which uses a prefix reserved for Launchplane ("lp-", "launchplane"): ignored`,
      });
    } else if (!grant.has(capability)) {
      ignored.push({
        capability,
        reason: 'not-granted',
        message: `Host "${hostId}" reported capability "${capability}", which the policy does not grant it (hosts.${hostId}.capabilities): ignored`,
      });
    } else {
      granted.push(capability);
    }
  }
  return { granted, ignored };
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
    /** `static`, or `demand 0–6, minIdle 1, 1 window` (the effective bounds). */
    scaling: string;
  }[];
  totalLanes: number;
}

/** A pool's scaling in a few words: `static`, or `demand 0–6, minIdle 1, spread, 1 window`. */
export function describeScaling(pool: Pick<Pool, 'scaling' | 'lanes'>): string {
  const s = pool.scaling;
  if (s === undefined || s.mode === 'static') return 'static';
  const total = Object.values(pool.lanes).reduce((a, b) => a + b, 0);
  const max = Math.min(s.max ?? total, total);
  const windows = s.schedule.length;
  return [
    `demand ${s.min}–${max}`,
    `minIdle ${s.minIdle}`,
    s.placement,
    ...(windows === 0 ? [] : [`${windows} window${windows === 1 ? '' : 's'}`]),
  ].join(', ');
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
        scaling: describeScaling(pool),
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

/**
 * Canonical names and labels
 * (docs/design/architecture.md "Names and labels"). Every name that Launchplane puts on
 * systemd, Docker or GitHub is made here, and every name it reads back is checked here.
 */
import { ulid } from 'ulid';
import { z } from 'zod';
import { LaunchplaneError } from './errors.js';

/** Host ids and pool names: lowercase, digits and hyphens, 1–32 chars, no leading hyphen. */
export const HOST_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
export const POOL_NAME_PATTERN = HOST_ID_PATTERN;
/** A lane id is a lowercase ULID: Crockford base32 (no i, l, o, u), 26 chars, time first. */
export const LANE_ID_PATTERN = /^[0-7][0-9a-hjkmnp-tv-z]{25}$/;
/** Coordinator ids: lowercase, digits and hyphens, 1–64 chars. */
export const COORDINATOR_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;
/** `owner/repo` as GitHub allows them, compared lowercase (GitHub names are case-insensitive). */
export const REPOSITORY_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38})\/[a-z0-9._-]{1,100}$/;
export const ORGANIZATION_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38})$/;
/** A GitHub runner label as Launchplane accepts it: no commas (config.sh splits on them). */
export const LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export const hostIdSchema = z.string().regex(HOST_ID_PATTERN, {
  message: 'must match ^[a-z0-9][a-z0-9-]{0,31}$',
});
export const poolNameSchema = z.string().regex(POOL_NAME_PATTERN, {
  message: 'must match ^[a-z0-9][a-z0-9-]{0,31}$',
});
export const laneIdSchema = z.string().regex(LANE_ID_PATTERN, {
  message: 'must be a lowercase ULID',
});
export const coordinatorIdSchema = z.string().regex(COORDINATOR_ID_PATTERN, {
  message: 'must match ^[a-z0-9][a-z0-9-]{0,63}$',
});
export const repositorySchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(REPOSITORY_PATTERN, { message: 'must be "owner/repo"' }));
export const organizationSchema = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(ORGANIZATION_PATTERN, { message: 'must be a GitHub organization name' }));
export const labelSchema = z.string().regex(LABEL_PATTERN, {
  message: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$',
});

/**
 * A runner group's name as `config.sh --runnergroup` takes it: printable, no leading or trailing
 * space (GitHub matches group names without regard to case).
 */
export const runnerGroupNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\s\p{Cc}\p{Cf}](?:[^\p{Cc}\p{Cf}]*[^\s\p{Cc}\p{Cf}])?$/u, {
    message: 'must be a printable name without leading or trailing spaces',
  });

export type HostId = string;
export type LaneId = string;
export type PoolName = string;

/** GitHub caps runner names at 64 characters. */
export const RUNNER_NAME_MAX = 64;
export const LANE_UNIT_PREFIX = 'launchplane-lane-';
export const LANE_UNIT_SUFFIX = '.service';
/** The `[Unit]` key that marks a unit as a lane (with the lane id as value). */
export const UNIT_MARKER_KEY = 'X-Launchplane-Lane';
export const DOCKER_LABEL_LANE = 'dev.launchplane.lane';
export const DOCKER_LABEL_HOST = 'dev.launchplane.host';

/** Identity labels. Jobs never route on these. */
export const LABEL_LAUNCHPLANE = 'launchplane';
export const LABEL_CTL_PREFIX = 'lp-ctl-';
export const LABEL_LANE_PREFIX = 'lp-lane-';
export const LABEL_POOL_PREFIX = 'lp-pool-';
/** Set while a lane drains, in place of its routing labels, so no new job routes to it. */
export const LABEL_DRAINING = 'lp-draining';
/**
 * Pool names starting with this are Launchplane's own: a policy may not name a pool so, which
 * keeps the lanes of `launchplane smoke` (pool {@link SMOKE_POOL}) apart from every policy pool.
 */
export const RESERVED_POOL_PREFIX = 'lp-';
/** The pool a smoke lane is recorded under (a host that lists `optIn.pools` must list it). */
export const SMOKE_POOL = 'lp-smoke';
/** The prefix of a smoke lane's one routing label, `lp-smoke-<laneId>`. */
export const LABEL_SMOKE_PREFIX = 'lp-smoke-';
/** Label prefixes reserved for Launchplane; pools and hosts may not use them. */
export const RESERVED_LABEL_PREFIXES = ['lp-', 'launchplane'] as const;
/** Labels GitHub adds to a runner unless it registered with `--no-default-labels`. */
export const GITHUB_DEFAULT_LABELS = ['self-hosted', 'Linux', 'X64'] as const;

/**
 * A new lane id: a ULID in lowercase. `nowMs` is passed in (domain code never reads the clock).
 */
export function newLaneId(nowMs: number): LaneId {
  return ulid(nowMs).toLowerCase();
}

export function isLaneId(value: string): boolean {
  return LANE_ID_PATTERN.test(value);
}

/** The last 8 characters of a lane id: its random tail, used in runner names. */
export function laneShortId(laneId: LaneId): string {
  return laneId.slice(-8);
}

/**
 * The GitHub runner name of a lane: `lp-<hostId>-<pool>-<last 8 of laneId>`. When host and pool
 * are long together, both are cut so the name stays within 64 characters; the lane suffix is
 * never cut, so names of different lanes stay distinct.
 */
export function runnerName(hostId: HostId, pool: PoolName, laneId: LaneId): string {
  const suffix = laneShortId(laneId);
  const budget = RUNNER_NAME_MAX - 'lp-'.length - 2 - suffix.length;
  let host = hostId;
  let poolPart = pool;
  if (host.length + poolPart.length > budget) {
    const half = Math.floor(budget / 2);
    if (host.length <= half) poolPart = poolPart.slice(0, budget - host.length);
    else if (poolPart.length <= budget - half) host = host.slice(0, budget - poolPart.length);
    else {
      host = host.slice(0, half);
      poolPart = poolPart.slice(0, budget - half);
    }
    host = host.replace(/-+$/, '') || host;
    poolPart = poolPart.replace(/-+$/, '') || poolPart;
  }
  return `lp-${host}-${poolPart}-${suffix}`;
}

const RUNNER_NAME_PATTERN = /^lp-[a-z0-9][a-z0-9-]*-([0-9a-hjkmnp-tv-z]{8})$/;

/** The lane suffix of a canonical runner name, or undefined if the name is not canonical. */
export function parseRunnerName(name: string): { laneSuffix: string } | undefined {
  if (name.length > RUNNER_NAME_MAX) return undefined;
  const m = RUNNER_NAME_PATTERN.exec(name);
  return m?.[1] === undefined ? undefined : { laneSuffix: m[1] };
}

export function unitName(laneId: LaneId): string {
  assertLaneId(laneId);
  return `${LANE_UNIT_PREFIX}${laneId}${LANE_UNIT_SUFFIX}`;
}

/** The lane id in a canonical unit name, or undefined (a look-alike name is not a lane). */
export function laneIdFromUnitName(name: string): LaneId | undefined {
  if (!name.startsWith(LANE_UNIT_PREFIX) || !name.endsWith(LANE_UNIT_SUFFIX)) return undefined;
  const id = name.slice(LANE_UNIT_PREFIX.length, -LANE_UNIT_SUFFIX.length);
  return isLaneId(id) ? id : undefined;
}

export function containerName(laneId: LaneId): string {
  assertLaneId(laneId);
  return `${LANE_UNIT_PREFIX}${laneId}`;
}

/** The lane id in a canonical container name (Docker may prefix it with `/`), or undefined. */
export function laneIdFromContainerName(name: string): LaneId | undefined {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!bare.startsWith(LANE_UNIT_PREFIX)) return undefined;
  const id = bare.slice(LANE_UNIT_PREFIX.length);
  return isLaneId(id) ? id : undefined;
}

/** Docker labels of a lane's container. */
export function containerLabels(hostId: HostId, laneId: LaneId): Record<string, string> {
  return { [DOCKER_LABEL_LANE]: laneId, [DOCKER_LABEL_HOST]: hostId };
}

/** `lp-ctl-<first 8 of coordinatorId>`. */
export function coordinatorLabel(coordinatorId: string): string {
  return `${LABEL_CTL_PREFIX}${coordinatorId.slice(0, 8)}`;
}

export function laneLabel(laneId: LaneId): string {
  return `${LABEL_LANE_PREFIX}${laneId}`;
}

export function poolLabel(pool: PoolName): string {
  return `${LABEL_POOL_PREFIX}${pool}`;
}

/** Identity labels of a lane: never used for routing, never removed while draining. */
export function identityLabels(coordinatorId: string, laneId: LaneId): string[] {
  return [LABEL_LAUNCHPLANE, coordinatorLabel(coordinatorId), laneLabel(laneId)];
}

/** Options of {@link laneLabels}. */
export interface LaneLabelOptions {
  coordinatorId: string;
  laneId: LaneId;
  pool: PoolName;
  /** The pool's labels from the policy. */
  poolLabels?: readonly string[];
  /** The host's capability labels from its config. */
  capabilities?: readonly string[];
}

/**
 * The full, canonical label set of a lane: identity labels, then `lp-pool-<pool>`, then the pool's
 * and the host's capability labels, sorted and without duplicates.
 */
export function laneLabels(opts: LaneLabelOptions): string[] {
  const routing = [...new Set([...(opts.poolLabels ?? []), ...(opts.capabilities ?? [])])].sort();
  return [...identityLabels(opts.coordinatorId, opts.laneId), poolLabel(opts.pool), ...routing];
}

/** The label set of a lane while it drains: identity labels and `lp-draining`, nothing routable. */
export function drainingLabels(coordinatorId: string, laneId: LaneId): string[] {
  return [...identityLabels(coordinatorId, laneId), LABEL_DRAINING];
}

/** A smoke lane's routing label: unique to the lane, so only the smoke's own job routes to it. */
export function smokeLabel(laneId: LaneId): string {
  return `${LABEL_SMOKE_PREFIX}${laneId}`;
}

/** The canonical label set of a smoke lane: identity labels and its unique routing label. */
export function smokeLaneLabels(coordinatorId: string, laneId: LaneId): string[] {
  return [...identityLabels(coordinatorId, laneId), smokeLabel(laneId)];
}

/** True when a pool name is reserved for Launchplane's own lanes (see {@link RESERVED_POOL_PREFIX}). */
export function isReservedPoolName(name: string): boolean {
  return name.startsWith(RESERVED_POOL_PREFIX);
}

/** Reads the identity out of a label set: the lane and coordinator prefix, when present. */
export function parseLaneLabels(labels: readonly string[]): {
  hasLaunchplane: boolean;
  coordinatorPrefixes: string[];
  laneIds: string[];
  pools: string[];
  draining: boolean;
} {
  const coordinatorPrefixes: string[] = [];
  const laneIds: string[] = [];
  const pools: string[] = [];
  for (const l of labels) {
    if (l.startsWith(LABEL_CTL_PREFIX)) coordinatorPrefixes.push(l.slice(LABEL_CTL_PREFIX.length));
    else if (l.startsWith(LABEL_LANE_PREFIX)) laneIds.push(l.slice(LABEL_LANE_PREFIX.length));
    else if (l.startsWith(LABEL_POOL_PREFIX)) pools.push(l.slice(LABEL_POOL_PREFIX.length));
  }
  return {
    hasLaunchplane: labels.includes(LABEL_LAUNCHPLANE),
    coordinatorPrefixes,
    laneIds,
    pools,
    draining: labels.includes(LABEL_DRAINING),
  };
}

/** True when a label is reserved for Launchplane's identity and routing. */
export function isReservedLabel(label: string): boolean {
  const lower = label.toLowerCase();
  return RESERVED_LABEL_PREFIXES.some((p) => lower.startsWith(p));
}

function assertLaneId(laneId: string): void {
  if (!isLaneId(laneId)) {
    // A lane id reaches file paths and unit names: anything else is refused outright.
    throw new LaunchplaneError(
      'LP_INVALID_MESSAGE',
      `Invalid lane id ${JSON.stringify(laneId.slice(0, 64))}: must be a lowercase ULID`,
    );
  }
}

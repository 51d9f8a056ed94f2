/**
 * Which pool's lanes can run a job, decided as GitHub decides which runner may take it: the job's
 * `runs-on` labels must all be among the runner's labels, compared without regard to case, and
 * the runner must serve the job's repository (a repository runner, or its owner's organization
 * runner) in a runner group the job may use. Pure: no I/O.
 *
 * A new lane's labels are its identity labels (`launchplane`, `lp-ctl-…`, `lp-lane-<id>`),
 * `lp-pool-<pool>`, the pool's labels and the capabilities the policy grants its host (and the
 * host reports). Lanes carry no GitHub default labels (`self-hosted`, `Linux`, `X64`: they
 * register with `--no-default-labels`), so a job asking for one matches no lane unless a pool
 * lists that label itself.
 *
 * When several pools match, the job counts toward one of them: the pool whose lanes carry the
 * fewest labels beyond the job's (the most specific pool), then the first pool name in code-point
 * order. See docs/policy.md "Matching jobs to pools".
 */
import {
  GITHUB_DEFAULT_LABELS,
  LABEL_LAUNCHPLANE,
  coordinatorLabel,
  grantedCapabilities,
  poolLabel,
  poolScopeKey,
  type NoMatchReason,
  type Policy,
  type Pool,
} from '@launchplane/shared';
import type { DemandJob } from './demand.js';

/** GitHub's read-only labels (any case): a lane carries none of them. */
const GITHUB_READ_ONLY = new Set(
  [...GITHUB_DEFAULT_LABELS, 'Windows', 'macOS', 'ARM', 'ARM64'].map((l) => l.toLowerCase()),
);

/** A host as matching needs it: the capabilities it reports (the policy grants some of them). */
export interface MatchHost {
  hostId: string;
  capabilities: readonly string[];
}

/** One pool, prepared once per plan for matching many jobs. */
export interface PoolProfile {
  name: string;
  pool: Pool;
  /** `acme/api`, or `org:acme`. */
  scopeKey: string;
  /** Labels every new lane of the pool carries, lowercased (identity without the lane's own). */
  base: ReadonlySet<string>;
  /** Hosts the pool may have lanes on (`lanes` above 0), each with its granted capabilities, lowercased. */
  hosts: ReadonlyMap<string, ReadonlySet<string>>;
}

export type { NoMatchReason };

/** How one pool compares with a job: what `launchplane why` shows per pool. */
export interface PoolCheck {
  pool: string;
  matches: boolean;
  /** The job's labels (as it wrote them) that no lane of the pool would carry on any host. */
  missing: string[];
  /** Hosts whose lanes of the pool would carry every label (empty when the pool does not match). */
  hosts: string[];
  /** Labels the pool's lanes carry beyond the job's, on its best host (for the multi-pool rule). */
  extra: number;
  /** Why the pool does not match; undefined when it does. */
  reason?: Exclude<NoMatchReason, 'no-pool-for-scope'>;
}

/** The result of {@link matchJob}. */
export type JobMatch =
  | {
      matched: true;
      /** The pool the job counts toward. */
      pool: string;
      /** Hosts of that pool whose lanes would carry every label: where a lane for it may go. */
      hosts: string[];
      /** Every pool in the job's scope, the chosen one first, then the other matches, then the rest. */
      checks: PoolCheck[];
      message: string;
    }
  | {
      matched: false;
      reason: NoMatchReason;
      checks: PoolCheck[];
      message: string;
    };

/** Prepares every pool of the policy for matching. */
export function poolProfiles(
  policy: Policy,
  coordinatorId: string,
  hosts: readonly MatchHost[],
): PoolProfile[] {
  const reported = new Map(hosts.map((h) => [h.hostId, h.capabilities]));
  return Object.entries(policy.pools)
    .sort(([a], [b]) => cmp(a, b))
    .map(([name, pool]) => {
      // Every label but the lane's own `lp-lane-<id>`, which no lane exists to carry yet.
      const base = new Set(
        [LABEL_LAUNCHPLANE, coordinatorLabel(coordinatorId), poolLabel(name), ...pool.labels].map(
          (l) => l.toLowerCase(),
        ),
      );
      const poolHosts = new Map<string, ReadonlySet<string>>();
      for (const [hostId, n] of Object.entries(pool.lanes).sort(([a], [b]) => cmp(a, b))) {
        if (n <= 0) continue;
        const { granted } = grantedCapabilities(policy, hostId, reported.get(hostId) ?? []);
        poolHosts.set(hostId, new Set(granted.map((l) => l.toLowerCase())));
      }
      return { name, pool, scopeKey: poolScopeKey(pool), base, hosts: poolHosts };
    });
}

/** Whether a pool serves a job's repository: the repository itself, or its owner. */
function servesJob(profile: PoolProfile, job: Pick<DemandJob, 'repository'>): boolean {
  const repo = job.repository.toLowerCase();
  if (profile.pool.repository !== undefined) return profile.pool.repository === repo;
  const owner = repo.split('/')[0] ?? '';
  return profile.pool.organization === owner;
}

/** Compares one job with one pool that serves its repository. */
export function checkPool(
  profile: PoolProfile,
  job: Pick<DemandJob, 'labels' | 'runnerGroupId'>,
): PoolCheck {
  const wanted = dedupeLower(job.labels);
  const group = profile.pool.runnerGroupId;
  // A pool that names its group only by name is not compared: its id is GitHub's to resolve.
  if (job.runnerGroupId !== undefined && group !== undefined && job.runnerGroupId !== group) {
    return {
      pool: profile.name,
      matches: false,
      missing: [],
      hosts: [],
      extra: 0,
      reason: 'runner-group',
    };
  }
  if (wanted.size === 0) {
    // GitHub never queues a job without labels for a self-hosted runner; match nothing.
    return {
      pool: profile.name,
      matches: false,
      missing: [],
      hosts: [],
      extra: 0,
      reason: 'labels',
    };
  }
  const hosts: string[] = [];
  let extra = Number.POSITIVE_INFINITY;
  let missingEverywhere: Set<string> | undefined;
  for (const [hostId, caps] of profile.hosts) {
    const missing = [...wanted.keys()].filter((l) => !profile.base.has(l) && !caps.has(l));
    if (missing.length === 0) {
      hosts.push(hostId);
      // The lane's labels: the base, the host's capabilities and its own `lp-lane-<id>`.
      const carried = new Set([...profile.base, ...caps]).size + 1;
      extra = Math.min(extra, carried - wanted.size);
    }
    missingEverywhere =
      missingEverywhere === undefined
        ? new Set(missing)
        : new Set(missing.filter((l) => missingEverywhere?.has(l)));
  }
  if (hosts.length > 0) return { pool: profile.name, matches: true, missing: [], hosts, extra };
  const missing = [...(missingEverywhere ?? new Set(wanted.keys()))]
    .map((l) => wanted.get(l) ?? l)
    .sort(cmp);
  const defaults = missing.some((l) => GITHUB_READ_ONLY.has(l.toLowerCase()));
  return {
    pool: profile.name,
    matches: false,
    missing,
    hosts: [],
    extra: 0,
    reason: defaults ? 'github-default-label' : 'labels',
  };
}

/**
 * Which pool a job counts toward, or why none. Deterministic: the same job and profiles always
 * give the same answer.
 */
export function matchJob(
  job: Pick<DemandJob, 'id' | 'repository' | 'labels' | 'runnerGroupId'>,
  profiles: readonly PoolProfile[],
): JobMatch {
  const inScope = profiles.filter((p) => servesJob(p, job));
  const checks = inScope.map((p) => checkPool(p, job));
  const matching = checks
    .filter((c) => c.matches)
    .sort((a, b) => a.extra - b.extra || cmp(a.pool, b.pool));
  const labels = job.labels.map((l) => `"${l}"`).join(', ');
  const chosen = matching[0];
  if (chosen !== undefined) {
    const others = checks
      .filter((c) => c !== chosen)
      .sort((a, b) => Number(b.matches) - Number(a.matches) || cmp(a.pool, b.pool));
    const also =
      matching.length > 1
        ? ` (also matches ${matching
            .slice(1)
            .map((c) => `"${c.pool}"`)
            .join(', ')}: the most specific pool wins)`
        : '';
    return {
      matched: true,
      pool: chosen.pool,
      hosts: chosen.hosts,
      checks: [chosen, ...others],
      message: `Job ${job.id} matches pool "${chosen.pool}"${also}`,
    };
  }
  if (inScope.length === 0) {
    return {
      matched: false,
      reason: 'no-pool-for-scope',
      checks,
      message: `Job ${job.id} of "${job.repository}" matches no pool: no pool serves the repository or its organization`,
    };
  }
  const sorted = [...checks].sort((a, b) => cmp(a.pool, b.pool));
  if (sorted.every((c) => c.reason === 'runner-group')) {
    return {
      matched: false,
      reason: 'runner-group',
      checks: sorted,
      message: `Job ${job.id} was given runner group ${job.runnerGroupId ?? '?'}, which no pool serving "${job.repository}" uses`,
    };
  }
  const defaults = [
    ...new Set(
      sorted.flatMap((c) => c.missing.filter((l) => GITHUB_READ_ONLY.has(l.toLowerCase()))),
    ),
  ].sort(cmp);
  if (defaults.length > 0 && sorted.some((c) => c.reason === 'github-default-label')) {
    return {
      matched: false,
      reason: 'github-default-label',
      checks: sorted,
      message: `Job ${job.id} asks for ${defaults.map((l) => `"${l}"`).join(', ')}, a GitHub default label no Launchplane lane carries (lanes register with --no-default-labels): use runs-on labels such as "lp-pool-<pool>" or the pool's labels`,
    };
  }
  return {
    matched: false,
    reason: 'labels',
    checks: sorted,
    message: `Job ${job.id} asks for ${labels === '' ? 'no labels' : labels}, which no lane of a pool serving "${job.repository}" would carry`,
  };
}

/** Lowercased label → the first spelling the job used. */
function dedupeLower(labels: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of labels) {
    const k = l.toLowerCase();
    if (!out.has(k)) out.set(k, l);
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

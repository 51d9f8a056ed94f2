import type { Policy } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { DemandJob } from './demand.js';
import { matchJob, poolProfiles, type MatchHost } from './matching.js';
import { COORDINATOR_ID, policyOf } from './plan-fixtures.test-helper.js';

const POLICY: Policy = policyOf({
  allowedHosts: ['host-a', 'host-b'],
  allowedOrganizations: ['acme'],
  hosts: { 'host-a': { capabilities: ['gpu'] } },
  pools: {
    build: {
      repository: 'acme/api',
      labels: ['linux', 'x64'],
      backend: 'systemd',
      ephemeral: false,
      runnerGroupId: 1,
      lanes: { 'host-a': 2, 'host-b': 2 },
    },
    big: {
      repository: 'acme/api',
      labels: ['linux', 'x64', 'large'],
      backend: 'systemd',
      ephemeral: false,
      runnerGroupId: 1,
      lanes: { 'host-b': 1 },
    },
    org: {
      organization: 'acme',
      labels: ['linux'],
      backend: 'docker',
      docker: { image: 'img' },
      ephemeral: true,
      runnerGroupId: 5,
      lanes: { 'host-a': 1, 'host-b': 0 },
    },
  },
});
const HOSTS: MatchHost[] = [
  { hostId: 'host-a', capabilities: ['gpu', 'fpga'] },
  { hostId: 'host-b', capabilities: ['gpu'] },
];
const PROFILES = poolProfiles(POLICY, COORDINATOR_ID, HOSTS);

function job(labels: string[], over: Partial<DemandJob> = {}): DemandJob {
  return {
    id: 7,
    runId: 70,
    repository: 'acme/api',
    labels,
    status: 'queued',
    queuedAt: 1000,
    ...over,
  };
}

describe('matchJob()', () => {
  it('matches when the job`s labels are a subset of the lane`s, compared without regard to case', () => {
    const m = matchJob(job(['LP-Pool-Build']), PROFILES);
    expect(m).toMatchObject({ matched: true, pool: 'build', hosts: ['host-a', 'host-b'] });
    // GitHub spells its default labels "Linux" and "X64"; a pool labelled linux, x64 carries them.
    expect(matchJob(job(['Linux', 'X64', 'large']), PROFILES)).toMatchObject({ pool: 'big' });
  });

  it('never matches a runs-on: self-hosted job, and says why', () => {
    for (const labels of [
      ['self-hosted'],
      ['self-hosted', 'linux'],
      ['self-hosted', 'lp-pool-build'],
    ]) {
      const m = matchJob(job(labels), PROFILES);
      expect(m.matched).toBe(false);
      if (m.matched) return;
      expect(m.reason).toBe('github-default-label');
      expect(m.message).toBe(
        'Job 7 asks for "self-hosted", a GitHub default label no Launchplane lane carries (lanes register with --no-default-labels): use runs-on labels such as "lp-pool-<pool>" or the pool\'s labels',
      );
      expect(m.checks.find((c) => c.pool === 'build')).toMatchObject({
        matches: false,
        missing: ['self-hosted'],
      });
    }
  });

  it('matches a capability only on hosts the policy grants it to and that report it', () => {
    const m = matchJob(job(['lp-pool-build', 'gpu']), PROFILES);
    // host-b reports gpu, but the policy grants it nothing: its lanes do not carry it.
    expect(m).toMatchObject({ matched: true, pool: 'build', hosts: ['host-a'] });
    // fpga is reported by host-a but not granted: no lane carries it.
    const fpga = matchJob(job(['lp-pool-build', 'fpga']), PROFILES);
    expect(fpga).toMatchObject({ matched: false, reason: 'labels' });
    const unreported = poolProfiles(POLICY, COORDINATOR_ID, [
      { hostId: 'host-a', capabilities: [] },
    ]);
    expect(matchJob(job(['lp-pool-build', 'gpu']), unreported)).toMatchObject({ matched: false });
  });

  it('chooses among several matching pools the one with the fewest labels beyond the job`s, then by name', () => {
    const m = matchJob(job(['linux']), PROFILES);
    expect(m).toMatchObject({ matched: true, pool: 'build' });
    expect(m.checks.map((c) => [c.pool, c.matches])).toEqual([
      ['build', true],
      ['big', true],
      ['org', true],
    ]);
    expect(m.message).toBe(
      'Job 7 matches pool "build" (also matches "org", "big": the most specific pool wins)',
    );
    // Two pools whose lanes carry the same labels: the first name wins.
    const twins = policyOf({
      pools: {
        zeta: { ...POLICY.pools.build!, lanes: { 'host-a': 1 } },
        alpha: { ...POLICY.pools.build!, lanes: { 'host-b': 1 } },
      },
    });
    const p = poolProfiles(twins, COORDINATOR_ID, HOSTS);
    expect(matchJob(job(['linux']), p)).toMatchObject({ pool: 'alpha' });
    expect(matchJob(job(['linux']), [...p].reverse())).toMatchObject({ pool: 'alpha' });
  });

  it('serves an organization pool`s jobs from every repository of the organization, in its runner group', () => {
    expect(matchJob(job(['lp-pool-org'], { repository: 'Acme/Web' }), PROFILES)).toMatchObject({
      matched: true,
      pool: 'org',
      hosts: ['host-a'],
    });
    expect(
      matchJob(job(['lp-pool-org'], { repository: 'acme/web', runnerGroupId: 1 }), PROFILES),
    ).toMatchObject({ matched: false, reason: 'runner-group' });
    expect(matchJob(job(['linux'], { repository: 'other/web' }), PROFILES)).toMatchObject({
      matched: false,
      reason: 'no-pool-for-scope',
      message:
        'Job 7 of "other/web" matches no pool: no pool serves the repository or its organization',
    });
  });

  it('matches nothing for labels no new lane carries: another pool`s, a lane`s own, none at all', () => {
    expect(matchJob(job(['lp-pool-deploy']), PROFILES)).toMatchObject({
      matched: false,
      reason: 'labels',
    });
    expect(matchJob(job(['lp-lane-01hzzzzzzzzzzzzzzzzzzz0001']), PROFILES)).toMatchObject({
      matched: false,
      reason: 'labels',
    });
    expect(matchJob(job(['lp-draining']), PROFILES)).toMatchObject({ matched: false });
    expect(matchJob(job([]), PROFILES)).toMatchObject({ matched: false, reason: 'labels' });
  });
});

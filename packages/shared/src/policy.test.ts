import { describe, expect, it } from 'vitest';
import { parsePolicy, summarizePolicy } from './policy.js';
import { formatIssue } from './yaml-config.js';

const VALID = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api]
allowedOrganizations: [acme]
pools:
  build:
    repository: acme/api
    labels: [linux, x64]
    backend: systemd
    ephemeral: false
    lanes: { host-a: 2, host-b: 1 }
  ci:
    organization: acme
    backend: docker
    docker: { image: "ghcr.io/acme/runner:2" }
    ephemeral: true
    lanes:
      host-a: 1
`;

function issuesOf(text: string) {
  const r = parsePolicy(text);
  if (r.ok) throw new Error('expected the policy to be refused');
  return r.issues;
}

describe('parsePolicy()', () => {
  it('accepts the example policy and summarizes it', () => {
    const r = parsePolicy(VALID);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.pools.build?.runnerGroupId).toBe(1);
    const s = summarizePolicy(r.value);
    expect(s.totalLanes).toBe(4);
    expect(s.pools.map((p) => [p.name, p.scope, p.backend, p.lanes])).toEqual([
      ['build', 'acme/api', 'systemd', 3],
      ['ci', 'org:acme', 'docker', 1],
    ]);
  });

  it('names the path and line of a host that is not allowed', () => {
    const issues = issuesOf(VALID.replace('host-b: 1', 'host-x: 1'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      path: 'pools.build.lanes.host-x',
      line: 11,
      message: 'host "host-x" is not in allowedHosts',
    });
    expect(formatIssue(issues[0]!)).toBe(
      'pools.build.lanes.host-x: host "host-x" is not in allowedHosts (line 11)',
    );
  });

  it('fails closed: a missing allowlist allows nothing', () => {
    const issues = issuesOf(VALID.replace('allowedHosts: [host-a, host-b]\n', ''));
    expect(issues.map((i) => i.path).sort()).toEqual([
      'pools.build.lanes.host-a',
      'pools.build.lanes.host-b',
      'pools.ci.lanes.host-a',
    ]);
  });

  it('fails closed: an empty repository allowlist refuses the pool', () => {
    const issues = issuesOf(
      VALID.replace('allowedRepositories: [acme/api]', 'allowedRepositories: []'),
    );
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'pools.build.repository',
        message: 'repository "acme/api" is not in allowedRepositories',
        line: 7,
      }),
    ]);
  });

  it('accepts an empty policy, which allows nothing', () => {
    const r = parsePolicy('version: 1\n');
    expect(r.ok && summarizePolicy(r.value).totalLanes).toBe(0);
  });

  it.each([
    [
      'a docker pool without an image',
      VALID.replace('    docker: { image: "ghcr.io/acme/runner:2" }\n', ''),
      'pools.ci.docker',
      'a docker pool needs "docker.image"',
    ],
    [
      'a pool with both scopes',
      VALID.replace(
        '    organization: acme\n',
        '    organization: acme\n    repository: acme/api\n',
      ),
      'pools.ci',
      'exactly one of',
    ],
    ['a bad pool name', VALID.replace('  ci:', '  CI_Pool:'), 'pools.CI_Pool', 'must match'],
    [
      'a reserved label',
      VALID.replace('[linux, x64]', '[linux, lp-pool-x]'),
      'pools.build.labels[1]',
      'reserved',
    ],
    [
      'an unknown key (a typo)',
      VALID.replace('    ephemeral: false', '    ephemerall: false'),
      'pools.build',
      'ephemerall',
    ],
    [
      'a negative lane count',
      VALID.replace('host-a: 2', 'host-a: -1'),
      'pools.build.lanes.host-a',
      '',
    ],
    [
      'a bad host id',
      VALID.replace('[host-a, host-b]', '[host-a, Host_B]'),
      'allowedHosts[1]',
      'must match',
    ],
    ['a wrong version', VALID.replace('version: 1', 'version: 2'), 'version', ''],
    [
      'a duplicate host',
      VALID.replace('[host-a, host-b]', '[host-a, host-b, host-a]'),
      'allowedHosts[2]',
      'listed twice',
    ],
    [
      'an organization not allowed',
      VALID.replace('allowedOrganizations: [acme]', 'allowedOrganizations: [other]'),
      'pools.ci.organization',
      'not in allowedOrganizations',
    ],
    [
      'a bad repository',
      VALID.replace('allowedRepositories: [acme/api]', 'allowedRepositories: [acme]'),
      'allowedRepositories[0]',
      'owner/repo',
    ],
  ])('refuses %s with the path named', (_what, text, path, message) => {
    const issues = issuesOf(text);
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit?.message).toContain(message);
    expect(hit?.line).toBeGreaterThan(0);
  });

  it('refuses duplicate YAML keys and YAML syntax errors with a line', () => {
    const dup = issuesOf(
      VALID.replace('    backend: systemd\n', '    backend: systemd\n    backend: docker\n'),
    );
    expect(dup[0]?.line).toBe(10);
    const syntax = issuesOf('version: 1\npools: [\n');
    expect(syntax[0]?.line).toBeGreaterThan(0);
  });

  it('treats repository names case-insensitively, as GitHub does', () => {
    const r = parsePolicy(VALID.replace('repository: acme/api', 'repository: Acme/API'));
    expect(r.ok).toBe(true);
  });
});

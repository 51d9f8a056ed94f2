import { describe, expect, it } from 'vitest';
import {
  grantedCapabilities,
  ownEntry,
  parsePolicy,
  summarizePolicy,
  windowsInForce,
} from './policy.js';
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
      "a pool named like Launchplane's own (smoke lanes are pool lp-smoke)",
      VALID.replace('  ci:', '  lp-smoke:'),
      'pools.lp-smoke',
      'reserved',
    ],
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
    [
      'a runner group by name and by id at once',
      VALID.replace(
        '    ephemeral: true\n',
        '    ephemeral: true\n    runnerGroup: deploy\n    runnerGroupId: 4\n',
      ),
      'pools.ci.runnerGroup',
      'not both',
    ],
    [
      'a runner group on a repository pool',
      VALID.replace('    ephemeral: false\n', '    ephemeral: false\n    runnerGroup: deploy\n'),
      'pools.build.runnerGroup',
      'a repository pool can only use the default runner group',
    ],
    [
      'a runner group id other than the default on a repository pool',
      VALID.replace('    ephemeral: false\n', '    ephemeral: false\n    runnerGroupId: 4\n'),
      'pools.build.runnerGroupId',
      'default runner group (1)',
    ],
    [
      'a runner group name with a control character',
      VALID.replace(
        '    ephemeral: true\n',
        '    ephemeral: true\n    runnerGroup: "dep\\e[0mloy"\n',
      ),
      'pools.ci.runnerGroup',
      'printable',
    ],
    [
      'a capability granted to a host not in allowedHosts',
      `${VALID}hosts:\n  host-z: { capabilities: [gpu] }\n`,
      'hosts.host-z',
      'host "host-z" is not in allowedHosts',
    ],
    [
      'a granted capability with a reserved prefix',
      `${VALID}hosts:\n  host-a: { capabilities: [gpu, lp-pool-deploy] }\n`,
      'hosts.host-a.capabilities[1]',
      'reserved',
    ],
    [
      'a granted capability listed twice',
      `${VALID}hosts:\n  host-a: { capabilities: [gpu, gpu] }\n`,
      'hosts.host-a.capabilities[1]',
      'listed twice',
    ],
    [
      'a bad host id in hosts',
      `${VALID}hosts:\n  Host_A: { capabilities: [gpu] }\n`,
      'hosts.Host_A',
      'not a valid host id',
    ],
    [
      'an unknown key under a host',
      `${VALID}hosts:\n  host-a: { labels: [gpu] }\n`,
      'hosts.host-a',
      'labels',
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

describe('runner groups in the policy', () => {
  it('keeps the default group when none is named, so an unchanged policy parses as before', () => {
    const r = parsePolicy(VALID);
    expect(r.ok && r.value.pools.ci).toMatchObject({ runnerGroupId: 1 });
    expect(r.ok && r.value.pools.ci?.runnerGroup).toBeUndefined();
  });

  it('lets an organization pool name its group, or give its id', () => {
    const named = parsePolicy(
      VALID.replace(
        '    ephemeral: true\n',
        '    ephemeral: true\n    runnerGroup: Deploy Runners\n',
      ),
    );
    expect(named.ok && named.value.pools.ci).toMatchObject({ runnerGroup: 'Deploy Runners' });
    expect(named.ok && named.value.pools.ci?.runnerGroupId).toBeUndefined();
    const byId = parsePolicy(
      VALID.replace('    ephemeral: true\n', '    ephemeral: true\n    runnerGroupId: 7\n'),
    );
    expect(byId.ok && byId.value.pools.ci?.runnerGroupId).toBe(7);
  });
});

describe('host capabilities in the policy', () => {
  const GRANTS = `${VALID}hosts:\n  host-a:\n    capabilities: [gpu, arm64]\n  host-b: {}\n`;

  it('grants capabilities per allowed host', () => {
    const r = parsePolicy(GRANTS);
    expect(r.ok && r.value.hosts).toEqual({
      'host-a': { capabilities: ['gpu', 'arm64'] },
      'host-b': { capabilities: [] },
    });
    // Without the section the parsed policy is what it was before grants existed.
    const plain = parsePolicy(VALID);
    expect(plain.ok && 'hosts' in plain.value).toBe(false);
  });

  it('puts only granted, unreserved capabilities a host reports on its lanes, and says why the rest are ignored', () => {
    const r = parsePolicy(GRANTS);
    if (!r.ok) throw new Error('valid');
    const out = grantedCapabilities(r.value, 'host-a', [
      'gpu',
      'lp-pool-deploy',
      'lp-draining',
      'launchplane-x',
      'fpga',
      'gpu',
    ]);
    expect(out.granted).toEqual(['gpu']);
    expect(out.ignored.map((i) => [i.capability, i.reason])).toEqual([
      ['fpga', 'not-granted'],
      ['launchplane-x', 'reserved'],
      ['lp-draining', 'reserved'],
      ['lp-pool-deploy', 'reserved'],
    ]);
    expect(out.ignored[0]?.message).toContain('hosts.host-a.capabilities');
    // A host the policy grants nothing gets nothing; an inherited name grants nothing either.
    expect(grantedCapabilities(r.value, 'host-b', ['gpu']).granted).toEqual([]);
    expect(grantedCapabilities(r.value, 'constructor', ['gpu']).granted).toEqual([]);
    expect(grantedCapabilities(r.value, 'toString', ['gpu']).granted).toEqual([]);
  });

  it('ownEntry never returns an inherited property', () => {
    const map: Record<string, number> = { 'host-a': 1 };
    expect(ownEntry(map, 'host-a')).toBe(1);
    expect(ownEntry(map, 'constructor')).toBeUndefined();
    expect(ownEntry(map, '__proto__')).toBeUndefined();
    expect(ownEntry(undefined, 'host-a')).toBeUndefined();
  });
});

describe('prototype keys', () => {
  it.each([
    [
      '__proto__',
      'lanes',
      VALID.replace('host-a: 2, host-b: 1', 'host-a: 2, host-b: 1, __proto__: 5'),
      'pools.build.lanes.__proto__',
      11,
    ],
    [
      'constructor',
      'lanes',
      VALID.replace('      host-a: 1\n', '      host-a: 1\n      constructor: 1\n'),
      'pools.ci.lanes.constructor',
      19,
    ],
    [
      'prototype',
      'pools',
      VALID.replace(
        '  ci:\n',
        '  prototype:\n    repository: acme/api\n    backend: systemd\n  ci:\n',
      ),
      'pools.prototype',
      12,
    ],
    [
      '__proto__',
      'hosts',
      `${VALID}hosts:\n  __proto__: { capabilities: [gpu] }\n`,
      'hosts.__proto__',
      20,
    ],
    ['constructor', 'the top level', `${VALID}constructor: 1\n`, 'constructor', 19],
    [
      '__proto__',
      'a docker section',
      VALID.replace(
        '{ image: "ghcr.io/acme/runner:2" }',
        '{ image: x, __proto__: { network: host } }',
      ),
      'pools.ci.docker.__proto__',
      15,
    ],
  ])('refuses a "%s" key in %s with its path and line', (key, _where, text, path, line) => {
    const issues = issuesOf(text);
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toMatchObject({
      line,
      message: `key "${key}" is not allowed: it could change how the file is read`,
    });
  });

  it('finds a prototype key under a list item', () => {
    const issues = issuesOf('version: 1\nallowedHosts: [host-a]\nx:\n  - a: 1\n  - __proto__: 2\n');
    expect(issues.map((i) => i.path)).toContain('x[1].__proto__');
  });
});

describe('scaling in the policy', () => {
  const SCALING = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    backend: systemd
    lanes: { host-a: 4, host-b: 4 }
    scaling:
      mode: demand
      min: 0
      max: 6
      minIdle: 1
      scaleDownAfterSec: 600
      placement: spread
      schedule:
        - { cron: "0 8 * * 1-5", durationMinutes: 600, timezone: Europe/Berlin, minIdle: 3 }
`;

  it('accepts every key and fills the defaults in', () => {
    const r = parsePolicy(SCALING);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.value.pools.build?.scaling).toEqual({
      mode: 'demand',
      min: 0,
      max: 6,
      minIdle: 1,
      scaleDownAfterSec: 600,
      reservationSec: 600,
      placement: 'spread',
      schedule: [
        { cron: '0 8 * * 1-5', durationMinutes: 600, timezone: 'Europe/Berlin', minIdle: 3 },
      ],
    });
    const bare = parsePolicy(SCALING.replace(/ {4}scaling:[\s\S]*$/, '    scaling: {}\n'));
    expect(bare.ok && bare.value.pools.build?.scaling).toEqual({
      mode: 'static',
      min: 0,
      minIdle: 0,
      scaleDownAfterSec: 600,
      reservationSec: 600,
      placement: 'spread',
      schedule: [],
    });
    expect(summarizePolicy(r.value).pools[0]?.scaling).toBe(
      'demand 0–6, minIdle 1, spread, 1 window',
    );
  });

  it('leaves a policy without scaling as it was (its digest does not move)', () => {
    const r = parsePolicy(VALID);
    expect(r.ok && 'scaling' in (r.value.pools.build ?? {})).toBe(false);
    expect(r.ok && summarizePolicy(r.value).pools.map((p) => p.scaling)).toEqual([
      'static',
      'static',
    ]);
  });

  it.each([
    [
      'a bad cron expression',
      '"0 8 * * 1-5"',
      '"0 25 * * 1-5"',
      'pools.build.scaling.schedule[0].cron',
      17,
      'cron "0 25 * * 1-5" is not valid: Invalid value for hour: 25',
    ],
    [
      'a cron with six fields',
      '"0 8 * * 1-5"',
      '"0 0 8 * * 1-5"',
      'pools.build.scaling.schedule[0].cron',
      17,
      'cron "0 0 8 * * 1-5" is not valid',
    ],
    [
      'a cron that never fires',
      '"0 8 * * 1-5"',
      '"0 8 30 2 *"',
      'pools.build.scaling.schedule[0].cron',
      17,
      'cron "0 8 30 2 *" never fires',
    ],
    [
      'an unknown time zone',
      'Europe/Berlin',
      'Europe/Atlantis',
      'pools.build.scaling.schedule[0].timezone',
      17,
      'time zone "Europe/Atlantis" is not known',
    ],
    [
      'min above max',
      'min: 0',
      'min: 7',
      'pools.build.scaling.min',
      11,
      'min (7) is more than max (6)',
    ],
    [
      'minIdle above max',
      'minIdle: 1',
      'minIdle: 9',
      'pools.build.scaling.minIdle',
      13,
      'minIdle (9) is more than max (6)',
    ],
    [
      "a window's minIdle above max",
      'minIdle: 3 }',
      'minIdle: 7 }',
      'pools.build.scaling.schedule[0].minIdle',
      17,
      'minIdle (7) is more than max (6)',
    ],
    [
      "a window's min above max",
      'minIdle: 3 }',
      'min: 8 }',
      'pools.build.scaling.schedule[0].min',
      17,
      'min (8) is more than max (6)',
    ],
    [
      "min above the pool's lanes without max",
      '      min: 0\n      max: 6',
      '      min: 9',
      'pools.build.scaling.min',
      11,
      "min (9) is more than the pool's lanes (8 in all)",
    ],
    [
      'a window with neither min nor minIdle',
      ', minIdle: 3 }',
      ' }',
      'pools.build.scaling.schedule[0]',
      17,
      'a schedule window needs "min" or "minIdle"',
    ],
    ['an unknown mode', 'mode: demand', 'mode: events', 'pools.build.scaling.mode', 10, ''],
    [
      'an unknown placement',
      'placement: spread',
      'placement: random',
      'pools.build.scaling.placement',
      15,
      '',
    ],
    ['a negative min', 'min: 0', 'min: -1', 'pools.build.scaling.min', 11, ''],
    [
      'a window longer than a week',
      'durationMinutes: 600',
      'durationMinutes: 20000',
      'pools.build.scaling.schedule[0].durationMinutes',
      17,
      '',
    ],
    ['an unknown key (a typo)', 'minIdle: 1', 'minIdel: 1', 'pools.build.scaling', 10, 'minIdel'],
  ])('refuses %s with its path and line', (_what, from, to, path, line, message) => {
    expect(SCALING).toContain(from);
    const issues = issuesOf(SCALING.replace(from, to));
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit?.line).toBe(line);
    expect(hit?.message).toContain(message);
  });
});

describe('polled repositories of an organization pool', () => {
  const ORG = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
allowedOrganizations: [acme]
pools:
  org:
    organization: acme
    backend: systemd
    lanes: { host-a: 2 }
    scaling:
      mode: demand
      repositories: [Acme/API, acme/web]
`;

  it('takes the repositories of its organization, lowercased as GitHub compares them', () => {
    const r = parsePolicy(ORG);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    expect(r.value.pools.org?.scaling?.repositories).toEqual(['acme/api', 'acme/web']);
  });

  it('leaves the key out when it is not given', () => {
    const r = parsePolicy(ORG.replace(/ {6}repositories:.*\n/, ''));
    expect(r.ok && 'repositories' in (r.value.pools.org?.scaling ?? {})).toBe(false);
  });

  it.each([
    [
      'a repository of another organization',
      'acme/web]',
      'other/web]',
      'pools.org.scaling.repositories[1]',
      12,
      'repository "other/web" is not in the pool\'s organization "acme"',
    ],
    [
      'a repository listed twice',
      'acme/web]',
      'acme/api]',
      'pools.org.scaling.repositories[1]',
      12,
      '"acme/api" is listed twice',
    ],
    [
      'a repository pool that lists repositories',
      '    organization: acme',
      '    repository: acme/api',
      'pools.org.scaling.repositories',
      12,
      '"scaling.repositories" is for organization pools',
    ],
    [
      'a name that is not owner/repo',
      'acme/web]',
      'web]',
      'pools.org.scaling.repositories[1]',
      12,
      '',
    ],
  ])('refuses %s with its path and line', (_what, from, to, path, line, message) => {
    expect(ORG).toContain(from);
    const issues = issuesOf(ORG.replace(from, to));
    const hit = issues.find((i) => i.path === path);
    expect(hit, JSON.stringify(issues)).toBeDefined();
    expect(hit?.line).toBe(line);
    expect(hit?.message).toContain(message);
  });
});

describe('windowsInForce()', () => {
  const at = (iso: string): number => Date.parse(iso) / 1000;
  const scaling = {
    schedule: [
      {
        name: 'office',
        cron: '0 8 * * 1-5',
        durationMinutes: 600,
        timezone: 'Europe/Berlin',
        minIdle: 3,
      },
    ],
  };

  it('is in force from the cron time in its zone for its duration, and not before or after', () => {
    // Friday 28 March 2025 is still winter time in Berlin (UTC+1).
    expect(windowsInForce(scaling, at('2025-03-28T06:59:59Z'))).toEqual([]);
    expect(windowsInForce(scaling, at('2025-03-28T07:00:00Z'))).toEqual([
      expect.objectContaining({
        index: 0,
        startedAt: at('2025-03-28T07:00:00Z'),
        endsAt: at('2025-03-28T17:00:00Z'),
      }),
    ]);
    expect(windowsInForce(scaling, at('2025-03-28T16:59:59Z'))).toHaveLength(1);
    expect(windowsInForce(scaling, at('2025-03-28T17:00:00Z'))).toEqual([]);
    // Saturday: no window.
    expect(windowsInForce(scaling, at('2025-03-29T09:00:00Z'))).toEqual([]);
  });

  it('follows daylight saving time: 08:00 in Berlin is 06:00 UTC after the change', () => {
    // Monday 31 March 2025, summer time (UTC+2).
    expect(windowsInForce(scaling, at('2025-03-31T06:30:00Z'))).toHaveLength(1);
    expect(windowsInForce(scaling, at('2025-03-31T05:59:00Z'))).toEqual([]);
    expect(windowsInForce(scaling, at('2025-03-31T15:59:00Z'))).toHaveLength(1);
    expect(windowsInForce(scaling, at('2025-03-31T16:00:00Z'))).toEqual([]);
  });

  it('reads a window without a time zone in UTC', () => {
    const utc = { schedule: [{ cron: '30 2 * * *', durationMinutes: 30, minIdle: 1 }] };
    expect(windowsInForce(utc, at('2025-06-01T02:45:00Z'))).toHaveLength(1);
    expect(windowsInForce(utc, at('2025-06-01T03:00:00Z'))).toEqual([]);
  });
});

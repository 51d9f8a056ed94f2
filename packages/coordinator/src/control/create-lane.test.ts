import type { LaneCreateCommand } from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import { createLane } from './create-lane.js';
import {
  OPT_IN,
  POLICY_TEXT,
  SECRET_JIT,
  SECRET_REG,
  makeWorld,
  seedLane,
  type World,
} from './control-fakes.test-helper.js';

const create = (w: World, pool: string, dryRun = false) =>
  createLane(w.deps, { hostId: 'host-a', pool, actor: 'tok-op', dryRun });

async function auditText(w: World): Promise<string> {
  return JSON.stringify(await w.store.listAudit({}));
}

describe('createLane()', () => {
  it('creates a persistent lane: registration token, lane.create, online, runner id recorded', async () => {
    const w = await makeWorld();
    const r = await create(w, 'build');
    expect(r).toMatchObject({ ok: true, outcome: 'created', hostId: 'host-a', pool: 'build' });
    const lane = await w.store.getLane(r.laneId!);
    expect(lane).toMatchObject({
      state: 'online',
      runnerName: `lp-host-a-build-${r.laneId!.slice(-8)}`,
    });
    const runner = w.github.find(lane!.runnerId!);
    expect(runner?.name).toBe(lane!.runnerName);
    const sent = w.hub.commands('lane.create')[0] as LaneCreateCommand;
    expect(sent.runner).toEqual({
      url: 'https://github.example/acme/api',
      registrationToken: SECRET_REG,
    });
    expect(sent.labels).toEqual(lane!.labels);
    expect(sent.labels).toEqual(
      expect.arrayContaining([
        'launchplane',
        'lp-ctl-coord-te',
        `lp-lane-${r.laneId}`,
        'lp-pool-build',
        'linux',
      ]),
    );
    // The report and the audit show the command, never the token.
    expect(JSON.stringify(r)).not.toContain(SECRET_REG);
    const audit = await auditText(w);
    expect(audit).toContain('"outcome":"ok"');
    expect(audit).not.toContain(SECRET_REG);
  });

  it("persistent creates in one scope share the scope's registration token; a failed create drops it", async () => {
    const w = await makeWorld({ policy: POLICY_TEXT.replace('host-a: 2', 'host-a: 4') });
    const tokenCalls = () => w.github.calls.filter((c) => c.startsWith('createRegistrationToken'));
    expect((await create(w, 'build')).ok).toBe(true);
    expect((await create(w, 'build')).ok).toBe(true);
    expect(tokenCalls()).toHaveLength(1);
    // The host refuses the next create (as config.sh would with a token GitHub no longer takes):
    // the token is dropped, and the create after it asks GitHub for a new one.
    w.hub.behaviour = (_h, cmd) =>
      cmd.type === 'lane.create'
        ? {
            ok: false,
            outcome: 'failed',
            error: { code: 'LP_BACKEND_FAILED', message: 'config.sh failed' },
          }
        : undefined;
    expect((await create(w, 'build')).ok).toBe(false);
    w.hub.behaviour = () => undefined;
    expect((await create(w, 'build')).ok).toBe(true);
    expect(tokenCalls()).toHaveLength(2);
  });

  it('creates an ephemeral lane with a JIT config and records the runner id before sending', async () => {
    const w = await makeWorld();
    let recordedAtSend: number | undefined;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.create') {
        void w.store.getLane(cmd.laneId).then((l) => (recordedAtSend = l?.runnerId));
      }
      return undefined;
    };
    const r = await create(w, 'eph');
    expect(r.ok).toBe(true);
    const sent = w.hub.commands('lane.create')[0] as LaneCreateCommand;
    expect(sent.runner).toEqual({ jitConfig: SECRET_JIT });
    expect(sent.runnerId).toBeGreaterThan(0);
    expect(recordedAtSend).toBe(sent.runnerId);
    expect(JSON.stringify(r)).not.toContain(SECRET_JIT);
    expect(await auditText(w)).not.toContain(SECRET_JIT);
  });

  it('on deadline removes the lane on the host, deletes the registration by id and marks it failed', async () => {
    const w = await makeWorld();
    w.hub.registerOnStart = false; // the JIT runner never comes online
    const r = await create(w, 'eph');
    expect(r).toMatchObject({ ok: false, outcome: 'timeout' });
    expect(r.error?.code).toBe('LP_TIMEOUT');
    const sent = w.hub.commands('lane.create')[0] as LaneCreateCommand;
    expect(w.hub.commands('lane.remove')).toEqual([
      { type: 'lane.remove', laneId: sent.laneId, dryRun: false, force: true },
    ]);
    expect(w.github.calls).toContain(`deleteRunner acme/api ${sent.runnerId}`);
    expect(w.github.find(sent.runnerId!)).toBeUndefined();
    expect(w.hub.lanes.has(sent.laneId)).toBe(false);
    const lane = await w.store.getLane(sent.laneId);
    expect(lane?.state).toBe('failed');
    expect(lane?.recovery).toContain(`launchplane lane remove ${sent.laneId}`);
    expect(lane?.lastError?.code).toBe('LP_TIMEOUT');
    // The deadline was honoured, give or take one poll.
    expect(w.clock.nowMs() - 1_764_370_000_000).toBeLessThanOrEqual(60_000 + 10_000);
    const audit = await w.store.listAudit({ laneId: sent.laneId });
    expect(audit.at(-1)).toMatchObject({
      action: 'lane.create',
      outcome: 'failed',
      code: 'LP_TIMEOUT',
    });
  });

  it('rolls back a persistent lane that registered but never came online, finding it by name and labels', async () => {
    const w = await makeWorld();
    w.hub.registerOnStart = false;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.create') {
        // A look-alike with the lane's name but not its identity labels: never ours to delete.
        w.github.add(cmd.scope, {
          id: 7,
          name: cmd.name,
          os: 'Linux',
          status: 'offline',
          busy: false,
          labels: ['self-hosted'],
        });
        w.github.add(cmd.scope, {
          name: cmd.name,
          os: 'Linux',
          status: 'offline',
          busy: false,
          labels: ['self-hosted', ...cmd.labels],
        });
      }
      return undefined;
    };
    const r = await create(w, 'build');
    expect(r.error?.code).toBe('LP_TIMEOUT');
    const lane = await w.store.getLane(r.laneId!);
    expect(lane?.runnerId).toBeDefined();
    expect(lane?.runnerId).not.toBe(7);
    expect(w.github.calls).toContain(`deleteRunner acme/api ${lane!.runnerId}`);
    expect(w.github.runners.get('acme/api')?.map((x) => x.id)).toEqual([7]);
  });

  it('rolls back when the agent refuses, and reports the agent code', async () => {
    const w = await makeWorld();
    w.hub.behaviour = (_h, cmd) =>
      cmd.type === 'lane.create'
        ? {
            ok: false,
            outcome: 'refused',
            error: { code: 'LP_NOT_OPTED_IN', message: 'Host does not opt in' },
          }
        : undefined;
    const r = await create(w, 'eph');
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('LP_NOT_OPTED_IN');
    expect(w.github.runners.get('acme/api')).toEqual([]);
    expect((await w.store.getLane(r.laneId!))?.state).toBe('failed');
  });

  it.each([
    ['LP_HOST_OFFLINE', (w: World) => w.hub.disconnect('host-a')],
    ['LP_NOT_OPTED_IN', (w: World) => w.hub.connect('host-a', { ...OPT_IN, backends: ['docker'] })],
    ['LP_NOT_OPTED_IN', (w: World) => w.hub.connect('host-a', { ...OPT_IN, pools: ['other'] })],
    ['LP_CAPACITY', (w: World) => w.hub.connect('host-a', { ...OPT_IN, maxLanes: 0 })],
  ])('refuses with %s before touching anything', async (code, arrange) => {
    const w = await makeWorld();
    arrange(w);
    const r = await create(w, 'build');
    expect(r).toMatchObject({ ok: false, outcome: 'refused' });
    expect(r.error?.code).toBe(code);
    expect(w.hub.sent).toEqual([]);
    expect(w.github.calls).toEqual([]);
    expect(await w.store.listLanes()).toEqual([]);
    expect((await w.store.listAudit({})).at(-1)).toMatchObject({ outcome: 'refused', code });
  });

  it('refuses a create beyond what the pool wants on the host', async () => {
    const w = await makeWorld();
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001' });
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0002' });
    const r = await create(w, 'build');
    expect(r.error?.code).toBe('LP_CONFLICT');
    expect(w.hub.sent).toEqual([]);
  });

  it('dry-run walks the guardrails, shows the redacted command, and sends and records nothing', async () => {
    const w = await makeWorld();
    for (const pool of ['build', 'eph']) {
      const r = await create(w, pool, true);
      expect(r).toMatchObject({ ok: true, dryRun: true, outcome: 'would-create' });
      expect(r.commands).toHaveLength(1);
      expect(JSON.stringify(r.commands)).toContain('[redacted]');
    }
    expect(w.hub.sent).toEqual([]);
    expect(w.github.calls).toEqual([]);
    expect(await w.store.listLanes()).toEqual([]);
    expect((await w.store.listAudit({})).map((a) => [a.outcome, a.dryRun])).toEqual([
      ['dry-run', true],
      ['dry-run', true],
    ]);
    w.hub.disconnect('host-a');
    const refused = await create(w, 'build', true);
    expect(refused.error?.code).toBe('LP_HOST_OFFLINE');
  });
});

const ORG_POLICY = (pool: string) => `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
allowedOrganizations: [acme]
pools:
  org:
    organization: acme
    backend: systemd
${pool}    lanes: { host-a: 1 }
  org-eph:
    organization: acme
    backend: systemd
    ephemeral: true
${pool}    lanes: { host-a: 1 }
`;

async function orgWorld(poolLines: string): Promise<World> {
  const w = await makeWorld({ policy: ORG_POLICY(poolLines) });
  w.hub.connect('host-a', { ...OPT_IN, organizations: ['acme'] });
  w.github.groups.set('acme', [
    { id: 7, name: 'Deploy', default: false },
    { id: 9, name: 'gpu', default: false },
  ]);
  return w;
}

describe('createLane() and runner groups', () => {
  it('a pool that names its group: JIT lanes get its id, persistent lanes pass its name to config.sh', async () => {
    const w = await orgWorld('    runnerGroup: deploy\n');
    const eph = await create(w, 'org-eph');
    expect(eph.ok).toBe(true);
    expect(w.github.jitRequests.map((j) => j.runnerGroupId)).toEqual([7]);
    const persistent = await create(w, 'org');
    expect(persistent.ok).toBe(true);
    const sent = w.hub.commands('lane.create') as LaneCreateCommand[];
    expect(sent.map((c) => c.runner)).toEqual([
      { jitConfig: SECRET_JIT },
      { url: 'https://github.example/acme', registrationToken: SECRET_REG, runnerGroup: 'Deploy' },
    ]);
    expect(persistent.steps.join('\n')).toContain('in runner group "Deploy" (id 7)');
    expect(w.github.calls.filter((c) => c.startsWith('listRunnerGroups'))).toHaveLength(2);
  });

  it('runnerGroupId keeps working, and names the group for config.sh too', async () => {
    const w = await orgWorld('    runnerGroupId: 9\n');
    expect((await create(w, 'org-eph')).ok).toBe(true);
    expect((await create(w, 'org')).ok).toBe(true);
    expect(w.github.jitRequests.map((j) => j.runnerGroupId)).toEqual([9]);
    const sent = w.hub.commands('lane.create') as LaneCreateCommand[];
    expect(sent[1]?.runner).toMatchObject({ runnerGroup: 'gpu' });
  });

  it('the default group needs no lookup and no --runnergroup', async () => {
    const w = await orgWorld('');
    expect((await create(w, 'org-eph')).ok).toBe(true);
    expect((await create(w, 'org')).ok).toBe(true);
    expect(w.github.jitRequests.map((j) => j.runnerGroupId)).toEqual([1]);
    const sent = w.hub.commands('lane.create') as LaneCreateCommand[];
    expect(sent[1]?.runner).not.toHaveProperty('runnerGroup');
    expect(w.github.calls.filter((c) => c.startsWith('listRunnerGroups'))).toEqual([]);
  });

  // A report's commands pass through redactCommand (shared's redactDeep). In a real run it is the
  // only step between the command sent, which holds the JIT config or token, and the report; in a
  // dry run the runner is shared's REDACTED placeholder. Either way the report, as the API, the
  // CLI and the reconciler's log show it, keeps the URL and group and carries no secret.
  it('an action report, dry run or not, shows the runner config with its secret redacted', async () => {
    const w = await orgWorld('    runnerGroup: deploy\n');
    const reports = [];
    for (const dryRun of [true, false]) {
      for (const pool of ['org', 'org-eph']) reports.push(await create(w, pool, dryRun));
    }
    expect(
      reports.map((r) => [r.ok, r.dryRun, r.commands.map((c) => 'runner' in c && c.runner)]),
    ).toEqual([
      [
        true,
        true,
        [
          {
            url: 'https://github.example/acme',
            registrationToken: '[redacted]',
            runnerGroup: 'Deploy',
          },
        ],
      ],
      [true, true, [{ jitConfig: '[redacted]' }]],
      [
        true,
        false,
        [
          {
            url: 'https://github.example/acme',
            registrationToken: '[redacted]',
            runnerGroup: 'Deploy',
          },
        ],
      ],
      [true, false, [{ jitConfig: '[redacted]' }]],
    ]);
    const text = JSON.stringify(reports);
    expect(text).not.toContain(SECRET_REG);
    expect(text).not.toContain(SECRET_JIT);
    expect(JSON.stringify(await w.store.listAudit({}))).not.toMatch(/SECRET/);
  });

  it('refuses a group the organization does not have before anything is made, dry run included', async () => {
    const w = await orgWorld('    runnerGroup: nowhere\n');
    for (const dryRun of [true, false]) {
      for (const pool of ['org', 'org-eph']) {
        const r = await create(w, pool, dryRun);
        expect(r).toMatchObject({ ok: false, outcome: 'refused', error: { code: 'LP_NOT_FOUND' } });
        expect(r.error?.message).toBe(
          `Cannot create a lane of pool "${pool}": organization "acme" has no runner group "nowhere"`,
        );
        expect(r.error?.recovery).toContain('runnerGroup');
      }
    }
    expect(await w.store.listLanes()).toEqual([]);
    expect(w.hub.sent).toEqual([]);
    expect(w.github.calls.filter((c) => !c.startsWith('listRunnerGroups'))).toEqual([]);
  });
});

describe('createLane() and host capabilities', () => {
  const GRANTING = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
hosts:
  host-a: { capabilities: [gpu] }
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 1 }
`;

  it('puts on a lane only the capabilities the policy grants its host, never a reserved one', async () => {
    const w = await makeWorld({ policy: GRANTING });
    w.hub.connect('host-a', OPT_IN, [
      'gpu',
      'fpga',
      'lp-pool-deploy',
      'lp-draining',
      'launchplane',
    ]);
    const r = await create(w, 'build');
    expect(r.ok).toBe(true);
    const sent = w.hub.commands('lane.create')[0] as LaneCreateCommand;
    expect(sent.labels.filter((l) => !/^(launchplane|lp-ctl-|lp-lane-)/.test(l))).toEqual([
      'lp-pool-build',
      'gpu',
      'linux',
    ]);
    expect((await w.store.getLane(r.laneId!))?.labels).toEqual(sent.labels);
    expect(r.steps.filter((s) => s.includes('ignored'))).toHaveLength(4);
  });

  it("sets back labels a host's own config.sh registered the runner with, before the lane counts as made", async () => {
    const w = await makeWorld({ policy: GRANTING });
    w.hub.connect('host-a', OPT_IN, ['gpu']);
    w.hub.registerOnStart = false;
    w.hub.behaviour = (_h, cmd) => {
      if (cmd.type === 'lane.create') {
        w.github.add(cmd.scope, {
          name: cmd.name,
          os: 'Linux',
          status: 'online',
          busy: false,
          labels: [...cmd.labels, 'lp-pool-deploy', 'lp-draining'].filter((l) => l !== 'gpu'),
        });
      }
      return undefined;
    };
    const r = await create(w, 'build');
    expect(r.ok).toBe(true);
    const lane = await w.store.getLane(r.laneId!);
    expect(w.github.find(lane!.runnerId!)?.labels).toEqual(lane!.labels);
    expect(r.steps.join('\n')).toContain(
      'registered with labels it was not given (extra lp-draining,lp-pool-deploy; missing gpu)',
    );
  });

  it('grants nothing to a host the policy does not list under hosts', async () => {
    const w = await makeWorld({
      policy: GRANTING.replace('  host-a: { capabilities: [gpu] }\n', '  {}\n').replace(
        'hosts:\n  {}\n',
        '',
      ),
    });
    w.hub.connect('host-a', OPT_IN, ['gpu']);
    const r = await create(w, 'build');
    expect(r.ok).toBe(true);
    const sent = w.hub.commands('lane.create')[0] as LaneCreateCommand;
    expect(sent.labels).not.toContain('gpu');
  });
});

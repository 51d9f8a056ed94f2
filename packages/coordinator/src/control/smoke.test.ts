import {
  LaunchplaneError,
  SMOKE_POOL,
  drainingLabels,
  smokeLabel,
  smokeLaneLabels,
  type LaneCreateCommand,
} from '@launchplane/shared';
import { describe, expect, it } from 'vitest';
import type { ApplyResult } from './control-service.js';
import { ControlService } from './control-service.js';
import {
  COORDINATOR_ID,
  OPT_IN,
  SECRET_REG,
  makeWorld,
  seedLane,
  type World,
} from './control-fakes.test-helper.js';
import type { SmokeReport } from './smoke.js';

/** host-a may run lanes of acme/api, but the policy's one pool has its lanes on host-b. */
const POLICY = `version: 1
allowedHosts: [host-a, host-b]
allowedRepositories: [acme/api, acme/web]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-b: 1 }
  images:
    repository: acme/api
    backend: docker
    docker: { image: "ghcr.io/acme/runner:1" }
    lanes: { host-b: 1 }
`;

async function world(policy = POLICY): Promise<{ w: World; service: ControlService }> {
  const w = await makeWorld({ policy });
  w.hub.connect('host-a', { ...OPT_IN, backends: ['systemd'] });
  return { w, service: new ControlService(w.deps) };
}

const SMOKE = { hostId: 'host-a', repository: 'acme/api', actor: 'tok-op', dryRun: false };

async function audits(w: World, prefix = 'smoke'): Promise<string[]> {
  return (await w.store.listAudit({}))
    .filter((a) => a.action.startsWith(prefix))
    .map((a) => `${a.action} ${a.outcome}${a.code === undefined ? '' : ` ${a.code}`}`);
}

function createOf(w: World): LaneCreateCommand {
  const cmd = w.hub.commands('lane.create')[0];
  if (cmd?.type !== 'lane.create') throw new Error('no lane.create sent');
  return cmd;
}

/** The refused smoke made nothing: no command, no lane, no GitHub write. */
function nothingMade(w: World): void {
  expect(w.hub.sent).toEqual([]);
  expect(
    w.github.calls.filter((c) => !/^(listRunners|getRunner|listRunnerGroups)/.test(c)),
  ).toEqual([]);
  expect(w.workflows.calls.filter((c) => c.startsWith('dispatch'))).toEqual([]);
}

describe('smoke, passing', () => {
  it('creates a smoke lane, verifies it, restarts it, removes it, and finds nothing else changed', async () => {
    const { w, service } = await world();
    const other = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001', pool: 'build' });
    const r = await service.smoke(SMOKE);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({ ok: true, outcome: 'passed', backend: 'systemd' });
    expect(r.steps.map((s) => [s.name, s.ok])).toEqual([
      ['guardrails', true],
      ['snapshot', true],
      ['create', true],
      ['verify-online', true],
      ['restart', true],
      ['verify-restarted', true],
      ['remove', true],
      ['compare', true],
    ]);
    const laneId = r.laneId ?? '';
    expect(r.label).toBe(smokeLabel(laneId));
    // The real sagas ran: create, the drain's inspections, restart, remove.
    const create = createOf(w);
    expect(create).toMatchObject({ pool: SMOKE_POOL, ephemeral: false, backend: 'systemd' });
    expect(create.labels).toEqual(smokeLaneLabels(COORDINATOR_ID, laneId));
    expect(w.hub.sent.map((s) => s.cmd.type)).toEqual(
      expect.arrayContaining(['lane.create', 'lane.inspect', 'lane.restart', 'lane.remove']),
    );
    // The lane is gone everywhere, recorded as a removed smoke lane; the other lane untouched.
    expect(await w.store.getLane(laneId)).toMatchObject({ purpose: 'smoke', state: 'removed' });
    expect(w.hub.lanes.has(laneId)).toBe(false);
    expect(w.github.find(other.runnerId ?? 0)?.labels).toEqual(['self-hosted', ...other.labels]);
    expect([...w.github.runners.values()].flat().map((x) => x.id)).toEqual([other.runnerId]);
    expect(r.comparison).toMatchObject({ runnersBefore: 1, runnersAfter: 1, differences: [] });
    expect(await audits(w)).toEqual([
      'smoke.guardrails ok',
      'smoke.snapshot ok',
      'smoke.create ok',
      'smoke.verify-online ok',
      'smoke.restart ok',
      'smoke.verify-restarted ok',
      'smoke.remove ok',
      'smoke.compare ok',
      'smoke ok',
    ]);
    expect(await audits(w, 'lane.')).toEqual([
      'lane.create ok',
      'lane.restart ok',
      'lane.remove ok',
    ]);
    const all = JSON.stringify({ r, audit: await w.store.listAudit({}) });
    expect(all).not.toContain(SECRET_REG);
  });

  it('dispatches the workflow on the lane label and passes when its job succeeds on this lane', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const laneId = r.laneId ?? '';
    expect(w.workflows.calls.filter((c) => c.startsWith('dispatch'))).toEqual([
      `dispatchWorkflow launchplane-smoke.yml {"runner-label":"lp-smoke-${laneId}"}`,
    ]);
    expect(r.workflow).toMatchObject({
      workflow: 'launchplane-smoke.yml',
      ref: 'main',
      status: 'completed',
      conclusion: 'success',
      runnerName: r.lane?.runnerName,
    });
    expect(r.steps.map((s) => s.name)).toContain('workflow');
  });

  it('a reconciler apply and an operator cutting in mid-smoke leave the smoke lane alone', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    let applied: Promise<ApplyResult> | undefined;
    let cutIn: Promise<unknown> | undefined;
    w.workflows.fate = (job) => {
      const laneId = (job.labels[0] ?? '').slice('lp-smoke-'.length);
      applied = service.apply({ actor: 'reconciler', dryRun: false });
      cutIn = service
        .laneAction(laneId, 'remove', { actor: 'tok-other', dryRun: false, force: true })
        .catch((err: unknown) => err);
      return { kind: 'run', conclusion: 'success' };
    };
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const apply = await applied;
    expect(apply?.plan.actions.filter((a) => a.kind !== 'create')).toEqual([]);
    expect(apply?.plan.unmanaged).toEqual([]);
    expect(await cutIn).toMatchObject({ code: 'LP_CONFLICT' });
  });

  it('takes the backend from the host opt-in, and a Docker smoke the image of the repository Docker pool', async () => {
    const { w, service } = await world();
    w.hub.connect('host-a', { ...OPT_IN, backends: ['docker'] });
    const r = await service.smoke(SMOKE);
    expect(r.ok).toBe(true);
    expect(r).toMatchObject({ backend: 'docker', image: 'ghcr.io/acme/runner:1' });
    expect(createOf(w)).toMatchObject({
      backend: 'docker',
      docker: { image: 'ghcr.io/acme/runner:1' },
    });
  });

  it('--dry-run walks the guardrails, reads GitHub, and changes nothing', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    const r = await service.smoke({
      ...SMOKE,
      dryRun: true,
      workflow: 'launchplane-smoke.yml',
      ref: 'main',
    });
    expect(r).toMatchObject({ ok: true, outcome: 'would-run', dryRun: true });
    expect(r.steps.map((s) => s.name)).toEqual([
      'guardrails',
      'snapshot',
      'create',
      'workflow',
      'restart',
      'remove',
      'compare',
    ]);
    nothingMade(w);
    expect(await w.store.listLanes({ includeRemoved: true })).toEqual([]);
    expect(await audits(w)).toEqual([
      'smoke.guardrails dry-run',
      'smoke.snapshot dry-run',
      'smoke dry-run',
    ]);
  });
});

/** Asserts a failed smoke left its lane quarantined, failed, with the clean-up command. */
async function leftQuarantined(w: World, r: SmokeReport, code: string): Promise<void> {
  const laneId = r.laneId ?? '';
  expect(r).toMatchObject({ ok: false, outcome: 'failed' });
  expect(r.error?.code).toBe(code);
  expect(r.cleanup).toBe(`launchplane lane remove ${laneId}`);
  expect(r.error?.recovery).toContain(`"launchplane lane remove ${laneId}"`);
  const lane = await w.store.getLane(laneId);
  expect(lane).toMatchObject({ purpose: 'smoke', state: 'failed' });
  expect(lane?.recovery).toContain(`launchplane lane remove ${laneId}`);
  const last = (await w.store.listAudit({})).at(-1);
  expect(last).toMatchObject({ action: 'smoke', outcome: 'failed', code });
  expect(last?.recovery).toContain(`launchplane lane remove ${laneId}`);
  expect(last?.params['cleanup']).toBe(`launchplane lane remove ${laneId}`);
}

describe('smoke, failing', () => {
  it('a workflow job that fails leaves the lane quarantined, failed, and says how to clean up', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    w.workflows.fate = () => ({ kind: 'run', conclusion: 'failure' });
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    await leftQuarantined(w, r, 'LP_SMOKE_FAILED');
    expect(r.steps.at(-1)).toMatchObject({ name: 'workflow', ok: false });
    expect(r.error?.message).toContain('ended "failure"');
    const laneId = r.laneId ?? '';
    const lane = await w.store.getLane(laneId);
    // Quarantined: no routing label left on GitHub, the lane still on its host for a look.
    expect(w.github.find(lane?.runnerId ?? 0)?.labels).toEqual([
      'self-hosted',
      'Linux',
      'X64',
      ...drainingLabels(COORDINATOR_ID, laneId),
    ]);
    expect(w.hub.lanes.has(laneId)).toBe(true);
    expect(w.hub.commands('lane.restart')).toEqual([]);
    // The planner reports it and does nothing to it.
    const plan = await service.plan();
    expect(plan.actions.filter((a) => a.kind !== 'create' && a.laneId === laneId)).toEqual([]);
    expect(plan.degraded.join('\n')).toContain(`launchplane lane remove ${laneId}`);
    // The clean-up command works.
    const removed = await service.laneAction(laneId, 'remove', {
      actor: 'tok-op',
      dryRun: false,
      force: false,
    });
    expect(removed).toMatchObject({ ok: true, outcome: 'removed' });
    expect([...w.github.runners.values()].flat()).toEqual([]);
  });

  it('a job that ran on another runner fails the smoke', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    w.workflows.fate = () => ({ kind: 'elsewhere', runnerId: 4242, runnerName: 'impostor' });
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    await leftQuarantined(w, r, 'LP_SMOKE_FAILED');
    expect(r.error?.message).toContain('ran on runner 4242 "impostor"');
  });

  it('a job nobody takes times out at the workflow deadline', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    w.workflows.fate = () => ({ kind: 'queued' });
    const r = await service.smoke({
      ...SMOKE,
      workflow: 'launchplane-smoke.yml',
      ref: 'main',
      workflowTimeoutSec: 120,
    });
    await leftQuarantined(w, r, 'LP_TIMEOUT');
    expect(r.error?.message).toContain('was still queued after 120 s');
    expect(r.error?.recovery).toContain('--force');
  });

  it('a lane that never comes online is rolled back, and its record held failed with the clean-up command', async () => {
    const { w, service } = await world();
    w.hub.registerOnStart = false;
    const r = await service.smoke(SMOKE);
    await leftQuarantined(w, r, 'LP_TIMEOUT');
    expect(r.steps.at(-1)).toMatchObject({ name: 'create', ok: false });
    expect(w.hub.lanes.size).toBe(0);
    expect(await audits(w, 'lane.')).toEqual(['lane.create failed LP_TIMEOUT']);
  });

  it('something else changing meanwhile fails the comparison, with each difference', async () => {
    const { w, service } = await world();
    const other = await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0001', pool: 'build' });
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    w.workflows.fate = () => {
      w.github.add(
        { repository: 'acme/api' },
        {
          id: 777,
          name: 'hand-made',
          os: 'Linux',
          status: 'online',
          busy: false,
          labels: ['self-hosted'],
        },
      );
      w.github.set(other.runnerId ?? 0, { status: 'offline' });
      return { kind: 'run', conclusion: 'success' };
    };
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    expect(r).toMatchObject({ ok: false, outcome: 'failed' });
    expect(r.error?.code).toBe('LP_SMOKE_FAILED');
    expect(r.comparison?.differences).toEqual([
      `runner ${other.runnerId} "${other.runnerName}" was online, now offline`,
      'runner 777 "hand-made" appeared on GitHub',
    ]);
    // The smoke lane itself is gone: nothing to clean up.
    expect(r.cleanup).toBeUndefined();
    expect(await w.store.getLane(r.laneId ?? '')).toMatchObject({ state: 'removed' });
    const last = (await w.store.listAudit({})).at(-1);
    expect(last?.params['differences']).toEqual(r.comparison?.differences);
  });
});

describe('smoke, refused before anything is made', () => {
  const cases: [string, string | undefined, (w: World) => void, Record<string, unknown>, string][] =
    [
      [
        'a host the policy does not allow',
        POLICY.replace('[host-a, host-b]', '[host-b]'),
        () => undefined,
        {},
        'LP_FORBIDDEN',
      ],
      [
        'a repository the policy does not allow',
        undefined,
        () => undefined,
        { repository: 'acme/other' },
        'LP_FORBIDDEN',
      ],
      [
        'a repository the host did not opt in to',
        undefined,
        () => undefined,
        { repository: 'acme/web' },
        'LP_NOT_OPTED_IN',
      ],
      [
        'a host whose pool list lacks lp-smoke',
        undefined,
        (w) => w.hub.connect('host-a', { ...OPT_IN, backends: ['systemd'], pools: ['build'] }),
        {},
        'LP_NOT_OPTED_IN',
      ],
      [
        'a backend the host did not opt in to',
        undefined,
        () => undefined,
        { backend: 'docker' },
        'LP_NOT_OPTED_IN',
      ],
      ['an offline host', undefined, (w) => w.hub.disconnect('host-a'), {}, 'LP_HOST_OFFLINE'],
      [
        'a host with two backends and no --backend',
        undefined,
        (w) => w.hub.connect('host-a', OPT_IN),
        {},
        'LP_USAGE',
      ],
      [
        'a full host',
        undefined,
        (w) => w.hub.connect('host-a', { ...OPT_IN, backends: ['systemd'], maxLanes: 0 }),
        {},
        'LP_CAPACITY',
      ],
      [
        'an unknown workflow',
        undefined,
        () => undefined,
        { workflow: 'nope.yml', ref: 'main' },
        'LP_NOT_FOUND',
      ],
      [
        'an image no Docker pool of the repository uses',
        undefined,
        (w) => w.hub.connect('host-a', { ...OPT_IN, backends: ['docker'] }),
        { image: 'evil/root:latest' },
        'LP_FORBIDDEN',
      ],
      [
        'a Docker smoke without a Docker pool to take the image from',
        POLICY.replace(/ {2}images:[\s\S]*$/, ''),
        (w) => w.hub.connect('host-a', { ...OPT_IN, backends: ['docker'] }),
        {},
        'LP_NOT_FOUND',
      ],
    ];
  it.each(cases)('%s', async (_name, policy, setup, extra, code) => {
    const { w, service } = await world(policy);
    setup(w);
    const r = await service.smoke({ ...SMOKE, ...extra });
    expect(r).toMatchObject({ ok: false, outcome: 'refused' });
    expect(r.error?.code).toBe(code);
    expect(r.steps.map((s) => [s.name, s.ok])).toEqual([['guardrails', false]]);
    nothingMade(w);
    expect(await w.store.listLanes({ includeRemoved: true })).toEqual([]);
    expect(await audits(w)).toEqual([`smoke.guardrails refused ${code}`, `smoke refused ${code}`]);
  });

  it('a second smoke on a host while one runs is refused', async () => {
    const { w, service } = await world();
    w.workflows.declare('acme/api', 'launchplane-smoke.yml');
    let second: unknown;
    w.workflows.fate = () => {
      try {
        service.startSmoke(SMOKE);
      } catch (err) {
        second = err;
      }
      return { kind: 'run', conclusion: 'success' };
    };
    const r = await service.smoke({ ...SMOKE, workflow: 'launchplane-smoke.yml', ref: 'main' });
    expect(r.ok).toBe(true);
    expect(second).toBeInstanceOf(LaunchplaneError);
    expect(second).toMatchObject({ code: 'LP_CONFLICT' });
  });
});

describe('coordinator restart', () => {
  it('holds a smoke lane left mid-smoke as failed with the clean-up command', async () => {
    const { w } = await world();
    await seedLane(w, { laneId: '01hzzzzzzzzzzzzzzzzzzz0009', pool: SMOKE_POOL, purpose: 'smoke' });
    const after = new ControlService(w.deps);
    const changed = await after.recoverInterrupted();
    expect(changed.map((l) => [l.laneId, l.state])).toEqual([
      ['01hzzzzzzzzzzzzzzzzzzz0009', 'failed'],
    ]);
    expect(changed[0]?.recovery).toContain('launchplane lane remove 01hzzzzzzzzzzzzzzzzzzz0009');
  });
});

/**
 * The acceptance criteria of Launchplane (issue "End to end"), one test each, written once and run
 * against each real backend by `systemd.test.ts` and `docker.test.ts`. The tests share one world
 * per backend and run in order: each starts from the state the one before it left.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';
import { laneLabels } from '@launchplane/shared';

import { waitFor } from '../testbed/wait-for.js';
import {
  REPO,
  startWorld,
  type AgentHandle,
  type Backend,
  type LaneView,
  type PolicySpec,
  type SimRunner,
  type World,
  type WorldOptions,
} from './world.js';

/** A lane id nobody made: valid ULID, look-alike of ours. */
const FOREIGN_LANE = '01jz0000000000000000000777';
const CAPS = ['e2e-cap'];
const LIVE = new Set(['online', 'busy']);

interface PlanDoc {
  actions: { id: string; kind: string; hostId?: string; laneId?: string }[];
  blocked: { hostId: string; pool: string; count: number; guardrail: string; message: string }[];
  unmanaged: { runnerId: number }[];
}

/** Registers the tests of every criterion for one backend. */
export function acceptanceSuite(
  backend: Backend,
  world: () => Omit<WorldOptions, 'backend'>,
): { world: () => World } {
  let w: World;
  let hostA: AgentHandle;
  let hostB: AgentHandle;

  const allowA = (lanes: Record<string, number>): PolicySpec => ({
    allowedHosts: ['host-a', 'host-b'],
    allowedRepositories: [REPO],
    pools: { build: { labels: ['linux'], lanes } },
  });
  const plan = async (): Promise<PlanDoc> => {
    const r = await w.query(w.viewer, 'plan', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.json<PlanDoc>();
  };
  const apply = async (): Promise<void> => {
    const r = await w.cli(w.operator, 'apply', '--wait', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  };
  const customLabels = (r: SimRunner): string[] =>
    r.labels
      .filter((l) => l.type === undefined || l.type === 'custom')
      .map((l) => l.name)
      .sort();
  /** Ours on GitHub: lane runners carrying our lp-ctl label. */
  const ourRunners = async (): Promise<SimRunner[]> =>
    (await w.simRunners()).filter(
      (r) =>
        r.labels.some((l) => l.name === `lp-ctl-${w.coordinatorId.slice(0, 8)}`) &&
        !r.labels.some((l) => l.name === `lp-lane-${FOREIGN_LANE}`),
    );
  const live = (lanes: LaneView[]): LaneView[] => lanes.filter((l) => LIVE.has(l.state));
  /**
   * Waits until the coordinator has seen `n` more health passes of `host`'s agent (each pass looks
   * at every lane's unit or container; the agent reports each one).
   */
  const healthPasses = async (host: AgentHandle, n: number): Promise<void> => {
    // Plumbing: polled over HTTP (what `launchplane hosts --json` prints), not a CLI per poll.
    const lastPass = async (): Promise<number | null> => {
      const doc = await w.api<{
        hosts: { hostId: string; health: { lastPassAt: number | null } | null }[];
      }>('/v1/hosts');
      return doc.hosts.find((h) => h.hostId === host.hostId)?.health?.lastPassAt ?? null;
    };
    const before = await lastPass();
    const passes = new Set<number>();
    await waitFor(
      async () => {
        const at = await lastPass();
        if (at !== null && at !== before) passes.add(at);
        return passes.size >= n;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `${n} health passes of ${host.hostId}` },
    );
  };
  /** Every object this world made on the backend is a live lane, and every live lane has one. */
  const expectNoOrphans = async (): Promise<void> => {
    const [lanes, objects, runners] = await Promise.all([w.lanes(), w.ownObjects(), ourRunners()]);
    const liveIds = live(lanes)
      .map((l) => l.laneId)
      .sort();
    expect(objects.filter((id) => id !== FOREIGN_LANE).sort()).toEqual(liveIds);
    expect(runners.map((r) => r.id).sort()).toEqual(
      live(lanes)
        .map((l) => l.runnerId)
        .sort(),
    );
  };

  beforeAll(async () => {
    w = await startWorld({
      backend,
      // 7a waits this long for a runner that never comes online. A stub runner that works is
      // online within a few seconds on a loaded CI machine, 7b's slow one 6 s later than that.
      createOnlineSec: 20,
      ...world(),
    });
    hostA = await w.addAgent({
      hostId: 'host-a',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: 4 },
      capabilities: CAPS,
    });
    hostB = await w.addAgent({
      hostId: 'host-b',
      // The host consents to another repository only.
      optIn: { repositories: ['acme/web'], backends: [backend], maxLanes: 2 },
    });
  }, 180_000);

  afterAll(async () => {
    await w?.close();
  }, 180_000);

  it('1. the policy for desired lanes and allowed hosts is enforced, fail closed', async () => {
    // No policy yet: nothing is desired, nothing is made.
    let p = await plan();
    expect(p).toMatchObject({ actions: [], blocked: [] });
    // Empty allowlists allow nothing: a pool that names a host is refused as a whole.
    const empty = await w.tryPolicy({
      allowedHosts: [],
      allowedRepositories: [],
      pools: { build: { lanes: { 'host-a': 2 } } },
    });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^error LP_POLICY_INVALID: /m);
    expect(empty.stderr).toContain('"host-a" is not in allowedHosts');
    // A host not in allowedHosts gets nothing, though the pool names it.
    const notAllowed = await w.tryPolicy({
      allowedHosts: ['host-b'],
      allowedRepositories: [REPO],
      pools: { build: { lanes: { 'host-a': 2 } } },
    });
    expect(notAllowed.code).toBe(1);
    expect(notAllowed.stderr).toMatch(/^error LP_POLICY_INVALID: /m);
    expect(notAllowed.stderr).toContain('"host-a" is not in allowedHosts');
    // An allowed host that never enrolled: the plan names the guardrail, apply makes nothing.
    await w.applyPolicy({
      allowedHosts: ['host-z'],
      allowedRepositories: [REPO],
      pools: { build: { lanes: { 'host-z': 2 } } },
    });
    p = await plan();
    expect(p.actions).toEqual([]);
    expect(p.blocked.map((b) => [b.hostId, b.guardrail, b.count])).toEqual([
      ['host-z', 'host-not-enrolled', 2],
    ]);
    await apply();
    expect(await w.simRunners()).toEqual([]);
    expect(await w.ownObjects()).toEqual([]);
    expect(await w.lanes()).toEqual([]);

    // Allowed: exactly the desired count, and nothing more on a second apply.
    await w.applyPolicy(allowA({ 'host-a': 2 }));
    p = await plan();
    expect(p.actions.map((a) => a.id)).toEqual(['create:host-a:build:1', 'create:host-a:build:2']);
    expect(p.blocked).toEqual([]);
    await apply();
    expect(live(await w.lanes())).toHaveLength(2);
    expect(await plan()).toMatchObject({ actions: [], blocked: [] });
    await apply();
    const [lanes, objects, runners] = await Promise.all([w.lanes(), w.ownObjects(), ourRunners()]);
    expect(live(lanes)).toHaveLength(2);
    expect(lanes).toHaveLength(2);
    expect(objects).toHaveLength(2);
    expect(runners).toHaveLength(2);
    await expectNoOrphans();
  }, 180_000);

  it('2. control needs explicit opt-in per host and per repository', async () => {
    await w.applyPolicy(allowA({ 'host-a': 2, 'host-b': 1 }));
    const objects = await w.ownObjects();
    // Host config without the repository.
    let p = await plan();
    expect(p.actions).toEqual([]);
    expect(p.blocked.map((b) => [b.hostId, b.guardrail])).toEqual([
      ['host-b', 'host-not-opted-in-repository'],
    ]);
    await apply();
    expect(await w.lanes('--host', 'host-b')).toEqual([]);
    // Host config with the repository but without the backend.
    await hostB.setOptIn({ repositories: [REPO], backends: [], maxLanes: 2 });
    await hostB.restart();
    p = await plan();
    expect(p.blocked.map((b) => [b.hostId, b.guardrail])).toEqual([
      ['host-b', 'host-not-opted-in-backend'],
    ]);
    await apply();
    expect(await w.lanes('--host', 'host-b')).toEqual([]);
    expect((await hostB.cli('lanes', '--json')).json<{ lanes: unknown[] }>().lanes).toEqual([]);
    expect(await w.ownObjects()).toEqual(objects);

    // Host consents, policy does not list the repository: refused on the policy side.
    await hostB.setOptIn({ repositories: [REPO], backends: [backend], maxLanes: 2 });
    await hostB.restart();
    const noRepo = await w.tryPolicy({
      ...allowA({ 'host-a': 2, 'host-b': 1 }),
      allowedRepositories: ['acme/web'],
    });
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toMatch(/^error LP_POLICY_INVALID: /m);
    expect(noRepo.stderr).toContain(`"${REPO}" is not in allowedRepositories`);
    expect(await w.lanes('--host', 'host-b')).toEqual([]);
    expect(await w.ownObjects()).toEqual(objects);

    // Both sides consent: created.
    await w.applyPolicy(allowA({ 'host-a': 2, 'host-b': 1 }));
    p = await plan();
    expect(p.actions.map((a) => a.id)).toEqual(['create:host-b:build:1']);
    await apply();
    const onB = await w.lanes('--host', 'host-b');
    expect(onB.map((l) => l.state)).toEqual(['online']);
    await expectNoOrphans();
  }, 180_000);

  it('3. a new lane gets canonical labels and is verified online on GitHub', async () => {
    const lanes = live(await w.lanes('--host', 'host-a'));
    expect(lanes).toHaveLength(2);
    for (const lane of lanes) {
      expect(lane.state).toBe('online');
      expect(lane.runnerId).toBeDefined();
      const runner = await w.simJson<SimRunner>(
        'GET',
        `/repos/${REPO}/actions/runners/${lane.runnerId}`,
      );
      expect(runner.status).toBe('online');
      expect(customLabels(runner)).toEqual(
        laneLabels({
          coordinatorId: w.coordinatorId,
          laneId: lane.laneId,
          pool: 'build',
          poolLabels: ['linux'],
          capabilities: CAPS,
        }).sort(),
      );
      expect(runner.name).toBe(`lp-host-a-build-${lane.laneId.slice(-8)}`);
      // Nothing of a lane runs as root in the default configuration.
      const uids = await w.laneUids(lane.laneId);
      expect(uids.length).toBeGreaterThan(0);
      expect(uids).not.toContain(0);
    }
    // Two lanes on one host: two users (systemd), or the image's one user in two containers.
    const users = await Promise.all(lanes.map(async (l) => new Set(await w.laneUids(l.laneId))));
    if (backend === 'systemd') expect(users[0]).not.toEqual(users[1]);
  }, 60_000);

  it('4. drain waits for the job in flight, restarts, and the lane is verified online again', async () => {
    const job = await w.enqueueJob(['lp-pool-build', 'linux'], 6000);
    const started = await waitFor(
      async () => {
        const j = await w.job(job.id);
        return j.status === 'in_progress' && j.runnerId !== null ? j : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'the job to start on a lane' },
    );
    const lane = (await w.lanes()).find((l) => l.runnerId === started.runnerId);
    expect(lane).toBeDefined();
    const r = await w.cli(
      w.operator,
      'lane',
      'restart',
      lane!.laneId,
      '--wait',
      '--timeout',
      '2m',
      '--json',
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The restart returned after the job finished on its own, not cancelled by a stop.
    const done = await w.job(job.id);
    expect(done).toMatchObject({
      status: 'completed',
      conclusion: 'success',
      runnerId: started.runnerId,
    });
    const runner = await w.simJson<SimRunner>(
      'GET',
      `/repos/${REPO}/actions/runners/${lane!.runnerId}`,
    );
    expect(runner.status).toBe('online');
    expect(customLabels(runner)).toContain('lp-pool-build');
    expect(customLabels(runner)).not.toContain('lp-draining');
    expect((await w.lanes()).find((l) => l.laneId === lane!.laneId)?.state).toBe('online');
    const records = await w.audit('--lane', lane!.laneId);
    expect(records.some((x) => x.action.includes('restart') && x.outcome === 'ok')).toBe(true);
  }, 240_000);

  it('5. remove touches only owned lanes; hand-made look-alikes survive', async () => {
    const ctl = `lp-ctl-${w.coordinatorId.slice(0, 8)}`;
    const foreign = await w.simJson<{ id: number }>('POST', '/_sim/runners', {
      repository: REPO,
      name: `lp-host-a-build-${FOREIGN_LANE.slice(-8)}`,
      labels: ['launchplane', ctl, `lp-lane-${FOREIGN_LANE}`, 'lp-pool-build', 'linux'],
      status: 'online',
    });
    const handName = `launchplane-lane-${FOREIGN_LANE}${backend === 'systemd' ? '.service' : ''}`;
    if (backend === 'systemd') {
      const unitDir = world().systemd!.unitDir;
      await writeFile(
        join(unitDir, handName),
        [
          '[Unit]',
          'Description=hand-made, not a lane',
          `X-Launchplane-Lane=${FOREIGN_LANE}`,
          '[Service]',
          'ExecStart=/bin/sleep 100000',
          '',
        ].join('\n'),
      );
      await w.userctl('daemon-reload');
      await w.userctl('start', handName);
    } else {
      const c = await w.docker().createContainer({
        name: handName,
        Image: w.image!,
        Cmd: ['/bin/sleep', '100000'],
        Labels: { 'dev.launchplane.lane': FOREIGN_LANE, 'dev.launchplane.host': 'host-a' },
        HostConfig: { NetworkMode: 'none' },
      });
      await c.start();
    }
    expect(await w.objectRunning(handName)).toBe(true);

    // The plan lists the runner as unmanaged and plans nothing for it or the unit/container.
    let p = await plan();
    expect(p.unmanaged.map((u) => u.runnerId)).toContain(foreign.id);
    expect(p.actions).toEqual([]);
    const runners = (await w.query(w.viewer, 'runners', '--json')).json<{
      runners: { runnerId: number; managed: boolean }[];
    }>();
    expect(runners.runners.find((x) => x.runnerId === foreign.id)?.managed).toBe(false);

    // Shrink the pool: apply removes owned lanes (host-b's, one of host-a's), nothing else.
    await w.applyPolicy(allowA({ 'host-a': 1 }));
    p = await plan();
    expect(p.actions.map((a) => a.kind)).toEqual(['remove', 'remove']);
    await apply();
    expect(live(await w.lanes('--host', 'host-a'))).toHaveLength(1);
    expect(live(await w.lanes('--host', 'host-b'))).toEqual([]);
    // And remove the last one by hand.
    const last = live(await w.lanes('--host', 'host-a'))[0]!;
    const r = await w.cli(w.operator, 'lane', 'remove', last.laneId, '--wait', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // A removal of the foreign look-alike is refused: it is no lane of ours.
    const refused = await w.cli(w.operator, 'lane', 'remove', FOREIGN_LANE, '--wait', '--json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error LP_[A-Z_]+: /m);

    // Two health rounds later the look-alikes are all still there.
    await healthPasses(hostA, 2);
    const [running, after, lanesAfter, status, verify] = await Promise.all([
      w.objectRunning(handName),
      w.simRunners(),
      w.lanes(),
      hostA.cli('status', '--json'),
      hostA.cli('audit', '--verify', '--json'),
    ]);
    expect(running).toBe(true);
    expect(after.find((x) => x.id === foreign.id)).toMatchObject({ status: 'online' });
    expect(live(lanesAfter)).toEqual([]);
    expect(status.code).toBe(0);
    expect(verify).toMatchObject({ code: 0 });
    await expectNoOrphans();

    // Put back what the next tests start from; the hand-made unit/container goes.
    if (backend === 'systemd') {
      await w.userctl('stop', handName);
      const { rm } = await import('node:fs/promises');
      await rm(join(world().systemd!.unitDir, handName), { force: true });
      await w.userctl('daemon-reload');
    } else {
      await w.docker().getContainer(handName).remove({ force: true });
    }
    await w.applyPolicy(allowA({ 'host-a': 1 }));
    await apply();
    expect(live(await w.lanes())).toHaveLength(1);
  }, 360_000);

  it('6. every mutating action has dry-run and an audit record, refusals included', async () => {
    const snapshot = async () => ({
      runners: (await w.simRunners()).map((r) => [r.id, r.status, customLabels(r)]),
      objects: await w.ownObjects(),
      lanes: (await w.lanes()).map((l) => [l.laneId, l.state, l.runnerId]),
    });
    const lane = live(await w.lanes())[0]!;
    // Policy wants one more lane, but only as a dry run.
    const file = join(w.work.path, 'policy-dry.yaml');
    await writeFile(file, w.policyYaml(allowA({ 'host-a': 2 })));
    const before = await snapshot();
    const planBefore = await plan();

    const pd = await w.cli(w.adminToken, 'policy', 'apply', file, '--dry-run', '--json');
    expect(pd.code).toBe(0);
    expect(await plan()).toEqual({ ...planBefore, generatedAt: expect.any(Number) as unknown });

    // A real policy change, then apply as a dry run.
    await w.applyPolicy(allowA({ 'host-a': 2 }));
    const ad = await w.cli(w.operator, 'apply', '--dry-run', '--json');
    expect(ad.code).toBe(0);
    const ld = await w.cli(w.operator, 'lane', 'remove', lane.laneId, '--dry-run', '--json');
    expect(ld.code).toBe(0);
    const rd = await w.cli(w.operator, 'lane', 'restart', lane.laneId, '--dry-run', '--json');
    expect(rd.code).toBe(0);
    const dd = await w.cli(w.operator, 'lane', 'drain', lane.laneId, '--dry-run', '--json');
    expect(dd.code).toBe(0);
    // A viewer may not apply; the refusal is audited.
    const denied = await w.cli(w.viewer, 'apply', '--json');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error LP_FORBIDDEN: /m);
    await new Promise((res) => setTimeout(res, 1500));
    expect(await snapshot()).toEqual(before);

    const records = await w.audit();
    const dry = records.filter((x) => x.dryRun);
    expect(dry.map((x) => x.outcome).every((o) => o === 'dry-run')).toBe(true);
    const dryActions = dry.map((x) => x.action);
    expect(dryActions).toEqual(expect.arrayContaining(['policy.apply', 'apply']));
    expect(dry.some((x) => x.laneId === lane.laneId && /remove/.test(x.action))).toBe(true);
    expect(dry.some((x) => x.laneId === lane.laneId && /restart/.test(x.action))).toBe(true);
    expect(dry.some((x) => x.laneId === lane.laneId && /drain/.test(x.action))).toBe(true);
    expect(records.some((x) => x.outcome === 'refused' && x.code === 'LP_FORBIDDEN')).toBe(true);
    // Real mutations are audited too, and no secret reaches the trail.
    expect(records.some((x) => x.action === 'lane.create' && x.outcome === 'ok' && !x.dryRun)).toBe(
      true,
    );
    expect(
      records.some((x) => x.action === 'policy.apply' && x.outcome === 'ok' && !x.dryRun),
    ).toBe(true);
    expect(JSON.stringify(records)).not.toContain(w.operator);
    expect(JSON.stringify(records)).not.toContain('encoded_jit_config');

    // Back to one lane for the failure tests.
    await w.applyPolicy(allowA({ 'host-a': 1 }));
  }, 120_000);

  it('7a. a runner that never comes online: create rolls back, lane failed with a hint', async () => {
    const broken = await w.template('broken', '#!/bin/sh\necho "broken on purpose" >&2\nexit 3\n');
    await w.addAgent({
      hostId: 'host-c',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: 2 },
      template: broken,
    });
    await w.applyPolicy({
      allowedHosts: ['host-a', 'host-c'],
      allowedRepositories: [REPO],
      pools: {
        build: { labels: ['linux'], lanes: { 'host-a': 1 } },
        brk: { lanes: { 'host-c': 1 } },
      },
    });
    const runnersBefore = (await w.simRunners()).map((r) => r.id).sort();
    const r = await w.cli(w.operator, 'apply', '--wait', '--json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error LP_[A-Z_]+: create:host-c:brk:1: /m);
    expect(r.stderr).toMatch(/^hint: /m);
    const [failed] = await w.lanes('--host', 'host-c');
    expect(failed).toMatchObject({ state: 'failed' });
    expect(failed!.recovery).toContain(`launchplane lane remove ${failed!.laneId}`);
    expect((await w.ownObjects()).filter((id) => id === failed!.laneId)).toEqual([]);
    expect((await w.simRunners()).map((x) => x.id).sort()).toEqual(runnersBefore);
    const records = await w.audit('--lane', failed!.laneId);
    const create = records.filter((x) => x.action === 'lane.create').at(-1);
    expect(create).toMatchObject({ outcome: 'failed' });
    expect(create?.recovery).toEqual(expect.stringContaining('lane remove'));
    await expectNoOrphans();
    // The operator clears it; nothing is retried on its own meanwhile.
    expect((await plan()).actions).toEqual([]);
    const cleared = await w.cli(w.operator, 'lane', 'remove', failed!.laneId, '--wait', '--json');
    expect(cleared.code).toBe(0);
  }, 180_000);

  it('7b. the agent dies mid-create: it converges with no duplicate and no orphan', async () => {
    // A runner that takes a while to come online, so the agent can be killed while create waits.
    const slow = await w.template(
      'slow',
      `#!/bin/sh\nsleep 6\nexec "$(dirname "$0")/run.real.sh" "$@"\n`,
    );
    const { cp } = await import('node:fs/promises');
    const { stubRunnerTemplateDir } = await import('@launchplane/github-sim');
    await cp(join(stubRunnerTemplateDir(), 'run.sh'), join(slow, 'run.real.sh'));
    const hostD = await w.addAgent({
      hostId: 'host-d',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: 2 },
      template: slow,
    });
    await w.applyPolicy({
      allowedHosts: ['host-a', 'host-d'],
      allowedRepositories: [REPO],
      pools: {
        build: { labels: ['linux'], lanes: { 'host-a': 1 } },
        slow: { lanes: { 'host-d': 1 } },
      },
    });
    const objectsBefore = new Set(await w.ownObjects());
    const applying = w.cli(w.operator, 'apply', '--wait', '--json');
    // Kill the agent once its lane exists on the backend, before the runner is online (its
    // run.sh sleeps 6 s first). Only host-d has a lane to make.
    await waitFor(async () => (await w.ownObjects()).some((id) => !objectsBefore.has(id)), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: "host-d's lane to exist on the backend",
    });
    await hostD.kill();
    await new Promise((res) => setTimeout(res, 1000));
    await hostD.start();
    await applying;
    // Converge: a failed lane (if the create gave up) is cleared by an operator, then apply.
    for (const l of await w.lanes('--host', 'host-d')) {
      if (l.state === 'failed') {
        expect(l.recovery).toBeDefined();
        expect(
          await w.cli(w.operator, 'lane', 'remove', l.laneId, '--wait', '--json'),
        ).toMatchObject({ code: 0 });
      }
    }
    await apply();
    const onD = live(await w.lanes('--host', 'host-d'));
    expect(onD).toHaveLength(1);
    const names = (await ourRunners()).map((x) => x.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.startsWith('lp-host-d-'))).toHaveLength(1);
    const ledger = (await hostD.cli('lanes', '--json')).json<{
      lanes: { laneId: string; state: string }[];
    }>();
    expect(ledger.lanes.filter((l) => LIVE.has(l.state)).map((l) => l.laneId)).toEqual([
      onD[0]!.laneId,
    ]);
    await expectNoOrphans();
  }, 180_000);
  return { world: () => w };
}

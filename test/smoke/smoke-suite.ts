/**
 * `launchplane smoke` end to end, written once and run on each real backend by `systemd.test.ts`
 * and `docker.test.ts`: the acceptance world (the simulator, `launchplane serve` with
 * `reconcile.auto` on, a real enrolled agent on the testbed's systemd or dockerd), a policy pool
 * already converged on the host and a runner made by hand, then smokes through the built CLI. The
 * tests share one world and run in order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drainingLabels, smokeLaneLabels } from '@launchplane/shared';

import { waitFor } from '../testbed/wait-for.js';
import {
  REPO,
  startWorld,
  type AuditView,
  type Backend,
  type LaneView,
  type SimRunner,
  type World,
  type WorldOptions,
} from '../e2e/world.js';

/** What the smoke prints with `--json`, as far as these tests read it. */
interface SmokeDoc {
  smokeId: string;
  ok: boolean;
  outcome: string;
  laneId: string;
  label: string;
  lane: { laneId: string; runnerId: number; runnerName: string; purpose: string; state: string };
  steps: { name: string; ok: boolean }[];
  workflow?: {
    jobId: number;
    status: string;
    conclusion: string;
    runnerId: number;
    runnerName: string;
  };
  comparison: { runnersBefore: number; lanesBefore: number; differences: string[] };
  error?: { code: string; message: string; recovery?: string };
  cleanup?: string;
}

interface SimJobView {
  id: number;
  labels: string[];
  status: string;
  conclusion: string | null;
  runnerName: string | null;
}

/** What GitHub shows of the runners, the parts the smoke compares. */
const runnerView = (r: SimRunner): string =>
  `${r.id} ${r.name} ${r.status} ${r.labels
    .map((l) => l.name)
    .sort()
    .join(',')}`;

/** Registers the smoke tests for one backend. */
export function smokeSuite(
  backend: Backend,
  world: () => Omit<WorldOptions, 'backend' | 'reconcile'>,
  opts: { workflow: boolean; failure: boolean },
): void {
  let w: World;
  let runnersBefore: string[];
  let objectsBefore: string[];
  let lanesBefore: LaneView[];

  const smoke = (...args: string[]) =>
    w.cli(w.operator, 'smoke', '--host', 'host-a', '--repository', REPO, ...args);
  const customLabels = async (name: string): Promise<string[]> => {
    const r = (await w.simRunners()).find((x) => x.name === name);
    return (r?.labels ?? [])
      .filter((l) => l.type === 'custom')
      .map((l) => l.name)
      .sort();
  };
  /** The reconciler's audited rounds; read over HTTP (`audit --json`'s document), as it is polled. */
  const reconcilerRounds = async (): Promise<number> =>
    (await w.api<{ records: AuditView[] }>('/v1/audit')).records.filter(
      (a) => a.action === 'apply' && a.actor === 'reconciler',
    ).length;
  /** The world is as it was before the smoke: runners on GitHub, units/containers, lanes. */
  const asBefore = async (): Promise<void> => {
    expect((await w.simRunners()).map(runnerView)).toEqual(runnersBefore);
    expect(await w.ownObjects()).toEqual(objectsBefore);
    expect((await w.lanes()).map((l) => [l.laneId, l.state])).toEqual(
      lanesBefore.map((l) => [l.laneId, l.state]),
    );
  };

  beforeAll(async () => {
    w = await startWorld({
      backend,
      // A lane that never comes online (the last test) fails its create this soon; a stub
      // runner that works is online within a few seconds even on a loaded CI machine.
      createOnlineSec: 12,
      ...world(),
      // The shortest rounds the coordinator allows (`reconcile.intervalSec` ≥ 5).
      reconcile: { auto: true, intervalSec: 5 },
    });
    await w.addAgent({
      hostId: 'host-a',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: 3 },
    });
    // A runner made by hand, and a policy pool the reconciler brings up by itself.
    await w.simJson('POST', '/_sim/runners', {
      repository: REPO,
      name: 'hand-made',
      labels: ['x'],
    });
    await w.applyPolicy({
      allowedHosts: ['host-a'],
      allowedRepositories: [REPO],
      pools: { build: { labels: ['linux'], lanes: { 'host-a': 1 } } },
    });
    await waitFor(
      async () => {
        // Polled over HTTP (`lanes --json`'s document): set-up, not what the tests are about.
        const { lanes } = await w.api<{ lanes: LaneView[] }>('/v1/lanes');
        return lanes.length === 1 && lanes[0]?.state === 'online';
      },
      { timeoutMs: 90_000, intervalMs: 500, what: 'the reconciler to bring the build lane up' },
    );
    for (const wf of [
      {
        path: '.github/workflows/launchplane-smoke.yml',
        runsOnInput: 'runner-label',
        durationMs: 1500,
      },
      { path: '.github/workflows/fails.yml', runsOnInput: 'runner-label', conclusion: 'failure' },
    ]) {
      await w.simJson('POST', '/_sim/workflows', { repository: REPO, ...wf });
    }
    // The lane reads `online` from its first verified look; the snapshot also needs GitHub to
    // show its runner online right now (a loaded machine may have it between sessions).
    await waitFor(
      async () =>
        (await w.simRunners()).every((r) => r.name === 'hand-made' || r.status === 'online'),
      { timeoutMs: 30_000, intervalMs: 250, what: "the lane's runner to be online on GitHub" },
    );
    runnersBefore = (await w.simRunners()).map(runnerView);
    objectsBefore = await w.ownObjects();
    lanesBefore = await w.lanes();
    expect(objectsBefore).toHaveLength(1);
  }, 180_000);

  afterAll(async () => {
    await w?.close();
  }, 180_000);

  it(`passes on ${backend}${opts.workflow ? ' with a workflow on its lane' : ''}, with the reconciler on, and leaves nothing behind`, async () => {
    const roundsBefore = await reconcilerRounds();
    const dry = await smoke(
      '--dry-run',
      '--json',
      ...(opts.workflow ? ['--workflow', 'launchplane-smoke.yml', '--ref', 'main'] : []),
    );
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json<SmokeDoc>().outcome).toBe('would-run');
    await asBefore();

    const r = await smoke(
      '--json',
      ...(opts.workflow ? ['--workflow', 'launchplane-smoke.yml', '--ref', 'main'] : []),
    );
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json<SmokeDoc>();
    expect(doc).toMatchObject({ ok: true, outcome: 'passed' });
    expect(doc.steps.filter((s) => !s.ok)).toEqual([]);
    expect(doc.steps.map((s) => s.name)).toEqual([
      'guardrails',
      'snapshot',
      'create',
      'verify-online',
      ...(opts.workflow ? ['workflow'] : []),
      'restart',
      'verify-restarted',
      'remove',
      'compare',
    ]);
    expect(doc.comparison).toMatchObject({ runnersBefore: 2, lanesBefore: 1, differences: [] });
    expect(doc.lane).toMatchObject({ purpose: 'smoke', state: 'removed' });
    if (opts.workflow) {
      expect(doc.workflow).toMatchObject({
        status: 'completed',
        conclusion: 'success',
        runnerId: doc.lane.runnerId,
        runnerName: doc.lane.runnerName,
      });
      // GitHub's own record: the one job asking for the lane's label ran on its runner.
      const jobs = (await w.simJson<{ jobs: SimJobView[] }>('GET', '/_sim/jobs')).jobs.filter((j) =>
        j.labels.includes(doc.label),
      );
      expect(jobs.map((j) => [j.status, j.conclusion, j.runnerName])).toEqual([
        ['completed', 'success', doc.lane.runnerName],
      ]);
    }
    await asBefore();

    // Every step audited; the sagas' records are the operator's, none the reconciler's, though
    // it applied while the smoke ran.
    const records = await w.audit();
    const mine = (a: AuditView): boolean => a.params?.['smokeId'] === doc.smokeId;
    expect(
      records
        .filter((a) => a.action.startsWith('smoke') && mine(a))
        .map((a) => `${a.action} ${a.outcome}`),
    ).toEqual([
      'smoke.guardrails ok',
      'smoke.snapshot ok',
      'smoke.create ok',
      'smoke.verify-online ok',
      ...(opts.workflow ? ['smoke.workflow ok'] : []),
      'smoke.restart ok',
      'smoke.verify-restarted ok',
      'smoke.remove ok',
      'smoke.compare ok',
      'smoke ok',
    ]);
    const onLane = await w.audit('--lane', doc.laneId);
    // The coordinator's records (its agent sends its own, as agent:host-a).
    const sagas = onLane.filter(
      (a) => a.action.startsWith('lane.') && !a.actor.startsWith('agent:'),
    );
    expect(sagas.map((a) => [a.action, a.outcome])).toEqual([
      ['lane.create', 'ok'],
      ['lane.restart', 'ok'],
      ['lane.remove', 'ok'],
    ]);
    expect(onLane.filter((a) => a.actor === 'reconciler')).toEqual([]);
    expect(await reconcilerRounds()).toBeGreaterThan(roundsBefore);
  }, 180_000);

  if (!opts.failure) return;

  it(`a failure mid-way on ${backend} (the workflow fails) leaves the lane quarantined, prints and audits the clean-up command, and the reconciler leaves it alone`, async () => {
    const r = await smoke('--workflow', 'fails.yml', '--ref', 'main');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error LP_SMOKE_FAILED: Job \d+ of workflow "fails.yml" ended "failure" on the smoke lane$/m,
    );
    const cleanup = /^cleanup: (launchplane lane remove ([0-9a-z]{26}))$/m.exec(r.stdout);
    expect(cleanup, r.stdout).not.toBeNull();
    const [, command = '', laneId = ''] = cleanup ?? [];
    expect(r.stderr).toContain(`hint: Smoke `);
    expect(r.stderr).toContain(`Clean up with "${command}"`);
    expect(r.stdout).toMatch(/^ {2}FAILED workflow/m);

    // Quarantined and held: only identity labels and lp-draining on GitHub, the unit or
    // container still there for a look, the lane failed with the command as its recovery.
    const lane = (await w.lanes()).find((l) => l.laneId === laneId);
    expect(lane).toMatchObject({ state: 'failed', pool: 'lp-smoke' });
    expect(lane?.recovery).toContain(command);
    const name = lane?.runnerName ?? '';
    expect(await customLabels(name)).toEqual(drainingLabels(w.coordinatorId, laneId).sort());
    expect(await w.ownObjects()).toContain(laneId);
    const smokeRecord = (await w.audit('--lane', laneId)).find((a) => a.action === 'smoke');
    expect(smokeRecord).toMatchObject({ outcome: 'failed', code: 'LP_SMOKE_FAILED' });
    expect(smokeRecord?.recovery).toContain(command);
    expect(smokeRecord?.params?.['cleanup']).toBe(command);

    // Two more reconciler rounds: the smoke lane is still as the smoke left it.
    const rounds = await reconcilerRounds();
    await waitFor(async () => (await reconcilerRounds()) >= rounds + 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: 'two reconciler rounds',
    });
    expect((await w.lanes()).find((l) => l.laneId === laneId)).toMatchObject({ state: 'failed' });
    expect(await customLabels(name)).toEqual(drainingLabels(w.coordinatorId, laneId).sort());
    expect((await w.audit('--lane', laneId)).filter((a) => a.actor === 'reconciler')).toEqual([]);

    // The printed command cleans up, and nothing is left.
    const removed = await w.cli(w.operator, ...command.split(' ').slice(1), '--wait', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    await asBefore();
    expect(smokeLaneLabels(w.coordinatorId, laneId)).toContain(`lp-smoke-${laneId}`);
  }, 180_000);

  it(`a lane that never comes online on ${backend} is rolled back, held failed, and its clean-up command printed and audited`, async () => {
    // host-b's runner exits at once: registered on GitHub, never online.
    const broken = await w.template('never-online', '#!/usr/bin/env bash\nexit 0\n');
    await w.addAgent({
      hostId: 'host-b',
      optIn: { repositories: [REPO], backends: [backend], maxLanes: 1 },
      template: broken,
    });
    await w.applyPolicy({
      allowedHosts: ['host-a', 'host-b'],
      allowedRepositories: [REPO],
      pools: { build: { labels: ['linux'], lanes: { 'host-a': 1 } } },
    });
    const r = await w.cli(w.operator, 'smoke', '--host', 'host-b', '--repository', REPO, '--json');
    expect(r.code).toBe(1);
    const doc = r.json<SmokeDoc>();
    expect(doc).toMatchObject({ ok: false, outcome: 'failed' });
    expect(doc.error?.code).toBe('LP_TIMEOUT');
    expect(doc.steps.map((s) => [s.name, s.ok])).toEqual([
      ['guardrails', true],
      ['snapshot', true],
      ['create', false],
    ]);
    const command = `launchplane lane remove ${doc.laneId}`;
    expect(doc.cleanup).toBe(command);
    expect(r.stderr).toMatch(/^error LP_TIMEOUT: /m);
    expect(r.stderr).toContain(`Clean up with "${command}"`);
    // Rolled back by the create saga: no runner on GitHub, no unit or container; the record held.
    expect((await w.simRunners()).map(runnerView)).toEqual(runnersBefore);
    expect(await w.ownObjects()).toEqual(objectsBefore);
    const lane = (await w.lanes('--host', 'host-b')).find((l) => l.laneId === doc.laneId);
    expect(lane).toMatchObject({ state: 'failed', pool: 'lp-smoke' });
    expect(lane?.recovery).toContain(command);
    const record = (await w.audit('--lane', doc.laneId)).find((a) => a.action === 'smoke');
    expect(record).toMatchObject({ outcome: 'failed', code: 'LP_TIMEOUT' });
    expect(record?.recovery).toContain(command);

    const removed = await w.cli(w.operator, ...command.split(' ').slice(1), '--wait', '--json');
    expect(removed.code, removed.stderr).toBe(0);
    expect(await w.lanes('--host', 'host-b')).toEqual([]);
    await asBefore();
  }, 180_000);
}

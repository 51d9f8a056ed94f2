/**
 * Drain with real parts: a job in flight is never cut short. A drain that times out leaves the
 * lane quarantined (no new job routes to it) and its job running to success; `lane restart`
 * then returns it to service and the queued job runs.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stubRunnerTemplateDir } from '@launchplane/github-sim';
import { describeWithSystemd } from '../testbed/require.js';
import { waitFor } from '../testbed/wait-for.js';
import { startControlWorld, type ControlWorld } from './control-world.js';

interface SimJob {
  id: number;
  status: string;
  conclusion: string | null;
  runnerId: number | null;
}

const POLICY = `version: 1
allowedHosts: [host-a]
allowedRepositories: [acme/api]
pools:
  build:
    repository: acme/api
    labels: [linux]
    backend: systemd
    lanes: { host-a: 1 }
`;

describeWithSystemd('drain against the real agent and the simulator', (systemd) => {
  let world: ControlWorld;

  beforeAll(async () => {
    world = await startControlWorld({
      systemd: systemd(),
      policy: POLICY,
      runnerTemplate: stubRunnerTemplateDir(),
    });
    const r = await world.cli(world.operator, 'apply', '--wait');
    expect(r.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await world?.close();
  });

  const job = async (id: number): Promise<SimJob | undefined> =>
    (await world.simJson<{ jobs: SimJob[] }>('GET', '/_sim/jobs')).jobs.find((j) => j.id === id);
  const labelsOf = async (runnerId: number): Promise<string[]> =>
    ((await world.simRunners()).find((x) => x.id === runnerId)?.labels ?? []).map((l) => l.name);

  it('a drain that times out leaves the lane quarantined and its job running to success', async () => {
    const first = await world.simJson<SimJob>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['lp-pool-build'],
      durationMs: 8000,
    });
    const running = await waitFor(
      async () => {
        const j = await job(first.id);
        return j?.status === 'in_progress' ? j : undefined;
      },
      { timeoutMs: 20_000, what: 'the first job to start' },
    );
    const lanes = (await world.cli(world.viewer, 'lanes', '--json')).json<{
      lanes: { laneId: string; runnerId: number }[];
    }>().lanes;
    const lane = lanes.find((l) => l.runnerId === running.runnerId)!;
    expect(lane).toBeDefined();

    const drain = await world.cli(
      world.operator,
      'lane',
      'drain',
      lane.laneId,
      '--timeout',
      '3s',
      '--wait',
    );
    expect(drain.code).toBe(1);
    expect(drain.stderr).toMatch(/^error LP_TIMEOUT: /m);
    expect(drain.stderr).toMatch(/^hint: .*quarantined/m);
    const quarantined = await labelsOf(lane.runnerId);
    expect(quarantined).toContain('lp-draining');
    expect(quarantined).not.toContain('lp-pool-build');

    // A new job for the pool finds no runner while the lane is quarantined.
    const second = await world.simJson<SimJob>('POST', '/_sim/jobs', {
      repository: 'acme/api',
      labels: ['lp-pool-build'],
      durationMs: 200,
    });
    await waitFor(async () => (await job(first.id))?.conclusion === 'success', {
      timeoutMs: 30_000,
      what: 'the first job to finish',
    });
    expect((await job(second.id))?.status).toBe('queued');

    const restart = await world.cli(world.operator, 'lane', 'restart', lane.laneId, '--wait');
    expect(restart.stderr).toBe('');
    expect(restart.code).toBe(0);
    const restored = await labelsOf(lane.runnerId);
    expect(restored).toContain('lp-pool-build');
    expect(restored).not.toContain('lp-draining');
    await waitFor(async () => (await job(second.id))?.conclusion === 'success', {
      timeoutMs: 30_000,
      what: 'the queued job to run after the restart',
    });
  }, 120_000);
});

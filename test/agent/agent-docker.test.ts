import { access, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { GitHubSim } from '@launchplane/github-sim';
import {
  containerName,
  DOCKER_LABEL_HOST,
  DOCKER_LABEL_LANE,
  type Command,
} from '@launchplane/shared';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { AgentCore } from '../../packages/agent/src/agent-core.js';
import { DockerContainerRuntime } from '../../packages/agent/src/adapters/docker/docker-container-runtime.js';
import {
  buildScratchImage,
  describeWithDocker,
  tempDir,
  waitFor,
  type TempDir,
} from '../testbed/index.js';
import { OwnedLanes } from '../testbed/owned-lanes.js';
import {
  RUNNER_IMAGE,
  agentFixture,
  enqueueJob,
  expectLedgerMatchesReality,
  freshLaneId,
  jitCreate,
  persistentCreate,
  simJob,
  startSim,
  waitForRunner,
  type AgentFixture,
} from './agent-fixture.js';

const TAG = RUNNER_IMAGE.tag;

describeWithDocker('agent core on a private dockerd with the stub runner', (dockerInfo) => {
  let sim: GitHubSim;
  let docker: Docker;
  let runtime: DockerContainerRuntime;
  let work: TempDir;
  let f: AgentFixture;
  let core: AgentCore;
  let lookAlikeId: string;
  let lookAlike: string;

  // The dockerd is shared by every suite of the run, some running at the same time: only
  // containers with a bind mount from under this suite's dir (its look-alike's too) are its to
  // judge or to clean up.
  let owned: OwnedLanes | undefined;
  const containerNames = async (): Promise<string[]> => (await owned?.names()) ?? [];
  const image = { image: TAG };

  beforeAll(async () => {
    sim = await startSim();
    docker = new Docker({ socketPath: dockerInfo().socketPath });
    runtime = new DockerContainerRuntime({
      socketPath: dockerInfo().socketPath,
      stopTimeoutSec: 10,
    });
    await buildScratchImage(docker, RUNNER_IMAGE);
    // Reachable by the image's user: a persistent lane's config.sh runs on the host as that user.
    work = await tempDir({ prefix: 'lp-agent-docker-', laneUsers: true });
    owned = new OwnedLanes(work.path, { kind: 'docker', docker });
    f = agentFixture(join(work.path, 'data'));
    core = await AgentCore.create(f.deps({ containers: runtime }));
    // A hand-made container named like a lane and carrying our labels, but not in the ledger.
    lookAlikeId = freshLaneId();
    lookAlike = await runtime.create({
      laneId: lookAlikeId,
      hostId: 'host-a',
      image: TAG,
      cmd: ['/bin/sleep', '100000'],
      stopTimeoutSec: 1,
      // Mounts a dir of this suite's, as a lane would: the suite counts it as its own.
      mounts: [{ source: await mkdtemp(join(work.path, 'look-alike-')), target: '/lane' }],
    });
    await runtime.start(lookAlike);
  });

  afterAll(async () => {
    await core?.stop();
    if (runtime !== undefined) {
      for (const name of await containerNames().catch(() => []))
        await runtime.remove(name, { force: true }).catch(() => undefined);
    }
    await sim?.close();
    await work?.cleanup();
  });

  async function expectLookAlikeUntouched(): Promise<void> {
    const info = await runtime.inspect(lookAlike);
    expect(info?.state.running).toBe(true);
    expect(info?.labels).toMatchObject({
      [DOCKER_LABEL_LANE]: lookAlikeId,
      [DOCKER_LABEL_HOST]: 'host-a',
    });
  }

  it('ephemeral lane: create → online → busy during a job (hooks and Runner.Worker in the container) → completed → remove', async () => {
    const cmd = await jitCreate(sim, 'docker', image);
    const dry = await f.send(core, { ...cmd, dryRun: true });
    expect(dry).toMatchObject({ ok: true, outcome: 'would-create' });
    expect(await containerNames()).toEqual([lookAlike]);

    expect(await f.send(core, cmd)).toMatchObject({ ok: true, lane: { state: 'starting' } });
    const info = await runtime.inspect(containerName(cmd.laneId));
    expect(info?.labels).toMatchObject({
      [DOCKER_LABEL_LANE]: cmd.laneId,
      [DOCKER_LABEL_HOST]: 'host-a',
    });
    const raw = await docker.getContainer(containerName(cmd.laneId)).inspect();
    expect(JSON.stringify(raw.Config)).not.toContain(
      cmd.runner && 'jitConfig' in cmd.runner ? cmd.runner.jitConfig : 'x',
    );
    await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');

    const job = await enqueueJob(sim, 6000);
    const busy = await waitFor(
      async () => {
        const r = await f.send(core, { type: 'lane.inspect', laneId: cmd.laneId, dryRun: false });
        return r.lane?.local?.jobRunning === true && r.lane.local.workerProcess ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'local busy signal' },
    );
    expect(busy.lane).toMatchObject({ backendState: 'running', local: { busy: true } });
    expect(
      (await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: false }))
        .error?.code,
    ).toBe('LP_LANE_BUSY');

    await waitFor(async () => (await simJob(sim, job)).status === 'completed', {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'job completed',
    });
    await waitFor(
      async () => (await runtime.inspect(containerName(cmd.laneId)))?.state.running === false,
      { timeoutMs: 30_000, what: 'runner exit' },
    );
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('completed');

    expect(
      await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: false }),
    ).toMatchObject({ ok: true, outcome: 'removed' });
    expect(await containerNames()).toEqual([lookAlike]);
    await expect(access(join(f.config.dataDir, 'lanes', cmd.laneId))).rejects.toThrow();
    await expectLookAlikeUntouched();
  });

  it('persistent lane: stop, start, restart and remove act on the real container', async () => {
    const cmd = await persistentCreate(sim, 'docker', image);
    const created = await f.send(core, cmd);
    expect(created.error).toBeUndefined();
    expect(created).toMatchObject({ ok: true, lane: { state: 'starting' } });
    const runnerId = created.lane?.runnerId ?? 0;
    await waitForRunner(sim, runnerId, 'online');
    await core.healthPass();
    expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('online');
    const name = containerName(cmd.laneId);

    expect(
      await f.send(core, { type: 'lane.stop', laneId: cmd.laneId, dryRun: false }),
    ).toMatchObject({ ok: true, lane: { state: 'drained' } });
    expect((await runtime.inspect(name))?.state.running).toBe(false);
    expect(
      await f.send(core, { type: 'lane.start', laneId: cmd.laneId, dryRun: false }),
    ).toMatchObject({ ok: true, lane: { state: 'online' } });
    expect((await runtime.inspect(name))?.state.running).toBe(true);
    expect(
      await f.send(core, { type: 'lane.restart', laneId: cmd.laneId, dryRun: false }),
    ).toMatchObject({ ok: true, lane: { state: 'online', restarts: 1 } });
    await waitForRunner(sim, runnerId, 'online');
    expect(
      await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: true, force: false }),
    ).toMatchObject({ ok: true, outcome: 'would-remove' });
    expect((await runtime.inspect(name))?.state.running).toBe(true);
    expect(
      await f.send(core, { type: 'lane.remove', laneId: cmd.laneId, dryRun: false, force: false }),
    ).toMatchObject({ ok: true, lane: { state: 'removed' } });
    expect(await runtime.inspect(name)).toBeUndefined();
    await expectLookAlikeUntouched();
  });

  it('the hand-made container with our labels survives every command and every health pass', async () => {
    const cmds: Command[] = [
      { type: 'lane.start', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.stop', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.restart', laneId: lookAlikeId, dryRun: false },
      { type: 'lane.remove', laneId: lookAlikeId, dryRun: false, force: true },
      { type: 'lane.inspect', laneId: lookAlikeId, dryRun: false },
    ];
    for (const cmd of cmds) expect((await f.send(core, cmd)).error?.code).toBe('LP_NOT_OWNED');
    const create = await jitCreate(sim, 'docker', image);
    expect((await f.send(core, { ...create, laneId: lookAlikeId })).error?.code).toBe(
      'LP_CONFLICT',
    );
    for (let i = 0; i < 3; i++) await core.healthPass();
    await expectLookAlikeUntouched();
    await expectLedgerMatchesReality(core, await containerNames(), f.config.dataDir, [lookAlike]);
  });
});

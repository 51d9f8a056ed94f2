/**
 * The agent with the stub runner's real process chain in Docker lanes on a private dockerd, on a
 * stand-in for the official runner image (bash, `USER 1001`, no RUNNER_MANUALLY_TRAP_SIG of its
 * own):
 *
 * - the lane runs as the image's user (uids from /proc), which owns the lane dir, and works from
 *   start to end; a name in the image's USER is resolved in the image's own /etc/passwd;
 * - stop, restart and remove of an idle lane reach the listener as SIGINT through run.sh;
 * - a forced remove of a busy lane lets the listener cancel the job (`cancelled` at the sim);
 * - an image that runs as root is refused, with nothing left behind.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import type { GitHubSim } from '@launchplane/github-sim';
import { containerName } from '@launchplane/shared';
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
import {
  agentFixture,
  enqueueJob,
  jitCreate,
  persistentCreate,
  procInfo,
  removeLane,
  simJob,
  simJson,
  startSim,
  waitForJob,
  waitForRunner,
  waitForWorker,
  RUNNER_IMAGE,
  type AgentFixture,
  type SimRunner,
} from './agent-fixture.js';

const NAMED_TAG = 'launchplane-test/agent-lane-named:latest';
const ROOT_TAG = 'launchplane-test/agent-lane-root:latest';

describeWithDocker(
  "docker lanes on a non-root image, stopped through the runner's own chain",
  (dockerInfo) => {
    let sim: GitHubSim;
    let docker: Docker;
    let runtime: DockerContainerRuntime;
    let work: TempDir;
    let f: AgentFixture;
    let core: AgentCore;

    beforeAll(async () => {
      // A listener that vanished without closing its session would read online for a minute.
      sim = await startSim({ offlineAfterMs: 60_000 });
      docker = new Docker({ socketPath: dockerInfo().socketPath });
      runtime = new DockerContainerRuntime({
        socketPath: dockerInfo().socketPath,
        stopTimeoutSec: 60,
      });
      await buildScratchImage(docker, RUNNER_IMAGE);
      await buildScratchImage(docker, { ...RUNNER_IMAGE, tag: NAMED_TAG, user: 'runner' });
      await buildScratchImage(docker, { tag: ROOT_TAG });
      work = await tempDir({ prefix: 'lp-chain-docker-', laneUsers: true });
      f = agentFixture(join(work.path, 'data'));
      core = await AgentCore.create(f.deps({ containers: runtime }));
    });

    afterAll(async () => {
      for (const lane of core?.listLanes() ?? []) {
        await removeLane(f, core, lane.laneId, true);
      }
      await core?.stop();
      await sim?.close();
      await work?.cleanup();
    });

    const runner = (id: number): Promise<SimRunner> =>
      simJson<SimRunner>(sim, 'GET', `/repos/acme/api/actions/runners/${id}`);
    const logs = async (laneId: string): Promise<string> =>
      (
        await docker.getContainer(containerName(laneId)).logs({ stdout: true, stderr: true })
      ).toString();
    const count = (text: string, needle: string): number => text.split(needle).length - 1;

    it("runs as the image's user, which owns the lane dir, from start to end; a USER name is read from the image", async () => {
      for (const image of [RUNNER_IMAGE.tag, NAMED_TAG]) {
        const cmd = await jitCreate(sim, 'docker', { image });
        expect((await f.send(core, cmd)).error).toBeUndefined();
        await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
        const dir = join(f.config.dataDir, 'lanes', cmd.laneId);
        const st = await stat(dir);
        expect({ image, uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({
          image,
          uid: 1001,
          gid: 1001,
          mode: 0o700,
        });
        const procs = await waitFor(
          async () => {
            const top = await runtime.processes(containerName(cmd.laneId));
            const p = await procInfo(top.map((t) => t.pid));
            return p.some((x) => x.comm === 'Runner.Listener') ? p : undefined;
          },
          { timeoutMs: 30_000, what: 'the listener in the container' },
        );
        // docker-init is root's; everything of the runner runs as the image's user.
        expect(procs.filter((p) => p.comm !== 'docker-init').map((p) => p.uid)).toEqual(
          procs.filter((p) => p.comm !== 'docker-init').map(() => 1001),
        );
        const job = await enqueueJob(sim, 1500);
        await waitForJob(sim, job, 'completed');
        expect((await simJob(sim, job)).conclusion).toBe('success');
        await waitFor(
          async () => (await runtime.inspect(containerName(cmd.laneId)))?.state.running === false,
          { timeoutMs: 30_000, what: 'the ephemeral runner to exit' },
        );
        await core.healthPass();
        expect(core.ledger.lanes.get(cmd.laneId)?.state).toBe('completed');
        expect((await removeLane(f, core, cmd.laneId)).error).toBeUndefined();
      }
    });

    it('stop, restart and remove of an idle lane reach the listener as SIGINT through run.sh', async () => {
      const cmd = await persistentCreate(sim, 'docker', { image: RUNNER_IMAGE.tag });
      const created = await f.send(core, cmd);
      expect(created.error).toBeUndefined();
      const runnerId = created.lane?.runnerId ?? 0;
      const laneId = cmd.laneId;
      await waitForRunner(sim, runnerId, 'online');
      await core.healthPass();

      expect(
        (await f.send(core, { type: 'lane.stop', laneId, dryRun: false })).error,
      ).toBeUndefined();
      let text = await logs(laneId);
      expect(count(text, 'Received SIGINT')).toBe(1);
      expect(text).not.toContain('Received SIGTERM');
      expect((await runner(runnerId)).status).toBe('offline');
      // run.sh ended the trapped stop itself (128 + SIGTERM), before any SIGKILL.
      expect((await runtime.inspect(containerName(laneId)))?.state.exitCode).toBe(143);

      expect(
        (await f.send(core, { type: 'lane.start', laneId, dryRun: false })).error,
      ).toBeUndefined();
      await waitForRunner(sim, runnerId, 'online');
      expect(
        (await f.send(core, { type: 'lane.restart', laneId, dryRun: false })).error,
      ).toBeUndefined();
      text = await logs(laneId);
      expect(count(text, 'Received SIGINT')).toBe(2);
      await waitForRunner(sim, runnerId, 'online');

      // The container goes with the remove: its runner closing its session at once shows the
      // listener heard the stop.
      expect((await removeLane(f, core, laneId)).error).toBeUndefined();
      expect((await runner(runnerId)).status).toBe('offline');
    });

    it('a forced remove of a busy lane lets the listener cancel the job: the simulator sees it cancelled', async () => {
      const cmd = await jitCreate(sim, 'docker', { image: RUNNER_IMAGE.tag });
      expect((await f.send(core, cmd)).error).toBeUndefined();
      await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
      const job = await enqueueJob(sim, 120_000);
      await waitForWorker(f, core, cmd.laneId);
      expect((await removeLane(f, core, cmd.laneId)).error?.code).toBe('LP_LANE_BUSY');
      expect((await removeLane(f, core, cmd.laneId, true)).error).toBeUndefined();
      expect(await simJob(sim, job)).toMatchObject({
        status: 'cancelled',
        conclusion: 'cancelled',
      });
    });

    it('refuses an image that runs as root, leaving no container and no lane dir', async () => {
      const cmd = await jitCreate(sim, 'docker', { image: ROOT_TAG });
      const r = await f.send(core, cmd);
      expect(r.error?.code).toBe('LP_NOT_OPTED_IN');
      expect(r.error?.message).toContain(`image "${ROOT_TAG}" runs as root`);
      expect(await runtime.inspect(containerName(cmd.laneId))).toBeUndefined();
      await expect(stat(join(f.config.dataDir, 'lanes', cmd.laneId))).rejects.toMatchObject({
        code: 'ENOENT',
      });
    });
  },
);

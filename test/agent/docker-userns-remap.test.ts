/**
 * User-namespace remapping, proven on a real daemon: a private dockerd of this test's own started
 * with `--userns-remap` (onto the testbed remap user's subordinate ids), a Docker lane on its
 * default bridge network, the simulator listening on the bridge's gateway. The agent reads the
 * remap from the daemon itself (`docker info`), hands the lane dir to the image's user as
 * remapped on the host, and the runner — uid 1001 in the container, 420000 + 1001 on the host —
 * writes its files there and runs a job. The same image's user outside the remapped range would
 * be refused (a fake runtime covers that: `docker-confinement.test.ts`).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { containerName } from '@launchplane/shared';
import { expect, it } from 'vitest';

import { startDockerd, USERNS_REMAP_RANGE } from '../testbed/dockerd.js';
import { describeWithDocker, waitFor } from '../testbed/index.js';
import {
  enqueueJob,
  jitCreate,
  procInfo,
  simJob,
  waitForJob,
  waitForRunner,
  RUNNER_IMAGE,
} from './agent-fixture.js';
import { dockerLaneWorld } from './lane-world.js';

describeWithDocker('docker lanes on a daemon that remaps user namespaces', () => {
  const world = dockerLaneWorld('lp-userns-', async () => {
    const own = await startDockerd({ usernsRemap: true });
    if (own.bridge === undefined) {
      await own.stop();
      throw new Error('the remapping dockerd has no bridge');
    }
    return { socketPath: own.socketPath, gateway: own.bridge.gateway, stop: () => own.stop() };
  });

  it('reads the remap from the daemon, gives the lane dir to the remapped uid, and the runner works there', async () => {
    const { sim, f, core, containers: runtime, docker } = world();
    const { first, size } = USERNS_REMAP_RANGE;
    expect(await runtime.userNamespace()).toEqual({ uid: first, gid: first, size });

    const cmd = await jitCreate(sim, 'docker', { image: RUNNER_IMAGE.tag, network: 'bridge' });
    const created = await f.send(core, cmd);
    expect(created.error).toBeUndefined();
    const dir = join(f.config.dataDir, 'lanes', cmd.laneId);
    const st = await stat(dir);
    // The image's user is 1001:1001; on the host, the remapped 421001:421001.
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({
      uid: first + 1001,
      gid: first + 1001,
      mode: 0o700,
    });
    const inspect = await docker.getContainer(containerName(cmd.laneId)).inspect();
    expect(inspect.HostConfig.NetworkMode).toBe('bridge');
    expect(inspect.HostConfig.CapDrop).toEqual(['ALL']);

    await waitForRunner(sim, cmd.runnerId ?? 0, 'online');
    // The runner's processes are the remapped uid on the host, never 1001 or root.
    const procs = await waitFor(
      async () => {
        const top = await runtime.processes(containerName(cmd.laneId));
        const p = await procInfo(top.map((t) => t.pid));
        return p.some((x) => x.comm === 'Runner.Listener') ? p : undefined;
      },
      { timeoutMs: 30_000, what: 'the listener in the container' },
    );
    for (const p of procs) expect(p.uid, p.comm).toBeGreaterThanOrEqual(first);
    expect(procs.find((p) => p.comm === 'Runner.Listener')?.uid).toBe(first + 1001);

    // What the runner wrote in its lane dir from its JIT config (an ephemeral runner deletes it
    // again after its job) belongs to the remapped uid.
    for (const name of ['.runner', '.credentials']) {
      expect((await stat(join(dir, name))).uid, name).toBe(first + 1001);
    }

    const job = await enqueueJob(sim, 500);
    await waitForJob(sim, job, 'completed');
    expect((await simJob(sim, job)).conclusion).toBe('success');
  }, 240_000);
});

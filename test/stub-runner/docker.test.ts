/**
 * The stub runner in a container of a `FROM scratch` stand-in for the official runner image (real
 * bash, `USER 1001`, RUNNER_MANUALLY_TRAP_SIG unset in the image) on a real (private) dockerd:
 * what `docker stop` does to run.sh as PID 1 with and without RUNNER_MANUALLY_TRAP_SIG
 * (docs/runner-contract.md, "In a container (measured)").
 */
import Docker from 'dockerode';
import { beforeAll, afterEach, beforeEach, expect, it } from 'vitest';

import {
  type StubWorld,
  startStubWorld,
  waitFor,
} from '../../packages/github-sim/src/stub-runner.test-helper.js';
import { buildScratchImage, describeWithDocker } from '../testbed/index.js';

const RUNNER = { uid: 1001, gid: 1001 };
const IMAGE = 'launchplane-test/stub-runner-uid1001:latest';

/** Demultiplexes `docker logs` output (8-byte frame headers). */
function demux(logs: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= logs.length;) {
    const size = logs.readUInt32BE(i + 4);
    out += logs.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return out;
}

describeWithDocker('stub runner in a container (USER 1001, run.sh as PID 1)', (dockerInfo) => {
  let docker: Docker;
  let w: StubWorld;
  let container: Docker.Container | undefined;

  beforeAll(async () => {
    docker = new Docker({ socketPath: dockerInfo().socketPath });
    await buildScratchImage(docker, {
      tag: IMAGE,
      users: [{ name: 'runner', uid: RUNNER.uid, gid: RUNNER.gid, home: '/home/runner' }],
      groups: [{ name: 'runner', gid: RUNNER.gid }],
      user: String(RUNNER.uid),
    });
  });

  beforeEach(async () => {
    w = await startStubWorld({ offlineAfterMs: 60_000 });
    w.chown(RUNNER);
  });

  afterEach(async () => {
    await container?.remove({ force: true }).catch(() => undefined);
    container = undefined;
    await w.close();
  });

  const logs = async (): Promise<string> =>
    demux(await container!.logs({ stdout: true, stderr: true, follow: false }));

  /** Runs a JIT-configured stub runner in a container and gives it a long job. */
  async function containerWithJob(env: string[]): Promise<number> {
    const jit = await w.h.json<{ encoded_jit_config: string }>(
      'POST',
      '/repos/acme/api/actions/runners/generate-jitconfig',
      { name: 'stub-1', runner_group_id: 1, labels: ['gpu'] },
    );
    container = await docker.createContainer({
      Image: IMAGE,
      Cmd: ['/actions-runner/run.sh'],
      WorkingDir: '/actions-runner',
      Env: [
        `ACTIONS_RUNNER_INPUT_JITCONFIG=${jit.body.encoded_jit_config}`,
        'LAUNCHPLANE_STUB_HEARTBEAT_MS=200',
        ...env,
      ],
      HostConfig: { NetworkMode: 'host', Binds: [`${w.dir}:/actions-runner`] },
    });
    await container.start();
    const id = await w.enqueue(['gpu'], 120_000);
    await waitFor('job in progress', async () => (await w.job(id)).status === 'in_progress');
    await waitFor('the worker sets up the job', async () =>
      (await logs()).includes('Set up job: job-'),
    );
    const top = (await container.top({ ps_args: '-o pid,user,comm' })) as {
      Processes: string[][];
    };
    const comms = top.Processes.map((p) => p[2]);
    expect(comms).toEqual(
      expect.arrayContaining(['run.sh', 'run-helper.sh', 'Runner.Listener', 'Runner.Worker']),
    );
    expect(new Set(top.Processes.map((p) => p[1]))).toEqual(new Set([String(RUNNER.uid)]));
    return id;
  }

  it('with RUNNER_MANUALLY_TRAP_SIG=1, docker stop reaches the listener as SIGINT: the job ends cancelled and the container exits 143', async () => {
    const id = await containerWithJob(['RUNNER_MANUALLY_TRAP_SIG=1']);
    await container!.stop({ t: 30 });
    const state = (await container!.inspect()).State;
    expect(state.ExitCode).toBe(143);
    const out = await logs();
    expect(out).toContain('Received SIGINT');
    expect(out).toContain('Runner listener exit with 0 return code');
    expect(await w.job(id)).toMatchObject({ status: 'cancelled', conclusion: 'cancelled' });
    // An ephemeral (JIT) runner is deleted with its job, cancelled or not.
    expect(await w.runnerByName()).toBeUndefined();
  });

  it('without it, bash as PID 1 ignores SIGTERM: the container dies only by SIGKILL at the stop timeout, the listener never hears a signal and the job is not cancelled', async () => {
    const id = await containerWithJob([]);
    await container!.stop({ t: 2 });
    const state = (await container!.inspect()).State;
    expect(state.ExitCode).toBe(137);
    expect(await logs()).not.toContain('Received SIG');
    expect((await w.job(id)).status).toBe('in_progress');
    expect((await w.runnerByName())?.status).toBe('online');
  });
});
